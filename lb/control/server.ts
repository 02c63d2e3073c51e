// The control socket: HTTP + JSON over a unix socket only root can open (0600). Routes and shapes: ./api.ts.
import { chmodSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parseCidr, parseIPv4 } from '../../config/load.js';
import { MAX_CONFIG_BYTES } from '../../config/limits.js';
import { makeDirectories } from '../dirs.js';
import { XlbError } from '../errors.js';
import { HttpServer } from '../http.js';
import type {
  ApplyResult, BackendChange, BackendRef, ConfigApply, DenyList, ErrorBody, Event, Stats, Status,
} from './api.js';

export interface ControlHandlers {
  status(): Status;
  stats(): Stats;
  applyConfig(body: ConfigApply): Promise<ApplyResult>;
  addBackend(change: BackendChange): Promise<ApplyResult>;
  removeBackend(ref: BackendRef): Promise<ApplyResult>;
  setDrained(ref: BackendRef, drained: boolean): Promise<ApplyResult>;
  deny(): DenyList;
  addDeny(cidr: string): Promise<DenyList>;
  removeDeny(cidr: string): Promise<DenyList>;
  /** Recent events, oldest first. */
  recentEvents(): Event[];
  /** Calls `listener` for every new event until the returned function is called; `stream` is ended at shutdown. */
  subscribe(listener: (e: Event) => void, stream: NodeJS.WritableStream): () => void;
  detach(): Promise<{ detached: string[] }>;
}

/** A config file at its size limit, JSON-encoded (each newline takes two bytes), with room to spare. */
const MAX_BODY = 2 * MAX_CONFIG_BYTES + (64 << 10);
const FOLLOW_BUFFER = 1 << 20;
/** Slow clients: the headers within 10 s, a whole request (a config of MAX_BODY) within 60 s. */
const LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 };
/** How long a stop waits for answers under way before it ends their connections. */
export const CLOSE_GRACE_MS = 2000;

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) {
      throw new XlbError('XLB_BAD_REQUEST',
        `request body over ${MAX_BODY} bytes: a config may be at most ${MAX_CONFIG_BYTES} bytes; split the pool or trim it`);
    }
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

function str(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  if (typeof v !== 'string' || v === '') throw new XlbError('XLB_BAD_REQUEST', `${key}: a non-empty string is required`);
  return v;
}

function int(b: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
    throw new XlbError('XLB_BAD_REQUEST', `${key}: ${JSON.stringify(v)} is not an integer in ${min}..${max}`);
  }
  return v as number;
}

function backendRef(b: Record<string, unknown>): BackendRef {
  const address = parseIPv4(b.address);
  if (!address.ok) throw new XlbError('XLB_BAD_REQUEST', `address: ${address.problem}`);
  const ref: BackendRef = { service: str(b, 'service'), address: address.value };
  const port = int(b, 'port', 1, 65535);
  if (port !== undefined) ref.port = port;
  return ref;
}

function cidr(b: Record<string, unknown>): string {
  const c = parseCidr(b.cidr);
  if (!c.ok) throw new XlbError('XLB_BAD_REQUEST', `cidr: ${c.problem}`);
  return c.value;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<unknown> | unknown;

function routes(h: ControlHandlers): Record<string, Route> {
  return {
    'GET /status': () => h.status(),
    'GET /stats': () => h.stats(),
    'POST /config': async (req) => {
      const b = await body(req);
      const apply: ConfigApply = { yaml: str(b, 'yaml') };
      if (typeof b.source === 'string') apply.source = b.source;
      return h.applyConfig(apply);
    },
    'POST /backends': async (req) => {
      const b = await body(req);
      const change: BackendChange = backendRef(b);
      const weight = int(b, 'weight', 0, 10000);
      if (weight !== undefined) change.weight = weight;
      return h.addBackend(change);
    },
    'DELETE /backends': async (req) => h.removeBackend(backendRef(await body(req))),
    'POST /backends/drain': async (req) => h.setDrained(backendRef(await body(req)), true),
    'POST /backends/undrain': async (req) => h.setDrained(backendRef(await body(req)), false),
    'GET /deny': () => h.deny(),
    'POST /deny': async (req) => h.addDeny(cidr(await body(req))),
    'DELETE /deny': async (req) => h.removeDeny(cidr(await body(req))),
    'POST /detach': () => h.detach(),
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

/** Listens on `path`; a stale socket of a daemon that is gone is replaced, a live one is an error. */
export async function serveControl(path: string, handlers: ControlHandlers, log: Logger): Promise<HttpServer> {
  makeDirectories(dirname(path), 'node.control_socket');
  if (await answers(path)) {
    throw new XlbError('XLB_CONFLICT', `another xlb daemon answers on ${path}; give this one another node.control_socket`);
  }
  rmSync(path, { force: true });
  const table = routes(handlers);
  const server = new HttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://xlb');
    const route = table[`${req.method} ${url.pathname}`];
    if (!route) {
      send(res, 404, { error: `no route ${req.method} ${url.pathname}`, code: 'XLB_NOT_FOUND' } satisfies ErrorBody);
      return;
    }
    Promise.resolve()
      .then(() => route(req, res, url))
      .then((value) => { if (value !== undefined) send(res, 200, value); })
      .catch((err: unknown) => {
        const e = err as Error & { status?: number; code?: string; problems?: ErrorBody['problems'] };
        const status = typeof e.status === 'number' ? e.status : 500;
        if (status >= 500) log.error({ err }, `${req.method} ${url.pathname} failed`);
        const out: ErrorBody = { error: e.message, code: typeof e.code === 'string' ? e.code : 'XLB_INTERNAL' };
        if (e.problems) out.problems = e.problems;
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
