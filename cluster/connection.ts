// How xlb reaches Redis: the typed `redis:` settings, the files they name (password, CA), and the ioredis options for
// each connection, built by one pure function. Every connection refuses commands while Redis is unreachable instead of
// queueing them (an edit must fail at once and change nothing), drops a command whose connection breaks instead of
// resending it (a resent write could apply twice), reconnects with capped exponential backoff, and keeps every socket
// error handled (ioredis alone would let a second one end the process).
import { readFileSync } from 'node:fs';
import { Redis, SentinelConnector, type RedisOptions } from 'ioredis';
import { StandaloneConnector } from 'ioredis/built/connectors/index.js';
import type { RedisConfig, RedisSentinelConfig } from '../config/types.js';
import { ClusterError } from './errors.js';

type Emitter = Parameters<StandaloneConnector['connect']>[0];
type Stream = Awaited<ReturnType<StandaloneConnector['connect']>>;

/** ioredis still sees a socket's first error (and reconnects); this listener only keeps the later ones handled. */
function guard(stream: Stream): Stream {
  stream.on('error', () => undefined);
  return stream;
}

/**
 * ioredis listens for a socket's errors with once(): a second error on one socket (a TLS handshake refused by both
 * ends, a reset after an alert) would be unhandled and end the process (redis/ioredis#961, #1183). These connectors
 * keep a listener for the socket's whole life.
 */
export class GuardedStandaloneConnector extends StandaloneConnector {
  /** ioredis hands a Connector the whole of its options. */
  constructor(options: unknown) {
    super(options as ConstructorParameters<typeof StandaloneConnector>[0]);
  }

  override async connect(emitter: Emitter): Promise<Stream> {
    return guard(await super.connect(emitter));
  }
}

export class GuardedSentinelConnector extends SentinelConnector {
  constructor(options: unknown) {
    super(options as ConstructorParameters<typeof SentinelConnector>[0]);
  }

  override async connect(emitter: Emitter): Promise<Stream> {
    return guard(await super.connect(emitter));
  }
}

export type { HostPort, RedisConfig } from '../config/types.js';

/** What the files named in a RedisConfig hold, read once by readSecrets(). */
export interface RedisSecrets {
  password?: string;
  sentinelPassword?: string;
  ca?: Buffer;
}

/**
 * Each connection has one job: `commands` (reads and scripts), `follow` (XREAD BLOCK, nothing else can use it while it
 * blocks), `nudge` (a subscriber, which can do nothing else either).
 */
export type ConnectionRole = 'commands' | 'follow' | 'nudge';

export interface Tuning {
  /** Giving up on a TCP/TLS connect. @default 3000 */
  connectTimeoutMs: number;
  /** A command with no answer for this long breaks its connection (reconnected); XREAD BLOCK gets blockMs more. @default 5000 */
  replyTimeoutMs: number;
  /** How long one XREAD BLOCK waits, which is also the period of the follower's slow version check. @default 10000 */
  blockMs: number;
  /** Reconnect backoff: first delay, doubled at each attempt up to maxMs. @default { minMs: 100, maxMs: 2000 } */
  retry: { minMs: number; maxMs: number };
}

export const DEFAULT_TUNING: Tuning = {
  connectTimeoutMs: 3000,
  replyTimeoutMs: 5000,
  blockMs: 10_000,
  retry: { minMs: 100, maxMs: 2000 },
};

/** The delay before reconnect attempt `attempt` (1, 2, ...): minMs doubled at each attempt, capped at maxMs. */
export function backoff(attempt: number, retry: Tuning['retry']): number {
  return Math.min(retry.maxMs, retry.minMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

export function isSentinel(config: RedisConfig): config is RedisSentinelConfig {
  return 'sentinels' in config;
}

interface ParsedUrl {
  tls: boolean;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

function parseUrl(url: string): ParsedUrl {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError(`${u.protocol} is not redis: or rediss:`);
  const db = u.pathname.replace(/^\//, '');
  return {
    tls: u.protocol === 'rediss:',
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 6379,
    db: db ? Number(db) : 0,
    ...(u.username && { username: decodeURIComponent(u.username) }),
    ...(u.password && { password: decodeURIComponent(u.password) }),
  };
}

/** Where Redis is, for logs and `lbctl status`: never a password. */
export function describeEndpoint(config: RedisConfig): string {
  if (!isSentinel(config)) {
    const u = parseUrl(config.url);
    const host = u.host.includes(':') ? `[${u.host}]` : u.host;
    return `${u.tls ? 'rediss' : 'redis'}://${host}:${u.port}/${u.db}`;
  }
  const at = config.sentinels.map((s) => `${s.host}:${s.port}`).join(',');
  return `sentinel${config.tls ? 's' : ''}://${at}/${config.name}/${config.db}`;
}

/** Reads the files the config names; throws ClusterError XLB_REDIS_SETUP naming the file and what is wrong. */
export function readSecrets(config: RedisConfig): RedisSecrets {
  const text = (path: string, what: string, oneLine = true): string => {
    let s: string;
    try {
      s = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ClusterError('XLB_REDIS_SETUP', `${path}: cannot read the ${what}: ${(err as Error).message}`, [], undefined,
        { cause: err });
    }
    // A password is one line: an editor's final newline is not part of it.
    const value = oneLine ? s.replace(/\r?\n$/, '') : s;
    if (value.trim() === '') throw new ClusterError('XLB_REDIS_SETUP', `${path}: the ${what} file is empty`);
    return value;
  };
  const secrets: RedisSecrets = {};
  if (config.passwordFile !== undefined) secrets.password = text(config.passwordFile, 'Redis password');
  if (isSentinel(config) && config.sentinelPasswordFile !== undefined) {
    secrets.sentinelPassword = text(config.sentinelPasswordFile, 'Sentinel password');
  }
  if (config.caFile !== undefined) {
    const pem = text(config.caFile, 'CA bundle', false);
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ClusterError('XLB_REDIS_SETUP', `${config.caFile}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
    secrets.ca = Buffer.from(pem);
  }
  return secrets;
}

/**
 * The ioredis options of one connection. Pure: the files were read by readSecrets(). A password from password_file
 * wins over one in the URL (the config rules forbid giving both).
 */
export function redisOptions(
  config: RedisConfig,
  secrets: RedisSecrets,
  role: ConnectionRole,
  nodeId: string,
  tuning: Tuning = DEFAULT_TUNING,
): RedisOptions {
  const common: RedisOptions = {
    connectionName: `xlb:${nodeId}:${role}`,
    connectTimeout: tuning.connectTimeoutMs,
    socketTimeout: role === 'follow' ? tuning.blockMs + tuning.replyTimeoutMs : tuning.replyTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The follower subscribes again itself at every ready: ioredis's own resubscribe leaves its rejection unhandled
    // when the connection drops again at once, and an unhandled rejection ends the process.
    autoResubscribe: false,
    retryStrategy: (attempt: number) => backoff(attempt, tuning.retry),
    // A master demoted by a failover answers READONLY: find the new one.
    reconnectOnError: (err: Error) => /^READONLY/.test(err.message),
    lazyConnect: false,
    Connector: isSentinel(config) ? GuardedSentinelConnector : GuardedStandaloneConnector,
  };
  if (!isSentinel(config)) {
    const u = parseUrl(config.url);
    const password = secrets.password ?? u.password;
    return {
      ...common,
      host: u.host,
      port: u.port,
      db: u.db,
      ...(u.username !== undefined && { username: u.username }),
      ...(password !== undefined && { password }),
      ...(u.tls && { tls: tlsOptions(u.host, secrets.ca) }),
    };
  }
  const tls = config.tls ? { ...(secrets.ca && { ca: secrets.ca }) } : undefined;
  return {
    ...common,
    sentinels: config.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: config.name,
    role: 'master',
    db: config.db,
    ...(config.username !== undefined && { username: config.username }),
    ...(secrets.password !== undefined && { password: secrets.password }),
    ...(secrets.sentinelPassword !== undefined && { sentinelPassword: secrets.sentinelPassword }),
    ...(tls && { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
    sentinelRetryStrategy: (attempt: number) => backoff(attempt, tuning.retry),
    // Subscribes to +switch-master, so a failover is noticed at once rather than at the next failed command.
    failoverDetector: true,
  };
}

/** SNI takes names, not addresses; Node checks an address against the certificate's IP SANs either way. */
function tlsOptions(host: string, ca: Buffer | undefined): { ca?: Buffer; servername?: string } {
  const address = /^[0-9.]+$/.test(host) || host.includes(':');
  return { ...(ca && { ca }), ...(!address && { servername: host }) };
}

/** Makes connections for each role. Followers and writers take one, so tests and tools can point them anywhere. */
export interface RedisConnector {
  /** Where Redis is, for logs and status (describeEndpoint: no password). */
  readonly endpoint: string;
  readonly tuning: Tuning;
  /** A new connection, already connecting. */
  connect(role: ConnectionRole): Redis;
}

/** A connector for `config`: reads its files once (throws XLB_REDIS_SETUP), then builds each connection's options. */
export function redisConnector(config: RedisConfig, nodeId: string, tuning: Tuning = DEFAULT_TUNING): RedisConnector {
  const secrets = readSecrets(config);
  return {
    endpoint: describeEndpoint(config),
    tuning,
    connect: (role) => new Redis(redisOptions(config, secrets, role, nodeId, tuning)),
  };
}
