// The pool in Redis, as a daemon uses it (README "Cluster"): the follower that keeps the daemon's pool equal to the one
// in Redis, the writer that lbctl's edits go through, and what status and metrics show of both. An edit is written to
// Redis, then applied here by the follower like any other node's, and answered once this node's maps hold it.
import type { Logger } from 'pino';
import { redisConnector } from '../../cluster/connection.js';
import { PoolFollower, type Held, type PoolUpdate } from '../../cluster/follower.js';
import { PoolWriter, type ChangeInfo } from '../../cluster/writer.js';
import type { Pool } from '../../config/pool.js';
import type { RedisConfig } from '../../config/types.js';
import type { ApplyResult, RedisStatus } from '../control/api.js';
import { Histogram } from './metrics.js';

/** What the daemon lets the follower see and do. */
export interface PoolOwner {
  /** The pool in the maps now, and its version (0: the config file's, never from Redis). */
  held(): Held;
  /** Makes `update` the pool, whole or not at all (a throw refuses it); resolves once the maps hold it. */
  apply(update: PoolUpdate): Promise<ApplyResult>;
}

/** How long an edit waits for its own write to reach this node's maps before it says so. */
const REACH_MS = 10_000;
/** Apply results kept for the edits that wait for them. */
const RESULTS_KEPT = 64;
/** Change-to-maps times, in seconds. */
const SYNC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RedisPool {
  private readonly writer: PoolWriter;
  private readonly follower: PoolFollower;
  private readonly results = new Map<number, ApplyResult>();
  /** xlb_pool_sync_seconds: from a change's record in Redis (Redis's clock) to this node's maps holding it. */
  readonly syncSeconds = new Histogram(SYNC_BUCKETS);

  constructor(config: RedisConfig, nodeId: string, private readonly owner: PoolOwner, log: Logger) {
    const connector = redisConnector(config, nodeId);
    const common = { connector, keyPrefix: config.keyPrefix, nodeId, logger: log };
    this.writer = new PoolWriter(common);
    this.follower = new PoolFollower({
      ...common,
      held: () => owner.held(),
      onPool: async (update) => {
        const result = await owner.apply(update);
        this.results.set(update.version, result);
        for (const v of this.results.keys()) if (this.results.size > RESULTS_KEPT) this.results.delete(v);
        if (update.changedAt !== undefined) this.syncSeconds.observe(Math.max(0, Date.now() - update.changedAt) / 1000);
      },
    });
  }

  /**
   * Starts following and waits up to `ms` for the first answer: Redis's pool handed over (or this node's seeded into
   * an empty Redis), refused, or Redis unreachable. Returns the follower's state then.
   */
  async start(ms: number): Promise<RedisStatus['state']> {
    this.follower.start();
    const until = Date.now() + ms;
    while (this.follower.status().state === 'connecting' && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.follower.status().state;
  }

  /** An lbctl edit: written to Redis (every node applies it), answered once this node's maps hold it. */
  async edit(change: ChangeInfo, fn: (pool: Pool) => Pool): Promise<ApplyResult> {
    return this.applied((await this.writer.edit(change, fn)).version);
  }

  /** A whole pool (lbctl config apply) made Redis's, whatever it held. */
  async replace(pool: Pool, change: ChangeInfo): Promise<ApplyResult> {
    return this.applied((await this.writer.replace(pool, change)).version);
  }

  private async applied(version: number): Promise<ApplyResult> {
    await this.follower.reached(version, REACH_MS);
    const result = this.results.get(version);
    if (result) return result;
    // A later version was applied over it before this edit heard back: its own writes are in that one's.
    const { pool } = this.owner.held();
    return { writes: 0, services: pool.services.length, backends: pool.services.reduce((n, s) => n + s.backends.length, 0) };
  }

  status(now = Date.now()): RedisStatus {
    const s = this.follower.status();
    return {
      endpoint: s.endpoint,
      state: s.state,
      since: s.since,
      ...(s.connectedSince !== undefined && { connectedSince: s.connectedSince }),
      version: s.version,
      ...(s.redisVersion !== undefined && { redisVersion: s.redisVersion }),
      ...(s.syncedAt !== undefined && { syncAgeMs: now - s.syncedAt }),
      ...(s.error !== undefined && { error: s.error }),
      ...(s.refused && { refused: s.refused }),
    };
  }

  async stop(): Promise<void> {
    await Promise.all([this.follower.stop(), this.writer.close()]);
  }
}
