// The bench's throughput case, through the namespace lab (scripts/lab/lab.ts): a generator in the client namespace
// sends UDP datagrams to a VIP as fast as it can, each with the next source port (a new flow), and we count what
// reaches the backends per second: with xlb on the LB, and, in the same lab and run, with the kernel's own
// alternative, an nftables DNAT rule spreading the VIP over the same backends. `npm run bench` prints both rates and
// their ratio; `node dist/scripts/throughput.js [--json]` runs this case alone.
//
// How it is measured:
// - The generator (scripts/trafficgen.ts, bpf/trafficgen.bpf.c) runs an XDP program under BPF_PROG_TEST_RUN with
//   BPF_F_TEST_XDP_LIVE_FRAMES in the client namespace: each run writes the frame's headers, the next UDP source port
//   (1024..65535, UDP checksum 0) and XDP_TXes it out of c0 to the LB's front, 64 frames per batch.
// - Counting: the backends' eth0 rx_packets (and c0's tx_packets, for what was sent), read every 0.5 s while the
//   generator runs, after a 0.5 s warmup; the figure is the median of those sub-window rates over every round. Rounds
//   alternate xlb and nftables, so a busy phase of the machine (other work on it) touches both cases alike; min..max
//   shows the spread.
// - The backends drop the datagrams at their eth0 ingress hook (nftables netdev table; veth has counted them by
//   then), so nothing answers (no ICMP port-unreachable, no UDP echo: the lab runs no servers here) and the backends'
//   IP stack stays out of the measurement. The switch gets static FDB entries for the backends' MACs (a backend that
//   never sends would be unknown to the bridge, which would flood its frames to every backend and inflate the count)
//   and bridge-nf-call-* off (with br_netfilter loaded, bridged frames would also cross the switch namespace's IP
//   hooks): it stands in for a plain switch.
// - xlb: `lbctl daemon --detach-on-exit` in the LB namespace, XDP on front and back (native), one udp service,
//   maglev, nat, health none; measured once every backend is up with a resolved MAC; SIGTERM, then the pins go.
// - nftables: `table ip xlbbench`, a nat prerouting chain with `dnat to numgen inc mod 3 map {...}` (conntrack makes
//   each source port a new flow). No xlb; but a frame XDP_TXed over a veth is only received by a peer that runs an XDP
//   program (veth queues XDP frames on its NAPI ring, which exists only then, or with GRO on), so front runs
//   dist/bpf/pass.o (XDP_PASS) meanwhile and the frames enter the kernel's stack there.
//
// CPUs: veth delivers a frame to its peer on the sending CPU, and the generator's XDP_TX flushes after each batch, so
// left alone the generator, the LB, the switch and the backends' receive would all run on one CPU, and the costs the
// two cases share (above all the switch's skb path, about 1 us a frame here) would swamp the LB's own. So, with 2 CPUs
// or more, the generator is pinned to CPU 0, where the LB's work (front's NAPI: xlb's XDP, or the kernel's forwarding
// path) follows it, and the switch port plb, whose XDP program gives it a NAPI ring in both cases, gets threaded NAPI
// with its kthread pinned to CPU 1, where the switch and the backends' receive then run: clients and LB on one CPU,
// switch and backends on another, as if they were other machines. Whichever CPU saturates first sets the rate: when
// the LB passes on more than the backends receive, the difference is dropped at plb's full ring and the switch side is
// the limit: the LB could do more than the figure says, and "LB out/s" is what it did. Otherwise the LB side is the
// limit (the generator's share of CPU 0 is small: it alone sends about 5 Mpps here). Other work on the machine moves
// the figures too.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFrame } from './lab/frames.js';
import { IFACES, Lab, labCleanupOnExit, removeStaleLabs } from './lab/lab.js';

const PREFIX = 'xlbbench';
const VIP = '198.18.100.10';
/** Not the lab's backend-server port; nobody listens on it (and the backends drop it anyway). */
const PORT = 9000;
const LBCTL = fileURLToPath(new URL('../lb/cli/lbctl.js', import.meta.url));
const TRAFFICGEN = fileURLToPath(new URL('./trafficgen.js', import.meta.url));
const PASS_OBJ = fileURLToPath(new URL('../bpf/pass.o', import.meta.url));
const WARMUP_S = 0.5;
const SUB_WINDOW_S = 0.5;
const MARGIN_S = 0.5;
const DAEMON_READY_MS = 20_000;

export interface ThroughputOptions {
  /** The measured window per case and round, in seconds. Default 3 (XLB_BENCH_LAB_SECONDS). */
  seconds?: number;
  /** Rounds, each measuring xlb then nftables (conntrack flushed first). Default 4 (XLB_BENCH_LAB_ROUNDS). */
  rounds?: number;
  /** Progress lines (stderr by default). */
  progress?: (line: string) => void;
}

export interface CaseRate {
  /** Datagrams that reached the backends per second: the median over every sub-window of every round. */
  packetsPerSecond: number;
  /** Frames sent out of c0 per second, likewise. */
  sentPerSecond: number;
  /** Frames the LB passed on out of back per second (sent or dropped at plb's full queue), likewise. */
  forwardedPerSecond: number;
  /** The lowest and highest sub-window rates, to show the spread. */
  minPerSecond: number;
  maxPerSecond: number;
  /** Datagrams counted at each backend (b1..bN) over all windows: how evenly the LB spread them. */
  perBackend: number[];
  /** Frames the generator sent in all its runs (warmup and margin included). */
  generated: number;
}

export interface ThroughputResult {
  xlb: CaseRate;
  nftables: CaseRate;
  /** xlb's rate over nftables'. */
  ratio: number;
  rounds: number;
  /** Sub-windows per case and round, and their length in seconds. */
  subWindows: number;
  subWindowSeconds: number;
  /** CPUs the generator (and LB) and the switch side were pinned to; undefined on a single CPU. */
  cpus?: { generator: number; switch: number };
}

/** Entries for the bench's --json array. */
export function throughputEntries(r: ThroughputResult): object[] {
  const entry = (name: string, c: CaseRate) => ({
    case: name,
    packetsPerSecond: Math.round(c.packetsPerSecond),
    sentPerSecond: Math.round(c.sentPerSecond),
    forwardedPerSecond: Math.round(c.forwardedPerSecond),
    framesGenerated: c.generated,
  });
  return [entry('lab-udp-xlb', r.xlb), entry('lab-udp-nftables', r.nftables), { case: 'lab-udp-ratio', ratio: round2(r.ratio) }];
}

/** Which side set the rate: the switch's when the LB passed on clearly more than the backends received. */
function limit(r: ThroughputResult, c: CaseRate): string {
  if (!r.cpus) return 'one CPU';
  return c.forwardedPerSecond > c.packetsPerSecond * 1.05 ? `switch (CPU ${r.cpus.switch})` : `LB (CPU ${r.cpus.generator})`;
}

/** The bench's table for this case. */
export function formatThroughput(r: ThroughputResult): string {
  const rows = [
    ['lab case', 'received/s', 'min..max', 'LB out/s', 'sent/s', 'limit', 'frames generated', 'received per backend'],
    ...([['lab-udp-xlb', r.xlb], ['lab-udp-nftables', r.nftables]] as const).map(([name, c]) => [
      name, fmt(c.packetsPerSecond), `${fmt(c.minPerSecond)}..${fmt(c.maxPerSecond)}`, fmt(c.forwardedPerSecond),
      fmt(c.sentPerSecond), limit(r, c), fmt(c.generated), c.perBackend.map(fmt).join(' '),
    ]),
    ['lab-udp-ratio', `${r.ratio.toFixed(2)}x`, '', '', '', '', '', 'xlb over nftables DNAT, received/s'],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((x, i) => (i === row.length - 1 ? x : x.padEnd(widths[i]!))).join('  '));
  const notes = [
    `UDP to ${VIP}:${PORT} through the namespace lab, a new source port per frame, from an XDP live-frames generator.`,
    `received/s: the backends' eth0 rx_packets, median of ${r.rounds * r.subWindows} windows of ${r.subWindowSeconds} s ` +
      `per case (${r.rounds} round(s), xlb and nftables alternating); LB out/s: what the LB passed on out of back ` +
      '(tx_packets + tx_dropped), sent/s: what left c0, likewise.',
    r.cpus
      ? `Generator and LB on CPU ${r.cpus.generator}, switch and backends on CPU ${r.cpus.switch}; limit: the side that ` +
        'saturated (LB out > received: the switch side dropped the difference). See scripts/throughput.ts.'
      : 'One CPU: generator, LB, switch and backends share it, and the costs both cases share narrow the ratio.',
  ];
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

export async function labThroughput(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const seconds = options.seconds ?? Number(process.env.XLB_BENCH_LAB_SECONDS ?? 3);
  const rounds = options.rounds ?? Number(process.env.XLB_BENCH_LAB_ROUNDS ?? 4);
  if (!(seconds > 0) || !Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(`lab throughput: seconds must be > 0 and rounds an integer >= 1, not ${seconds} and ${rounds}`);
  }
  const subWindows = Math.max(1, Math.round(seconds / SUB_WINDOW_S));
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  await removeStaleLabs(PREFIX);

  const work = mkdtempSync(join(tmpdir(), `${PREFIX}-`));
  // In the lab's own mount namespace: the pins go with the lab.
  const pinPath = `/sys/fs/bpf/${PREFIX}`;
  const cleanupFiles = () => rmSync(work, { recursive: true, force: true });
  process.once('exit', cleanupFiles);
  let lab: Lab | undefined;
  try {
    progress(`lab throughput: building the lab (namespaces ${PREFIX}-*)`);
    lab = await Lab.create({ prefix: PREFIX, servers: false });
    labCleanupOnExit(lab);
    await prepareLab(lab);
    const cpus = availableParallelism() >= 2 ? { generator: 0, switch: 1 } : undefined;
    if (cpus) await pinSwitch(lab, cpus.switch);
    const frame = buildFrame({
      srcMac: lab.macs.client, dstMac: lab.macs.lbFront, src: lab.addresses.client, dst: VIP,
      proto: 'udp', sport: 1024, dport: PORT, payload: Buffer.from('xlb-bench-payload!'), udpChecksum: false, padTo: 60,
    });
    const runs: { xlb: Run[]; nftables: Run[] } = { xlb: [], nftables: [] };
    for (let round = 1; round <= rounds; round++) {
      progress(`lab throughput: round ${round}/${rounds}: xlb`);
      runs.xlb.push(await withXlb(lab, work, pinPath, () => measure(lab!, frame, subWindows, cpus?.generator)));
      progress(`lab throughput: round ${round}/${rounds}: nftables DNAT`);
      runs.nftables.push(await withNftables(lab, () => measure(lab!, frame, subWindows, cpus?.generator)));
    }
    const xlb = summarize(runs.xlb);
    const nftables = summarize(runs.nftables);
    return {
      xlb, nftables, ratio: xlb.packetsPerSecond / nftables.packetsPerSecond, rounds, subWindows,
      subWindowSeconds: SUB_WINDOW_S, ...(cpus && { cpus }),
    };
  } finally {
    await lab?.destroy();
    cleanupFiles();
    process.off('exit', cleanupFiles);
  }
}

/**
 * Backends: drop the bench's datagrams at eth0's ingress hook (after veth has counted them in rx_packets, before the
 * IP stack), so they answer nothing. Switch: static FDB entries for the backends, and no br_netfilter (bridged frames
 * would otherwise go through the IP hooks of the switch's namespace): the switch stands in for a plain switch.
 */
async function prepareLab(lab: Lab): Promise<void> {
  const drop = `table netdev ${PREFIX} {\n  chain ingress {\n` +
    `    type filter hook ingress device ${IFACES.backend} priority filter; policy accept;\n` +
    `    udp dport ${PORT} drop\n  }\n}\n`;
  await Promise.all(lab.ns.backends.map((ns) => must(lab, ns, ['nft', '-f', '-'], drop)));
  for (const [i, mac] of lab.macs.backends.entries()) {
    await must(lab, lab.ns.sw, ['bridge', 'fdb', 'replace', mac, 'dev', `pb${i + 1}`, 'master', 'static']);
  }
  // Present only when br_netfilter is loaded.
  const brnf = ['iptables', 'ip6tables', 'arptables'].map((t) => `net.bridge.bridge-nf-call-${t}=0`);
  const res = await lab.exec(lab.ns.sw, ['sysctl', '-q', '-w', ...brnf], { bare: true });
  if (res.code !== 0 && !/No such file|cannot stat/i.test(res.stderr)) {
    throw new Error(`${lab.ns.sw}: sysctl ${brnf.join(' ')}: ${res.stderr.trim()}`);
  }
}

/**
 * Threaded NAPI on plb (the switch's port facing the LB; its XDP program gives it a NAPI ring), its kthread pinned to
 * `cpu`: the switch and the backends' receive then run there, off the CPU of the generator and the LB.
 */
async function pinSwitch(lab: Lab, cpu: number): Promise<void> {
  // The kthread is named after the device ("napi/plb-<napi id>"), as other labs' would be: ours is the one that
  // appears when we switch threading on.
  const before = new Set(napiThreads(IFACES.swLb));
  await must(lab, lab.ns.sw, ['sh', '-c', `echo 1 > /sys/class/net/${IFACES.swLb}/threaded`]);
  const ours = napiThreads(IFACES.swLb).filter((pid) => !before.has(pid));
  if (ours.length !== 1) throw new Error(`lab throughput: expected one new napi/${IFACES.swLb} thread, found ${ours.length}`);
  const res = await runCmd(['taskset', '-p', '-c', String(cpu), String(ours[0])]);
  if (res.code !== 0) throw new Error(`taskset -p -c ${cpu} ${ours[0]}: ${res.stderr.trim()}`);
}

/** Pids of the kernel threads named "napi/<dev>-<id>". */
function napiThreads(dev: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').startsWith(`napi/${dev}-`)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function withXlb<T>(lab: Lab, work: string, pinPath: string, body: () => Promise<T>): Promise<T> {
  const socket = join(work, 'xlb.sock');
  const config = join(work, 'xlb.yaml');
  writeFileSync(config, [
    'node:',
    `  interfaces: [${IFACES.lbFront}, ${IFACES.lbBack}]`,
    '  xdp_mode: native',
    `  control_socket: ${socket}`,
    `  pin_path: ${pinPath}`,
    'services:',
    '  - name: bench',
    `    vip: ${VIP}`,
    '    protocol: udp',
    `    port: ${PORT}`,
    '    scheduler: maglev',
    '    forwarding: nat',
    '    health: { type: none }',
    '    backends:',
    ...lab.addresses.backends.map((a) => `      - address: ${a}`),
    '',
  ].join('\n'));
  const daemon = lab.spawnBare(lab.ns.lb, [process.execPath, LBCTL, 'daemon', '-c', config, '--detach-on-exit'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-8000));
  daemon.stdout!.on('data', keep);
  daemon.stderr!.on('data', keep);
  try {
    await waitDaemon(daemon, socket, lab.addresses.backends.length, () => log);
    return await body();
  } finally {
    await stop(daemon);
    // --detach-on-exit took the program off and unpinned the maps; make sure, whatever happened.
    for (const dev of [IFACES.lbFront, IFACES.lbBack]) await lab.exec(lab.ns.lb, ['ip', 'link', 'set', 'dev', dev, 'xdp', 'off']);
  }
}

/** Until `lbctl status` answers with every backend up and its MAC resolved (xlb cannot forward to it without). */
async function waitDaemon(daemon: ChildProcess, socket: string, backends: number, log: () => string): Promise<void> {
  const deadline = Date.now() + DAEMON_READY_MS;
  let last = '';
  for (;;) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) throw new Error(`xlb daemon exited early:\n${log()}`);
    const res = await runCmd([process.execPath, LBCTL, '--socket', socket, 'status', '--json']);
    if (res.code === 0) {
      const s = JSON.parse(res.stdout) as { services: { backends: { mac: string | null; health: string }[] }[] };
      const ready = s.services[0]?.backends.filter((b) => b.mac && b.health === 'up').length ?? 0;
      if (ready === backends) return;
      last = `${ready} of ${backends} backends up with a MAC`;
    } else {
      last = res.stderr.trim();
    }
    if (Date.now() > deadline) throw new Error(`xlb daemon not ready after ${DAEMON_READY_MS} ms (${last}):\n${log()}`);
    await sleep(200);
  }
}

/**
 * The kernel's path: an nftables DNAT rule in the LB namespace. front runs pass.o meanwhile: frames XDP_TXed over a
 * veth reach only a peer with an XDP program.
 */
async function withNftables<T>(lab: Lab, body: () => Promise<T>): Promise<T> {
  const { lb } = lab.ns;
  const b = lab.addresses.backends;
  const map = b.map((a, i) => `${i} : ${a}`).join(', ');
  const ruleset = `table ip ${PREFIX} {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n` +
    `    ip daddr ${VIP} udp dport ${PORT} dnat to numgen inc mod ${b.length} map { ${map} }\n  }\n}\n`;
  try {
    // Each frame is a new conntrack entry: a round must not start with the last round's table (it may be full).
    const flush = await lab.exec(lb, ['conntrack', '-F']);
    if (flush.code !== 0 && !/0 flow entries/.test(flush.stderr)) throw new Error(`${lb}: conntrack -F: ${flush.stderr.trim()}`);
    await must(lab, lb, ['ip', 'link', 'set', 'dev', IFACES.lbFront, 'xdpdrv', 'obj', PASS_OBJ, 'sec', 'xdp']);
    await must(lab, lb, ['nft', '-f', '-'], ruleset);
    return await body();
  } finally {
    await lab.exec(lb, ['nft', 'delete', 'table', 'ip', PREFIX]);
    await lab.exec(lb, ['ip', 'link', 'set', 'dev', IFACES.lbFront, 'xdp', 'off']);
  }
}

/** One case's measurement in one round. */
interface Run {
  /** Per sub-window, per backend: packets and seconds. */
  windows: { packets: number; seconds: number }[][];
  /** Per sub-window: frames sent out of c0, and passed on out of the LB's back, per second. */
  sent: number[];
  forwarded: number[];
  generated: number;
}

/**
 * Runs the generator (pinned to `cpu`, if given) for warmup + the sub-windows + a margin, and reads the counters at
 * each sub-window's edges.
 */
async function measure(lab: Lab, frame: Buffer, subWindows: number, cpu: number | undefined): Promise<Run> {
  const gen = lab.spawn(lab.ns.client, [
    ...(cpu === undefined ? [] : ['taskset', '-c', String(cpu)]),
    process.execPath, TRAFFICGEN, '--dev', IFACES.client, '--frame', frame.toString('hex'),
    '--seconds', String(WARMUP_S + subWindows * SUB_WINDOW_S + MARGIN_S),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  gen.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  gen.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  const exited = new Promise<number>((resolve) => gen.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  try {
    await Promise.race([
      until(() => /^started$/m.test(out), 20_000),
      exited.then((code) => { throw new Error(`traffic generator exited (${code}) before starting: ${err.trim()}`); }),
    ]);
    await sleep(WARMUP_S * 1000);
    const start = performance.now();
    let prev = await counters(lab);
    const windows: Run['windows'] = [];
    const sent: number[] = [];
    const forwarded: number[] = [];
    for (let i = 1; i <= subWindows; i++) {
      await sleep(Math.max(0, start + i * SUB_WINDOW_S * 1000 - performance.now()));
      const next = await counters(lab);
      const delta = (n: Counter, p: Counter) => ({ packets: n.packets - p.packets, seconds: (n.at - p.at) / 1000 });
      windows.push(next.backends.map((n, k) => delta(n, prev.backends[k]!)));
      const c = delta(next.client, prev.client);
      sent.push(c.packets / c.seconds);
      const f = delta(next.lbOut, prev.lbOut);
      forwarded.push(f.packets / f.seconds);
      prev = next;
    }
    const code = await exited;
    if (code !== 0) throw new Error(`traffic generator failed (${code}): ${err.trim()}`);
    const report = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { frames: number };
    return { windows, sent, forwarded, generated: report.frames };
  } finally {
    if (gen.exitCode === null && gen.signalCode === null) gen.kill('SIGKILL');
  }
}

function summarize(runs: Run[]): CaseRate {
  const windows = runs.flatMap((r) => r.windows);
  const rates = windows.map((w) => w.reduce((sum, b) => sum + b.packets / b.seconds, 0)).sort((a, b) => a - b);
  const perBackend = windows[0]!.map((_, k) => windows.reduce((n, w) => n + w[k]!.packets, 0));
  return {
    packetsPerSecond: median(rates),
    sentPerSecond: median(runs.flatMap((r) => r.sent).sort((a, b) => a - b)),
    forwardedPerSecond: median(runs.flatMap((r) => r.forwarded).sort((a, b) => a - b)),
    minPerSecond: rates[0]!,
    maxPerSecond: rates[rates.length - 1]!,
    perBackend,
    generated: runs.reduce((n, r) => n + r.generated, 0),
  };
}

interface Counter {
  packets: number;
  /** The middle of the read, ms (performance.now). */
  at: number;
}

/**
 * Each backend's eth0 rx_packets, c0's tx_packets and back's tx_packets + tx_dropped, read in parallel, each timed by
 * its own read, so the reads need not be simultaneous.
 */
async function counters(lab: Lab): Promise<{ backends: Counter[]; client: Counter; lbOut: Counter }> {
  type Stats = Record<'rx' | 'tx', { packets: number; dropped: number }>;
  const read = async (ns: string, dev: string, pick: (s: Stats) => number): Promise<Counter> => {
    const t0 = performance.now();
    const res = await runCmd(['ip', '-n', ns, '-s', '-j', 'link', 'show', dev]);
    const at = (t0 + performance.now()) / 2;
    if (res.code !== 0) throw new Error(`ip -n ${ns} -s link show ${dev}: ${res.stderr.trim()}`);
    return { packets: pick((JSON.parse(res.stdout) as { stats64: Stats }[])[0]!.stats64), at };
  };
  const [client, lbOut, ...backends] = await Promise.all([
    read(lab.ns.client, IFACES.client, (s) => s.tx.packets),
    read(lab.ns.lb, IFACES.lbBack, (s) => s.tx.packets + s.tx.dropped),
    ...lab.ns.backends.map((ns) => read(ns, IFACES.backend, (s) => s.rx.packets)),
  ]);
  return { client: client!, lbOut: lbOut!, backends };
}

function median(sorted: number[]): number {
  const n = sorted.length;
  return n % 2 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

async function must(lab: Lab, ns: string, cmd: string[], input?: string): Promise<void> {
  const res = await lab.exec(ns, cmd, input === undefined ? {} : { input });
  if (res.code !== 0) throw new Error(`${ns}: ${cmd.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
}

function runCmd(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`);
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await labThroughput();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(throughputEntries(r), null, 2)}\n` : formatThroughput(r));
}
