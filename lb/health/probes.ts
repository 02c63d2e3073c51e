// One health probe of one backend: the entry to health checking's I/O (an ICMP echo through the one shared raw socket,
// a TCP connect, an HTTP GET), each on a non-blocking socket read by the one SocketLoop: no process, thread or libuv
// handle per probe.
import type { ErrorCode } from '../../config/errors.js';
import { probePort, probeTimeout } from '../../config/health.js';
import type { HealthCheck } from '../../config/pool.js';
import { parseHttpPath, parseIPv4 } from '../../config/values.js';
import { XlbError } from '../errors.js';
import { connectOnce } from './connect.js';
import { EchoSocket } from './icmp.js';
import { SocketLoop } from './loop.js';

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

/**
 * Probes `address` once with `check`. Resolves `{ ok: false }` for every way the backend can fail (refused, timed out,
 * bad status, no echo reply) and when `signal` aborts; rejects only with a HealthCheckError (a check that cannot
 * run). `port` is the backend's resolved port; `check.port` wins over it. The timeout covers the whole probe.
 */
export const probe: Probe = async (check, address, port, signal) => {
  if (check.type === 'none') return { ok: true, detail: 'no health check' };
  const target = parseIPv4(address);
  if (!target.ok) throw new HealthCheckError('XLB_HEALTH_BAD_ADDRESS', `health check target: ${target.problem}`);
  const timeout = probeTimeout(check);
  if (!timeout.ok) throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `health check timeout: ${timeout.problem}`);
  switch (check.type) {
    case 'icmp':
      return run(check.timeoutMs, signal, (done) => echoes.echo(address, done));
    case 'tcp': {
      const p = portOf(check, port, 'health check');
      return run(check.timeoutMs, signal, (done) => connectOnce(loop, address, p, undefined, done));
    }
    case 'http': {
      const p = portOf(check, port, 'health check');
      const request = { path: pathOf(check), userAgent: USER_AGENT };
      return run(check.timeoutMs, signal, (done) => connectOnce(loop, address, p, request, done));
    }
    default:
      throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `unknown health check type "${(check as HealthCheck).type}"`);
  }
};

/** Starts an attempt and returns its cleanup; the attempt calls `done` once with its result. */
type Attempt = (done: (result: ProbeResult) => void) => () => void;

/** Runs `attempt` under a timeout and an abort signal; the first of result, timeout or abort wins, then cleans up. */
function run(timeoutMs: number, signal: AbortSignal | undefined, attempt: Attempt): Promise<ProbeResult> {
  if (signal?.aborted) return Promise.resolve({ ok: false, detail: 'aborted' });
  return new Promise((resolve, reject) => {
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, detail: 'aborted' });
    const timer = setTimeout(() => finish({ ok: false, detail: `timeout after ${timeoutMs}ms` }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      cleanup = attempt(finish);
    } catch (err) {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
      return;
    }
    if (settled) cleanup(); // the attempt finished synchronously, before its cleanup existed
  });
}
