// The cluster bench's eye on the maps (a worker thread of scripts/cluster-probe.ts): polls entries of pinned maps every
// POLL_MS and reports when each first differs from what it held, so a change is timed where packets see it, not where a
// daemon says so. Each lookup is one system call; between them the thread sleeps, so it costs little CPU.
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { closeFd, lookupFd, mapInfo, objGet } from '../lb/bpf/system.js';

/** One entry to watch: done when its value (hex; null: absent) is no longer `from`. */
export interface Watch {
  /** A pinned map, as this process reaches it. */
  map: string;
  /** The key, hex. */
  key: string;
  from: string | null;
}

export type WatchRequest = { id: number; watches: Watch[] } | { stop: true };
/** When each watch was done, in ms since the epoch (performance.timeOrigin + performance.now()), in request order. */
export type WatchReply = { id: number; at: number[] } | { id: number; error: string };

const POLL_MS = 0.2;

interface Open {
  fd: number;
  value: Buffer;
}

const opened = new Map<string, Open>();
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function open(path: string): Open {
  let o = opened.get(path);
  if (!o) {
    const fd = objGet(path);
    o = { fd, value: Buffer.alloc(mapInfo(fd).valueSize) };
    opened.set(path, o);
  }
  return o;
}

function read(w: Watch): string | null {
  const o = open(w.map);
  return lookupFd(o.fd, Buffer.from(w.key, 'hex'), o.value) ? o.value.toString('hex') : null;
}

const pending: { id: number; watches: Watch[]; at: (number | undefined)[] }[] = [];
let stopped = false;
parentPort!.on('message', (req: WatchRequest) => {
  if ('stop' in req) {
    stopped = true;
    for (const o of opened.values()) closeFd(o.fd);
    parentPort!.close();
    return;
  }
  pending.push({ id: req.id, watches: req.watches, at: req.watches.map(() => undefined) });
  if (pending.length === 1) setImmediate(poll);
});

/** One round over every pending watch; again after POLL_MS while any is pending (a turn of the event loop between, so
 * new requests come in). */
function poll(): void {
  if (stopped) return;
  for (let r = pending.length - 1; r >= 0; r--) {
    const req = pending[r]!;
    try {
      req.watches.forEach((w, i) => {
        if (req.at[i] === undefined && read(w) !== w.from) req.at[i] = performance.timeOrigin + performance.now();
      });
    } catch (err) {
      pending.splice(r, 1);
      parentPort!.postMessage({ id: req.id, error: (err as Error).message } satisfies WatchReply);
      continue;
    }
    if (req.at.every((a) => a !== undefined)) {
      pending.splice(r, 1);
      parentPort!.postMessage({ id: req.id, at: req.at as number[] } satisfies WatchReply);
    }
  }
  if (!pending.length) return;
  Atomics.wait(sleeper, 0, 0, POLL_MS);
  setImmediate(poll);
}
