// The bench's throughput cases, through the namespace lab (scripts/lab/lab.ts): a generator in the client namespace
// sends UDP datagrams to a VIP as fast as it can, and we count what reaches the backends per second, and what CPU the
// LB spent per packet it passed on: with xlb on the LB, and, in the same lab and run, with the kernel's own
// alternative, an nftables DNAT rule spreading the VIP over the same backends. Two loads: 64 flows over and over (the
// steady state: xlb's flow table and conntrack both know every flow), and a new-flow flood (every frame a flow not
// seen before: conntrack makes an entry for each, xlb only picks). `npm run bench` prints the rates, the costs and their
// ratios; `node dist/scripts/throughput.js [--json]` runs this part alone.
//
// How it is measured:
// - The generator (scripts/trafficgen.ts, bpf/trafficgen.bpf.c) runs an XDP program under BPF_PROG_TEST_RUN with
//   BPF_F_TEST_XDP_LIVE_FRAMES in the client namespace: each run writes the frame's headers, makes it the next flow
//   (UDP source port, then source address; UDP checksum 0) and XDP_TXes it out of c0 to the LB's front, 64 frames per
//   batch.
// - Counting: the backends' eth0 rx_packets (and c0's tx_packets, for what was sent), read every 0.5 s while the
//   generator runs, after a 0.5 s warmup; the figure is the median of those sub-window rates over every round. Each
//   round measures xlb, then nftables (conntrack flushed before each load), so a busy phase of the machine (other work
//   on it) touches both alike; the rounds' own medians show the spread.
// - The LB's CPU per packet: the softirq time of the LB's CPU (below) from /proc/stat over the measured window, over
//   the packets the LB passed on meanwhile. Every step of the LB's forwarding runs in softirq there (front's NAPI poll:
//   xlb's XDP program and its redirect, or the kernel's receive, conntrack, DNAT and forwarding path); the generator's
//   own work is system time. The kernel samples that time at each tick (no IRQ time accounting here), so the figure is
//   an estimate, good to a few percent over seconds.
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
import { IFACES, Lab, labCleanupOnExit, NFT, removeStaleLabs } from './lab/lab.js';

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
/** /proc/stat's unit: 1/100 s on every architecture Linux runs on today. */
const USER_HZ = 100;

/** What the generator sends: flows by source port (1024 up), then source address (the client's subnet, from .16). */
export interface Load {
  name: 'flows' | 'flood';
  ports: number;
  addresses: number;
  description: string;
}

export const LOADS: readonly Load[] = [
  { name: 'flows', ports: 64, addresses: 1, description: '64 flows over and over' },
  { name: 'flood', ports: 64512, addresses: 200, description: 'a new-flow flood: every frame a flow not seen before' },
];
const FLOOD_SOURCE = '198.18.0.16';

export interface ThroughputOptions {
  /** The measured window per case and round, in seconds. Default 3 (XLB_BENCH_LAB_SECONDS). */
  seconds?: number;
  /** Rounds, each measuring xlb then nftables, each with every load. Default 4 (XLB_BENCH_LAB_ROUNDS). */
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
  /** Each round's median of its sub-window rates, in round order: the spread from run to run. */
  roundsPerSecond: number[];
  /** The LB's CPU time (softirq on its CPU) per packet it passed on, in ns; undefined on one CPU. */
  lbNsPerPacket?: number;
  /** Datagrams counted at each backend (b1..bN) over all windows: how evenly the LB spread them. */
  perBackend: number[];
  /** Frames the generator sent in all its runs (warmup and margin included). */
  generated: number;
}

export interface LoadResult {
  load: Load;
  xlb: CaseRate;
  nftables: CaseRate;
  /** xlb's rate over nftables'. */
  ratio: number;
  /** nftables' CPU per packet over xlb's: how many times cheaper xlb forwards a packet. */
  costRatio?: number;
}

export interface ThroughputResult {
  loads: LoadResult[];
  rounds: number;
  /** Sub-windows per case and round, and their length in seconds. */
  subWindows: number;
  subWindowSeconds: number;
  /** CPUs the generator (and LB) and the switch side were pinned to; undefined on a single CPU. */
  cpus?: { generator: number; switch: number };
}

/** The case name of a load's row: lab-udp-xlb, lab-udp-flood-nftables, lab-udp-ratio, ... */
function caseName(load: Load, what: string): string {
  return load.name === 'flows' ? `lab-udp-${what}` : `lab-udp-${load.name}-${what}`;
}

/** Entries for the bench's --json array. */
export function throughputEntries(r: ThroughputResult): object[] {
  const entry = (load: Load, name: string, c: CaseRate) => ({
    case: caseName(load, name),
    load: load.description,
    packetsPerSecond: Math.round(c.packetsPerSecond),
    roundsPerSecond: c.roundsPerSecond.map(Math.round),
    lbNsPerPacket: c.lbNsPerPacket === undefined ? null : Math.round(c.lbNsPerPacket),
    sentPerSecond: Math.round(c.sentPerSecond),
    forwardedPerSecond: Math.round(c.forwardedPerSecond),
    perBackend: c.perBackend,
    framesGenerated: c.generated,
    limit: limit(r, c),
  });
  return r.loads.flatMap((l) => [
    entry(l.load, 'xlb', l.xlb), entry(l.load, 'nftables', l.nftables),
    { case: caseName(l.load, 'ratio'), ratio: round2(l.ratio), costRatio: l.costRatio === undefined ? null : round2(l.costRatio) },
  ]);
}

/** Which side set the rate: the switch's when the LB passed on clearly more than the backends received. */
function limit(r: ThroughputResult, c: CaseRate): string {
  if (!r.cpus) return 'one CPU';
  return c.forwardedPerSecond > c.packetsPerSecond * 1.05 ? `switch (CPU ${r.cpus.switch})` : `LB (CPU ${r.cpus.generator})`;
}

/** The bench's table for this part. */
export function formatThroughput(r: ThroughputResult): string {
  const ns = (c: CaseRate) => (c.lbNsPerPacket === undefined ? '-' : fmt(c.lbNsPerPacket));
  const rows = [
    ['lab case', 'received/s', 'rounds min..max', 'LB ns/packet', 'LB out/s', 'sent/s', 'limit', 'received per backend'],
    ...r.loads.flatMap((l) => [
      ...([['xlb', l.xlb], ['nftables', l.nftables]] as const).map(([name, c]) => [
        caseName(l.load, name), fmt(c.packetsPerSecond),
        `${fmt(Math.min(...c.roundsPerSecond))}..${fmt(Math.max(...c.roundsPerSecond))}`, ns(c), fmt(c.forwardedPerSecond),
        fmt(c.sentPerSecond), limit(r, c), c.perBackend.map(fmt).join(' '),
      ]),
      [caseName(l.load, 'ratio'), `${l.ratio.toFixed(2)}x`, '', l.costRatio === undefined ? '' : `${l.costRatio.toFixed(2)}x`,
        '', '', '', `${l.load.description}: xlb over nftables DNAT (received/s; LB CPU per packet, nftables over xlb)`],
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((x, i) => (i === row.length - 1 ? x : x.padEnd(widths[i]!))).join('  '));
  const notes = [
    `UDP to ${VIP}:${PORT} through the namespace lab from an XDP live-frames generator: ` +
      `${r.loads.map((l) => `${caseName(l.load, '*')}: ${l.load.description}`).join('; ')}.`,
    `received/s: the backends' eth0 rx_packets, median of ${r.rounds * r.subWindows} windows of ${r.subWindowSeconds} s ` +
      `per case (${r.rounds} round(s), each xlb then nftables); rounds min..max: the lowest and highest of the rounds' ` +
      'own medians; LB out/s: what the LB passed on out of back (tx_packets + tx_dropped), sent/s: what left c0, likewise.',
    r.cpus
      ? `Generator and LB on CPU ${r.cpus.generator}, switch and backends on CPU ${r.cpus.switch}; LB ns/packet: softirq ` +
        `time of CPU ${r.cpus.generator} (tick-sampled) over the packets the LB passed on; limit: the side that saturated ` +
        '(LB out > received: the switch side dropped the difference). See scripts/throughput.ts.'
      : 'One CPU: generator, LB, switch and backends share it, the costs both cases share narrow the ratio, and the LB\'s ' +
        'own CPU cannot be told apart.',
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
    const frame = (load: Load) => buildFrame({
      srcMac: lab!.macs.client, dstMac: lab!.macs.lbFront, src: load.addresses > 1 ? FLOOD_SOURCE : lab!.addresses.client,
      dst: VIP, proto: 'udp', sport: 1024, dport: PORT, payload: Buffer.from('xlb-bench-payload!'), udpChecksum: false,
      padTo: 60,
    });
    const runs = new Map(LOADS.map((l) => [l.name, { xlb: [] as Run[], nftables: [] as Run[] }]));
    const measureAll = async (what: 'xlb' | 'nftables', before: () => Promise<void>) => {
      for (const load of LOADS) {
        progress(`lab throughput: ${what}, ${load.description}`);
        await before();
        runs.get(load.name)![what].push(await measure(lab!, frame(load), load, subWindows, cpus?.generator));
      }
    };
    for (let round = 1; round <= rounds; round++) {
      progress(`lab throughput: round ${round}/${rounds}`);
      await withXlb(lab, work, pinPath, () => measureAll('xlb', async () => undefined));
      await withNftables(lab, () => measureAll('nftables', () => flushConntrack(lab!)));
    }
    const loads = LOADS.map((load): LoadResult => {
      const xlb = summarize(runs.get(load.name)!.xlb);
      const nftables = summarize(runs.get(load.name)!.nftables);
      return {
        load, xlb, nftables, ratio: xlb.packetsPerSecond / nftables.packetsPerSecond,
        ...(xlb.lbNsPerPacket && nftables.lbNsPerPacket && { costRatio: nftables.lbNsPerPacket / xlb.lbNsPerPacket }),
      };
    });
    return { loads, rounds, subWindows, subWindowSeconds: SUB_WINDOW_S, ...(cpus && { cpus }) };
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
  await Promise.all(lab.ns.backends.map((ns) => must(lab, ns, [NFT, '-f', '-'], drop)));
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
    await must(lab, lb, ['ip', 'link', 'set', 'dev', IFACES.lbFront, 'xdpdrv', 'obj', PASS_OBJ, 'sec', 'xdp']);
    await must(lab, lb, [NFT, '-f', '-'], ruleset);
    return await body();
  } finally {
    await lab.exec(lb, [NFT, 'delete', 'table', 'ip', PREFIX]);
    await lab.exec(lb, ['ip', 'link', 'set', 'dev', IFACES.lbFront, 'xdp', 'off']);
  }
}

/** Conntrack's table emptied: a measurement must not start with the last one's entries (the table may be full). */
async function flushConntrack(lab: Lab): Promise<void> {
  const flush = await lab.exec(lab.ns.lb, ['conntrack', '-F']);
  if (flush.code !== 0 && !/0 flow entries/.test(flush.stderr)) throw new Error(`${lab.ns.lb}: conntrack -F: ${flush.stderr.trim()}`);
}

/** One case's measurement in one round. */
interface Run {
  /** Per sub-window, per backend: packets and seconds. */
  windows: { packets: number; seconds: number }[][];
  /** Per sub-window: frames sent out of c0, and passed on out of the LB's back, per second. */
  sent: number[];
  forwarded: number[];
  /** Over the whole measured span: the packets the LB passed on, and its CPU's softirq seconds (if it has its own). */
  forwardedPackets: number;
  lbSoftirqSeconds?: number;
  generated: number;
}

/**
 * Runs the generator (pinned to `cpu`, if given) for warmup + the sub-windows + a margin, and reads the counters at
 * each sub-window's edges, and the softirq time of `cpu` at the first and the last.
 */
async function measure(lab: Lab, frame: Buffer, load: Load, subWindows: number, cpu: number | undefined): Promise<Run> {
  const gen = lab.spawn(lab.ns.client, [
    ...(cpu === undefined ? [] : ['taskset', '-c', String(cpu)]),
    process.execPath, TRAFFICGEN, '--dev', IFACES.client, '--frame', frame.toString('hex'),
    '--seconds', String(WARMUP_S + subWindows * SUB_WINDOW_S + MARGIN_S),
    '--ports', String(load.ports), '--addresses', String(load.addresses),
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
    const first = prev;
    const softirqBefore = cpu === undefined ? undefined : softirqSeconds(cpu);
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
    const lbSoftirqSeconds = softirqBefore === undefined ? undefined : softirqSeconds(cpu!) - softirqBefore;
    const code = await exited;
    if (code !== 0) throw new Error(`traffic generator failed (${code}): ${err.trim()}`);
    const report = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { frames: number };
    return {
      windows, sent, forwarded, forwardedPackets: prev.lbOut.packets - first.lbOut.packets,
      ...(lbSoftirqSeconds !== undefined && { lbSoftirqSeconds }), generated: report.frames,
    };
  } finally {
    if (gen.exitCode === null && gen.signalCode === null) gen.kill('SIGKILL');
  }
}

function summarize(runs: Run[]): CaseRate {
  const rates = (windows: Run['windows']) =>
    windows.map((w) => w.reduce((sum, b) => sum + b.packets / b.seconds, 0)).sort((a, b) => a - b);
  const windows = runs.flatMap((r) => r.windows);
  const perBackend = windows[0]!.map((_, k) => windows.reduce((n, w) => n + w[k]!.packets, 0));
  const softirq = runs.every((r) => r.lbSoftirqSeconds !== undefined)
    ? runs.reduce((n, r) => n + r.lbSoftirqSeconds!, 0) : undefined;
  const forwarded = runs.reduce((n, r) => n + r.forwardedPackets, 0);
  return {
    packetsPerSecond: median(rates(windows)),
    roundsPerSecond: runs.map((r) => median(rates(r.windows))),
    ...(softirq !== undefined && forwarded > 0 && { lbNsPerPacket: (softirq * 1e9) / forwarded }),
    sentPerSecond: median(runs.flatMap((r) => r.sent).sort((a, b) => a - b)),
    forwardedPerSecond: median(runs.flatMap((r) => r.forwarded).sort((a, b) => a - b)),
    perBackend,
    generated: runs.reduce((n, r) => n + r.generated, 0),
  };
}

/** CPU `cpu`'s time in softirq since boot, in seconds (/proc/stat, USER_HZ units). */
function softirqSeconds(cpu: number): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no line for cpu${cpu}`);
  // cpuN user nice system idle iowait irq softirq ...
  return Number(line.trim().split(/\s+/)[7]) / USER_HZ;
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
