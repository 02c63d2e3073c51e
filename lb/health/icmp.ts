// The ICMP probe's socket: echo requests through one raw ICMP socket shared by every ICMP check of the process, each
// request with its own sequence number under the socket's identifier and cookie; replies, and ICMP errors quoting a
// request, go to their probe. The socket is open while an echo is outstanding, read by the SocketLoop.
import { randomBytes, randomInt } from 'node:crypto';
import { errnoName } from '../bpf/errors.js';
import { closeSocket, openIcmpSocket, READY, receive, sendTo, sockaddrIn } from '../bpf/sockets.js';
import { COOKIE_BYTES, ipv4String, PROBE_TYPES, readReceived, REQUEST_BYTES, writeEchoRequest } from './echo.js';
import type { SocketLoop } from './loop.js';
import type { ProbeResult } from './probes.js';

/** Receive and send buffers (the kernel doubles them): the replies of a busy moment of the event loop, at thousands of
 * backends, and the requests waiting for a neighbour to be resolved. */
const BUFFER_BYTES = 4 << 20;
/** Sequence numbers are 16 bits: at most this many echoes are outstanding at once. */
const MAX_OUTSTANDING = 0xffff;
/** Packets read per readiness, at most: the rest wait for the next tick. */
const READS_PER_TICK = 4096;

const ECHO_REPLY: ProbeResult = Object.freeze({ ok: true, detail: 'echo reply' });

interface Outstanding {
  target: number;
  done: (result: ProbeResult) => void;
}

export class EchoSocket {
  #fd = -1;
  #id = 0;
  #cookie = Buffer.alloc(COOKIE_BYTES);
  #seq = 0;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #request = Buffer.alloc(REQUEST_BYTES);
  readonly #packet = Buffer.alloc(2048);
  readonly #to = sockaddrIn('0.0.0.0');
  readonly #read = (): void => this.#receive();

  constructor(private readonly loop: SocketLoop) {}

  /** Echo requests waiting for their answer. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /**
   * Sends one echo request to `target` (an IPv4 address as a number, see echo.ts). `done` gets "echo reply", an ICMP
   * error quoting the request ("no echo reply: host unreachable from 198.18.1.1"), or why none could be sent; the
   * returned cleanup forgets the request (a later answer is ignored), and closes the socket when it was the last.
   */
  echo(target: number, done: (result: ProbeResult) => void): () => void {
    const problem = this.#fd < 0 ? this.#open() : this.#outstanding.size >= MAX_OUTSTANDING ? 'too many echo requests outstanding' : undefined;
    if (problem !== undefined) {
      done({ ok: false, detail: problem });
      return () => {};
    }
    do this.#seq = (this.#seq + 1) & 0xffff;
    while (this.#outstanding.has(this.#seq));
    const seq = this.#seq;
    const entry: Outstanding = { target, done };
    this.#outstanding.set(seq, entry);
    writeEchoRequest(this.#request, this.#id, seq, this.#cookie);
    this.#to.writeUInt32BE(entry.target, 4);
    const sent = sendTo(this.#fd, this.#request, REQUEST_BYTES, this.#to);
    if (sent < 0) done({ ok: false, detail: `sendto ${errnoName(-sent)}` });
    return () => this.#forget(seq, entry);
  }

  /** Opens the socket; returns why it could not. */
  #open(): string | undefined {
    let fd: number;
    try {
      fd = openIcmpSocket(PROBE_TYPES, BUFFER_BYTES);
    } catch (err) {
      return (err as Error).message;
    }
    const err = this.loop.watch(fd, READY.IN, this.#read);
    if (err < 0) {
      closeSocket(fd);
      return `epoll_ctl ${errnoName(-err)}`;
    }
    this.#fd = fd;
    // A fresh identifier and cookie: answers to an earlier socket's requests are not taken for this one's.
    this.#id = randomInt(0x10000);
    this.#cookie = randomBytes(COOKIE_BYTES);
    return undefined;
  }

  #forget(seq: number, entry: Outstanding): void {
    if (this.#outstanding.get(seq) === entry) this.#outstanding.delete(seq);
    if (this.#outstanding.size > 0 || this.#fd < 0) return;
    this.loop.unwatch(this.#fd);
    closeSocket(this.#fd);
    this.#fd = -1;
  }

  #receive(): void {
    // A probe's done() may close the socket (it was the last): stop then.
    for (let i = 0; i < READS_PER_TICK && this.#fd >= 0; i++) {
      const n = receive(this.#fd, this.#packet);
      if (n < 0) return;
      const got = readReceived(this.#packet, n, this.#id, this.#cookie);
      if (got === undefined) continue;
      const entry = this.#outstanding.get(got.seq);
      if (entry === undefined) continue;
      if (got.kind === 'reply') {
        if (got.from === entry.target) entry.done(ECHO_REPLY);
      } else if (got.to === entry.target) {
        entry.done({ ok: false, detail: `no echo reply: ${got.what} from ${ipv4String(got.from)}` });
      }
    }
  }
}
