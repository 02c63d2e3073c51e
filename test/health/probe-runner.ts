// Runs health probes in the network namespace it is started in (the daemon's way: the whole process there), for
// icmp.test.ts: `node probe-runner.js '<json Plan>'` starts every probe of the plan at once and prints one JSON Report.
import { readdirSync } from 'node:fs';
import type { HealthCheck } from '../../config/pool.js';
import { probe, probeSockets, type ProbeResult } from '../../lb/health/probes.js';

export interface PlannedProbe {
  type: 'icmp' | 'tcp' | 'http';
  address: string;
  timeoutMs: number;
  port?: number;
  /** Abort the probe this long after it started. */
  abortAfterMs?: number;
}

export interface Plan {
  probes: PlannedProbe[];
  /** Run the whole plan this many times, one round after the other. @default 1 */
  rounds?: number;
}

export interface Report {
  /** Per probe of the last round, in the plan's order: its result and how long it took. */
  results: (ProbeResult & { ms: number })[];
  /** Open fds of this process: before the first probe, right after the last round's probes started, after all ended. */
  fds: { before: number; during: number; after: number };
  /** What the probes held once all had ended (lb/health/probes.ts probeSockets()). */
  held: { watched: number; echoes: number };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function round(plan: Plan): { started: number; done: Promise<(ProbeResult & { ms: number })[]> } {
  const done = Promise.all(plan.probes.map(async (p) => {
    const check: HealthCheck = { type: p.type, intervalMs: 60_000, timeoutMs: p.timeoutMs, rise: 1, fall: 1, ...(p.port && { port: p.port }), ...(p.type === 'http' && { path: '/healthz' }) };
    const controller = new AbortController();
    if (p.abortAfterMs !== undefined) setTimeout(() => controller.abort(), p.abortAfterMs);
    const t0 = performance.now();
    const result = await probe(check, p.address, p.port, controller.signal);
    return { ...result, ms: performance.now() - t0 };
  }));
  return { started: openFds(), done };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const before = openFds();
let results: (ProbeResult & { ms: number })[] = [];
let during = 0;
for (let i = 0; i < (plan.rounds ?? 1); i++) {
  const r = round(plan);
  during = r.started;
  results = await r.done;
}
const report: Report = { results, fds: { before, during, after: openFds() }, held: probeSockets() };
process.stdout.write(`${JSON.stringify(report)}\n`);
