// The control socket: HTTP + JSON over a unix socket only root can open (0600). Routes and shapes: ./api.ts.
import { chmodSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { MAX_CONFIG_BYTES } from '../../config/limits.js';
import {
  parseCidr, parseHostAddress, parsePort, parseServiceName, parseWeight, type Checked,
} from '../../config/values.js';
import { makeDirectories } from '../dirs.js';
import { errorCode, XlbError } from '../errors.js';
import { HttpServer } from '../http.js';
import type {
  ApplyResult, BackendChange, BackendRef, ConfigApply, DenyList, ErrorBody, Event, HaStatus, Stats, Status, SwitchoverResult,
} from './api.js';
import { RequestLog, type Edit } from './requests.js';

/**
 * What the daemon does for each route. An edit gets its Edit: the daemon calls edit.begin() when the edit's turn in
 * its queue comes, which throws (and nothing is applied) if the edit was cancelled while it waited.
 */
export interface ControlHandlers {
  status(): Status;
  stats(): Stats;
  applyConfig(body: ConfigApply, edit: Edit): Promise<ApplyResult>;
  addBackend(change: BackendChange, edit: Edit): Promise<ApplyResult>;
  removeBackend(ref: BackendRef, edit: Edit): Promise<ApplyResult>;
  setDrained(ref: BackendRef, drained: boolean, edit: Edit): Promise<ApplyResult>;
  deny(): DenyList;
  addDeny(cidr: string, edit: Edit): Promise<DenyList>;
  removeDeny(cidr: string, edit: Edit): Promise<DenyList>;
  /** Recent events, oldest first. */
  recentEvents(): Event[];
  /** Calls `listener` for every new event until the returned function is called; `stream` is ended at shutdown. */
  subscribe(listener: (e: Event) => void, stream: NodeJS.WritableStream): () => void;
  detach(): Promise<{ detached: string[] }>;
  /** @throws XlbError XLB_NO_HA */
  ha(): HaStatus;
  /** @throws XlbError XLB_NO_HA, XLB_SWITCHOVER_REFUSED */
  switchover(): Promise<SwitchoverResult>;
}

/**
 * The largest request: a config of MAX_CONFIG_BYTES as a JSON string (escaping at most doubles YAML text, whose only
 * characters JSON escapes are newlines, tabs, quotes and backslashes), and room for the rest of the body.
 */
export const MAX_BODY = 2 * MAX_CONFIG_BYTES + (64 << 10);
const FOLLOW_BUFFER = 1 << 20;
/** Slow clients: the headers within 10 s, a whole request (a config of MAX_BODY) within 60 s. */
const LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 };
/** How long a stop waits for answers under way before it ends their connections. */
export const CLOSE_GRACE_MS = 2000;

function tooLarge(size: string): XlbError {
  return new XlbError('XLB_BAD_REQUEST', `the request body is ${size} bytes, over the control socket's limit of ` +
    `${MAX_BODY} bytes; a config may be at most ${MAX_CONFIG_BYTES} bytes (16 MiB)`);
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY) throw tooLarge(String(declared));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw tooLarge(`over ${MAX_BODY}`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new XlbError('XLB_BAD_REQUEST', `request body is not a JSON object: ${(err as Error).message}`);
  }
}

/** The field `key` of a request, judged by the rule config check applies to the same value. */
function field<T>(b: Record<string, unknown>, key: string, parse: (v: unknown) => Checked<T>): T {
  if (b[key] === undefined) throw new XlbError('XLB_BAD_REQUEST', `${key}: required`);
  const r = parse(b[key]);
  if (!r.ok) throw new XlbError('XLB_BAD_REQUEST', `${key}: ${r.problem}`);
  return r.value;
}

function optional<T>(b: Record<string, unknown>, key: string, parse: (v: unknown) => Checked<T>): T | undefined {
  return b[key] === undefined ? undefined : field(b, key, parse);
}

function backendRef(b: Record<string, unknown>): BackendRef {
  const ref: BackendRef = { service: field(b, 'service', parseServiceName), address: field(b, 'address', parseHostAddress) };
  const port = optional(b, 'port', parsePort);
  if (port !== undefined) ref.port = port;
  return ref;
}

function configText(b: Record<string, unknown>): string {
  if (typeof b.yaml !== 'string') throw new XlbError('XLB_BAD_REQUEST', 'yaml: required: the config file\'s text, as a string');
  return b.yaml;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<unknown> | unknown;
type EditRoute = (req: IncomingMessage, edit: Edit) => Promise<ApplyResult | DenyList>;

/** The id in /requests/ID. */
function requestIdOf(url: URL): string {
  const raw = url.pathname.slice('/requests/'.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new XlbError('XLB_BAD_REQUEST', `${JSON.stringify(raw.slice(0, 80))} is not a request id`);
  }
}

function errorBody(err: unknown): { status: number; body: ErrorBody } {
  const body: ErrorBody = { error: err instanceof Error ? err.message : String(err), code: errorCode(err) };
  if (err instanceof XlbError && err.problems.length > 0) body.problems = err.problems;
  return { status: err instanceof XlbError ? err.status : 500, body };
}

function editRoutes(h: ControlHandlers): Record<string, EditRoute> {
  return {
    'POST /config': async (req, edit) => {
      const b = await body(req);
      const apply: ConfigApply = { yaml: configText(b) };
      if (typeof b.source === 'string') apply.source = b.source;
      return h.applyConfig(apply, edit);
    },
    'POST /backends': async (req, edit) => {
      const b = await body(req);
      const change: BackendChange = backendRef(b);
      const weight = optional(b, 'weight', parseWeight);
      if (weight !== undefined) change.weight = weight;
      return h.addBackend(change, edit);
    },
    'DELETE /backends': async (req, edit) => h.removeBackend(backendRef(await body(req)), edit),
    'POST /backends/drain': async (req, edit) => h.setDrained(backendRef(await body(req)), true, edit),
    'POST /backends/undrain': async (req, edit) => h.setDrained(backendRef(await body(req)), false, edit),
    'POST /deny': async (req, edit) => h.addDeny(field(await body(req), 'cidr', parseCidr), edit),
    'DELETE /deny': async (req, edit) => h.removeDeny(field(await body(req), 'cidr', parseCidr), edit),
  };
}

/**
 * An edit route with its Edit: opened from the x-request-id header, dropped if the client goes away before its turn,
 * its outcome recorded for GET /requests/ID.
 */
function withEdit(route: EditRoute, requests: RequestLog): Route {
  return async (req, res) => {
    const header = req.headers['x-request-id'];
    const edit = requests.open(Array.isArray(header) ? header.join(',') : header);
    // cancel() drops the edit only while it is queued: a finished or begun one stays as it is.
    if (res.closed || req.socket.destroyed) edit.cancel();
    else res.once('close', () => edit.cancel());
    try {
      const result = await route(req, edit);
      edit.succeed(result);
      return result;
    } catch (err) {
      edit.fail(errorBody(err).body);
      throw err;
    }
  };
}

function routes(h: ControlHandlers, requests: RequestLog): Record<string, Route> {
  const edits = Object.fromEntries(Object.entries(editRoutes(h)).map(([k, r]) => [k, withEdit(r, requests)]));
  return {
    ...edits,
    'GET /status': () => h.status(),
    'GET /stats': () => h.stats(),
    'GET /deny': () => h.deny(),
    'POST /detach': () => h.detach(),
    'GET /ha': () => h.ha(),
    'POST /ha/switchover': () => h.switchover(),
    'GET /requests/': (_req, _res, url) => requests.get(requestIdOf(url)),
    'DELETE /requests/': (_req, _res, url) => requests.cancel(requestIdOf(url)),
    'GET /events': (_req, res, url) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const e of h.recentEvents()) res.write(`${JSON.stringify(e)}\n`);
      if (url.searchParams.get('follow') !== '1') {
        res.end();
        return undefined;
      }
      // A follower that does not read (a paused pager) loses events rather than growing the daemon's memory.
      const stop = h.subscribe((e) => {
        if (res.writableLength < FOLLOW_BUFFER) res.write(`${JSON.stringify(e)}\n`);
      }, res);
      res.on('close', stop);
      return undefined;
    },
  };
}

/** The route table's key for a request: /requests/ID routes share one key. */
function routeKey(method: string | undefined, pathname: string): string {
  return `${method} ${pathname.startsWith('/requests/') ? '/requests/' : pathname}`;
}

/** Listens on `path`; a stale socket of a daemon that is gone is replaced, a live one is an error. */
export async function serveControl(path: string, handlers: ControlHandlers, log: Logger): Promise<HttpServer> {
  makeDirectories(dirname(path), 'node.control_socket');
  if (await answers(path)) {
    throw new XlbError('XLB_CONFLICT', `another xlb daemon answers on ${path}; give this one another node.control_socket`);
  }
  rmSync(path, { force: true });
  const table = routes(handlers, new RequestLog());
  const server = new HttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://xlb');
    const route = table[routeKey(req.method, url.pathname)];
    if (!route) {
      send(res, 404, { error: `no route ${req.method} ${url.pathname}`, code: 'XLB_NOT_FOUND' } satisfies ErrorBody);
      return;
    }
    Promise.resolve()
      .then(() => route(req, res, url))
      .then((value) => { if (value !== undefined) send(res, 200, value); })
      .catch((err: unknown) => {
        const { status, body: out } = errorBody(err);
        // 500 is ours to fix; 502 and 503 are Redis's state (bad data, unreachable), already logged by what follows it.
        if (status === 500) log.error({ err }, `${req.method} ${url.pathname} failed`);
        else if (status > 500) log.warn({ code: out.code }, `${req.method} ${url.pathname}: ${out.error}`);
        if (!res.headersSent) send(res, status, out);
        else res.end();
      });
  }, LIMITS);
  await server.listen(path);
  chmodSync(path, 0o600);
  return server;
}

/** Whether a daemon listens on the control socket `path`. */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
