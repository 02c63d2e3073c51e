// The pool as Redis holds it, read and written without I/O: a pool rendered as its document (the YAML's `services:` and
// `deny:` shape, so config's rules check both), and what a snapshot of the keys says: no pool yet, a pool and its
// version, or bad data with the key and each problem's path named.
import type { Problem } from '../lb/control/api.js';
import type { HealthCheck, Pool } from '../lb/pool.js';
import type { PoolKeys } from './keys.js';

/**
 * The rules for a pool document (config's, in the daemon): the Pool when there is no problem, else every problem with
 * its path inside the document (`services[0].backends[1].address`).
 */
export type PoolCheck = (data: unknown) => { pool?: Pool; problems: Problem[] };

export interface BackendDocument {
  address: string;
  port?: number;
  weight: number;
  mac?: string;
  drained: boolean;
}

export interface HealthDocument {
  type: HealthCheck['type'];
  port?: number;
  path?: string;
  interval: string;
  timeout: string;
  rise: number;
  fall: number;
}

export interface ServiceDocument {
  name: string;
  vip: string;
  protocol: string;
  port?: number;
  scheduler: string;
  forwarding: string;
  allow: string[];
  health: HealthDocument;
  backends: BackendDocument[];
}

export interface PoolDocument {
  services: ServiceDocument[];
  deny: string[];
}

/** A duration as the YAML writes it: whole seconds as "2s", the rest in milliseconds. */
function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** `pool` as its document, every value explicit (no default left to the reader), so the rules read back the same pool. */
export function renderPool(pool: Pool): PoolDocument {
  return {
    services: pool.services.map((s) => ({
      name: s.name,
      vip: s.vip,
      protocol: s.protocol,
      ...(s.port !== undefined && { port: s.port }),
      scheduler: s.scheduler,
      forwarding: s.forwarding,
      allow: [...s.allow],
      health: {
        type: s.health.type,
        ...(s.health.port !== undefined && { port: s.health.port }),
        ...(s.health.path !== undefined && { path: s.health.path }),
        interval: duration(s.health.intervalMs),
        timeout: duration(s.health.timeoutMs),
        rise: s.health.rise,
        fall: s.health.fall,
      },
      backends: s.backends.map((b) => ({
        address: b.address,
        ...(b.port !== undefined && { port: b.port }),
        weight: b.weight,
        ...(b.mac !== undefined && { mac: b.mac }),
        drained: b.drained,
      })),
    })),
    deny: [...pool.deny],
  };
}

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
export function readStored(s: Snapshot, keys: PoolKeys, check: PoolCheck): Stored {
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
  const { pool, problems } = check(data);
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
