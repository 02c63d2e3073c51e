// Changes the pool in Redis: read it, apply an edit, check the result by the pool's rules, and write it only if nobody
// wrote in between (compare-and-set on the version); on a conflict read again and retry, a bounded number of times.
// One writer runs its edits one at a time, in the order asked, so a node never races itself.
import type { Logger } from 'pino';
import type { Pool } from '../config/pool.js';
import type { Redis } from 'ioredis';
import type { RedisConnector } from './connection.js';
import { checkPool, poolDocument } from '../config/poolrules.js';
import { describeBad, readStored, type Snapshot } from './document.js';
import { ClusterError } from './errors.js';
import { poolKeys } from './keys.js';
import { PoolStore, type Change } from './store.js';

export interface PoolWriterOptions {
  connector: RedisConnector;
  keyPrefix: string;
  /** Written into every change record. */
  nodeId: string;
  logger: Logger;
  /** Attempts before XLB_REDIS_CONFLICT. @default 20 */
  maxAttempts?: number;
  /** @default STREAM_MAX_LEN */
  streamMaxLen?: number;
}

export interface Written {
  /** The version the write made. */
  version: number;
  /** The pool as the rules read back the document written: what every follower gets. */
  pool: Pool;
}

/** What kind of change, and what it touched (see Change). */
export type ChangeInfo = Omit<Change, 'node'>;

/** Spreads retries so two writers that conflicted do not collide again in step: 0..(2^attempt) ms, at most 50. */
function conflictDelay(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class PoolWriter {
  private readonly redis: Redis;
  private readonly store: PoolStore;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PoolWriterOptions) {
    this.log = options.logger.child({ module: 'pool-writer' });
    this.redis = options.connector.connect('commands');
    this.store = new PoolStore(this.redis, poolKeys(options.keyPrefix), options.connector.endpoint, options.streamMaxLen);
  }

  /** True while the connection is up: an edit now reaches Redis; otherwise it fails at once. */
  get connected(): boolean {
    return this.store.connected;
  }

  /**
   * Applies `edit` to the pool in Redis. `edit` may throw to refuse (its error is passed on as is) and may run more
   * than once (after a conflict, on the newer pool). Throws ClusterError: XLB_REDIS_UNAVAILABLE, XLB_REDIS_NO_POOL,
   * XLB_REDIS_DATA_INVALID (Redis's pool breaks the rules), XLB_CONFIG_INVALID (the edit's result does),
   * XLB_REDIS_CONFLICT (others kept writing first).
   */
  edit(change: ChangeInfo, edit: (pool: Pool) => Pool): Promise<Written> {
    return this.serially(() => this.write(change, edit));
  }

  /** Makes `pool` the pool, whatever Redis held, even bad data (but not a version key that is not an integer). */
  replace(pool: Pool, change: ChangeInfo = { kind: 'apply' }): Promise<Written> {
    return this.serially(() => this.write(change, undefined, pool));
  }

  /** Closes the connection; edits after this fail with XLB_REDIS_UNAVAILABLE. */
  async close(): Promise<void> {
    await this.queue;
    this.redis.disconnect();
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The snapshot; an unreachable Redis is reported as an edit that changed nothing. */
  private async read(): Promise<Snapshot> {
    try {
      return await this.store.snapshot();
    } catch (err) {
      if (!(err instanceof ClusterError) || err.code !== 'XLB_REDIS_UNAVAILABLE') throw err;
      throw new ClusterError(err.code, `${err.message}: nothing was changed`, [], undefined, { cause: err.cause });
    }
  }

  private async write(change: ChangeInfo, edit?: (pool: Pool) => Pool, whole?: Pool): Promise<Written> {
    const { keys } = this.store;
    const max = this.options.maxAttempts ?? 20;
    for (let attempt = 1; attempt <= max; attempt++) {
      const stored = readStored(await this.read(), keys);
      let expected: number;
      let next: Pool;
      if (edit) {
        if (stored.kind === 'empty') {
          throw new ClusterError('XLB_REDIS_NO_POOL', `Redis at ${this.options.connector.endpoint} holds no pool yet ` +
            `(${keys.pool}): a daemon seeds it when it starts, or lbctl config apply writes one; nothing was changed`);
        }
        if (stored.kind === 'bad') {
          throw new ClusterError('XLB_REDIS_DATA_INVALID', `the pool in Redis is refused, ${describeBad(stored)}\n` +
            'nothing was changed; replace the whole pool (lbctl config apply) or fix the key by hand',
          stored.problems, stored.key);
        }
        expected = stored.version;
        next = edit(stored.pool);
      } else {
        // A bad document is replaced; a bad version key is reported by the script, which touches nothing then.
        expected = stored.kind === 'empty' ? 0 : stored.version ?? 0;
        next = whole!;
      }
      // The pool's rules, as for a config file: an edit's result must pass them (JSON as Redis will hold it).
      const document = JSON.parse(JSON.stringify(poolDocument(next))) as unknown;
      const checked = checkPool(document);
      if (checked.problems.length > 0 || !checked.pool) {
        const n = checked.problems.length;
        throw new ClusterError('XLB_CONFIG_INVALID', `the pool would have ${n} problem${n === 1 ? '' : 's'}; ` +
          'nothing was changed', checked.problems);
      }
      const result = await this.store.write(expected, JSON.stringify(document), { ...change, node: this.options.nodeId });
      if (result.ok) {
        this.log.debug({ version: result.version, kind: change.kind, detail: change.detail, attempt }, 'pool written');
        return { version: result.version, pool: checked.pool };
      }
      this.log.debug({ expected, current: result.current, attempt }, 'another writer was first; reading again');
      await conflictDelay(attempt);
    }
    throw new ClusterError('XLB_REDIS_CONFLICT', `other writers changed the pool first ${max} times in a row; ` +
      'nothing was changed; try again');
  }
}
