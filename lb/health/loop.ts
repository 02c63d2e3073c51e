// The probes' sockets and their one timer: sockets are watched in an epoll set that a timer reads without blocking
// while any socket is watched, so thousands of probes a second cost no libuv handle, no process and no thread each.
// Node cannot watch a raw socket's fd itself; reading on a short tick adds at most TICK_MS to a probe's time.
import { Epoll } from '../bpf/sockets.js';

/** How often the watched sockets are read: a probe's answer is seen at most this late. */
export const TICK_MS = 5;

export type ReadyHandler = (events: number) => void;

/**
 * Sockets watched for readiness, each with its handler. The epoll set and the timer exist only while some socket is
 * watched: an idle loop holds no fd and keeps no process alive.
 */
export class SocketLoop {
  readonly #handlers = new Map<number, ReadyHandler>();
  #epoll: Epoll | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #dispatch = (fd: number, events: number): void => this.#handlers.get(fd)?.(events);

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
  }

  #idle(): void {
    if (this.#handlers.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#epoll?.close();
    this.#epoll = undefined;
  }
}
