// The cluster bench's measurements, run inside its pair lab (scripts/cluster-bench.ts starts it in node A's network
// namespace and the lab's mount namespace, where Redis, both nodes' control sockets and both nodes' pinned maps are in
// reach, and one clock times them all). It reads a ProbeSpec on stdin and prints a ProbeResult on stdout; progress on
// stderr. A change is "in a node's maps" when a worker (./cluster-watch.ts) polling the pinned maps sees the entry the
// change makes live: the service's value, written last, once its table and backends are in.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import * as layout from '../lb/bpf/layout.js';
import { closeFd, lookupFd, mapInfo, objGet } from '../lb/bpf/system.js';
import { ControlClient } from '../lb/cli/client.js';
import { redisConnector } from '../cluster/connection.js';
import { poolKeys } from '../cluster/keys.js';
import { measureFollowLatency, type FollowLatency } from '../cluster/measure.js';
import type { Watch, WatchReply, WatchRequest } from './cluster-watch.js';

const WATCH_WORKER = fileURLToPath(new URL('./cluster-watch.js', import.meta.url));
/** How long one change may take to reach the maps before the bench gives up. */
const CHANGE_TIMEOUT_MS = 60_000;

export interface ServiceRef {
  vip: string;
  protocol: 'tcp' | 'udp';
  port: number;
}

export interface ProbeNode {
  name: string;
  socket: string;
  /** The node's pin_path, as the probe reaches it. */
  pins: string;
}

export interface ProbeSpec {
  redisUrl: string;
  keyPrefix: string;
  /** A first: the node every change is made on. */
  nodes: [ProbeNode, ProbeNode];
  floorSamples: number;
  /** Backend additions, one after another, to `editService`, each of the next address of `editAddresses`. */
  editService: { name: string; key: ServiceRef; port: number };
  editAddresses: string[];
  /** Config files (YAML) applied on A: `base` before each full pool, each full pool once per round. */
  base: string;
  full: { name: string; yaml: string; services: number; backends: number; last: ServiceRef }[];
  rounds: number;
  /** Drains and undrains on the last full pool, one after another, of this backend of this service. */
  fullEdits: { count: number; service: string; key: ServiceRef; address: string; port: number };
}

/** Milliseconds from the change's start on A. */
export interface EditTiming {
  /** A answered (its own maps hold the change). */
  a: number;
  /** B's maps hold it. */
  b: number;
}

export interface FullTiming extends EditTiming {
  pool: string;
  round: number;
  /** A's maps hold it (before A's answer reaches the probe). */
  aMaps: number;
  /** The change's record in Redis (Redis's clock, whole ms), from the start. */
  written: number;
  /** The pool version it made. */
  version: number;
  /** Epoch ms of the start, to place the daemons' log lines. */
  startedAt: number;
}

export interface ProbeResult {
  /** Redis round trips (PING) from A's namespace, ms. */
  floor: number[];
  /** The Redis library alone: a writer's edit to a second follower's callback (no daemon). */
  library: FollowLatency;
  edits: EditTiming[];
  full: FullTiming[];
  fullEdits: EditTiming[];
}

const now = () => performance.timeOrigin + performance.now();
const progress = (line: string) => process.stderr.write(`cluster bench: ${line}\n`);

function serviceKey(s: ServiceRef): string {
  return layout.serviceKey.encode({ vip: s.vip, port: s.port, proto: layout.PROTO[s.protocol] }).toString('hex');
}

/** The worker that watches the maps; one request at a time. */
class Watcher {
  private readonly worker = new Worker(WATCH_WORKER);
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (at: number[]) => void; reject: (err: Error) => void }>();

  constructor() {
    this.worker.on('message', (reply: WatchReply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if ('error' in reply) w?.reject(new Error(`watching the maps: ${reply.error}`));
      else w?.resolve(reply.at);
    });
    this.worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  /** Resolves with when each entry changed; rejects after CHANGE_TIMEOUT_MS. */
  watch(watches: Watch[]): Promise<number[]> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no change in the maps within ${CHANGE_TIMEOUT_MS} ms: ${JSON.stringify(watches)}`));
      }, CHANGE_TIMEOUT_MS);
      this.waiting.set(id, {
        resolve: (at) => { clearTimeout(timer); resolve(at); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
      this.worker.postMessage({ id, watches } satisfies WatchRequest);
    });
  }

  async close(): Promise<void> {
    this.worker.postMessage({ stop: true } satisfies WatchRequest);
    await new Promise((resolve) => this.worker.once('exit', resolve));
  }
}

/** A node's services map, read here for the value a watch starts from. */
function entryOf(pins: string, key: string): string | null {
  const fd = objGet(`${pins}/${layout.MAPS.services}`);
  try {
    const value = Buffer.alloc(mapInfo(fd).valueSize);
    return lookupFd(fd, Buffer.from(key, 'hex'), value) ? value.toString('hex') : null;
  } finally {
    closeFd(fd);
  }
}

async function main(spec: ProbeSpec): Promise<ProbeResult> {
  const [a, b] = spec.nodes;
  const clientA = new ControlClient(a.socket, { timeoutMs: CHANGE_TIMEOUT_MS });
  const connector = redisConnector({ url: spec.redisUrl, keyPrefix: spec.keyPrefix }, 'bench-probe');
  const keys = poolKeys(spec.keyPrefix);
  const redis = connector.connect('commands');
  const watcher = new Watcher();
  const services = (n: ProbeNode) => `${n.pins}/${layout.MAPS.services}`;
  try {
    await new Promise((resolve, reject) => redis.once('ready', resolve).once('error', reject));

    progress(`floor: ${spec.floorSamples} Redis round trips`);
    const floor: number[] = [];
    for (let i = 0; i < spec.floorSamples; i++) {
      const t0 = performance.now();
      await redis.ping();
      floor.push(performance.now() - t0);
    }

    progress(`the Redis library alone: ${spec.editAddresses.length} edits, a writer to a second follower`);
    const library = await measureFollowLatency({
      writer: redisConnector({ url: spec.redisUrl, keyPrefix: spec.keyPrefix }, 'bench-writer'),
      follower: redisConnector({ url: spec.redisUrl, keyPrefix: spec.keyPrefix }, 'bench-follower'),
      keyPrefix: `${spec.keyPrefix}-library`, logger: pino({ level: 'silent' }), edits: spec.editAddresses.length,
    });

    /** One change made on A; when A answered and when each watched entry changed, from its start. */
    const timed = async (change: () => Promise<unknown>, watches: Watch[]) => {
      const seen = watcher.watch(watches);
      const t0 = now();
      await change();
      const answered = now() - t0;
      return { t0, answered, seen: (await seen).map((at) => at - t0) };
    };

    progress(`${spec.editAddresses.length} backend additions on A, each timed to B's maps`);
    const editKey = serviceKey(spec.editService.key);
    const edits: EditTiming[] = [];
    for (const address of spec.editAddresses) {
      const r = await timed(() => clientA.call('POST /backends', { service: spec.editService.name, address, port: spec.editService.port }),
        [{ map: services(b), key: editKey, from: entryOf(b.pins, editKey) }]);
      edits.push({ a: r.answered, b: r.seen[0]! });
    }

    const full: FullTiming[] = [];
    const applyOnA = (yaml: string, source: string) => clientA.call('POST /config', { yaml, source });
    /** Both nodes hold A's version (B follows it). */
    const settled = async () => {
      const version = (await clientA.call('GET /status', undefined)).redis!.version;
      const clientB = new ControlClient(b.socket);
      const deadline = Date.now() + CHANGE_TIMEOUT_MS;
      while ((await clientB.call('GET /status', undefined)).redis!.version !== version) {
        if (Date.now() > deadline) throw new Error(`B did not reach version ${version}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return version;
    };
    for (let round = 1; round <= spec.rounds; round++) {
      for (const pool of spec.full) {
        progress(`round ${round}/${spec.rounds}: the base pool, then ${pool.name} (${pool.services} services, ${pool.backends} backends)`);
        await applyOnA(spec.base, 'base.yaml');
        await settled();
        const last = serviceKey(pool.last);
        const r = await timed(() => applyOnA(pool.yaml, `${pool.name}.yaml`),
          [a, b].map((n) => ({ map: services(n), key: last, from: null })));
        const version = await settled();
        const [record] = (await redis.xrevrange(keys.changes, '+', '-', 'COUNT', 1)) as [string, string[]][];
        full.push({ pool: pool.name, round, a: r.answered, aMaps: r.seen[0]!, b: r.seen[1]!, version, startedAt: r.t0,
          written: Number(record![0].split('-')[0]) - r.t0 });
      }
    }

    const fe = spec.fullEdits;
    progress(`${fe.count} drains and undrains on the last full pool, each timed to B's maps`);
    const feKey = serviceKey(fe.key);
    const fullEdits: EditTiming[] = [];
    for (let i = 0; i < fe.count; i++) {
      const ref = { service: fe.service, address: fe.address, port: fe.port };
      const r = await timed(() => clientA.call(i % 2 === 0 ? 'POST /backends/drain' : 'POST /backends/undrain', ref),
        [{ map: services(b), key: feKey, from: entryOf(b.pins, feKey) }]);
      fullEdits.push({ a: r.answered, b: r.seen[0]! });
    }
    return { floor, library, edits, full, fullEdits };
  } finally {
    redis.disconnect();
    await watcher.close();
  }
}

let input = '';
process.stdin.setEncoding('utf8').on('data', (d: string) => (input += d)).on('end', () => {
  main(JSON.parse(input) as ProbeSpec).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: Error) => {
      process.stderr.write(`cluster bench probe failed: ${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
});
