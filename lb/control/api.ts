// The control socket's contract: HTTP + JSON over a unix socket (mode 0600), between the daemon and lbctl.
// `lbctl ... --json` prints these shapes as they are, so they are a stable, documented interface (README "lbctl").
//
//   GET    /status                       -> Status
//   GET    /stats                        -> Stats
//   POST   /config        ConfigApply    -> ApplyResult        (400 + ErrorBody with every problem on a bad config)
//   POST   /backends      BackendChange  -> ApplyResult        (add; 404 unknown service, 409 already there)
//   DELETE /backends      BackendRef     -> ApplyResult        (404 unknown service or backend)
//   POST   /backends/drain    BackendRef -> ApplyResult
//   POST   /backends/undrain  BackendRef -> ApplyResult
//   GET    /deny                         -> DenyList
//   POST   /deny          { cidr }       -> DenyList           (400 not a CIDR)
//   DELETE /deny          { cidr }       -> DenyList           (404 not in the list)
//   GET    /events[?follow=1]            -> newline-delimited Event JSON; with follow the stream stays open
//   POST   /detach                       -> { detached: string[] }  (then the daemon exits)
//
// Every field is judged by the rule config check applies to the same value, and every change by the pool's rules:
// a field that breaks one is 400 XLB_BAD_REQUEST, a pool that would is 400 XLB_CONFIG_INVALID with each problem.
// Errors: a status >= 400 with ErrorBody (codes: config/errors.ts). lbctl prints `error` (and each problem), exits 1.

import type { Forwarding, HealthType, Protocol, Scheduler } from '../../config/pool.js';
import type { Problem } from '../../config/problem.js';

/** A problem of a config or pool: `path` (e.g. services[1].backends[0].address) and `message`. */
export type { Problem };

export type Role = 'standalone' | 'active' | 'standby';
export type Health = 'up' | 'down';

export interface InterfaceStatus {
  name: string;
  ifindex: number;
  /** What the kernel gave: native (driver) or generic (skb). */
  mode: 'native' | 'generic';
}

export interface BackendStatus {
  address: string;
  port?: number;
  weight: number;
  drained: boolean;
  health: Health;
  /** Next-hop MAC in use; null while unresolved (the backend gets no traffic then). */
  mac: string | null;
}

export interface ServiceStatus {
  name: string;
  vip: string;
  protocol: Protocol;
  port?: number;
  scheduler: Scheduler;
  forwarding: Forwarding;
  health: HealthType;
  allow: string[];
  backends: BackendStatus[];
}

export interface Status {
  role: Role;
  nodeId?: string;
  pid: number;
  /** Seconds since this daemon started. */
  uptime: number;
  /** True when the maps and program were adopted from a previous daemon. */
  adopted: boolean;
  pinPath: string;
  interfaces: InterfaceStatus[];
  services: ServiceStatus[];
  deny: string[];
}

export interface CounterSet {
  packets: number;
  bytes: number;
  flowsNew: number;
}

export interface Stats {
  services: (CounterSet & { name: string; backends: (CounterSet & { address: string; port?: number })[] })[];
  /** Every outcome of enum xlb_outcome by name (pass_not_vip, tx, ..., drop_no_backend). */
  outcomes: Record<string, { packets: number; bytes: number }>;
}

export interface ConfigApply {
  /** The YAML text of a config file; its services and deny list become the pool. */
  yaml: string;
  /** Shown in errors, e.g. the file's path. */
  source?: string;
}

export interface ApplyResult {
  /** Map writes the change took; 0 when nothing changed. */
  writes: number;
  services: number;
  backends: number;
}

export interface BackendRef {
  service: string;
  address: string;
  port?: number;
}

export interface BackendChange extends BackendRef {
  weight?: number;
}

export interface DenyList {
  deny: string[];
}

export interface ErrorBody {
  error: string;
  /** A stable code, e.g. XLB_CONFIG_INVALID; see the README's error table. */
  code: string;
  problems?: Problem[];
}

export interface Event {
  /** Milliseconds since the epoch, as the daemon read it. */
  time: number;
  kind: 'flow' | 'drop';
  source: string;
  sport?: number;
  destination: string;
  dport?: number;
  protocol: string;
  service?: string;
  backend?: string;
  /** The outcome name, e.g. tx or drop_denied. */
  verdict: string;
}
