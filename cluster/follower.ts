// Keeps a node's pool equal to the one in Redis. It follows the change stream (XREAD BLOCK from the last record seen)
// and, on any record whose version differs from the one it last read, on a nudge (pub/sub, at most once), on a slow
// periodic version check (each XREAD BLOCK that times out), and after every reconnect, reads the whole pool in one step
// and hands it to its owner if it differs from the pool the owner holds: a lost message can delay a change by one
// period at most, never leave the node stale.
//
// Redis unreachable: the owner keeps its pool; the follower logs once, ioredis reconnects with capped backoff, and the
// follower resyncs in full on return. Redis back without a pool (restarted without persistence, a new server): the
// follower seeds it with the pool its owner holds, at the owner's version, so no edit made through Redis is lost (the
// SEED script lets the newer of two such seeds win). Bad data in Redis is refused with the key and each problem's path
// named; the owner keeps the last good pool. States (one setter, each change logged once):
//
//   connecting -> synced | refused | disconnected;  synced <-> refused;  any -> disconnected -> synced | refused;
//   any -> stopped
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Problem } from '../config/problem.js';
import type { Pool } from '../config/pool.js';
import { backoff, type RedisConnector } from './connection.js';
import { poolDocument } from '../config/poolrules.js';
import { describeBad, readStored } from './document.js';
import { poolKeys, type PoolKeys } from './keys.js';
import { isUnavailable, PoolStore } from './store.js';

/** A pool and its version; version 0: not from Redis (the YAML file's pool, before the first sync). */
export interface Held {
  pool: Pool;
  version: number;
}

export interface PoolUpdate extends Held {
  /** redis: read from Redis; seeded: this node's own pool, just written to a Redis that had none (or an older seed). */
  source: 'redis' | 'seeded';
  /**
   * When the change was written, in ms since the epoch by the Redis server's clock (its change record's id), if the
   * newest record made this version: the start of a change-to-maps time (xlb_pool_sync_seconds).
   */
  changedAt?: number;
}

export type FollowerState = 'connecting' | 'synced' | 'refused' | 'disconnected' | 'stopped';

export interface Refusal {
  key: string;
  /** The version Redis holds, when its version key was readable. */
  version?: number;
  problems: Problem[];
}

export interface FollowerStatus {
  /** Where Redis is, without secrets. */
  endpoint: string;
  state: FollowerState;
  /** now() when the state was entered. */
  since: number;
  /** now() when the connections last came up; undefined while they are down. */
  connectedSince?: number;
  /** The version of the pool the owner holds (held()). */
  version: number;
  /** The version Redis held at the last read; undefined before the first. */
  redisVersion?: number;
  /** now() when a read last found the owner holding Redis's pool (or Redis's pool refused): the age of the sync. */
  syncedAt?: number;
  /** Reconnect attempts since the connection was lost. */
  retries: number;
  /** The last connection error, while disconnected. */
  error?: string;
  /** Why the pool in Redis is not applied, while state is refused. */
  refused?: Refusal;
}

export interface PoolFollowerOptions {
  connector: RedisConnector;
  keyPrefix: string;
  /** Written into the change record of a seed. */
  nodeId: string;
  /** The pool the owner holds now, and its version: compared with Redis's, and what seeds an empty Redis. */
  held: () => Held;
  /**
   * Called, one at a time, with each pool to apply. A throw refuses it (state refused, reason logged; the owner keeps
   * what it had) until Redis's version changes again or the connection comes back.
   */
  onPool: (update: PoolUpdate) => void | Promise<void>;
  logger: Logger;
  /** Milliseconds, for the status timestamps. @default Date.now */
  now?: () => number;
  /** @default STREAM_MAX_LEN */
  streamMaxLen?: number;
}

type Entry = [id: string, fields: string[]];

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export class PoolFollower {
  private readonly keys: PoolKeys;
  private readonly log: Logger;
  private readonly now: () => number;
  private cmd?: Redis;
  private blk?: Redis;
  private sub?: Redis;
  private store?: PoolStore;

  private state: FollowerState = 'connecting';
  private since: number;
  private connectedSince?: number;
  private syncedAt?: number;
  private redisVersion?: number;
  private refusal?: Refusal;
  private retries = 0;
  private lastError?: string;
  /** The version key's text at the last read ('' when absent); undefined forces a full read. */
  private seen?: string;
  private lastId = '0-0';
  /** Raised by every full read, so a record read before it does not move lastId back. */
  private reads = 0;
  private syncing: Promise<void> = Promise.resolve();
  private nudged = false;
  private loop?: Promise<void>;
  private stopped = false;
  private wake?: () => void;
  /** The last unexpected error logged, so a repeating one is logged once. */
  private loggedError?: string;
  private readonly waiters = new Set<{ version: number; done: (err?: Error) => void }>();

  constructor(private readonly options: PoolFollowerOptions) {
    this.keys = poolKeys(options.keyPrefix);
    this.log = options.logger.child({ module: 'pool-follower' });
    this.now = options.now ?? Date.now;
    this.since = this.now();
  }

  /** Connects and follows until stop(). */
  start(): void {
    if (this.loop) return;
    const { connector } = this.options;
    this.cmd = connector.connect('commands');
    this.blk = connector.connect('follow');
    this.sub = connector.connect('nudge');
    this.store = new PoolStore(this.cmd, this.keys, connector.endpoint, this.options.streamMaxLen);
    for (const conn of [this.cmd, this.blk]) {
      conn.on('ready', () => this.linkChanged(false));
      conn.on('close', () => this.linkChanged(true));
      conn.on('error', (err: Error) => {
        this.lastError = err.message;
        this.linkChanged(true);
      });
    }
    this.cmd.on('reconnecting', () => this.retries++);
    this.sub.on('error', () => undefined); // its own failures show on the other two
    this.sub.on('ready', () => {
      // At every reconnect (autoResubscribe is off, see ./connection.ts).
      this.sub!.subscribe(this.keys.nudge).catch(() => undefined);
      this.nudge(undefined);
    });
    this.sub.on('message', (_channel: string, version: string) => this.nudge(version));
    this.loop = this.run();
  }

  /** Stops following and closes the connections; the owner keeps its pool. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    for (const conn of [this.cmd, this.blk, this.sub]) conn?.disconnect();
    await this.loop;
    await this.syncing;
    for (const w of this.waiters) w.done(new Error('stopped following Redis'));
    this.setState('stopped');
  }

  /**
   * Resolves once the owner holds `version` or a later one, e.g. after an edit this node wrote, so the edit is in its
   * maps before lbctl hears back; rejects after timeoutMs, or at stop().
   */
  reached(version: number, timeoutMs: number): Promise<void> {
    if (this.options.held().version >= version) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        version,
        done: (err?: Error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          if (err) reject(err);
          else resolve();
        },
      };
      const timer = setTimeout(() => waiter.done(new Error(`pool version ${version} not applied within ${timeoutMs} ms ` +
        `(holding ${this.options.held().version}, following Redis: ${this.state})`)), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  status(): FollowerStatus {
    return {
      endpoint: this.options.connector.endpoint,
      state: this.state,
      since: this.since,
      ...(this.connectedSince !== undefined && { connectedSince: this.connectedSince }),
      version: this.options.held().version,
      ...(this.redisVersion !== undefined && { redisVersion: this.redisVersion }),
      ...(this.syncedAt !== undefined && { syncedAt: this.syncedAt }),
      retries: this.retries,
      ...(this.connectedSince === undefined && this.lastError !== undefined && { error: this.lastError }),
      ...(this.state === 'refused' && this.refusal && { refused: this.refusal }),
    };
  }

  private up(): boolean {
    return this.cmd?.status === 'ready' && this.blk?.status === 'ready';
  }

  /** `failed`: a connection closed or erred (not merely one of the two became ready before the other). */
  private linkChanged(failed: boolean): void {
    if (this.stopped) return;
    if (this.up()) {
      if (this.connectedSince !== undefined) return;
      this.connectedSince = this.now();
      this.retries = 0;
      this.wake?.();
      return;
    }
    const wasUp = this.connectedSince !== undefined;
    this.connectedSince = undefined;
    if (wasUp || (failed && this.state === 'connecting')) this.setState('disconnected');
  }

  private setState(next: FollowerState, refusal?: Refusal): void {
    const same = next === this.state && (next !== 'refused' || isDeepStrictEqual(refusal, this.refusal));
    this.refusal = refusal;
    if (same) return;
    const previous = this.state;
    this.state = next;
    this.since = this.now();
    const version = this.options.held().version;
    const endpoint = this.options.connector.endpoint;
    switch (next) {
      case 'disconnected':
        this.log.warn({ endpoint, err: this.lastError, version },
          `Redis at ${endpoint} is unreachable: keeping pool version ${version}; retrying`);
        break;
      case 'refused':
        this.log.error({ endpoint, key: refusal!.key, version: refusal!.version, problems: refusal!.problems },
          `refusing the pool in Redis, keeping pool version ${version}: ${describeBad(refusal!)}`);
        break;
      case 'synced':
        this.log.info({ endpoint, version, previous }, `following Redis at ${endpoint}: pool version ${version}`);
        break;
      case 'stopped':
        this.log.info({ endpoint }, 'stopped following Redis');
        break;
      case 'connecting':
        break;
    }
  }

  private untilUp(): Promise<void> {
    return new Promise((resolve) => {
      if (this.up() || this.stopped) return resolve();
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async run(): Promise<void> {
    const { blockMs, retry } = this.options.connector.tuning;
    let needRead = true;
    let failures = 0;
    while (!this.stopped) {
      if (!this.up()) {
        await this.untilUp();
        needRead = true;
        continue;
      }
      try {
        if (needRead) {
          await this.sync();
          needRead = false;
        }
        const reads = this.reads;
        const reply = (await this.blk!.xread('COUNT', 1000, 'BLOCK', blockMs, 'STREAMS', this.keys.changes,
          this.lastId)) as [string, Entry[]][] | null;
        failures = 0;
        if (!reply) {
          needRead = await this.versionMoved();
          continue;
        }
        const entries = reply[0]![1];
        const newest = entries[entries.length - 1]!;
        if (reads === this.reads) this.lastId = newest[0];
        needRead = field(newest[1], 'version') !== this.seen;
      } catch (err) {
        if (this.stopped) break;
        needRead = true;
        if (!isUnavailable(err)) this.unexpected(err);
        // Never again at once: a connection just ended reads as ready until its close event, which needs a turn of
        // the event loop; a lost connection is then waited for at the top, anything else retried after the backoff.
        await this.delay(backoff(++failures, retry));
      }
    }
  }

  private unexpected(err: unknown): void {
    const message = (err as Error).message;
    if (message === this.loggedError) return;
    this.loggedError = message;
    this.log.error({ err }, `following Redis failed; trying again: ${message}`);
  }

  /** After an idle block: has the version changed since the last read? */
  private async versionMoved(): Promise<boolean> {
    const raw = (await this.store!.version()) ?? '';
    if (raw !== this.seen) return true;
    this.syncedAt = this.now();
    return false;
  }

  /** A nudge (the version published by a write) or a resubscribe (undefined): read now unless already current. */
  private nudge(version: string | undefined): void {
    if (this.stopped || !this.up() || this.nudged || (version !== undefined && version === this.seen)) return;
    this.nudged = true;
    this.sync().catch((err: unknown) => {
      if (!isUnavailable(err)) this.unexpected(err);
    }).finally(() => (this.nudged = false));
  }

  /** One full read at a time: the loop and a nudge may both ask. */
  private sync(): Promise<void> {
    const run = this.syncing.then(() => this.readOnce());
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async readOnce(): Promise<void> {
    const store = this.store!;
    // A seed that loses to another node's is followed by one more read, of the pool that won.
    for (let round = 0; round < 3 && !this.stopped; round++) {
      const snap = await store.snapshot();
      this.reads++;
      this.lastId = snap.lastId ?? '0-0';
      this.seen = snap.version ?? '';
      const stored = readStored(snap, this.keys);
      this.redisVersion = stored.kind === 'empty' ? undefined : stored.version;
      if (stored.kind === 'bad') {
        this.syncedAt = this.now();
        this.setState('refused', { key: stored.key, ...(stored.version !== undefined && { version: stored.version }),
          problems: stored.problems });
        return;
      }
      const held = this.options.held();
      if (stored.kind === 'empty' || stored.version < held.version) {
        const version = Math.max(held.version, 1);
        const detail = held.version === 0 ? 'the pool of its config file' : `the pool it held at version ${version}`;
        const result = await store.seed(JSON.stringify(poolDocument(held.pool)), version,
          { node: this.options.nodeId, detail });
        if (result.seeded) {
          this.seen = String(version);
          this.redisVersion = version;
          this.log.info({ version, had: stored.kind === 'empty' ? null : stored.version },
            `Redis held ${stored.kind === 'empty' ? 'no pool' : `an older seed (version ${stored.version})`}: ` +
            `seeded it with ${detail}`);
          if (version !== held.version) await this.deliver({ pool: held.pool, version, source: 'seeded' });
          else this.synced();
          return;
        }
        if (stored.kind === 'empty') continue;
      }
      if (stored.version === held.version && isDeepStrictEqual(stored.pool, held.pool)) {
        this.synced();
        return;
      }
      const changedAt = snap.lastId !== null && snap.lastVersion === snap.version ? Number(snap.lastId.split('-')[0])
        : undefined;
      await this.deliver({ pool: stored.pool, version: stored.version, source: 'redis',
        ...(changedAt !== undefined && { changedAt }) });
      return;
    }
  }

  private synced(): void {
    this.syncedAt = this.now();
    this.setState('synced');
    const held = this.options.held().version;
    for (const w of this.waiters) if (held >= w.version) w.done();
  }

  private async deliver(update: PoolUpdate): Promise<void> {
    try {
      await this.options.onPool(update);
    } catch (err) {
      const e = err as Error & { problems?: Problem[] };
      const problems = Array.isArray(e.problems) && e.problems.length > 0 ? e.problems
        : [{ path: '', message: `not applied: ${e.message}` }];
      this.syncedAt = this.now();
      this.setState('refused', { key: this.keys.pool, version: update.version, problems });
      return;
    }
    this.log.debug({ version: update.version, source: update.source }, 'pool handed over');
    this.synced();
  }
}
