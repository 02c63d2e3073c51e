// The node's configuration as the YAML file gives it, after validation: the pool plus how this node runs.
import type { Pool } from './pool.js';

export type XdpMode = 'auto' | 'native' | 'generic';

export interface NodeConfig {
  /** XDP attaches to each. */
  interfaces: string[];
  xdpMode: XdpMode;
  controlSocket: string;
  /** Where maps are pinned; distinct for each daemon on one host. */
  pinPath: string;
  /** Prometheus text at /metrics; undefined disables it. */
  metrics?: { host: string; port: number };
}

export interface HostPort {
  host: string;
  port: number;
}

interface RedisCommon {
  /** Every key starts with `<keyPrefix>:`. */
  keyPrefix: string;
  /** A file holding the password (one line), instead of one in the URL. */
  passwordFile?: string;
  /** PEM bundle of the CA that signed the server's certificate (TLS); default: the system's CAs. */
  caFile?: string;
}

/** One server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
export interface RedisUrlConfig extends RedisCommon {
  url: string;
}

/** The master of a Sentinel group, asked of the first Sentinel that answers. */
export interface RedisSentinelConfig extends RedisCommon {
  sentinels: HostPort[];
  /** The master group's name (`sentinel monitor <name> ...`). */
  name: string;
  db: number;
  /** TLS to the Sentinels and the servers. */
  tls: boolean;
  username?: string;
  /** A file holding the Sentinels' own password, when they require one. */
  sentinelPasswordFile?: string;
}

export type RedisConfig = RedisUrlConfig | RedisSentinelConfig;

export interface HaConfig {
  nodeId: string;
  /** Nodes with the same pair share one lease. */
  pair: string;
  leaseMs: number;
  heartbeat: { interface: string; intervalMs: number; misses: number };
  /** The pair's shared secret, which seals heartbeats. */
  keyFile: string;
  /** Addresses only the active node holds, e.g. the backends' gateway in nat mode. */
  floating: { address: string; prefixLength: number; interface: string }[];
}

export interface Config {
  node: NodeConfig;
  redis?: RedisConfig;
  ha?: HaConfig;
  pool: Pool;
}

export const DEFAULTS = {
  xdpMode: 'auto' as XdpMode,
  controlSocket: '/run/xlb/xlb.sock',
  pinPath: '/sys/fs/bpf/xlb',
  keyPrefix: 'xlb',
  leaseMs: 800,
  heartbeat: { intervalMs: 100, misses: 3 },
  scheduler: 'rr' as const,
  forwarding: 'nat' as const,
  weight: 1,
  health: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
};
