// `lbctl config check` (local, with config/load.ts) and `lbctl config apply` (POST /config).
import { readFileSync } from 'node:fs';
import { formatProblems, parseConfig } from '../../../config/load.js';
import { CliError } from '../errors.js';
import { writeOut } from '../output.js';
import type { ConfigFileArgs } from './config.js';
import { clientFor } from './global.js';

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('XLB_CONFIG_UNREADABLE', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err });
  }
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `FILE: ok (N services, M backends)`, or every problem as `FILE: path: message` and exit 1. */
export async function check(args: ConfigFileArgs): Promise<void> {
  const { config, problems } = parseConfig(readText(args.file));
  if (!config || problems.length > 0) {
    throw new CliError('XLB_CONFIG_INVALID', `${args.file}: ${plural(problems.length, 'problem')}`, {
      details: formatProblems(problems).map((line) => `${args.file}: ${line}`),
    });
  }
  const backends = config.pool.services.reduce((n, s) => n + s.backends.length, 0);
  writeOut([`${args.file}: ok (${plural(config.pool.services.length, 'service')}, ${plural(backends, 'backend')})`]);
}

/** POST /config with the file's text; prints what the change took. */
export async function apply(args: ConfigFileArgs): Promise<void> {
  const yaml = readText(args.file);
  const r = await clientFor(args).call('POST /config', { yaml, source: args.file });
  const change = r.writes === 0 ? 'no change' : plural(r.writes, 'map write');
  writeOut([`applied ${args.file}: ${change} (${plural(r.services, 'service')}, ${plural(r.backends, 'backend')})`]);
}
