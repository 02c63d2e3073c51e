// What the cluster tests share: a private redis-server per test (torn down with it), connectors with short retry
// delays, a small stand-in for config's pool rules, pools to edit, a logger whose lines the test reads, and waitFor().
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { BackendSpec, HealthCheck, Pool, ServiceSpec } from '../../config/pool.js';
import { redisConnector, type RedisConnector, type Tuning } from '../../cluster/connection.js';
import { poolDocument } from '../../config/poolrules.js';
import { RedisServer, type RedisServerOptions } from '../../scripts/lab/redis.js';

export interface TestContext {
  teardown(fn: () => void | Promise<void>): void;
  log(...values: unknown[]): void;
  readonly passed: boolean;
}

/** Short delays, so an outage and its end are seen in well under a second; blocks of 2 s unless given. */
export function fastTuning(blockMs = 2000): Tuning {
  return { connectTimeoutMs: 2000, replyTimeoutMs: 5000, blockMs, retry: { minMs: 50, maxMs: 400 } };
}

/** A redis-server on a free port and its own temp dir, destroyed at teardown (its log shown if the test failed). */
export async function startRedis(t: TestContext, options: RedisServerOptions = {}): Promise<RedisServer> {
  const server = await RedisServer.start(options);
  t.teardown(async () => {
    if (!t.passed) t.log(`redis-server on port ${server.port}:\n${server.log.slice(-3000)}`);
    await server.destroy();
  });
  return server;
}

export function connectorTo(server: RedisServer, nodeId = 'test', tuning = fastTuning()): RedisConnector {
  return redisConnector({ url: server.url, keyPrefix: 'xlb' }, nodeId, tuning);
}

/** pino lines kept in memory, parsed. */
export class LogCapture {
  readonly entries: Record<string, unknown>[] = [];
  readonly logger: Logger;

  constructor() {
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString().split('\n')) if (line) this.entries.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    this.logger = pino({ level: 'debug' }, sink);
  }

  /** Entries whose msg matches. */
  matching(re: RegExp): Record<string, unknown>[] {
    return this.entries.filter((e) => re.test(String(e.msg)));
  }

  text(): string {
    return this.entries.map((e) => `${String(e.level)} ${String(e.msg)}`).join('\n');
  }
}

/** Polls `condition` every 20 ms until it holds; rejects after `ms` (generous: seconds) naming `what`. */
export async function waitFor<T>(what: string, condition: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await condition();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const HEALTH: HealthCheck = { type: 'none', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 };

export function backend(address: string, port?: number): BackendSpec {
  return { address, ...(port !== undefined && { port }), weight: 1, drained: false };
}

export function service(name: string, backends: BackendSpec[] = [], port = 80): ServiceSpec {
  return { name, vip: '198.18.100.10', protocol: 'tcp', port, scheduler: 'rr', forwarding: 'nat', allow: [],
    health: HEALTH, backends };
}

/** One tcp service "web" with the given backends (198.18.1.x:8080). */
export function webPool(...hosts: number[]): Pool {
  return { services: [service('web', hosts.map((h) => backend(`198.18.1.${h}`, 8080)))], deny: [] };
}

/** The n-th distinct backend address past 198.18.2.0, for edits that add many. */
export function nthAddress(n: number): string {
  return `198.18.${2 + Math.floor(n / 250)}.${1 + (n % 250)}`;
}

/** A pool's document as Redis holds it: config's poolDocument, through JSON. */
export function poolDoc(pool: Pool): unknown {
  return JSON.parse(JSON.stringify(poolDocument(pool)));
}
