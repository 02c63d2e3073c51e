// Measurements for `npm run bench` (never asserted in tests): how long a pool change takes from the edit's start on one
// node to the pool being handed to a second node's follower, with the edit's own round trip as the floor to compare to.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Pool } from '../config/pool.js';
import type { RedisConnector } from './connection.js';
import { PoolFollower, type Held } from './follower.js';
import { PoolWriter } from './writer.js';

export interface Spread {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface FollowLatency {
  edits: number;
  /** Edit started on the writer -> the follower's callback has the new version. */
  changeToCallback: Spread;
  /** Edit started -> the writer has Redis's answer: the floor the first is measured against. */
  write: Spread;
}

/** Nearest-rank percentiles of samples in milliseconds. */
export function spread(samples: number[]): Spread {
  if (samples.length === 0) throw new RangeError('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50Ms: at(50), p99Ms: at(99), maxMs: sorted[sorted.length - 1]! };
}

export interface FollowLatencyOptions {
  /** The writer's node and the follower's: two connectors (two nodes), possibly to the same Redis. */
  writer: RedisConnector;
  follower: RedisConnector;
  /** A prefix nothing else uses: the pool under it is replaced. */
  keyPrefix: string;
  logger: Logger;
  /** @default 200 */
  edits?: number;
  /** Gives up on one change after this long. @default 10000 */
  timeoutMs?: number;
}

const BASE: Pool = {
  deny: [],
  services: [{ name: 'bench', vip: '198.18.100.10', protocol: 'tcp', port: 80, scheduler: 'maglev', forwarding: 'nat',
    allow: [], health: { type: 'none', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 }, backends: [] }],
};

function address(i: number): string {
  return `198.18.${2 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** Replaces the pool under keyPrefix, then makes `edits` backend additions one after another, timing each. */
export async function measureFollowLatency(options: FollowLatencyOptions): Promise<FollowLatency> {
  const edits = options.edits ?? 200;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let held: Held = { pool: BASE, version: 0 };
  /** When each version was handed over, and who waits for one. */
  const deliveredAt = new Map<number, number>();
  const waiting = new Map<number, (at: number) => void>();
  const writer = new PoolWriter({ connector: options.writer, keyPrefix: options.keyPrefix, nodeId: 'bench-writer', logger: options.logger });
  const follower = new PoolFollower({
    connector: options.follower, keyPrefix: options.keyPrefix, nodeId: 'bench-follower',
    logger: options.logger, held: () => held,
    onPool: (update) => {
      const at = performance.now();
      held = { pool: update.pool, version: update.version };
      deliveredAt.set(update.version, at);
      for (const [version, resolve] of waiting) if (version <= update.version) resolve(at);
    },
  });
  const reached = (version: number): Promise<number> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`version ${version} did not reach the follower in ${timeoutMs} ms`)),
      timeoutMs);
    waiting.set(version, (at) => {
      clearTimeout(timer);
      waiting.delete(version);
      resolve(at);
    });
    const already = [...deliveredAt].filter(([v]) => v >= version).sort(([a], [b]) => a - b)[0];
    if (already) waiting.get(version)!(already[1]);
  });
  try {
    await until(() => writer.connected, timeoutMs, 'the writer to connect');
    // The pool first, then the follower: it finds a pool and never seeds one of its own.
    const { version } = await writer.replace(BASE, { kind: 'apply', detail: 'bench' });
    follower.start();
    await reached(version);
    const callback: number[] = [];
    const write: number[] = [];
    for (let i = 0; i < edits; i++) {
      const started = performance.now();
      const written = await writer.edit({ kind: 'backend add', detail: 'bench' }, (pool) => ({
        ...pool,
        services: pool.services.map((s) => ({ ...s, backends: [...s.backends,
          { address: address(i), port: 8080, weight: 1, drained: false }] })),
      }));
      write.push(performance.now() - started);
      callback.push((await reached(written.version)) - started);
    }
    return { edits, changeToCallback: spread(callback), write: spread(write) };
  } finally {
    await follower.stop();
    await writer.close();
  }
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
