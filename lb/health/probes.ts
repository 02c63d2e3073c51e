// One health probe of one backend: the only I/O of health checking (ICMP via iputils ping, TCP connect, HTTP GET).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { ErrorCode } from '../../config/errors.js';
import { probePort, probeTimeout } from '../../config/health.js';
import type { HealthCheck } from '../../config/pool.js';
import { parseHttpPath, parseIPv4 } from '../../config/values.js';
import { XlbError } from '../errors.js';

export interface ProbeResult {
  ok: boolean;
  /** What was seen, for logs and `lbctl status`: "HTTP 200", "connect ECONNREFUSED", "timeout after 500ms", ... */
  detail: string;
}

export interface ProbeOptions {
  /**
   * The ping binary (iputils), called as `ping -n -c 1 -W <seconds> -q <address>`.
   * @default 'ping' (looked up in PATH)
   */
  ping?: string;
}

export type Probe = (
  check: HealthCheck,
  address: string,
  port: number | undefined,
  signal?: AbortSignal,
  options?: ProbeOptions,
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
 * bad status, ping without reply) and when `signal` aborts; rejects only with a HealthCheckError (a check that cannot
 * run). `port` is the backend's resolved port; `check.port` wins over it. The timeout covers the whole probe.
 */
export const probe: Probe = async (check, address, port, signal, options = {}) => {
  if (check.type === 'none') return { ok: true, detail: 'no health check' };
  const target = parseIPv4(address);
  if (!target.ok) throw new HealthCheckError('XLB_HEALTH_BAD_ADDRESS', `health check target: ${target.problem}`);
  const timeout = probeTimeout(check);
  if (!timeout.ok) throw new HealthCheckError('XLB_HEALTH_BAD_CHECK', `health check timeout: ${timeout.problem}`);
  switch (check.type) {
    case 'icmp':
      return run(check.timeoutMs, signal, (done) => pingOnce(options.ping ?? 'ping', address, check.timeoutMs, done));
    case 'tcp': {
      const p = portOf(check, port, 'health check');
      return run(check.timeoutMs, signal, (done) => connectOnce(address, p, done));
    }
    case 'http': {
      const p = portOf(check, port, 'health check');
      const path = pathOf(check);
      return run(check.timeoutMs, signal, (done) => getOnce(address, p, path, done));
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

/** "connect ECONNREFUSED", "read ECONNRESET", "HPE_INVALID_CONSTANT: Parse Error: ..." */
function describe(err: NodeJS.ErrnoException): string {
  if (err.syscall !== undefined && err.code !== undefined) return `${err.syscall} ${err.code}`;
  if (err.code !== undefined) return `${err.code}: ${err.message}`;
  return err.message;
}

function pingOnce(bin: string, address: string, timeoutMs: number, done: (r: ProbeResult) => void): () => void {
  // -W takes whole seconds: round up, and let run()'s timer kill the child at timeoutMs for sub-second timeouts.
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const child = spawn(bin, ['-n', '-c', '1', '-W', String(seconds), '-q', address], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 512) stderr += chunk;
  });
  child.on('error', (err) => done({ ok: false, detail: `spawn ${bin}: ${describe(err)}` }));
  child.on('close', (code, signal) => {
    if (code === 0) done({ ok: true, detail: 'echo reply' });
    else if (code === 1) done({ ok: false, detail: 'no echo reply' });
    else {
      const why = stderr.trim().split('\n')[0] ?? '';
      const status = code === null ? `killed by ${signal}` : `exit ${code}`;
      done({ ok: false, detail: why ? `ping ${status}: ${why}` : `ping ${status}` });
    }
  });
  return () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
}

function connectOnce(address: string, port: number, done: (r: ProbeResult) => void): () => void {
  const socket = net.connect({ host: address, port });
  socket.once('connect', () => done({ ok: true, detail: 'connected' }));
  socket.on('error', (err) => done({ ok: false, detail: describe(err) }));
  return () => {
    socket.destroy();
  };
}

function getOnce(address: string, port: number, path: string, done: (r: ProbeResult) => void): () => void {
  const req = http.request({
    host: address,
    port,
    path,
    method: 'GET',
    agent: false,
    headers: { 'User-Agent': USER_AGENT },
  });
  req.once('response', (res) => {
    res.on('error', () => {}); // the body is not wanted: its end, cut short by the cleanup, is no error of ours
    res.resume();
    const status = res.statusCode ?? 0;
    // The status line is the answer; the body is not read (the socket is destroyed by the cleanup).
    done({ ok: status >= 200 && status <= 399, detail: `HTTP ${status}` });
  });
  req.on('error', (err) => done({ ok: false, detail: describe(err) }));
  req.end();
  return () => {
    req.destroy();
  };
}
