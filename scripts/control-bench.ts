// The bench's control-plane part: the daemon at the data plane's limit (256 services, 4,096 backends) with every
// backend health-checked each second, in the namespace lab. It times the full pool written from scratch (applied to a
// daemon that has none) and one backend's drain and undrain, then, once every backend is probed and up, measures the
// daemon's CPU (utime + stime from /proc/PID/stat over the window, children's included, as % of one core) and its RSS
// (the highest of /proc/PID/status VmRSS, read each second), and times one `status` and one metrics scrape.
// `npm run bench -- --control` runs this part alone; `node dist/scripts/control-bench.js [--json]` too.
//
// The lab: one backend namespace (b1) answers for every address of 198.18.16.0/20 (a local route on its lo; its
// backend-server listens on 0.0.0.0:8080), which the LB reaches through b1: 4,096 backend addresses behind one next
// hop, one per backend. Services: 128 VIPs, each with an icmp service (icmp checks) and a tcp service on port 80 (half of them with tcp
// checks, half with http checks of /healthz), 16 backends each, every check every second with a 500 ms timeout.
// The bench process stays idle during the window: it only reads /proc.
//
// The daemon's CPU is its own: the lab's switch port facing the LB (plb) gets threaded NAPI, so what the switch and b1
// do with the probes' packets (bridging, b1's whole network stack, its echo replies) runs in a kernel thread of its
// own, as on other machines, instead of inside the daemon's sendto() (veth hands a frame to its peer on the sending
// CPU, in the sender's context). The LB's back gets a queue (pfifo), as a real NIC has one: a veth without a qdisc
// drops what its peer's ring (256 frames) cannot take, so a burst of probes (after the event loop was busy for a
// moment) would lose packets only this lab loses. The gateway's neighbour entry is made before the apply (one ping),
// so the apply resolves every backend and writes every table at once.
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../lb/cli/client.js';
import type { Status } from '../lb/control/api.js';
import { addressesIn, BACKEND_HTTP_PORT, IFACES, Lab, labCleanupOnExit, removeStaleLabs, terminate } from './lab/lab.js';

const PREFIX = 'xlbctl';
const BACKEND_NET = '198.18.16.0/20';
const LBCTL = fileURLToPath(new URL('../lb/cli/lbctl.js', import.meta.url));
const METRICS_PORT = 9470;
const VIPS = 128;
const PER_SERVICE = 16;
const INTERVAL = '1s';
const TIMEOUT = '500ms';
/** From the daemon's spawn: it answers status. */
const DAEMON_READY_MS = 30_000;
/** From the pool's apply: every backend probed, up, its next hop resolved. */
const SETTLED_MS = 60_000;
const APPLY_TIMEOUT_MS = 120_000;
/** /proc's clock ticks (USER_HZ): 100 on every architecture Linux runs on today. */
const USER_HZ = 100;

export interface ControlOptions {
  /** The measured window, in seconds. Default 30 (XLB_BENCH_CONTROL_SECONDS). */
  seconds?: number;
  /** Seconds waited once every backend is probed and up, before the window. Default 5. */
  settleSeconds?: number;
  /** Progress lines (stderr by default). */
  progress?: (line: string) => void;
}

export interface ControlResult {
  services: number;
  backends: number;
  /** Backends per check type, each probed every `intervalMs`. */
  checks: { icmp: number; tcp: number; http: number };
  intervalMs: number;
  /** The full pool applied to a daemon with none (POST /config: read, checked, planned, written, answered). */
  apply: { ms: number; writes: number };
  /** From the apply's answer until every backend was probed, up and resolved; undefined: not within SETTLED_MS. */
  settleMs: number | undefined;
  /** One backend drained, then undrained (POST /backends/drain, /undrain), each answered; or why not. */
  drain: Edit;
  undrain: Edit;
  window: {
    seconds: number;
    /** utime + stime of the daemon and its waited-for children, over the window, as % of one core. */
    cpuPercent: number;
    /** The daemon's own share of cpuPercent. */
    ownCpuPercent: number;
    /** The highest VmRSS read (each second), and the first. */
    rssMaxMB: number;
    rssStartMB: number;
    /** Backends down at the window's end; undefined if status did not answer. */
    down: number | undefined;
  };
  /** The check types and probe details of the backends down at the window's end, by count, the commonest first (5). */
  downReasons: [string, number][];
  /** GET /status over the control socket, and GET /metrics (curl in the LB namespace), each once after the window. */
  status: Timing;
  metrics: Timing;
}

export type Edit = { ms: number; writes: number } | { ms: number; error: string };
export type Timing = { ms: number } | { ms: number; error: string };

function pick(t: { ms: number; error: string } | { ms: number }): Timing {
  return 'error' in t ? { ms: t.ms, error: t.error } : { ms: t.ms };
}

/** A request to the daemon, timed from the request to its answer, or its failure. */
async function timed<T extends { writes: number }>(edit: () => Promise<T>): Promise<(T & { ms: number }) | { ms: number; error: string }> {
  const t0 = performance.now();
  try {
    const answer = await edit();
    return { ...answer, ms: performance.now() - t0 };
  } catch (err) {
    return { ms: performance.now() - t0, error: (err as Error).message };
  }
}

export async function controlPlane(options: ControlOptions = {}): Promise<ControlResult> {
  const seconds = options.seconds ?? Number(process.env.XLB_BENCH_CONTROL_SECONDS ?? 30);
  const settleSeconds = options.settleSeconds ?? 5;
  if (!(seconds > 0) || !(settleSeconds >= 0)) throw new RangeError(`control bench: bad seconds ${seconds}/${settleSeconds}`);
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  await removeStaleLabs(PREFIX);
  const work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  const cleanupFiles = () => rmSync(work, { recursive: true, force: true });
  process.once('exit', cleanupFiles);
  let lab: Lab | undefined;
  let daemon: ChildProcess | undefined;
  try {
    progress(`control bench: building the lab (namespaces ${PREFIX}-*, ${BACKEND_NET} in one backend namespace)`);
    lab = await Lab.create({ prefix: PREFIX, backends: 1, backendNet: BACKEND_NET });
    labCleanupOnExit(lab);
    await must(lab, lab.ns.sw, ['sh', '-c', `echo 1 > /sys/class/net/${IFACES.swLb}/threaded`]);
    await must(lab, lab.ns.lb, ['tc', 'qdisc', 'replace', 'dev', IFACES.lbBack, 'root', 'pfifo', 'limit', '4096']);
    await must(lab, lab.ns.lb, ['ping', '-n', '-c', '1', '-W', '5', lab.addresses.backends[0]!]);
    const socket = join(work, 'xlb.sock');
    const node = nodeSection(socket, `/sys/fs/bpf/${PREFIX}`);
    const configPath = join(work, 'xlb.yaml');
    writeFileSync(configPath, `${node}services: []\n`);
    // Run as the service runs it (scripts/xlb.service): the executable, with the node flags of its first line.
    daemon = lab.spawnBare(lab.ns.lb, [LBCTL, 'daemon', '-c', configPath, '--detach-on-exit'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const keep = (d: Buffer) => (log = (log + d.toString()).slice(-8000));
    daemon.stdout!.on('data', keep);
    daemon.stderr!.on('data', keep);
    const pid = daemon.pid!;
    const client = new ControlClient(socket, { timeoutMs: APPLY_TIMEOUT_MS });
    await until(() => `the daemon answers status (log:\n${log})`, DAEMON_READY_MS, async () => {
      if (daemon!.exitCode !== null || daemon!.signalCode !== null) throw new Error(`the daemon exited:\n${log}`);
      return (await client.call('GET /status', undefined).catch(() => undefined))?.pid === pid;
    });

    const pool = poolYaml(addressesIn(BACKEND_NET, VIPS * 2 * PER_SERVICE));
    progress(`control bench: applying ${pool.services} services, ${pool.backends} backends`);
    let t0 = performance.now();
    const applied = await client.call('POST /config', { yaml: `${node}${pool.yaml}`, source: 'the control bench pool' });
    const apply = { ms: performance.now() - t0, writes: applied.writes };
    t0 = performance.now();
    let last = '';
    const settled = await until(() => `every backend probed, up and resolved (${last})`, SETTLED_MS, async () => {
      // A daemon too busy to answer in time is asked again.
      const s = await client.call('GET /status', undefined).catch((err: Error) => err);
      if (s instanceof Error) {
        last = `status: ${s.message}`;
        return false;
      }
      const counts = tally(s);
      last = `${counts.up} up, ${counts.unprobed} not probed, ${counts.unresolved} unresolved of ${counts.total}`;
      return counts.up === counts.total && counts.unprobed === 0 && counts.unresolved === 0;
    }, { soft: true });
    const settleMs = settled ? performance.now() - t0 : undefined;
    progress(settled ? `control bench: settled in ${Math.round(settleMs!)} ms; waiting ${settleSeconds} s, then measuring ${seconds} s`
      : `control bench: NOT settled within ${SETTLED_MS} ms (${last}); measuring ${seconds} s all the same`);
    await sleep(settleSeconds * 1000);

    const window = await measure(pid, seconds);
    progress(`control bench: CPU ${window.cpuPercent.toFixed(1)} % of one core (own ${window.ownCpuPercent.toFixed(1)} %), ` +
      `RSS max ${window.rssMaxMB.toFixed(1)} MB over ${window.seconds.toFixed(1)} s`);
    const answer = await timed(async () => ({ writes: 0, status: await client.call('GET /status', undefined) }));
    const after = 'status' in answer ? tally(answer.status as Status) : undefined;
    const status = await timed(async () => {
      await client.call('GET /status', undefined);
      return { writes: 0 };
    });
    const metrics = await timed(async () => {
      const scrape = await lab!.exec(lab!.ns.lb, ['curl', '-sS', '--fail', '--max-time', '30', '-o', '/dev/null',
        `http://127.0.0.1:${METRICS_PORT}/metrics`]);
      if (scrape.code !== 0) throw new Error(`metrics scrape failed (${scrape.code}): ${scrape.stderr.trim()}`);
      return { writes: 0 };
    });

    const ref = { service: 'web-1', address: addressesIn(BACKEND_NET, (VIPS + 1) * PER_SERVICE)[VIPS * PER_SERVICE]!, port: BACKEND_HTTP_PORT };
    const drain = await timed(() => client.call('POST /backends/drain', ref));
    const undrain = await timed(() => client.call('POST /backends/undrain', ref));

    return {
      services: pool.services, backends: pool.backends, checks: pool.checks, intervalMs: 1000, apply, settleMs, drain,
      undrain, window: { ...window, down: after ? after.total - after.up : undefined },
      downReasons: after?.reasons ?? [], status: pick(status), metrics: pick(metrics),
    };
  } finally {
    if (daemon) await terminate(daemon, 10_000);
    await lab?.destroy();
    cleanupFiles();
    process.off('exit', cleanupFiles);
  }
}

function nodeSection(socket: string, pinPath: string): string {
  return [
    'node:',
    `  interfaces: [${IFACES.lbFront}, ${IFACES.lbBack}]`,
    '  xdp_mode: native',
    `  control_socket: ${socket}`,
    `  pin_path: ${pinPath}`,
    `  metrics: 127.0.0.1:${METRICS_PORT}`,
    '',
  ].join('\n');
}

/**
 * VIPS VIPs (198.18.100.1 up), each with an icmp service "ping-K" and a tcp service "web-K" (port 80 -> 8080; tcp
 * checks on odd K, http on even K), PER_SERVICE backends each, every backend an address of its own from `addresses`.
 */
function poolYaml(addresses: string[]): { yaml: string; services: number; backends: number; checks: ControlResult['checks'] } {
  const lines = ['services:'];
  const checks = { icmp: 0, tcp: 0, http: 0 };
  for (let k = 1; k <= VIPS; k++) {
    const vip = `198.18.100.${k}`;
    const pings = addresses.slice((k - 1) * PER_SERVICE, k * PER_SERVICE);
    const webs = addresses.slice((VIPS + k - 1) * PER_SERVICE, (VIPS + k) * PER_SERVICE);
    const web = k % 2 ? 'tcp' : 'http';
    lines.push(
      `  - name: ping-${k}`, `    vip: ${vip}`, '    protocol: icmp',
      `    health: { type: icmp, interval: ${INTERVAL}, timeout: ${TIMEOUT} }`, '    backends:',
      ...pings.map((a) => `      - address: ${a}`),
      `  - name: web-${k}`, `    vip: ${vip}`, '    protocol: tcp', '    port: 80', '    scheduler: maglev',
      `    health: { type: ${web}, port: ${BACKEND_HTTP_PORT},${web === 'http' ? ' path: /healthz,' : ''} interval: ${INTERVAL}, timeout: ${TIMEOUT} }`,
      '    backends:',
      ...webs.map((a) => `      - { address: ${a}, port: ${BACKEND_HTTP_PORT} }`),
    );
    checks.icmp += pings.length;
    checks[web] += webs.length;
  }
  return { yaml: `${lines.join('\n')}\n`, services: VIPS * 2, backends: VIPS * 2 * PER_SERVICE, checks };
}

function tally(s: Status): { total: number; up: number; unprobed: number; unresolved: number; reasons: [string, number][] } {
  const all = s.services.flatMap((v) => v.backends);
  const reasons = new Map<string, number>();
  for (const v of s.services) {
    for (const b of v.backends) {
      const why = `${v.health} check, ${b.probe}`;
      if (b.health === 'down') reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
  }
  return {
    reasons: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5),
    total: all.length,
    up: all.filter((b) => b.health === 'up').length,
    unprobed: all.filter((b) => b.probe === 'not probed yet').length,
    unresolved: all.filter((b) => b.mac === null).length,
  };
}

/** CPU ticks of `pid` (utime, stime, cutime, cstime) and its VmRSS in kB. */
function sample(pid: number): { own: number; children: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces and parentheses): state is field 3, utime 14 ... cstime 17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const [utime, stime, cutime, cstime] = [f[11]!, f[12]!, f[13]!, f[14]!];
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!rss) throw new Error(`/proc/${pid}/status has no VmRSS`);
  return { own: utime + stime, children: cutime + cstime, rssKb: Number(rss[1]) };
}

async function measure(pid: number, seconds: number): Promise<Omit<ControlResult['window'], 'down'>> {
  const first = sample(pid);
  const t0 = performance.now();
  let rssMax = first.rssKb;
  let last = first;
  for (let i = 1; i <= seconds; i++) {
    await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
    last = sample(pid);
    rssMax = Math.max(rssMax, last.rssKb);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const pct = (ticks: number) => (ticks / USER_HZ / elapsed) * 100;
  return {
    seconds: elapsed,
    cpuPercent: pct(last.own + last.children - first.own - first.children),
    ownCpuPercent: pct(last.own - first.own),
    rssMaxMB: rssMax / 1024,
    rssStartMB: first.rssKb / 1024,
  };
}

function editEntry(e: Edit | Timing): object {
  if ('error' in e) return { ms: Math.round(e.ms), error: e.error };
  return { ms: Math.round(e.ms), ...('writes' in e && { writes: e.writes }) };
}

function formatEdit(e: Edit | Timing): string {
  const ms = `${Math.round(e.ms).toLocaleString('en-US')} ms`;
  if ('error' in e) return `failed after ${ms}: ${e.error}`;
  return 'writes' in e ? `${ms} (${e.writes.toLocaleString('en-US')} map writes)` : ms;
}

/** Entries for the bench's --json. */
export function controlEntries(r: ControlResult): object {
  const round1 = (n: number) => Math.round(n * 10) / 10;
  return {
    services: r.services, backends: r.backends, checks: r.checks, intervalMs: r.intervalMs,
    applyMs: Math.round(r.apply.ms), applyWrites: r.apply.writes,
    settleMs: r.settleMs === undefined ? null : Math.round(r.settleMs),
    drain: editEntry(r.drain), undrain: editEntry(r.undrain),
    windowSeconds: round1(r.window.seconds), cpuPercent: round1(r.window.cpuPercent),
    ownCpuPercent: round1(r.window.ownCpuPercent), rssMaxMB: round1(r.window.rssMaxMB),
    rssStartMB: round1(r.window.rssStartMB), downAtEnd: r.window.down, downReasons: r.downReasons,
    status: editEntry(r.status), metrics: editEntry(r.metrics),
  };
}

/** The bench's table for this part. */
export function formatControl(r: ControlResult): string {
  const ms = (n: number) => `${Math.round(n).toLocaleString('en-US')} ms`;
  const w = r.window;
  const rows = [
    ['control plane', 'figure', 'aim'],
    ['backends health-checked', `${r.backends} in ${r.services} services (icmp ${r.checks.icmp}, tcp ${r.checks.tcp}, ` +
      `http ${r.checks.http}), every ${r.intervalMs} ms`, ''],
    ['daemon CPU', `${w.cpuPercent.toFixed(1)} % of one core (own ${w.ownCpuPercent.toFixed(1)} %)`, '< 20 %'],
    ['daemon RSS', `${w.rssMaxMB.toFixed(1)} MB max (${w.rssStartMB.toFixed(1)} MB at the start)`, '< 150 MB'],
    ['full pool from scratch', `${ms(r.apply.ms)} (${r.apply.writes.toLocaleString('en-US')} map writes)`, ''],
    ['one backend drained', formatEdit(r.drain), ''],
    ['and undrained', formatEdit(r.undrain), ''],
    ['lbctl status', formatEdit(r.status), ''],
    ['metrics scrape', formatEdit(r.metrics), ''],
    ['settled after apply', r.settleMs === undefined ? `not within ${ms(SETTLED_MS)}` : ms(r.settleMs), ''],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd());
  const notes = [
    `CPU: utime + stime of the daemon and its children over ${w.seconds.toFixed(1)} s, from /proc/PID/stat; RSS: VmRSS ` +
      `read each second. ${w.down ?? 'unknown (no status)'} backend(s) down at the window's end` +
      `${r.downReasons.length ? ` (${r.downReasons.map(([d, n]) => `${n}: ${d}`).join('; ')})` : ''}. ` +
      'See scripts/control-bench.ts.',
  ];
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

async function must(lab: Lab, ns: string, cmd: string[]): Promise<void> {
  const res = await lab.exec(ns, cmd);
  if (res.code !== 0) throw new Error(`${ns}: ${cmd.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
}

/** Until `done`; after `ms`, throws, or with `soft` returns false. */
async function until(what: () => string, ms: number, done: () => Promise<boolean>, { soft = false } = {}): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) {
      if (soft) return false;
      throw new Error(`control bench: not within ${ms} ms: ${what()}`);
    }
    await sleep(200);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await controlPlane();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(controlEntries(r), null, 2)}\n` : formatControl(r));
}
