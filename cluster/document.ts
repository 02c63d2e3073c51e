// The pool as Redis holds it, read without I/O: what a snapshot of the keys says: no pool yet, a pool and its version,
// or bad data with the key and each problem's path named. The document is the YAML's `services:` and `deny:` shape
// (config/poolrules.ts poolDocument), judged by the same rules as a config file (checkPool).
import { checkPool } from '../config/poolrules.js';
import type { Problem } from '../config/problem.js';
import type { Pool } from '../config/pool.js';
import type { PoolKeys } from './keys.js';

/** What one atomic read of the pool's keys returned (./scripts.ts READ). Types are Redis's TYPE answers. */
export interface Snapshot {
  poolType: string;
  /** The document's text when poolType is "string". */
  pool: string | null;
  versionType: string;
  version: string | null;
  changesType: string;
  /** The newest change record's id, when the stream has one: `<ms on the Redis server's clock>-<seq>`. */
  lastId: string | null;
  /** The version the newest change record made. */
  lastVersion: string | null;
}

export type Stored =
  | { kind: 'empty' }
  | { kind: 'pool'; version: number; pool: Pool }
  /** `version` when the version key itself was readable. */
  | { kind: 'bad'; key: string; version?: number; problems: Problem[] };

const VERSION = /^[1-9][0-9]{0,15}$/;

/** A version as Redis holds it: a decimal integer from 1, no sign, no leading zero, exact in a double. */
export function parseVersion(raw: string | null): number | undefined {
  return raw !== null && VERSION.test(raw) && Number(raw) <= Number.MAX_SAFE_INTEGER ? Number(raw) : undefined;
}

function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

/** Judges a snapshot: empty (no pool, no version), a pool the rules accept, or bad data with its key and problems. */
export function readStored(s: Snapshot, keys: PoolKeys): Stored {
  const bad = (key: string, message: string, version?: number): Stored =>
    ({ kind: 'bad', key, ...(version !== undefined && { version }), problems: [{ path: '', message }] });
  if (s.changesType !== 'none' && s.changesType !== 'stream') {
    return bad(keys.changes, `holds a ${s.changesType}, not a stream of change records`);
  }
  if (s.poolType === 'none' && s.versionType === 'none') return { kind: 'empty' };
  if (s.versionType === 'none') return bad(keys.version, `missing, while ${keys.pool} holds a pool`);
  if (s.versionType !== 'string') return bad(keys.version, `holds a ${s.versionType}, not an integer`);
  const version = parseVersion(s.version);
  if (version === undefined) return bad(keys.version, `${show(s.version ?? '')} is not an integer from 1`);
  if (s.poolType === 'none') return bad(keys.pool, `missing, while ${keys.version} says ${version}`, version);
  if (s.poolType !== 'string') return bad(keys.pool, `holds a ${s.poolType}, not a JSON document`, version);
  let data: unknown;
  try {
    data = JSON.parse(s.pool ?? '');
  } catch (err) {
    return bad(keys.pool, `is not JSON: ${(err as Error).message}`, version);
  }
  const { pool, problems } = checkPool(data);
  if (problems.length > 0 || pool === undefined) {
    return { kind: 'bad', key: keys.pool, version, problems: problems.length ? problems : [{ path: '', message: 'refused' }] };
  }
  return { kind: 'pool', version, pool };
}

/** "xlb:pool (version 7): 2 problems" and one line per problem, as a log or an error says it. */
export function describeBad(bad: { key: string; version?: number; problems: Problem[] }): string {
  const n = bad.problems.length;
  const head = `${bad.key}${bad.version !== undefined ? ` (version ${bad.version})` : ''}: ` +
    `${n} problem${n === 1 ? '' : 's'}`;
  return [head, ...bad.problems.map((p) => `  ${p.path ? `${p.path}: ` : ''}${p.message}`)].join('\n');
}
