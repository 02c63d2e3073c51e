// The bench's cluster part: how fast a change of the pool in Redis reaches another node's maps. Two daemons run in a
// pair lab (scripts/lab/lab.ts), both following one redis-server in the switch namespace, as two nodes of a site would;
// every change is made on node A through its control socket (as lbctl makes it, without lbctl's start-up), and timed
// to the moment a node's maps hold it by scripts/cluster-probe.ts, which runs inside the lab and polls the pinned maps.
// `npm run bench -- --cluster` runs this part and the HA part (scripts/ha-bench.ts).
//
// What is measured:
// - floor: a Redis round trip (PING) from node A's namespace, over the same veth path the daemons use.
// - the library alone: a PoolWriter's edit to a second PoolFollower's callback (cluster/measure.ts), no daemon.
// - edits: backend additions on A, one after another, each timed to A's answer (A's maps hold it by then) and to the
//   moment B's maps hold it (the service's value switched to the table that has the backend).
// - a full pool: 256 services with 16 backends each (the data plane's limits), applied from a one-service pool with
//   `config apply` on A, timed to when each node's maps hold it (its last service in place), once with rr and once with
//   maglev services; A's config check (YAML read and checked) comes from A's own log line.
// - edits on the full pool: a backend drained and undrained, each timed to B's maps.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { ControlClient } from '../lb/cli/client.js';
import { spread, type FollowLatency, type Spread } from '../cluster/measure.js';
import { IFACES, Lab, labCleanupOnExit, terminate } from './lab/lab.js';
import { RedisServer } from './lab/redis.js';
import type { EditTiming, FullTiming, ProbeResult, ProbeSpec, ServiceRef } from './cluster-probe.js';

const LBCTL = fileURLToPath(new URL('../lb/cli/lbctl.js', import.meta.url));
const PROBE = fileURLToPath(new URL('./cluster-probe.js', import.meta.url));
const KEY_PREFIX = 'xlb';
const READY_MS = 40_000;
/** Where the bench's many backends live: routed by both nodes via the lab's one backend, so each has a next hop. */
const BULK_NET = '198.18.16.0/20';
const BULK_BASE = (198 << 24) | (18 << 16) | (16 << 8);
const FULL = { services: 256, backendsEach: 16 };
const EDIT_SERVICE = { name: 'bench', vip: '198.18.100.10', protocol: 'tcp' as const, port: 80 };
const BACKEND_PORT = 8080;

export interface ClusterOptions {
  /** Backend additions timed; default 200 (XLB_BENCH_CLUSTER_EDITS). */
  edits?: number;
  /** Full pools applied per scheduler; default 3 (XLB_BENCH_CLUSTER_ROUNDS). */
  rounds?: number;
  /** Progress lines (stderr by default). */
  progress?: (line: string) => void;
}

export interface FullPoolResult {
  pool: string;
  services: number;
  backends: number;
  rounds: FullTiming[];
  /** Medians over the rounds, ms from the start on A; both: the later of A's maps and B's. */
  median: { a: number; aMaps: number; b: number; both: number; written: number };
  /** A's config check (YAML read and checked in its worker thread), ms, from A's log. */
  aChecked?: number;
}

/** Edits timed from their start on A: to A's answer (its maps hold it by then), to B's maps, to both. */
export interface EditSpread {
  count: number;
  a: Spread;
  b: Spread;
  both: Spread;
}

export interface ClusterResult {
  /** Redis round trip from A's namespace. */
  floor: Spread;
  library: FollowLatency;
  edits: EditSpread;
  full: FullPoolResult[];
  fullEdits: EditSpread;
}

function bulkAddress(i: number): string {
  const n = BULK_BASE + i;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Service i of the full pool: 64 VIPs with four services each. */
function fullService(i: number): ServiceRef & { name: string } {
  const kinds = [['tcp', 80], ['tcp', 443], ['udp', 53], ['tcp', 8080]] as const;
  const [protocol, port] = kinds[i % 4]!;
  return { name: `s${i}`, vip: `198.18.100.${1 + (i >> 2)}`, protocol, port };
}

function fullPool(scheduler: 'rr' | 'maglev'): object[] {
  return Array.from({ length: FULL.services }, (_, i) => {
    const { name, vip, protocol, port } = fullService(i);
    return {
      name, vip, protocol, port, scheduler, forwarding: 'nat', health: { type: 'none' },
      backends: Array.from({ length: FULL.backendsEach }, (_, j) => ({ address: bulkAddress(i * FULL.backendsEach + j), port: BACKEND_PORT })),
    };
  });
}

interface Node {
  name: string;
  ns: string;
  socket: string;
  pinPath: string;
  config: Record<string, unknown>;
  daemon?: ChildProcess;
  log: string;
}

export async function clusterBench(options: ClusterOptions = {}): Promise<ClusterResult> {
  const edits = options.edits ?? Number(process.env.XLB_BENCH_CLUSTER_EDITS ?? 200);
  const rounds = options.rounds ?? Number(process.env.XLB_BENCH_CLUSTER_ROUNDS ?? 3);
  if (!Number.isInteger(edits) || edits < 1 || edits > 4000 || !Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(`cluster bench: edits must be an integer in 1..4000 and rounds one >= 1, not ${edits} and ${rounds}`);
  }
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const prefix = `xlbcb${randomBytes(4).toString('hex')}`;
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const cleanupFiles = () => rmSync(work, { recursive: true, force: true });
  process.once('exit', cleanupFiles);
  let lab: Lab | undefined;
  let redis: RedisServer | undefined;
  const nodes: Node[] = [];
  try {
    progress(`cluster bench: building a pair lab (namespaces ${prefix}-*) and a redis-server`);
    lab = await Lab.create({ prefix, pair: true, backends: 1, servers: false });
    labCleanupOnExit(lab);
    const gateway = lab.addresses.backends[0]!;
    for (const lb of lab.lbs) await must(lab, lb.ns, ['ip', 'route', 'add', BULK_NET, 'via', gateway, 'dev', IFACES.lbBack]);
    redis = await RedisServer.start({ netns: lab.ns.sw, bind: lab.switchAddress });
    const base = [{ ...EDIT_SERVICE, scheduler: 'maglev', forwarding: 'nat', health: { type: 'none' },
      backends: [{ address: gateway, port: BACKEND_PORT }] }];
    for (const [i, lb] of lab.lbs.entries()) {
      const name = i === 0 ? 'a' : 'b';
      const socket = join(work, `${name}.sock`);
      const pinPath = `/sys/fs/bpf/${prefix}-${name}`;
      const node: Node = {
        name, ns: lb.ns, socket, pinPath, log: '',
        config: {
          node: { interfaces: [IFACES.lbFront, IFACES.lbBack], xdp_mode: 'auto', control_socket: socket, pin_path: pinPath },
          redis: { url: redis.url, key_prefix: KEY_PREFIX },
          services: base,
        },
      };
      nodes.push(node);
      progress(`cluster bench: starting node ${name.toUpperCase()}`);
      await startDaemon(lab, node, work);
    }
    const [a, b] = nodes as [Node, Node];
    const yaml = (services: object[]) => stringify({ ...a.config, services });
    const last = fullService(FULL.services - 1);
    const first = fullService(0);
    const spec: ProbeSpec = {
      redisUrl: redis.url,
      keyPrefix: KEY_PREFIX,
      nodes: [a, b].map((n) => ({ name: n.name, socket: n.socket, pins: n.pinPath })) as ProbeSpec['nodes'],
      floorSamples: 1000,
      editService: { name: EDIT_SERVICE.name, key: EDIT_SERVICE, port: BACKEND_PORT },
      editAddresses: Array.from({ length: edits }, (_, i) => bulkAddress(i)),
      base: yaml(base),
      full: (['rr', 'maglev'] as const).map((scheduler) => ({
        name: scheduler, yaml: yaml(fullPool(scheduler)), services: FULL.services, backends: FULL.services * FULL.backendsEach,
        last: { vip: last.vip, protocol: last.protocol, port: last.port },
      })),
      rounds,
      fullEdits: { count: 20, service: first.name, key: first, address: bulkAddress(0), port: BACKEND_PORT },
    };
    const probe = await runProbe(lab, a.ns, spec, progress);
    return summarize(probe, spec, checked(a.log));
  } finally {
    for (const n of nodes) if (n.daemon) await terminate(n.daemon, 10_000);
    await redis?.destroy();
    await lab?.destroy();
    cleanupFiles();
    process.off('exit', cleanupFiles);
  }
}

/** Starts the node's daemon and waits until it follows Redis with every backend's next hop resolved. */
async function startDaemon(lab: Lab, node: Node, work: string): Promise<void> {
  const path = join(work, `${node.name}.yaml`);
  writeFileSync(path, stringify(node.config));
  const daemon = lab.spawnBare(node.ns, [process.execPath, LBCTL, 'daemon', '-c', path, '--detach-on-exit'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  node.daemon = daemon;
  daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (node.log += d));
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (node.log += d));
  const client = new ControlClient(node.socket, { timeoutMs: 5000 });
  const deadline = Date.now() + READY_MS;
  let why = 'no answer yet';
  for (;;) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) throw new Error(`node ${node.name}'s daemon exited:\n${node.log.slice(-4000)}`);
    try {
      const s = await client.call('GET /status', undefined);
      const unresolved = s.services.flatMap((v) => v.backends.filter((x) => x.mac === null));
      if (s.redis?.state === 'synced' && unresolved.length === 0) return;
      why = `redis ${s.redis?.state}, ${unresolved.length} backends without a next hop`;
    } catch (err) {
      why = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`node ${node.name} not ready after ${READY_MS} ms (${why}):\n${node.log.slice(-4000)}`);
    await sleep(100);
  }
}

async function runProbe(lab: Lab, ns: string, spec: ProbeSpec, progress: (line: string) => void): Promise<ProbeResult> {
  const child = lab.spawnBare(ns, [process.execPath, PROBE], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-8000);
    for (const line of d.split('\n')) if (line.startsWith('cluster bench: ')) progress(line);
  });
  child.stdin!.end(JSON.stringify(spec));
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`the cluster bench's probe failed (${code}):\n${err.trim()}`);
  return JSON.parse(out) as ProbeResult;
}

/** How long each config read and check took on the node, in order. */
function checked(log: string): { time: number; ms: number }[] {
  return entries(log).flatMap((e) => (typeof e.msg === 'string' && e.msg.endsWith(' read and checked') && typeof e.ms === 'number'
    ? [{ time: e.time as number, ms: e.ms }] : []));
}

function entries(log: string): Record<string, unknown>[] {
  return log.split('\n').flatMap((line) => {
    try {
      const v = JSON.parse(line) as unknown;
      return v !== null && typeof v === 'object' ? [v as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

function summarize(p: ProbeResult, spec: ProbeSpec, aChecks: { time: number; ms: number }[]): ClusterResult {
  const edits = (list: EditTiming[]): EditSpread => ({
    count: list.length, a: spread(list.map((e) => e.a)), b: spread(list.map((e) => e.b)),
    both: spread(list.map((e) => Math.max(e.a, e.b))),
  });
  const full = spec.full.map((pool): FullPoolResult => {
    const rounds = p.full.filter((f) => f.pool === pool.name);
    const mid = [...rounds].sort((x, y) => x.b - y.b)[Math.floor(rounds.length / 2)]!;
    const aChecked = aChecks.find((c) => c.time >= mid.startedAt);
    return {
      pool: pool.name, services: pool.services, backends: pool.backends, rounds,
      median: {
        a: median(rounds.map((r) => r.a)), aMaps: median(rounds.map((r) => r.aMaps)), b: median(rounds.map((r) => r.b)),
        both: median(rounds.map((r) => Math.max(r.aMaps, r.b))), written: median(rounds.map((r) => r.written)),
      },
      ...(aChecked && { aChecked: aChecked.ms }),
    };
  });
  return { floor: spread(p.floor), library: p.library, edits: edits(p.edits), full, fullEdits: edits(p.fullEdits) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The bench's text for this part. */
export function formatCluster(r: ClusterResult): string {
  const floor = r.floor.p50Ms;
  const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
  const rows: string[][] = [['cluster case', 'p50 ms', 'p99 ms', 'max ms', 'p50/floor', 'p99/floor']];
  const row = (name: string, s: Spread) => rows.push([name, ms(s.p50Ms), ms(s.p99Ms), ms(s.maxMs),
    (s.p50Ms / floor).toFixed(1), (s.p99Ms / floor).toFixed(1)]);
  row('Redis round trip from A (floor)', r.floor);
  row(`library: edit -> another follower's callback (${r.library.edits})`, r.library.changeToCallback);
  row(`edit on A -> A answers, its maps hold it (${r.edits.count})`, r.edits.a);
  row(`edit on A -> B's maps hold it (${r.edits.count})`, r.edits.b);
  row(`edit on A -> both nodes' maps hold it (${r.edits.count})`, r.edits.both);
  row(`full pool: edit on A -> A answers (${r.fullEdits.count})`, r.fullEdits.a);
  row(`full pool: edit on A -> B's maps hold it (${r.fullEdits.count})`, r.fullEdits.b);
  row(`full pool: edit on A -> both nodes' maps (${r.fullEdits.count})`, r.fullEdits.both);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const table = rows.map((x) => x.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const fullRows = r.full.map((f) => {
    return `  ${f.pool}: A's maps ${ms(f.median.aMaps)} ms, A answers ${ms(f.median.a)} ms, B's maps ${ms(f.median.b)} ms ` +
      `(median of ${f.rounds.length}; B's worst ${ms(Math.max(...f.rounds.map((x) => x.b)))} ms); ` +
      `both ${ms(f.median.both)} ms; A's config check ${f.aChecked === undefined ? '?' : ms(f.aChecked)} ms, ` +
      `in Redis at ${ms(f.median.written)} ms`;
  });
  return [
    ...table,
    '',
    `A full pool (${r.full[0]?.services} services, ${r.full[0]?.backends} backends) applied on A from a one-service pool:`,
    ...fullRows,
    '',
    'Two daemons of a pair lab follow one redis-server; every change is made on A through its control socket; "maps hold',
    'it": the probe polling the pinned maps sees the service entry the change makes live. See scripts/cluster-bench.ts.',
    '',
  ].join('\n');
}

async function must(lab: Lab, ns: string, cmd: string[]): Promise<void> {
  const res = await lab.exec(ns, cmd);
  if (res.code !== 0) throw new Error(`${ns}: ${cmd.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await clusterBench();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(result, null, 2)}\n` : formatCluster(result));
}
