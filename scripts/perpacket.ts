// The bench's per-packet part: nanoseconds per packet of the XDP program, case by case (scripts/perpacket-cases.ts),
// beside a floor program that only returns XDP_TX, on one CPU and on every CPU at once, all in one run.
//
// How it is measured:
// - The program runs as the daemon runs it: the pool of scripts/lab/cases.ts, events on (and read between blocks); the
//   front interface's MAC known (for ARP). A second copy with maps of its own runs as an HA node before its deadlines.
// - The program rewrites frames in place, so BPF_PROG_TEST_RUN's own repeat would time its rewritten output from the
//   second run on: every sample is one call with repeat = 1 and a fresh copy of the frame, and the kernel's duration for
//   that call is the sample.
// - One worker thread per CPU, pinned to it (BPF_PROG_TEST_RUN runs the program on the caller's CPU). "one CPU": worker
//   0 alone; "all CPUs": every worker at once, each with flows of its own. Blocks of samples interleave cases and
//   modes round by round, so a slow phase of the machine touches all of them alike.
// - Figures are medians (a scheduling hiccup does not move them) and are given as the cost above the floor in units of
//   the floor of the same mode and run: absolute timings vary 3x between machines, ratios much less.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BpfObject } from '../lb/bpf/object.js';
import { RingBuffer } from '../lb/bpf/ringbuf.js';
import * as layout from '../lb/bpf/layout.js';
import { monotonicNs } from '../lb/bpf/system.js';
import type { DataPlane } from '../lb/dataplane/dataplane.js';
import { POOL } from './lab/cases.js';
import { Harness } from './lab/harness.js';
import { routedNetwork, type RoutedNetwork } from './lab/routed.js';
import { PER_PACKET_CASES } from './perpacket-cases.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './perpacket-worker.js';

const FLOOR_OBJ = fileURLToPath(new URL('../bpf/floor.o', import.meta.url));
const WORKER = fileURLToPath(new URL('./perpacket-worker.js', import.meta.url));

export interface PerPacketOptions {
  /** Samples per case and mode. Default 20000 (XLB_BENCH_SAMPLES). */
  samples?: number;
  rounds?: number;
  progress?: (line: string) => void;
}

export interface ModeFigure {
  /** Median ns per packet. */
  ns: number;
  floorNs: number;
  /** (ns - floorNs) / floorNs: the cost above the floor in floors. */
  floorsAbove: number;
}

export interface PerPacketResult {
  case: string;
  description: string;
  oneCpu: ModeFigure;
  allCpus: ModeFigure;
  /** allCpus.ns / oneCpu.ns: 1 when CPUs do not slow each other down. */
  allOverOne: number;
  /**
   * allOverOne over the floor's: what the program's own sharing costs, apart from what running every CPU at once costs
   * any program on this machine (hyperthreads, a VM's neighbours): 1 when the program shares nothing written.
   */
  allOverOneVsFloor: number;
}

export interface PerPacketRun {
  cpus: number;
  samples: number;
  results: PerPacketResult[];
}

class WorkerPool {
  private constructor(private readonly workers: Worker[]) {}

  static async start(count: number, base: Omit<WorkerData, 'worker' | 'cpu'>): Promise<WorkerPool> {
    const workers = Array.from({ length: count }, (_, worker) =>
      new Worker(WORKER, { workerData: { ...base, worker, cpu: worker } satisfies WorkerData }));
    const pool = new WorkerPool(workers);
    await pool.ask(workers, { cmd: 'setup' });
    return pool;
  }

  /** Sends `req` to each of `workers` at once; the answers in the same order. */
  ask(workers: Worker[], req: WorkerRequest): Promise<WorkerReply[]> {
    return Promise.all(workers.map((w) => new Promise<WorkerReply>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      w.once('error', onError);
      w.once('message', (reply: WorkerReply) => {
        w.off('error', onError);
        if (reply.ok) resolve(reply);
        else reject(new Error(`per-packet worker: ${reply.error}`));
      });
      w.postMessage(req);
    })));
  }

  get all(): Worker[] {
    return this.workers;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function perPacket(options: PerPacketOptions = {}): Promise<PerPacketRun> {
  const samples = options.samples ?? Number(process.env.XLB_BENCH_SAMPLES ?? 20000);
  const rounds = options.rounds ?? 5;
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  // A namespace of the bench's own (this thread's, which the workers inherit), with the route and neighbour a NAT
  // reply needs, so the reverse case times the path real replies take: fib lookup, rewrite, redirect.
  const net = routedNetwork();
  // Counted before the harness pins this thread to one CPU.
  const cpus = availableParallelism();
  const h = new Harness(POOL, { maxFlows: 1 << 20 });
  const ha = new Harness(POOL, { maxFlows: 1 << 20 });
  const floor = BpfObject.open(FLOOR_OBJ);
  const rings: RingBuffer[] = [];
  let pool: WorkerPool | undefined;
  try {
    floor.load();
    const day = 86_400n * 1_000_000_000n;
    ha.dp.setHa({ forwardUntilNs: monotonicNs() + day, arpUntilNs: monotonicNs() + day });
    for (const dp of [h.dp, ha.dp]) rings.push(runAsTheDaemon(dp, net));

    progress(`per packet: ${PER_PACKET_CASES.length} cases, ${samples} samples each, on 1 CPU and on ${cpus} CPUs at once`);
    pool = await WorkerPool.start(cpus, {
      fds: { xlb: h.dp.program.fd, 'xlb-ha': ha.dp.program.fd, floor: floor.program('xlb_floor').fd },
      ifindex: { front: net.front, back: net.back },
    });
    const modes: Record<'oneCpu' | 'allCpus', Worker[]> = { oneCpu: [pool.all[0]!], allCpus: pool.all };
    const durations = new Map(PER_PACKET_CASES.map((c) => [c.name, { oneCpu: [] as number[], allCpus: [] as number[] }]));
    const block = Math.ceil(samples / rounds);
    for (let round = 0; round < rounds; round++) {
      for (const c of PER_PACKET_CASES) {
        for (const mode of ['oneCpu', 'allCpus'] as const) {
          const workers = modes[mode];
          // Every worker contributes as many samples in all-CPU mode as worker 0 alone does in one-CPU mode.
          const replies = await pool.ask(workers, { cmd: 'run', case: c.name, samples: block });
          const out = durations.get(c.name)![mode];
          for (const r of replies) if (r.ok) out.push(...r.durations!);
          for (const ring of rings) ring.consume();
        }
      }
    }

    const floors = durations.get('floor')!;
    const figure = (xs: number[], floorNs: number): ModeFigure => {
      const ns = median(xs);
      return { ns, floorNs, floorsAbove: (ns - floorNs) / floorNs };
    };
    const floorNs = { oneCpu: median(floors.oneCpu), allCpus: median(floors.allCpus) };
    const floorAllOverOne = floorNs.allCpus / floorNs.oneCpu;
    const results = PER_PACKET_CASES.map((c) => {
      const d = durations.get(c.name)!;
      const oneCpu = figure(d.oneCpu, floorNs.oneCpu);
      const allCpus = figure(d.allCpus, floorNs.allCpus);
      const allOverOne = allCpus.ns / oneCpu.ns;
      return {
        case: c.name, description: c.description, oneCpu, allCpus, allOverOne, allOverOneVsFloor: allOverOne / floorAllOverOne,
      };
    });
    return { cpus, samples: rounds * block, results };
  } finally {
    await pool?.close();
    for (const ring of rings) ring.close();
    floor.close();
    ha.close();
    h.close();
  }
}

/** Sets `dp` up as the daemon runs it: the front's egress and MAC known, events on; returns the ring to read them. */
function runAsTheDaemon(dp: DataPlane, net: RoutedNetwork): RingBuffer {
  const egress = Buffer.alloc(8);
  egress.writeUInt32LE(net.front);
  dp.map('egress').update(layout.u32Key(net.front), egress);
  dp.setInterfaces([{ ifindex: net.front, mac: net.frontMac }]);
  const ring = new RingBuffer(dp.map('events'), () => undefined);
  dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 1 }));
  return ring;
}

/** The bench's table for the per-packet part. */
export function formatPerPacket(run: PerPacketRun): string {
  const f2 = (n: number) => n.toFixed(2);
  const rows = [
    ['case', '1 CPU ns', 'floors above', `${run.cpus} CPUs ns`, 'floors above', 'all/one', 'vs floor', 'what'],
    ...run.results.map((r) => [
      r.case, String(r.oneCpu.ns), f2(r.oneCpu.floorsAbove), String(r.allCpus.ns), f2(r.allCpus.floorsAbove), f2(r.allOverOne),
      f2(r.allOverOneVsFloor), r.description,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((x, i) => (i === row.length - 1 ? x : x.padEnd(widths[i]!))).join('  '));
  return `${lines.join('\n')}\n\nmedians of ${run.samples} single runs per case and CPU (BPF_PROG_TEST_RUN, repeat = 1, ` +
    'kernel duration), events on; floors above: (ns - floor) / floor of the same mode; all/one: ns on every CPU at once ' +
    'over ns on one; vs floor: all/one over the floor\'s (what the program\'s own sharing costs)\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await perPacket();
  process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(run, null, 2)}\n` : formatPerPacket(run));
}
