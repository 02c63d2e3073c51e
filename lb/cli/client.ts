// A small JSON client for the daemon's control socket (HTTP over a unix socket), typed by the routes of api.ts. An
// edit that outlasts the timeout is cancelled or asked after by its request id, so the answer is always the truth:
// applied, or not applied.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type {
  ApplyResult, BackendChange, BackendRef, ConfigApply, DenyList, ErrorBody, Event, HaStatus, Problem, RequestOutcome, Stats,
  Status, SwitchoverResult,
} from '../control/api.js';
import { CliError, DaemonError } from './errors.js';

/** Each route of the contract: what it takes and what it answers. */
export interface Routes {
  'GET /status': { body: undefined; result: Status };
  'GET /stats': { body: undefined; result: Stats };
  'POST /config': { body: ConfigApply; result: ApplyResult };
  'POST /backends': { body: BackendChange; result: ApplyResult };
  'DELETE /backends': { body: BackendRef; result: ApplyResult };
  'POST /backends/drain': { body: BackendRef; result: ApplyResult };
  'POST /backends/undrain': { body: BackendRef; result: ApplyResult };
  'GET /deny': { body: undefined; result: DenyList };
  'POST /deny': { body: { cidr: string }; result: DenyList };
  'DELETE /deny': { body: { cidr: string }; result: DenyList };
  'POST /detach': { body: undefined; result: { detached: string[] } };
  'GET /ha': { body: undefined; result: HaStatus };
  'POST /ha/switchover': { body: undefined; result: SwitchoverResult };
}
export type Route = keyof Routes;

/** The routes that change the pool: sent with a request id (api.ts "Edits"). */
const EDITS: ReadonlySet<Route> = new Set<Route>([
  'POST /config', 'POST /backends', 'DELETE /backends', 'POST /backends/drain', 'POST /backends/undrain',
  'POST /deny', 'DELETE /deny',
]);

/** How long asking after a timed-out edit may take. */
const ASK_TIMEOUT_MS = 5000;
const ASK_EVERY_MS = 100;

export interface ClientOptions {
  /**
   * How long a request may wait for its answer. An edit not begun by then is cancelled (not applied); one being
   * applied is waited for up to as long again. @default 30000
   */
  timeoutMs?: number;
}

export const DEFAULT_CLIENT_OPTIONS: Required<ClientOptions> = { timeoutMs: 30_000 };

export class ControlClient {
  readonly socketPath: string;
  private readonly options: Required<ClientOptions>;

  constructor(socketPath: string, options: ClientOptions = {}) {
    this.socketPath = socketPath;
    this.options = { ...DEFAULT_CLIENT_OPTIONS, ...options };
  }

  /**
   * One request and its JSON answer; a status >= 400 throws a DaemonError with the daemon's message and problems.
   * An edit that times out is settled by its request id: its result if the daemon applied it, else an error that
   * says it was not applied (or, if the daemon cannot even be asked, that nobody knows).
   */
  async call<R extends Route>(route: R, body: Routes[R]['body']): Promise<Routes[R]['result']> {
    const [method, path] = route.split(' ') as [string, string];
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const id = EDITS.has(route) ? randomUUID() : undefined;
    let res: http.IncomingMessage;
    try {
      res = await this.open(method, path, payload, this.options.timeoutMs, undefined, id);
    } catch (err) {
      if (id !== undefined && err instanceof CliError && err.code === 'XLB_DAEMON_TIMEOUT') {
        return this.settle(id, err) as Promise<Routes[R]['result']>;
      }
      throw err;
    }
    return parseAnswer(route, res.statusCode!, await readAll(res, this.socketPath)) as Routes[R]['result'];
  }

  /** After `timeout`: cancels the edit `id` if it has not begun, waits for it if it has, and reports which. */
  private async settle(id: string, timeout: CliError): Promise<unknown> {
    const ask = async (method: 'GET' | 'DELETE'): Promise<RequestOutcome> => {
      const path = `/requests/${id}`;
      try {
        const res = await this.open(method, path, undefined, ASK_TIMEOUT_MS);
        return parseAnswer(`${method} ${path}`, res.statusCode!, await readAll(res, this.socketPath)) as RequestOutcome;
      } catch (err) {
        throw new CliError('XLB_DAEMON_TIMEOUT', `${timeout.message}, nor whether it made the change ` +
          `(${(err as Error).message}): it may or may not be applied; see lbctl status`, { cause: err });
      }
    };
    let outcome = await ask('DELETE');
    const deadline = Date.now() + this.options.timeoutMs;
    while (outcome.state === 'applying' || outcome.state === 'queued') {
      if (Date.now() > deadline) {
        throw new CliError('XLB_DAEMON_TIMEOUT',
          `${timeout.message}, and was still applying the change after as long again: see lbctl status (request ${id})`);
      }
      await new Promise((r) => setTimeout(r, ASK_EVERY_MS));
      outcome = await ask('GET');
    }
    switch (outcome.state) {
      case 'applied':
        return outcome.result;
      case 'failed': {
        const e = outcome.error;
        const problems = Array.isArray(e?.problems) ? e.problems.filter(isProblem) : [];
        throw new DaemonError(0, e?.code ?? 'XLB_DAEMON_ERROR', e?.error ?? 'the change failed', problems);
      }
      default:
        throw new CliError('XLB_DAEMON_TIMEOUT',
          `${timeout.message}: the change was not applied (it was still queued behind other changes, and is cancelled)`);
    }
  }

  /**
   * GET /events: calls `onEvent` for each NDJSON line as it arrives. Without `follow` it returns when the daemon has
   * sent what it has; with it, when the daemon closes the stream or `signal` aborts (which is not an error).
   */
  async events(follow: boolean, onEvent: (e: Event) => void, signal?: AbortSignal): Promise<void> {
    const path = follow ? '/events?follow=1' : '/events';
    let res: http.IncomingMessage;
    try {
      res = await this.open('GET', path, undefined, follow ? 0 : this.options.timeoutMs, signal);
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    if (res.statusCode! >= 400) throw daemonError(res.statusCode!, await readAll(res, this.socketPath));

    res.setEncoding('utf8');
    let pending = '';
    const take = (line: string): void => {
      if (line.trim() === '') return;
      let event: Event;
      try {
        event = JSON.parse(line) as Event;
      } catch {
        throw new CliError('XLB_BAD_RESPONSE', `the daemon sent an event line that is not JSON: ${clip(line)}`);
      }
      onEvent(event);
    };
    try {
      for await (const chunk of res) {
        pending += chunk as string;
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          take(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
        }
      }
      take(pending);
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof CliError) throw err;
      throw connectionError(err, this.socketPath);
    }
  }

  /** Opens a request and resolves with the response head; connection failures become one clear CliError. */
  private open(
    method: string, path: string, payload: string | undefined, timeoutMs: number, signal?: AbortSignal, id?: string,
  ): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
      if (id !== undefined) headers['x-request-id'] = id;
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      // agent: false: one connection per request, nothing pooled keeps the process alive afterwards.
      const req = http.request({ socketPath: this.socketPath, method, path, headers, agent: false, signal });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => {
          req.destroy(new CliError('XLB_DAEMON_TIMEOUT',
            `the xlb daemon at ${this.socketPath} did not answer ${method} ${path} within ${timeoutMs / 1000}s`));
        });
      }
      req.on('response', (res) => {
        // From here on the body's reader owns timeouts and errors.
        req.setTimeout(0);
        resolve(res);
      });
      req.on('error', (err) => reject(err instanceof CliError ? err : connectionError(err, this.socketPath)));
      req.end(payload);
    });
  }
}

/** An answer's JSON, or the DaemonError its error status carries. */
function parseAnswer(route: string, status: number, text: string): unknown {
  if (status >= 400) throw daemonError(status, text);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError('XLB_BAD_RESPONSE', `the daemon answered ${route} with something that is not JSON: ${clip(text)}`);
  }
}

/** Reads a whole body as text. */
async function readAll(res: http.IncomingMessage, socketPath: string): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  try {
    for await (const chunk of res) text += chunk as string;
  } catch (err) {
    throw connectionError(err, socketPath);
  }
  return text;
}

/** An error status: the ErrorBody's message, code and problems when the body is one, else the status and the text. */
function daemonError(status: number, text: string): CliError {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<ErrorBody>;
  } catch {
    body = undefined;
  }
  if (body && typeof body.error === 'string') {
    const problems = Array.isArray(body.problems) ? body.problems.filter(isProblem) : [];
    return new DaemonError(status, typeof body.code === 'string' ? body.code : 'XLB_DAEMON_ERROR', body.error, problems);
  }
  return new CliError('XLB_DAEMON_ERROR', `the daemon answered HTTP ${status}${text.trim() ? `: ${clip(text)}` : ''}`);
}

function isProblem(p: unknown): p is Problem {
  return typeof p === 'object' && p !== null && typeof (p as Problem).message === 'string';
}

/** Turns a socket error into the one line an operator needs: what is wrong with which socket, and what to do. */
export function connectionError(err: unknown, socketPath: string): CliError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new CliError('XLB_NO_DAEMON',
        `no xlb daemon at ${socketPath} (${code}): start one with lbctl daemon -c FILE, or pass --socket`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new CliError('XLB_SOCKET_PERMISSION',
        `not allowed to open ${socketPath} (${code}): the control socket is mode 0600; run lbctl as the daemon's user (e.g. with sudo)`,
        { cause: err });
    case 'ENOTSOCK':
      return new CliError('XLB_NO_DAEMON',
        `${socketPath} is not a socket (${code}): pass the daemon's control socket with --socket`, { cause: err });
    default: {
      const message = err instanceof Error ? err.message : String(err);
      return new CliError('XLB_CONNECTION_FAILED',
        `the connection to the xlb daemon at ${socketPath} failed${code ? ` (${code})` : ''}: ${message}`, { cause: err });
    }
  }
}

function clip(text: string): string {
  const one = text.trim().replace(/\s+/g, ' ');
  return one.length > 200 ? `${one.slice(0, 200)}...` : one;
}
