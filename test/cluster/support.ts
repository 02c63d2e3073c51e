// What the cluster tests share: a private redis-server per test (torn down with it), connectors with short retry
// delays, a small stand-in for config's pool rules, pools to edit, a logger whose lines the test reads, and waitFor().
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { Problem } from '../../lb/control/api.js';
import type { BackendSpec, HealthCheck, Pool, ServiceSpec } from '../../lb/pool.js';
import { redisConnector, type RedisConnector, type Tuning } from '../../cluster/connection.js';
import type { PoolCheck } from '../../cluster/document.js';
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

// ---- a stand-in for config's rules: the same document shape, a few of its checks -------------------------------

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function ms(v: unknown): number | undefined {
  const m = typeof v === 'string' ? /^([0-9]+)(ms|s)$/.exec(v) : null;
  return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : undefined;
}

export const standInCheck: PoolCheck = (data) => {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const keys = (v: Record<string, unknown>, path: string, known: string[]) => {
    for (const k of Object.keys(v)) if (!known.includes(k)) add(path ? `${path}.${k}` : k, 'unknown key');
  };
  if (!isObject(data)) return { problems: [{ path: '', message: 'must be a mapping of services, deny' }] };
  keys(data, '', ['services', 'deny']);
  const deny = Array.isArray(data.deny) ? data.deny : (add('deny', 'must be a list'), []);
  deny.forEach((c, i) => typeof c !== 'string' && add(`deny[${i}]`, 'must be a CIDR'));
  const services = Array.isArray(data.services) ? data.services : (add('services', 'must be a list'), []);
  const pool: Pool = { deny: deny as string[], services: [] };
  services.forEach((s, i) => {
    const p = `services[${i}]`;
    if (!isObject(s)) return add(p, 'must be a mapping');
    keys(s, p, ['name', 'vip', 'protocol', 'port', 'scheduler', 'forwarding', 'allow', 'health', 'backends']);
    if (typeof s.name !== 'string' || !s.name) add(`${p}.name`, 'required');
    if (typeof s.vip !== 'string' || !IPV4.test(s.vip)) add(`${p}.vip`, `${JSON.stringify(s.vip)} is not an IPv4 address`);
    if (!['icmp', 'tcp', 'udp'].includes(s.protocol as string)) add(`${p}.protocol`, 'is not one of icmp, tcp, udp');
    const h = isObject(s.health) ? s.health : {};
    const health: HealthCheck = { type: (h.type as HealthCheck['type']) ?? 'none', intervalMs: ms(h.interval) ?? 2000,
      timeoutMs: ms(h.timeout) ?? 1000, rise: (h.rise as number) ?? 2, fall: (h.fall as number) ?? 2 };
    const backends = Array.isArray(s.backends) ? s.backends : [];
    const seen = new Set<string>();
    const specs = backends.map((b, j): BackendSpec => {
      const bp = `${p}.backends[${j}]`;
      if (!isObject(b)) return add(bp, 'must be a mapping') as never;
      keys(b, bp, ['address', 'port', 'weight', 'mac', 'drained']);
      if (typeof b.address !== 'string' || !IPV4.test(b.address)) {
        add(`${bp}.address`, `${JSON.stringify(b.address)} is not an IPv4 address`);
      }
      const where = `${String(b.address)}:${String(b.port ?? s.port)}`;
      if (seen.has(where)) add(bp, `${where} is already a backend of this service`);
      seen.add(where);
      return { address: b.address as string, ...(b.port !== undefined && { port: b.port as number }),
        weight: (b.weight as number) ?? 1, drained: (b.drained as boolean) ?? false };
    });
    pool.services.push({ name: s.name as string, vip: s.vip as string, protocol: s.protocol as ServiceSpec['protocol'],
      ...(s.port !== undefined && { port: s.port as number }), scheduler: (s.scheduler as ServiceSpec['scheduler']) ?? 'rr',
      forwarding: (s.forwarding as ServiceSpec['forwarding']) ?? 'nat', allow: (s.allow as string[]) ?? [], health,
      backends: specs });
  });
  return problems.length ? { problems } : { pool, problems };
};
