// IPv4 sockets through libc, for the health probes: non-blocking raw ICMP and TCP sockets, their options, and an epoll
// set read without blocking, so one timer can serve thousands of probes and no probe needs a process or a libuv handle.
// Calls on a probe's path return a negative errno instead of throwing; setting up the shared ICMP socket throws.
import os from 'node:os';
import { c, EPOLL, errno, SOCK } from './ffi.js';
import { BpfError, lastErrno } from './errors.js';

const { EAGAIN, EBADF, EINVAL } = os.constants.errno;

/** What epoll reports of a socket (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
export const READY = { IN: EPOLL.IN, OUT: EPOLL.OUT, ERR: EPOLL.ERR, HUP: EPOLL.HUP } as const;

/** A struct sockaddr_in for `address` (dotted quad, already validated) and `port`. */
export function sockaddrIn(address: string, port = 0): Buffer {
  const sa = Buffer.alloc(SOCK.SOCKADDR_IN_SIZE);
  sa.writeUInt16LE(SOCK.AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  let o = 4;
  for (const part of address.split('.')) sa[o++] = Number(part);
  return sa;
}

/** -errno of the call that just failed. */
function failed(fallback: number): number {
  return -(errno() || fallback);
}

/** A non-blocking raw ICMP socket (needs CAP_NET_RAW) that receives only the ICMP types in `allowedTypes`. */
export function openIcmpSocket(allowedTypes: readonly number[], bufferBytes: number): number {
  const fd = c.socket(SOCK.AF_INET, SOCK.RAW | SOCK.NONBLOCK | SOCK.CLOEXEC, SOCK.IPPROTO_ICMP);
  if (fd < 0) throw new BpfError('socket', lastErrno(EINVAL), { object: 'raw ICMP' });
  try {
    const filter = Buffer.alloc(4);
    filter.writeUInt32LE(allowedTypes.reduce((mask, type) => mask & ~(1 << type), 0xffffffff) >>> 0);
    if (c.setsockopt(fd, SOCK.SOL_RAW, SOCK.ICMP_FILTER, filter, 4) < 0) {
      throw new BpfError('setsockopt', lastErrno(EINVAL), { object: 'ICMP_FILTER' });
    }
    // Room for a burst of replies and for echo requests that wait on a neighbour being resolved. The FORCE options
    // pass the system's limits (with CAP_NET_ADMIN); without it, the limits apply.
    setBuffer(fd, SOCK.SO_RCVBUFFORCE, SOCK.SO_RCVBUF, bufferBytes);
    setBuffer(fd, SOCK.SO_SNDBUFFORCE, SOCK.SO_SNDBUF, bufferBytes);
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

function setBuffer(fd: number, force: number, plain: number, bytes: number): void {
  const value = Buffer.alloc(4);
  value.writeInt32LE(bytes);
  if (c.setsockopt(fd, SOCK.SOL_SOCKET, force, value, 4) === 0) return;
  if (c.setsockopt(fd, SOCK.SOL_SOCKET, plain, value, 4) < 0) {
    throw new BpfError('setsockopt', lastErrno(EINVAL), { object: plain === SOCK.SO_RCVBUF ? 'SO_RCVBUF' : 'SO_SNDBUF' });
  }
}

/** A non-blocking TCP socket; -errno on failure. */
export function tcpSocket(): number {
  const fd = c.socket(SOCK.AF_INET, SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC, 0);
  return fd < 0 ? failed(EINVAL) : fd;
}

/** connect(2): 0, or -errno (-EINPROGRESS while a non-blocking connect is under way). */
export function connectTo(fd: number, sockaddr: Buffer): number {
  return c.connect(fd, sockaddr, sockaddr.length) === 0 ? 0 : failed(EINVAL);
}

const soError = Buffer.alloc(4);

/** The socket's pending error (SO_ERROR; reading clears it): 0 for a connect that succeeded, else its errno. */
export function socketError(fd: number): number {
  if (c.getsockopt(fd, SOCK.SOL_SOCKET, SOCK.SO_ERROR, soError, [4]) < 0) return errno() || EBADF;
  return soError.readInt32LE(0);
}

/** sendto(2) of `length` bytes of `buf` (to `sockaddr`, or on a connected socket to its peer): bytes sent or -errno. */
export function sendTo(fd: number, buf: Buffer, length: number, sockaddr: Buffer | null): number {
  const n = c.sendto(fd, buf, length, SOCK.MSG_DONTWAIT | SOCK.MSG_NOSIGNAL, sockaddr, sockaddr?.length ?? 0);
  return n >= 0 ? n : failed(EINVAL);
}

/** recv(2) into `buf`: bytes read (0: the peer closed), or -errno (-EAGAIN: nothing waiting). */
export function receive(fd: number, buf: Buffer): number {
  const n = c.recv(fd, buf, buf.length, SOCK.MSG_DONTWAIT);
  return n >= 0 ? n : failed(EAGAIN);
}

/** close(2), for a socket this process opened; a failure is a bug (EBADF) and throws. */
export function closeSocket(fd: number): void {
  if (c.close(fd) < 0) throw new BpfError('close', lastErrno(EBADF), { object: `fd ${fd}` });
}

/** An epoll set of sockets, read without waiting: wait() reports the sockets ready now. */
export class Epoll {
  readonly fd: number;
  /** The most sockets one wait() reports (more come at the next). */
  readonly max: number;
  readonly #event = Buffer.alloc(EPOLL.EVENT_SIZE);
  readonly #events: Buffer;
  #closed = false;

  constructor(max = 256) {
    const fd = c.epoll_create1(EPOLL.CLOEXEC);
    if (fd < 0) throw new BpfError('epoll_create1', lastErrno(EINVAL));
    this.fd = fd;
    this.max = max;
    this.#events = Buffer.alloc(EPOLL.EVENT_SIZE * max);
  }

  /** Watches `fd` for `events` (READY.IN, READY.OUT; errors and hang-ups always): 0 or -errno. */
  add(fd: number, events: number): number {
    return this.#ctl(EPOLL.CTL_ADD, fd, events);
  }

  modify(fd: number, events: number): number {
    return this.#ctl(EPOLL.CTL_MOD, fd, events);
  }

  /** Stops watching `fd` (closing it does that too). */
  remove(fd: number): number {
    return c.epoll_ctl(this.fd, EPOLL.CTL_DEL, fd, null) === 0 ? 0 : failed(EBADF);
  }

  #ctl(op: number, fd: number, events: number): number {
    this.#event.writeUInt32LE(events, 0);
    this.#event.writeUInt32LE(fd, EPOLL.DATA_OFFSET);
    this.#event.writeUInt32LE(0, EPOLL.DATA_OFFSET + 4);
    return c.epoll_ctl(this.fd, op, fd, this.#event) === 0 ? 0 : failed(EINVAL);
  }

  /** Calls `ready(fd, events)` for each socket ready now (at most `max`); returns how many. Never waits. */
  wait(ready: (fd: number, events: number) => void): number {
    if (this.#closed) throw new BpfError('epoll_wait', EBADF, { detail: 'the epoll set is closed' });
    const n = c.epoll_wait(this.fd, this.#events, this.max, 0);
    if (n < 0) {
      const err = lastErrno(EINVAL);
      if (err === os.constants.errno.EINTR) return 0;
      throw new BpfError('epoll_wait', err);
    }
    for (let i = 0; i < n; i++) {
      const at = i * EPOLL.EVENT_SIZE;
      ready(this.#events.readUInt32LE(at + EPOLL.DATA_OFFSET), this.#events.readUInt32LE(at));
    }
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSocket(this.fd);
  }
}
