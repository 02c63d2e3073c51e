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

export interface RedisConfig {
  url: string;
  keyPrefix: string;
}

export interface HaConfig {
  nodeId: string;
  leaseMs: number;
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
  leaseMs: 1000,
  scheduler: 'rr' as const,
  forwarding: 'nat' as const,
  weight: 1,
  health: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
};
