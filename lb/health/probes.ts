// One health probe of one backend: the entry to health checking's I/O (an ICMP echo through the one shared raw socket,
// a TCP connect, an HTTP GET), each on a non-blocking socket read by the one SocketLoop: no process, thread or libuv
// handle per probe.
import type { ErrorCode } from '../../config/errors.js';
import { probePort, probeTimeout } from '../../config/health.js';
import type { HealthCheck } from '../../config/pool.js';
import { parseHttpPath, parseIPv4 } from '../../config/values.js';
import { XlbError } from '../errors.js';
import { sockaddrIn } from '../bpf/sockets.js';
import { connectOnce } from './connect.js';
import { ipv4Number } from './echo.js';
import { EchoSocket } from './icmp.js';
import { SocketLoop, type Attempt } from './loop.js';

export interface ProbeResult {
  ok: boolean;
  /** What was seen, for logs and `lbctl status`: "HTTP 200", "connect ECONNREFUSED", "timeout after 500ms", ... */
  detail: string;
}

export type Probe = (
  check: HealthCheck,
  address: string,
  port: number | undefined,
  signal?: AbortSignal,
) => Promise<ProbeResult>;

export type HealthCheckErrorCode = Extract<
  ErrorCode, 'XLB_HEALTH_NO_PORT' | 'XLB_HEALTH_BAD_ADDRESS' | 'XLB_HEALTH_BAD_CHECK' | 'XLB_HEALTH_DUPLICATE_TARGET'
>;

/**
 * A health check that cannot be run as given: a programming or validation error, never a backend failure (those are
 * `{ ok: false }` results). Its codes are in the catalog (config/errors.ts).
 */
export class HealthCheckError extends XlbError {
  constructor(override readonly code: HealthCheckErrorCode, message: string) {
    super(code, message);
    this.name = 'HealthCheckError';
  }
}

const USER_AGENT = 'xlb-health';

/** Every probe's sockets are read by this loop; every ICMP probe goes through this socket. */
const loop = new SocketLoop();
const echoes = new EchoSocket(loop);

/** What the probes hold now, for tests and the curious: sockets watched, echo requests outstanding. */
export function probeSockets(): { watched: number; echoes: number } {
  return { watched: loop.watched, echoes: echoes.outstanding };
}

/** The port a tcp/http check connects to: `check.port`, else the backend's. `what` begins the message. */
export function portOf(check: HealthCheck, backendPort: number | undefined, what: string): number {
  const port = probePort(check, backendPort);
  if (!port.ok) throw new HealthCheckError('XLB_HEALTH_NO_PORT', `${what}: ${port.problem}`);
  return port.value;
}

/** The path an http check requests (default "/"), judged as config check judges `path:`. */
function pathOf(check: HealthCheck): string {
  const path = parseHttpPath(check.path ?? '/');
  if (!path.ok) throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `health check path: ${path.problem}`);
  return path.value;
}

/** What a probe of one check and one backend runs with, judged once (see judgedFor). */
interface Judged {
  type: HealthCheck['type'];
  timeoutMs: number;
  checkPort: number | undefined;
  path: string | undefined;
  address: string;
  port: number | undefined;
  attempt: Attempt;
}

/**
 * Judgements by check object: the checker hands each target's own check to every probe of it, so a check is judged
 * (and its packets' addresses and request encoded) once, not every second. A check whose fields, address or port
 * differ from what was judged is judged again.
 */
const judged = new WeakMap<HealthCheck, Judged>();

function judgedFor(check: HealthCheck, address: string, port: number | undefined): Judged {
  const j = judged.get(check);
  if (j !== undefined && j.type === check.type && j.timeoutMs === check.timeoutMs && j.checkPort === check.port &&
    j.path === check.path && j.address === address && j.port === port) {
    return j;
  }
  const fresh = judge(check, address, port);
  judged.set(check, fresh);
  return fresh;
}

/** @throws HealthCheckError */
function judge(check: HealthCheck, address: string, port: number | undefined): Judged {
  const target = parseIPv4(address);
  if (!target.ok) throw new HealthCheckError('XLB_HEALTH_BAD_ADDRESS', `health check target: ${target.problem}`);
  const timeout = probeTimeout(check);
  if (!timeout.ok) throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `health check timeout: ${timeout.problem}`);
  const base = { type: check.type, timeoutMs: check.timeoutMs, checkPort: check.port, path: check.path, address, port };
  switch (check.type) {
    case 'icmp': {
      const to = ipv4Number(address);
      return { ...base, attempt: (done) => echoes.echo(to, done) };
    }
    case 'tcp': {
      const to = sockaddrIn(address, portOf(check, port, 'health check'));
      return { ...base, attempt: (done) => connectOnce(loop, to, undefined, done) };
    }
    case 'http': {
      const p = portOf(check, port, 'health check');
      const to = sockaddrIn(address, p);
      const request = Buffer.from(`GET ${pathOf(check)} HTTP/1.1\r\nHost: ${address}:${p}\r\nUser-Agent: ${USER_AGENT}\r\n` +
        'Connection: close\r\n\r\n', 'latin1');
      return { ...base, attempt: (done) => connectOnce(loop, to, request, done) };
    }
    default:
      throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `unknown health check type "${(check as HealthCheck).type}"`);
  }
}

const NO_CHECK: ProbeResult = Object.freeze({ ok: true, detail: 'no health check' });

/**
 * Probes `address` once with `check`. Resolves `{ ok: false }` for every way the backend can fail (refused, timed out,
 * bad status, no echo reply) and when `signal` aborts; rejects only with a HealthCheckError (a check that cannot
 * run). `port` is the backend's resolved port; `check.port` wins over it. The timeout covers the whole probe.
 */
export const probe: Probe = (check, address, port, signal) => {
  if (check.type === 'none') return Promise.resolve(NO_CHECK);
  let j: Judged;
  try {
    j = judgedFor(check, address, port);
  } catch (err) {
    return Promise.reject(err);
  }
  return loop.run(j.timeoutMs, signal, j.attempt);
};
