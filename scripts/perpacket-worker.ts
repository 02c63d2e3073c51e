// One CPU's share of the per-packet bench (scripts/perpacket.ts starts one per CPU): pinned to its CPU, it runs the
// cases' frames through the programs by fd and answers with the kernel's duration of every timed run.
import { parentPort, workerData } from 'node:worker_threads';
import { testRunFd } from '../lb/bpf/object.js';
import { pinThread } from '../lb/bpf/system.js';
import { xdpContext } from './lab/harness.js';
import { PER_PACKET_CASES, type Program } from './perpacket-cases.js';

export interface WorkerData {
  worker: number;
  cpu: number;
  fds: Record<Program, number>;
  ifindex: { front: number; back: number };
}

export type WorkerRequest = { cmd: 'setup' } | { cmd: 'run'; case: string; samples: number };
export type WorkerReply = { ok: true; durations?: number[] } | { ok: false; error: string };

const data = workerData as WorkerData;
pinThread(data.cpu);

const cases = new Map(PER_PACKET_CASES.map((c) => [c.name, c]));
const states = new Map<string, unknown>();
const serials = new Map<string, number>();

function run(program: Program, frame: Buffer, ingress?: 'front' | 'back') {
  const ctxIn = ingress === undefined ? undefined : xdpContext(frame, data.ifindex[ingress]);
  return testRunFd(data.fds[program], program, { data: frame, ctxIn });
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    if (req.cmd === 'setup') {
      for (const c of PER_PACKET_CASES) {
        states.set(c.name, c.setup?.(data.worker, { xlb: (frame, ingress) => run(c.program, frame, ingress).data }));
      }
      parentPort!.postMessage({ ok: true } satisfies WorkerReply);
      return;
    }
    const c = cases.get(req.case)!;
    const state = states.get(c.name);
    let serial = serials.get(c.name) ?? 0;
    const durations: number[] = [];
    for (let n = 0; n < req.samples; n++, serial++) {
      for (const f of c.prepare?.(data.worker, serial) ?? []) run(c.program, f, c.ingress);
      durations.push(run(c.program, c.frame(data.worker, serial, state), c.ingress).duration);
    }
    serials.set(c.name, serial);
    parentPort!.postMessage({ ok: true, durations } satisfies WorkerReply);
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: (err as Error).stack ?? String(err) } satisfies WorkerReply);
  }
});
