// Prometheus text exposition (format 0.0.4) of the node's counters and health, from the same snapshots lbctl shows.
import type { Stats, Status } from '../control/api.js';

export interface MetricsInput {
  status: Status;
  stats: Stats;
  haActive: boolean;
  healthTransitions: number;
  eventsSuppressed: number;
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
  return `${out.join('\n')}\n`;
}
