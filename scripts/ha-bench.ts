// The bench's HA part: how long a same-subnet client goes unanswered when an HA pair's active node dies, and when it
// hands over on purpose. Two daemons of a pair lab (scripts/lab/lab.ts) hold one lease in a redis-server in the switch
// namespace, with heartbeats on `front` and the backends' gateway floated on `back`, as test/daemon/ha.test.ts runs
// them; the VIP sits in the client's own subnet, so the client reaches whichever node answers ARP for it.
// `npm run bench -- --cluster` runs this part with the cluster part.
//
// What is measured, from the client's side: `ping -D -i 0.01` to the VIP (an ICMP service over the lab's backends),
// the replies' own timestamps; the gap is the time between the last reply before the event and the first after it
// (so it includes up to one probe interval), lost the probes in between that got no reply.
// - failover: the active daemon killed (SIGKILL) and its links set down at once (a power loss), `kills` times; the
//   killed node comes back (links up, daemon started) as the standby before the next kill, which hits the other node.
// - switchover: `POST /ha/switchover` (what `lbctl ha switchover` sends) on the active node, `switchovers` times,
//   alternating; also the daemon's own figure (request to the peer's lease).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { ControlClient } from '../lb/cli/client.js';
import type { HaStatus } from '../lb/control/api.js';
import { IFACES, Lab, labCleanupOnExit } from './lab/lab.js';
import { RedisServer } from './lab/redis.js';

const LBCTL = fileURLToPath(new URL('../lb/cli/lbctl.js', import.meta.url));
/** In the client's subnet (198.18.0.0/24): reached by ARP. */
const VIP = '198.18.0.100';
const PROBE_INTERVAL_S = '0.01';
/** Replies a probe run must see before its event, and after it, to count as steady. */
const STEADY_REPLIES = 50;
const WAIT_MS = 30_000;

export interface HaOptions {
  /** Crash failovers; default 10 (XLB_BENCH_HA_KILLS). */
  kills?: number;
  /** Switchovers; default 10 (XLB_BENCH_HA_SWITCHOVERS). */
  switchovers?: number;
  progress?: (line: string) => void;
}

/** One event as the client saw it. */
export interface Gap {
  /** ms from the last reply before the event to the first after it. */
  gapMs: number;
  /** Probes sent between them that got no reply. */
  lost: number;
  /** ms from the event's start to the new active node saying so (its status). */
  takeoverMs: number;
}

export interface HaResult {
  probeIntervalMs: number;
  failover: { events: Gap[]; p50GapMs: number; maxGapMs: number; lostTotal: number };
  /** reportedMs: the daemon's own figure, request to the peer's lease. */
  switchover: { events: (Gap & { reportedMs: number })[]; p50GapMs: number; maxGapMs: number; lostTotal: number };
}

interface Node {
  name: string;
  ns: string;
  socket: string;
  configPath: string;
  client: ControlClient;
  daemon?: ChildProcess;
  log: string;
}

export async function haBench(options: HaOptions = {}): Promise<HaResult> {
  const kills = options.kills ?? Number(process.env.XLB_BENCH_HA_KILLS ?? 10);
  const switchovers = options.switchovers ?? Number(process.env.XLB_BENCH_HA_SWITCHOVERS ?? 10);
  for (const [name, n] of [['kills', kills], ['switchovers', switchovers]] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new RangeError(`ha bench: ${name} must be an integer in 1..100, not ${n}`);
  }
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const prefix = `xlbhb${randomBytes(4).toString('hex')}`;
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const cleanupFiles = () => rmSync(work, { recursive: true, force: true });
  process.once('exit', cleanupFiles);
  let lab: Lab | undefined;
  let redis: RedisServer | undefined;
  const nodes: Node[] = [];
  try {
    progress(`ha bench: building a pair lab (namespaces ${prefix}-*) and a redis-server`);
    lab = await Lab.create({ prefix, pair: true, backends: 2, servers: false });
    labCleanupOnExit(lab);
    redis = await RedisServer.start({ netns: lab.ns.sw, bind: lab.switchAddress });
    const keyFile = join(work, 'ha.key');
    writeFileSync(keyFile, 'a shared secret for the bench pair, 32+ bytes\n');
    for (const [i, lb] of lab.lbs.entries()) {
      const name = i === 0 ? 'a' : 'b';
      const socket = join(work, `${name}.sock`);
      const configPath = join(work, `${name}.yaml`);
      writeFileSync(configPath, stringify({
        node: { interfaces: [IFACES.lbFront, IFACES.lbBack], xdp_mode: 'auto', control_socket: socket, pin_path: `/sys/fs/bpf/${prefix}-${name}` },
        redis: { url: redis.url },
        ha: {
          node_id: `lb-${name}`, pair: 'bench', lease: '800ms', key_file: keyFile,
          heartbeat: { interface: IFACES.lbFront, interval: '100ms', misses: 3 },
          floating: [{ address: `${lab.gateway}/24`, interface: IFACES.lbBack }],
        },
        services: [{ name: 'ping', vip: VIP, protocol: 'icmp', health: { type: 'none' },
          backends: lab.addresses.backends.map((address) => ({ address })) }],
      }));
      nodes.push({ name, ns: lb.ns, socket, configPath, client: new ControlClient(socket, { timeoutMs: 5000 }), log: '' });
    }
    const [a, b] = nodes as [Node, Node];
    progress('ha bench: starting node A (to be active), then B (standby)');
    start(lab, a);
    await until(a, 'active');
    start(lab, b);
    await until(b, 'standby');

    const failover: Gap[] = [];
    let [active, standby] = [a, b];
    for (let i = 1; i <= kills; i++) {
      const l = lab;
      const [dead, heir] = [active, standby];
      const gap = await probed(lab, async () => {
        await kill(dead);
        for (const dev of [IFACES.lbFront, IFACES.lbBack]) await must(l, dead.ns, ['ip', 'link', 'set', dev, 'down']);
      }, heir);
      failover.push(gap);
      progress(`ha bench: kill ${i}/${kills}: node ${dead.name.toUpperCase()} killed; the client went ${gap.gapMs.toFixed(0)} ms ` +
        `unanswered (${gap.lost} probes lost), node ${heir.name.toUpperCase()} active after ${gap.takeoverMs.toFixed(0)} ms`);
      for (const dev of [IFACES.lbFront, IFACES.lbBack]) await must(lab, dead.ns, ['ip', 'link', 'set', dev, 'up']);
      start(lab, dead);
      await until(dead, 'standby');
      [active, standby] = [heir, dead];
    }

    const switchover: HaResult['switchover']['events'] = [];
    for (let i = 1; i <= switchovers; i++) {
      const [from, to] = [active, standby];
      let reportedMs = NaN;
      const gap = await probed(lab, async () => {
        reportedMs = (await from.client.call('POST /ha/switchover', undefined)).ms;
      }, to);
      await until(from, 'standby');
      switchover.push({ ...gap, reportedMs });
      progress(`ha bench: switchover ${i}/${switchovers}: ${from.name.toUpperCase()} to ${to.name.toUpperCase()}; the client went ` +
        `${gap.gapMs.toFixed(0)} ms unanswered (${gap.lost} probes lost); the daemon took ${reportedMs} ms`);
      [active, standby] = [to, from];
    }
    const summary = <T extends Gap>(events: T[]) => {
      const gaps = events.map((e) => e.gapMs).sort((x, y) => x - y);
      return { events, p50GapMs: gaps[Math.ceil(gaps.length / 2) - 1]!, maxGapMs: gaps[gaps.length - 1]!,
        lostTotal: events.reduce((n, e) => n + e.lost, 0) };
    };
    return { probeIntervalMs: Number(PROBE_INTERVAL_S) * 1000, failover: summary(failover), switchover: summary(switchover) };
  } catch (err) {
    for (const n of nodes) progress(`ha bench: node ${n.name.toUpperCase()}'s log:\n${n.log.slice(-3000)}`);
    throw err;
  } finally {
    for (const n of nodes) if (n.daemon) await stop(n.daemon);
    await redis?.destroy();
    await lab?.destroy();
    cleanupFiles();
    process.off('exit', cleanupFiles);
  }
}

/**
 * Runs the client's probe loop around `event`: steady replies first, then the event, then steady replies again with
 * `heir` active. The gap is the longest silence between two replies of the run.
 */
async function probed(lab: Lab, event: () => Promise<void>, heir: Node): Promise<Gap> {
  const ping = lab.spawnBare(lab.ns.client, ['ping', '-n', '-D', '-i', PROBE_INTERVAL_S, '-W', '1', VIP], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  ping.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => ping.once('exit', () => resolve()));
  try {
    const replies = () => [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [0-9.]+: icmp_seq=(\d+)/gm)]
      .map((m) => ({ at: Number(m[1]) * 1000, seq: Number(m[2]) }));
    await waitFor('steady replies before the event', () => replies().length >= STEADY_REPLIES);
    const t0 = Date.now();
    await event();
    await until(heir, 'active');
    const takeoverMs = Date.now() - t0;
    await waitFor('steady replies after the event', () => replies().filter((r) => r.at > t0).length >= STEADY_REPLIES);
    ping.kill('SIGINT');
    await exited;
    const got = replies().sort((x, y) => x.at - y.at);
    const silence = (i: number) => got[i]!.at - got[i - 1]!.at;
    let widest = 1;
    for (let i = 2; i < got.length; i++) if (silence(i) > silence(widest)) widest = i;
    const [before, after] = [got[widest - 1]!, got[widest]!];
    const answered = new Set(got.map((r) => r.seq));
    let lost = 0;
    for (let s = Math.min(before.seq, after.seq) + 1; s < Math.max(before.seq, after.seq); s++) if (!answered.has(s)) lost++;
    return { gapMs: after.at - before.at, lost, takeoverMs };
  } finally {
    if (ping.exitCode === null && ping.signalCode === null) {
      ping.kill('SIGKILL');
      await exited;
    }
  }
}

function start(lab: Lab, node: Node): void {
  const daemon = lab.spawnBare(node.ns, [process.execPath, LBCTL, 'daemon', '-c', node.configPath, '--detach-on-exit'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  node.daemon = daemon;
  node.log = '';
  daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (node.log += d));
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (node.log += d));
}

async function kill(node: Node): Promise<void> {
  const daemon = node.daemon!;
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  daemon.kill('SIGKILL');
  await exited;
  node.daemon = undefined;
}

/** Waits until the node's pair status says `role`. */
async function until(node: Node, role: HaStatus['role']): Promise<void> {
  let last = 'no answer yet';
  await waitFor(`node ${node.name.toUpperCase()} ${role}`, async () => {
    if (node.daemon && (node.daemon.exitCode !== null || node.daemon.signalCode !== null)) {
      throw new Error(`node ${node.name}'s daemon exited:\n${node.log.slice(-3000)}`);
    }
    try {
      last = (await node.client.call('GET /ha', undefined)).role;
    } catch (err) {
      last = (err as Error).message;
    }
    return last === role;
  }, () => last);
}

async function waitFor(what: string, done: () => boolean | Promise<boolean>, why = () => ''): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`ha bench: no ${what} within ${WAIT_MS} ms ${why()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function must(lab: Lab, ns: string, cmd: string[]): Promise<void> {
  const res = await lab.exec(ns, cmd);
  if (res.code !== 0) throw new Error(`${ns}: ${cmd.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
}

async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The bench's text for this part. */
export function formatHa(r: HaResult): string {
  const f = r.failover;
  const s = r.switchover;
  const ms = (x: number) => x.toFixed(0);
  const takeover = f.events.map((e) => e.takeoverMs).sort((x, y) => x - y);
  return [
    `HA pair, a same-subnet client probing the VIP every ${r.probeIntervalMs} ms (gap: last reply before to first after):`,
    `  crash failover (kill -9 and links down) x${f.events.length}: gap p50 ${ms(f.p50GapMs)} ms, max ${ms(f.maxGapMs)} ms; ` +
      `${f.lostTotal} probes lost in all; standby active p50 ${ms(takeover[Math.ceil(takeover.length / 2) - 1]!)} ms`,
    `    gaps: ${f.events.map((e) => ms(e.gapMs)).join(', ')} ms`,
    `  switchover x${s.events.length}: gap p50 ${ms(s.p50GapMs)} ms, max ${ms(s.maxGapMs)} ms; ${s.lostTotal} probes lost in all; ` +
      `the daemon's figure ${s.events.map((e) => e.reportedMs).join(', ')} ms`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await haBench();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(result, null, 2)}\n` : formatHa(result));
}
