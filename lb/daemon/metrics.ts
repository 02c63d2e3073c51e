// Prometheus text exposition (format 0.0.4) of the node's counters and health, from the same snapshots lbctl shows.
import type { HaStatus, Stats, Status } from '../control/api.js';

export interface MetricsInput {
  status: Status;
  stats: Stats;
  haActive: boolean;
  healthTransitions: number;
  eventsSuppressed: number;
  /** With redis: configured: the change-to-maps times (xlb_pool_sync_seconds). */
  poolSync?: HistogramSnapshot;
  /** With ha: configured. */
  ha?: HaStatus;
}

export interface HistogramSnapshot {
  /** Upper bounds and the number of observations at or below each (cumulative). */
  buckets: [le: number, count: number][];
  sum: number;
  count: number;
}

/** A Prometheus histogram: fixed buckets, cumulative counts. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    this.bounds.forEach((le, i) => { if (value <= le) this.counts[i]!++; });
  }

  snapshot(): HistogramSnapshot {
    return { buckets: this.bounds.map((le, i) => [le, this.counts[i]!]), sum: this.sum, count: this.count };
  }
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function backendLabel(address: string, port?: number): string {
  return port ? `${address}:${port}` : address;
}

export function formatMetrics(m: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) out.push(`${name}${labels(l)} ${v}`);
  };
  const perBackend = (pick: (c: { packets: number; bytes: number }) => number) =>
    m.stats.services.flatMap((s) => s.backends.map((b) =>
      [{ service: s.name, backend: backendLabel(b.address, b.port) }, pick(b)] as [Record<string, string>, number]));

  family('xlb_packets_total', 'counter', 'Packets forwarded to a backend.', perBackend((c) => c.packets));
  family('xlb_bytes_total', 'counter', 'Bytes forwarded to a backend.', perBackend((c) => c.bytes));
  family('xlb_drops_total', 'counter', 'Packets dropped by the data plane, by reason.',
    Object.entries(m.stats.outcomes).filter(([o]) => o.startsWith('drop_')).map(([o, c]) => [{ reason: o.slice(5) }, c.packets]));
  family('xlb_backend_up', 'gauge', 'Whether the backend passes its health check (1) or not (0).',
    m.status.services.flatMap((s) => s.backends.map((b) =>
      [{ service: s.name, backend: backendLabel(b.address, b.port) }, b.health === 'up' ? 1 : 0] as [Record<string, string>, number])));
  family('xlb_flows_new_total', 'counter', 'Flows started, by service.',
    m.stats.services.map((s) => [{ service: s.name }, s.flowsNew]));
  family('xlb_ha_active', 'gauge', 'Whether this node forwards for its VIPs (1) or stands by (0).', [[{}, m.haActive ? 1 : 0]]);
  family('xlb_health_transitions_total', 'counter', 'Backend health transitions since the daemon started.',
    [[{}, m.healthTransitions]]);
  family('xlb_events_suppressed_total', 'counter', 'Flow and drop events not sent: over the per-CPU budget or ring full.',
    [[{}, m.eventsSuppressed]]);
  const redis = m.status.redis;
  if (redis) {
    family('xlb_redis_up', 'gauge', 'Whether the node reaches the pool\'s Redis (1) or not (0).', [[{}, redis.connectedSince ? 1 : 0]]);
    family('xlb_pool_version', 'gauge', 'The version of the pool in this node\'s maps (0: its config file\'s).',
      [[{}, redis.version]]);
    family('xlb_pool_refused', 'gauge', 'Whether the pool in Redis is refused as breaking the rules (1); the node keeps its last good pool.',
      [[{}, redis.state === 'refused' ? 1 : 0]]);
  }
  if (m.ha) {
    const ha = m.ha;
    family('xlb_ha_epoch', 'gauge', 'The lease epoch this node knows (its own while active).', [[{}, ha.epoch]]);
    family('xlb_ha_peer_up', 'gauge', 'Whether the peer\'s heartbeats arrive (1) or were missed (0).', [[{}, ha.peer?.up ? 1 : 0]]);
    family('xlb_ha_digest_match', 'gauge', 'Whether this node\'s tables match the peer\'s (1), by digest.',
      [[{}, ha.peer && ha.peer.digest === ha.digest ? 1 : 0]]);
    family('xlb_ha_transitions_total', 'counter', 'Role changes since the daemon started, by reason.',
      Object.entries(ha.transitions).map(([reason, n]) => [{ reason }, n ?? 0]));
    family('xlb_ha_heartbeats_rejected_total', 'counter', 'Datagrams on the heartbeat port not taken as the peer\'s heartbeat, by reason.',
      Object.entries(ha.heartbeatsRejected).filter(([reason]) => reason !== 'self').map(([reason, n]) => [{ reason }, n]));
  }
  if (m.poolSync) {
    const name = 'xlb_pool_sync_seconds';
    out.push(`# HELP ${name} From a pool change's record in Redis to this node's maps holding it.`, `# TYPE ${name} histogram`);
    for (const [le, count] of m.poolSync.buckets) out.push(`${name}_bucket{le="${le}"} ${count}`);
    out.push(`${name}_bucket{le="+Inf"} ${m.poolSync.count}`, `${name}_sum ${m.poolSync.sum}`, `${name}_count ${m.poolSync.count}`);
  }
  return `${out.join('\n')}\n`;
}
