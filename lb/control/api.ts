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
//   GET    /ha                           -> HaStatus           (409 XLB_NO_HA without ha:)
//   POST   /ha/switchover                -> SwitchoverResult   (409 XLB_SWITCHOVER_REFUSED, saying why)
//   GET    /requests/ID                  -> RequestOutcome     (404 an id the daemon does not remember)
//   DELETE /requests/ID                  -> RequestOutcome     (cancels the edit if it has not begun)
//
// Every field is judged by the rule config check applies to the same value, and every change by the pool's rules:
// a field that breaks one is 400 XLB_BAD_REQUEST, a pool that would is 400 XLB_CONFIG_INVALID with each problem.
// Errors: a status >= 400 with ErrorBody (codes: config/errors.ts). lbctl prints `error` (and each problem), exits 1.
//
// Edits (POST /config, POST/DELETE /backends, drain, undrain, POST/DELETE /deny) are applied one at a time, in the
// order they arrive. Each is applied whole or not at all. An edit whose client goes away before its turn is dropped
// (nothing changes). A client may name its edit with a header `x-request-id: ID` (1..64 of A-Z a-z 0-9 _ -, unique):
// the daemon then remembers its outcome for a while (the last 500 ids, at most 10 minutes), so a client that gave
// up waiting can ask (GET /requests/ID) or cancel (DELETE /requests/ID) and know whether the change was made.
// A DELETE for an id not seen yet refuses that edit should it arrive later, so a cancelled answer is final.

import type { Forwarding, HealthType, Protocol, Scheduler } from '../../config/pool.js';
import type { Problem } from '../../config/problem.js';

/** A problem of a config or pool: `path` (e.g. services[1].backends[0].address) and `message`. */
export type { Problem };

/** standalone: no ha:; active: holds the pair's lease and owns the VIPs; standby: does not; leaving: handed over on
 * purpose, forwards what still reaches it for a few seconds, answers ARP for nothing. */
export type Role = 'standalone' | 'active' | 'standby' | 'leaving';

/** `lbctl ha status` (GET /ha): the pair as this node sees it. */
export type { PairStatus as HaStatus } from '../../cluster/ha/pair.js';

/** POST /ha/switchover: the peer took the lease at `epoch`, `ms` after the request. */
export interface SwitchoverResult {
  to: string;
  epoch: number;
  ms: number;
}
export type Health = 'up' | 'down';

/**
 * attached: xlb's program runs on the interface. missing: the interface is gone (deleted, driver unloaded); xlb
 * attaches again when an interface of that name comes back. failed: it is there but xlb's program is not on it
 * (`problem` says why).
 */
export type InterfaceState = 'attached' | 'missing' | 'failed';

export interface InterfaceStatus {
  name: string;
  /** The interface's index; while missing, the one it had. */
  ifindex: number;
  /** What the kernel gave: native (driver) or generic (skb). */
  mode: 'native' | 'generic';
  state: InterfaceState;
  /** What is wrong when the state is not attached, e.g. "gone since 2026-11-22T20:04:05.678Z; xlb attaches again when it returns". */
  problem?: string;
}

export interface BackendStatus {
  address: string;
  port?: number;
  weight: number;
  drained: boolean;
  health: Health;
  /**
   * What the last health probe found ("HTTP 200", "connect ECONNREFUSED", "timeout after 300ms", "echo reply"), or
   * why there is none ("not probed yet", "no health check"): for a backend that is down, the reason.
   */
  probe: string;
  /** When the last probe finished, in milliseconds since the epoch; absent before the first. */
  probedAt?: number;
  /** Next-hop MAC in use; null while unresolved (the backend gets no traffic then). */
  mac: string | null;
  /**
   * Why the next hop is unresolved, present exactly when mac is null: "resolving 198.18.1.11 on back" (waiting for
   * ARP), "198.18.1.11 does not answer ARP on back", "reached through eth9, which is not in node.interfaces",
   * "no route to 198.18.1.11", ...
   */
  unresolved?: string;
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

/** The pool's Redis, as this node follows it (README "Cluster"). */
export interface RedisStatus {
  /** Where Redis is, without secrets: redis://host:port/db, or the Sentinel group. */
  endpoint: string;
  /**
   * connecting: not heard from yet; synced: this node holds Redis's pool; refused: the pool in Redis breaks the rules
   * (see refused), the node keeps its last good pool; disconnected: Redis is unreachable, the node keeps its pool and
   * retries; stopped: the daemon is stopping.
   */
  state: 'connecting' | 'synced' | 'refused' | 'disconnected' | 'stopped';
  /** When the state was entered, in ms since the epoch. */
  since: number;
  /** When the connection last came up; absent while Redis is unreachable. */
  connectedSince?: number;
  /** The pool version in this node's maps (0: its config file's, not yet from Redis). */
  version: number;
  /** The version Redis held at the last read. */
  redisVersion?: number;
  /** Milliseconds since a read last found this node current. */
  syncAgeMs?: number;
  /** Why Redis is unreachable, while it is. */
  error?: string;
  /** The key that holds the refused data and each problem's path inside it, while refused. */
  refused?: { key: string; version?: number; problems: Problem[] };
}

export interface Status {
  role: Role;
  nodeId?: string;
  pid: number;
  /** Seconds since this daemon started. */
  uptime: number;
  /** A config being read and checked now (SIGHUP, config apply), the oldest if several; absent when none. */
  reload?: { source: string; since: number };
  /** True when the maps and program were adopted from a previous daemon. */
  adopted: boolean;
  pinPath: string;
  interfaces: InterfaceStatus[];
  services: ServiceStatus[];
  deny: string[];
  /** With redis: configured. */
  redis?: RedisStatus;
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

/** Where an edit named by `x-request-id` is; see the routes above. */
export interface RequestOutcome {
  id: string;
  /**
   * queued: waiting for the edits before it (it can still be cancelled). applying: being applied (it can no longer be
   * cancelled). applied: done; `result` is the answer it got. failed: refused or failed, nothing changed; `error` says
   * why. cancelled: dropped before its turn (its client went away, or DELETE /requests/ID), nothing changed.
   */
  state: 'queued' | 'applying' | 'applied' | 'failed' | 'cancelled';
  result?: ApplyResult | DenyList;
  error?: ErrorBody;
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
