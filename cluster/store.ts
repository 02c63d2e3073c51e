// The pool's keys on one command connection: one atomic read, the version alone, the compare-and-set write and the
// seed (./scripts.ts). Errors of the connection become ClusterError XLB_REDIS_UNAVAILABLE saying whether the write
// surely did not happen (never sent, or refused by the server) or may have (the connection broke after sending it).
import type { Redis } from 'ioredis';
import { ClusterError } from './errors.js';
import type { PoolKeys } from './keys.js';
import type { Snapshot } from './document.js';
import { READ, SEED, WRITE } from './scripts.js';

/** What a write tells the followers in its change record. */
export interface Change {
  /** The writer's node id. */
  node: string;
  /** What kind of edit: "apply", "backend add", "deny remove", ... */
  kind: string;
  /** What it touched, for people reading the stream: "web 198.18.1.13:8080". */
  detail?: string;
}

export type WriteResult = { ok: true; version: number } | { ok: false; current: number };
export type SeedResult = { seeded: true; version: number } | { seeded: false; current: number | null };

/** @default 1000: the stream keeps about this many records (XADD MAXLEN ~). */
export const STREAM_MAX_LEN = 1000;

interface Scripted {
  xlbPoolRead(pool: string, version: string, changes: string): Promise<(string | null)[]>;
  xlbPoolWrite(pool: string, version: string, changes: string, ...argv: (string | number)[]): Promise<unknown[]>;
  xlbPoolSeed(pool: string, version: string, changes: string, ...argv: (string | number)[]): Promise<unknown[]>;
}

/** The connection broke or timed out: a command sent may or may not have run. */
const LOST = /Connection is closed|Socket timeout|Command timed out|ECONNRESET|EPIPE|ETIMEDOUT/;
/** Never sent (no connection), or refused by the server before running: nothing happened. */
const REFUSED = /Stream isn't writeable|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|^(READONLY|LOADING|MASTERDOWN|NOREPLICAS|BUSY|TRYAGAIN|NOAUTH|WRONGPASS|NOPERM|MISCONF)/;

/** True for an error of the connection or of the server's state, as opposed to a bug or bad data. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof ClusterError) return err.code === 'XLB_REDIS_UNAVAILABLE';
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || LOST.test(err.message) || REFUSED.test(err.message);
}

export class PoolStore {
  private lastError: string | undefined;
  private readonly scripted: Scripted;

  constructor(
    private readonly redis: Redis,
    readonly keys: PoolKeys,
    /** For messages: where Redis is (describeEndpoint). */
    private readonly endpoint: string,
    private readonly streamMaxLen = STREAM_MAX_LEN,
  ) {
    redis.defineCommand('xlbPoolRead', { numberOfKeys: 3, lua: READ });
    redis.defineCommand('xlbPoolWrite', { numberOfKeys: 3, lua: WRITE });
    redis.defineCommand('xlbPoolSeed', { numberOfKeys: 3, lua: SEED });
    this.scripted = redis as unknown as Scripted;
    redis.on('error', (err: Error) => (this.lastError = err.message));
    redis.on('ready', () => (this.lastError = undefined));
  }

  /** True while the connection is ready: a command now is sent; otherwise it fails at once. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** The last connection error since the connection was last ready. */
  get error(): string | undefined {
    return this.lastError;
  }

  /** The document, the version and the newest change record's id, read in one step. */
  async snapshot(): Promise<Snapshot> {
    const k = this.keys;
    const r = await this.run('read', () => this.scripted.xlbPoolRead(k.pool, k.version, k.changes));
    return {
      poolType: r[0]!, pool: r[1] ?? null, versionType: r[2]!, version: r[3] ?? null, changesType: r[4]!, lastId: r[5] ?? null,
      lastVersion: r[6] ?? null,
    };
  }

  /** The version key's text, null when absent; a version key of another type reads as "<type>". */
  async version(): Promise<string | null> {
    try {
      return await this.run('read', () => this.redis.get(this.keys.version));
    } catch (err) {
      if (err instanceof Error && /^WRONGTYPE/.test(err.message)) return '<not a string>';
      throw err;
    }
  }

  /** Writes `document` if the version is still `expected` (0: no pool); throws XLB_REDIS_DATA_INVALID for bad keys. */
  async write(expected: number, document: string, change: Change): Promise<WriteResult> {
    const k = this.keys;
    const r = await this.run('write', () => this.scripted.xlbPoolWrite(k.pool, k.version, k.changes,
      expected, document, change.node, change.kind, change.detail ?? '', this.streamMaxLen, k.nudge));
    if (r[0] === 'ok') return { ok: true, version: Number(r[1]) };
    if (r[0] === 'conflict') return { ok: false, current: Number(r[1]) };
    throw this.bad(r);
  }

  /** Writes `document` at `version` where there is no pool, or over an older unedited seed (./scripts.ts SEED). */
  async seed(document: string, version: number, change: Omit<Change, 'kind'>): Promise<SeedResult> {
    const k = this.keys;
    const r = await this.run('write', () => this.scripted.xlbPoolSeed(k.pool, k.version, k.changes,
      document, version, change.node, change.detail ?? '', this.streamMaxLen, k.nudge));
    if (r[0] === 'seeded') return { seeded: true, version: Number(r[1]) };
    if (r[0] === 'held') return { seeded: false, current: r[1] === null ? null : Number(r[1]) };
    throw this.bad(r);
  }

  private bad(reply: unknown[]): ClusterError {
    const [, key, message] = reply as [string, string, string];
    return new ClusterError('XLB_REDIS_DATA_INVALID', `${key}: ${message}: nothing was changed; fix or delete it by hand`,
      [{ path: '', message }], key);
  }

  private async run<T>(what: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    if (this.redis.status !== 'ready') throw this.unavailable(what, undefined);
    try {
      return await fn();
    } catch (err) {
      if (isUnavailable(err)) throw this.unavailable(what, err as Error);
      throw err;
    }
  }

  private unavailable(what: 'read' | 'write', err: Error | undefined): ClusterError {
    const reason = err?.message ?? this.lastError ?? `not connected: ${this.redis.status}`;
    const lost = err !== undefined && (err.name === 'MaxRetriesPerRequestError' || LOST.test(err.message));
    const outcome = what === 'read' ? ''
      : lost ? ': the connection broke after the write was sent, so it may or may not have been made; ' +
        'look at the pool version before trying again'
      : ': nothing was changed';
    return new ClusterError('XLB_REDIS_UNAVAILABLE', `Redis at ${this.endpoint} is unavailable (${reason})${outcome}`,
      [], undefined, err && { cause: err });
  }
}
