// The pool: the operator's intent, one typed model whatever its source (YAML file, Redis, lbctl), and the identities
// the data plane keys its entries by. What a valid pool is: ./poolrules.ts.
import { formatEndpoint } from './values.js';

export const PROTOCOLS = ['icmp', 'tcp', 'udp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const SCHEDULERS = ['rr', 'maglev'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export const FORWARDINGS = ['nat', 'dsr'] as const;
export type Forwarding = (typeof FORWARDINGS)[number];

export interface BackendSpec {
  address: string;
  /** Where the backend listens; omitted: the service port (TCP/UDP) or none (ICMP). */
  port?: number;
  weight: number;
  /** Next-hop MAC when the operator gives it; otherwise resolved from the neighbour table. */
  mac?: string;
  /** Keeps its flows, gets no new ones. */
  drained: boolean;
}

export const HEALTH_TYPES = ['icmp', 'tcp', 'http', 'none'] as const;
export type HealthType = (typeof HEALTH_TYPES)[number];

export interface HealthCheck {
  type: HealthType;
  /** tcp/http: the port probed; omitted: the backend's own port. */
  port?: number;
  /** http only. */
  path?: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that bring a down backend up. */
  rise: number;
  /** Consecutive failures that take an up backend down. */
  fall: number;
}

export interface ServiceSpec {
  name: string;
  vip: string;
  protocol: Protocol;
  /** TCP/UDP only. */
  port?: number;
  scheduler: Scheduler;
  forwarding: Forwarding;
  /** Source CIDRs allowed to reach the service; empty: everyone. */
  allow: string[];
  health: HealthCheck;
  backends: BackendSpec[];
}

export interface Pool {
  services: ServiceSpec[];
  /** Source CIDRs dropped for every VIP. */
  deny: string[];
}

/** A service's identity in the data plane: what its map key holds. */
export function serviceId(s: Pick<ServiceSpec, 'vip' | 'protocol' | 'port'>): string {
  return s.protocol === 'icmp' ? `icmp/${s.vip}` : `${s.protocol}/${s.vip}:${s.port}`;
}

/** The port a backend of `service` receives on. */
export function backendPort(service: ServiceSpec, backend: BackendSpec): number {
  return service.protocol === 'icmp' ? 0 : backend.port ?? service.port ?? 0;
}

export function backendId(service: ServiceSpec, backend: BackendSpec): string {
  const port = backendPort(service, backend);
  return `${serviceId(service)}>${formatEndpoint(backend.address, port)}`;
}
