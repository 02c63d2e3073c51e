// What `lbctl status` and `lbctl stats` show (api.ts Status and Stats), as pure functions of the daemon's state:
// the pool, what health checks and next hops found, the interfaces, the counters.
import type * as layout from '../bpf/layout.js';
import type { BackendStatus, InterfaceStatus, Stats, Status } from '../control/api.js';
import type { TargetStatus } from '../health/checker.js';
import type { Plan } from '../plan/planner.js';
import { backendId, backendPort, type Pool } from '../../config/pool.js';
import type { Resolution } from './routes.js';

export interface StatusInput {
  pool: Pool;
  /** standalone without ha:, else the node's role in its pair, and its id. */
  role: Status['role'];
  nodeId?: string;
  pid: number;
  pinPath: string;
  /** Epoch ms when the daemon started, and now. */
  started: number;
  now: number;
  adopted: boolean;
  interfaces: InterfaceStatus[];
  /** A config being read and checked, if any. */
  reload?: Status['reload'];
  /** With redis: configured. */
  redis?: Status['redis'];
  /** The health checker's view of a backend by backendId(); undefined: not a target (yet). */
  health(id: string): TargetStatus | undefined;
  /** How a backend address resolved; undefined: not asked yet. */
  nextHop(address: string): Resolution | undefined;
}

export function statusView(input: StatusInput): Status {
  const services = input.pool.services.map((s) => ({
    name: s.name,
    vip: s.vip,
    protocol: s.protocol,
    ...(s.port === undefined ? {} : { port: s.port }),
    scheduler: s.scheduler,
    forwarding: s.forwarding,
    health: s.health.type,
    allow: s.allow,
    backends: s.backends.map((b): BackendStatus => {
      const port = backendPort(s, b);
      const checked = input.health(backendId(s, b));
      const hop = input.nextHop(b.address);
      return {
        address: b.address,
        ...(port ? { port } : {}),
        weight: b.weight,
        drained: b.drained,
        health: (checked?.up ?? true) ? 'up' : 'down',
        probe: checked?.detail ?? 'not probed yet',
        mac: hop?.hop?.mac ?? null,
        ...(hop?.hop ? {} : { unresolved: hop?.problem ?? 'not resolved yet' }),
      };
    }),
  }));
  return {
    role: input.role,
    ...(input.nodeId !== undefined ? { nodeId: input.nodeId } : {}),
    pid: input.pid,
    uptime: Math.round((input.now - input.started) / 1000),
    ...(input.reload ? { reload: input.reload } : {}),
    adopted: input.adopted,
    pinPath: input.pinPath,
    interfaces: input.interfaces.map((i) => ({ ...i })),
    services,
    deny: input.pool.deny,
    ...(input.redis ? { redis: input.redis } : {}),
  };
}

export interface StatsInput {
  pool: Pool;
  /** The plan in the maps: which counter index each service and backend has. */
  plan: Plan | undefined;
  counters(role: 'serviceStats' | 'backendStats', index: number): layout.Counters;
  outcomes: Record<string, layout.Counters>;
}

export function statsView(input: StatsInput): Stats {
  const num = (c: layout.Counters) => ({ packets: Number(c.packets), bytes: Number(c.bytes), flowsNew: Number(c.flowsNew) });
  const zero = { packets: 0, bytes: 0, flowsNew: 0 };
  const { plan } = input;
  const services = input.pool.services.map((s) => {
    const planned = plan?.services.find((p) => p.name === s.name);
    const backends = s.backends.map((b) => {
      const index = plan?.allocation.backends.get(backendId(s, b));
      const port = backendPort(s, b);
      return { address: b.address, ...(port ? { port } : {}), ...(index === undefined ? zero : num(input.counters('backendStats', index))) };
    });
    return { name: s.name, ...(planned ? num(input.counters('serviceStats', planned.id)) : zero), backends };
  });
  const outcomes = Object.fromEntries(Object.entries(input.outcomes)
    .map(([o, c]) => [o, { packets: Number(c.packets), bytes: Number(c.bytes) }]));
  return { services, outcomes };
}
