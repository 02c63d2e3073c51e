// The tcp and http probes' connections: a non-blocking socket per probe, watched by the SocketLoop, closed as any
// client closes (a FIN, not a reset a naive server may take for an error). tcp: the connect's outcome. http: then a
// GET, decided on the status line.
import os from 'node:os';
import { errnoName } from '../bpf/errors.js';
import { closeSocket, connectTo, READY, receive, sendTo, socketError, tcpSocket } from '../bpf/sockets.js';
import type { SocketLoop } from './loop.js';
import type { ProbeResult } from './probes.js';
import { readStatusLine } from './status-line.js';

const { EAGAIN, EINPROGRESS } = os.constants.errno;

/** A probe's answer is read in pieces of this size; the status line must come within HEAD_LIMIT bytes. */
const READ_BYTES = 1024;
const scratch = Buffer.alloc(READ_BYTES);

const CONNECTED: ProbeResult = Object.freeze({ ok: true, detail: 'connected' });
/** The result of each status seen so far: the same few statuses come back every second. */
const statusResults = new Map<number, ProbeResult>();

function statusResult(status: number): ProbeResult {
  let result = statusResults.get(status);
  if (result === undefined) {
    result = Object.freeze({ ok: status >= 200 && status <= 399, detail: `HTTP ${status}` });
    statusResults.set(status, result);
  }
  return result;
}

/**
 * Connects to `to` (a sockaddr_in); with an http `request` (its bytes), then sends it and reads up to the status line.
 * Calls `done` once with the result: "connected", "HTTP 200", "connect ECONNREFUSED", ... Returns the cleanup, which
 * closes the socket.
 */
export function connectOnce(
  loop: SocketLoop, to: Buffer, http: Buffer | undefined, done: (r: ProbeResult) => void,
): () => void {
  const fd = tcpSocket();
  if (fd < 0) {
    done({ ok: false, detail: `socket ${errnoName(-fd)}` });
    return () => {};
  }
  let watched = false;
  const cleanup = (): void => {
    if (watched) loop.unwatch(fd);
    closeSocket(fd);
  };
  const fail = (syscall: string, errno: number): void => done({ ok: false, detail: `${syscall} ${errnoName(errno)}` });

  /** The request's bytes not sent yet; undefined once all are (or for tcp). */
  let request: Buffer | undefined;
  let head = '';
  const connected = (): void => {
    if (!http) {
      done(CONNECTED);
      return;
    }
    request = http;
    write();
  };
  const write = (): void => {
    const n = sendTo(fd, request!, request!.length, null);
    if (n === -EAGAIN) return; // the socket is watched for room (READY.OUT): the rest goes then
    if (n < 0) return fail('write', -n);
    request = request!.subarray(n);
    if (request.length > 0) return;
    request = undefined;
    const err = loop.modify(fd, READY.IN);
    if (err < 0) fail('epoll_ctl', -err);
  };
  const read = (): void => {
    const n = receive(fd, scratch);
    if (n === -EAGAIN) return;
    if (n < 0) return fail('read', -n);
    if (n === 0) return done({ ok: false, detail: 'connection closed before an HTTP status line' });
    head += scratch.toString('latin1', 0, n);
    const status = readStatusLine(head);
    if (status === undefined) return;
    if (typeof status === 'string') return done({ ok: false, detail: status });
    done(statusResult(status));
  };

  let connecting = true;
  const onReady = (events: number): void => {
    if (connecting) {
      const err = socketError(fd);
      if (err !== 0) return fail('connect', err);
      if ((events & READY.OUT) === 0) return;
      connecting = false;
      connected();
    } else if (request !== undefined) {
      write();
    } else {
      read();
    }
  };

  const started = connectTo(fd, to);
  if (started === 0) {
    connecting = false;
    if (!http) {
      connected();
      return cleanup;
    }
  } else if (started !== -EINPROGRESS) {
    fail('connect', -started);
    return cleanup;
  }
  const err = loop.watch(fd, READY.OUT, onReady);
  if (err < 0) {
    fail('epoll_ctl', -err);
    return cleanup;
  }
  watched = true;
  if (!connecting) connected();
  return cleanup;
}
