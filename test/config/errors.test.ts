// The error catalog: README "Errors" lists exactly its codes with their exit codes and HTTP statuses, and XlbError
// and the surfaces (lb/errors.ts) take them from it.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRORS, isErrorCode, XlbError, type ErrorCode } from '../../config/errors.js';
import { BpfError } from '../../lb/bpf/errors.js';
import { errorCode } from '../../lb/errors.js';

const README = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

/** The rows of the table under "### Errors": code, exit and HTTP columns as written. */
function readmeRows(): { code: string; exit: string; http: string }[] {
  const section = README.slice(README.indexOf('### Errors\n'));
  const rows = section.slice(0, section.search(/\n#{2,3} /)).split('\n').filter((l) => /^\| `XLB_/.test(l));
  return rows.map((line) => {
    const [code, exit, http] = line.split('|').slice(1, 4).map((cell) => cell.trim());
    return { code: code.replace(/`/g, ''), exit, http };
  });
}

test('README "Errors" lists exactly the catalog\'s codes, each once, with its exit code and HTTP status', (t) => {
  const rows = readmeRows();
  t.deepEqual(rows.map((r) => r.code).sort(), Object.keys(ERRORS).sort());
  t.is(new Set(rows.map((r) => r.code)).size, rows.length, 'no code twice');
  for (const row of rows) {
    const entry: { exit: number; status?: number } = ERRORS[row.code as ErrorCode];
    t.is(row.exit, String(entry.exit), `${row.code} exit`);
    t.is(row.http, entry.status === undefined ? '-' : String(entry.status), `${row.code} HTTP`);
  }
});

test('XlbError takes its HTTP status and exit code from the catalog', (t) => {
  t.like(new XlbError('XLB_USAGE', 'x'), { status: 500, exitCode: 2 });
  t.like(new XlbError('XLB_NOT_FOUND', 'x'), { status: 404, exitCode: 1, problems: [] });
  t.like(new XlbError('XLB_CONFLICT', 'x'), { status: 409, exitCode: 1 });
  const problems = [{ path: 'deny[0]', message: 'm' }];
  t.deepEqual(new XlbError('XLB_CONFIG_INVALID', 'x', { problems }).problems, problems);
});

test('isErrorCode knows the catalog and nothing else', (t) => {
  t.true(isErrorCode('XLB_SETUP'));
  t.false(isErrorCode('XLB_NOPE'));
  t.false(isErrorCode('toString'));
  t.false(isErrorCode(7));
});

test('errorCode: an XlbError\'s own, XLB_BPF for a native call\'s error, XLB_INTERNAL for the rest', (t) => {
  t.is(errorCode(new XlbError('XLB_PLAN', 'x')), 'XLB_PLAN');
  t.is(errorCode(new BpfError('bpf_map_update_elem', 28, { object: 'xlb_services' })), 'XLB_BPF');
  t.is(errorCode(new TypeError('x')), 'XLB_INTERNAL');
  t.is(errorCode('a string'), 'XLB_INTERNAL');
});
