// The probes' sockets, deadlines and aborts, and their one timer: sockets are watched in an epoll set that a timer
// reads without blocking, and the same tick ends the probes whose time is up or whose signal aborted, so thousands of
// probes a second cost no libuv handle, timer, listener, process or thread each. Node cannot watch a raw socket's fd
// itself; reading on a short tick adds at most TICK_MS to a probe's time.
import { Epoll } from '../bpf/sockets.js';
import type { ProbeResult } from './probes.js';

/** How often the watched sockets are read, and deadlines and aborts looked at. */
export const TICK_MS = 5;

export type ReadyHandler = (events: number) => void;

/** Starts an attempt and returns its cleanup; the attempt calls `done` once with its result. */
export type Attempt = (done: (result: ProbeResult) => void) => () => void;

const ABORTED: ProbeResult = Object.freeze({ ok: false, detail: 'aborted' });

interface Pending {
  deadline: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  finish(result: ProbeResult): void;
}

/**
 * Sockets watched for readiness, each with its handler, and the attempts under way. The epoll set exists only while
 * some socket is watched, the timer only while something is watched or under way: an idle loop holds no fd and keeps
 * no process alive.
 */
export class SocketLoop {
  readonly #handlers = new Map<number, ReadyHandler>();
  readonly #pending = new Set<Pending>();
  #epoll: Epoll | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #dispatch = (fd: number, events: number): void => this.#handlers.get(fd)?.(events);

  /**
   * Runs `attempt` until it calls done, `timeoutMs` pass ("timeout after 300ms") or `signal` aborts ("aborted"),
   * whichever comes first; then cleans it up. Time and signal are looked at on each tick.
   */
  run(timeoutMs: number, signal: AbortSignal | undefined, attempt: Attempt): Promise<ProbeResult> {
    if (signal?.aborted) return Promise.resolve(ABORTED);
    return new Promise((resolve, reject) => {
      let cleanup: (() => void) | undefined;
      let settled = false;
      const pending: Pending = {
        deadline: performance.now() + timeoutMs,
        timeoutMs,
        signal,
        finish: (result) => {
          if (settled) return;
          settled = true;
          this.#pending.delete(pending);
          cleanup?.();
          this.#idle();
          resolve(result);
        },
      };
      this.#pending.add(pending);
      this.#timer ??= setInterval(() => this.#tick(), TICK_MS);
      try {
        cleanup = attempt(pending.finish);
      } catch (err) {
        settled = true;
        this.#pending.delete(pending);
        this.#idle();
        reject(err);
        return;
      }
      if (settled) cleanup(); // the attempt finished synchronously, before its cleanup existed
    });
  }

  /** Calls `handler` with the events (READY.*) each time `fd` is ready for `events`; 0 or -errno. */
  watch(fd: number, events: number, handler: ReadyHandler): number {
    this.#epoll ??= new Epoll();
    const err = this.#epoll.add(fd, events);
    if (err < 0) {
      this.#idle();
      return err;
    }
    this.#handlers.set(fd, handler);
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS);
    return 0;
  }

  /** Changes what `fd` is watched for; 0 or -errno. */
  modify(fd: number, events: number): number {
    return this.#epoll?.modify(fd, events) ?? 0;
  }

  /** Stops watching `fd` (call before closing it: its number may be reused at once). */
  unwatch(fd: number): void {
    if (!this.#handlers.delete(fd)) return;
    this.#epoll!.remove(fd);
    this.#idle();
  }

  /** Sockets watched now. */
  get watched(): number {
    return this.#handlers.size;
  }

  #tick(): void {
    // A full batch may leave more behind: read again, a bounded number of times, before the next tick.
    for (let i = 0; i < 16; i++) {
      const epoll = this.#epoll;
      // A handler may stop watching the last socket, which closes the set.
      if (epoll === undefined || epoll.wait(this.#dispatch) < epoll.max || this.#epoll !== epoll) break;
    }
    const now = performance.now();
    for (const p of this.#pending) {
      if (p.signal?.aborted) p.finish(ABORTED);
      else if (now >= p.deadline) p.finish({ ok: false, detail: `timeout after ${p.timeoutMs}ms` });
    }
  }

  #idle(): void {
    if (this.#handlers.size === 0 && this.#epoll !== undefined) {
      this.#epoll.close();
      this.#epoll = undefined;
    }
    if (this.#handlers.size === 0 && this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
