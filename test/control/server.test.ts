// The control socket's request checks, against the real server on a unix socket with handlers that record their
// calls: a request the rules refuse is answered with a clear error and never reaches a handler.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { ErrorBody } from '../../lb/control/api.js';
import { MAX_BODY, serveControl, type ControlHandlers } from '../../lb/control/server.js';
import { BpfError } from '../../lb/bpf/errors.js';
import { PlanError } from '../../lb/plan/planner.js';
import { MAX_CONFIG_BYTES } from '../../config/limits.js';

const APPLIED = { writes: 1, services: 1, backends: 1 };

/** A server whose handlers record what reached them; `fail` makes applyConfig throw it. */
async function start(t: ExecutionContext, fail?: unknown) {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-control-'));
  const socket = join(dir, 'xlb.sock');
  const calls: [string, unknown][] = [];
  const record = <T>(name: string, result: T) => async (arg: unknown): Promise<T> => {
    calls.push([name, arg]);
    if (fail !== undefined) throw fail;
    return result;
  };
  const handlers = {
    applyConfig: record('applyConfig', APPLIED),
    addBackend: record('addBackend', APPLIED),
    removeBackend: record('removeBackend', APPLIED),
    setDrained: record('setDrained', APPLIED),
    addDeny: record('addDeny', { deny: [] }),
    removeDeny: record('removeDeny', { deny: [] }),
  } as unknown as ControlHandlers;
  const server = await serveControl(socket, handlers, pino({ level: 'silent' }));
  t.teardown(() => {
    void server.close(0);
    rmSync(dir, { recursive: true, force: true });
  });
  return { socket, calls };
}

interface Answer {
  status: number;
  body: ErrorBody & Record<string, unknown>;
}

/** One request; `body` as text is sent as it is, with `headers` (a Content-Length is added unless given). */
function request(socket: string, method: string, path: string, body: string, headers: Record<string, string | number> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path, agent: false, headers: { 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (v: unknown): string => JSON.stringify(v);

for (const [title, path, body, error] of [
  ['a backend at 0.0.0.0', '/backends', json({ service: 'web', address: '0.0.0.0' }),
    'address: 0.0.0.0 is a "this network" address (0.0.0.0/8), not a host\'s address'],
  ['a backend at 255.255.255.255', '/backends', json({ service: 'web', address: '255.255.255.255' }),
    'address: 255.255.255.255 is a reserved or broadcast address, not a host\'s address'],
  ['a backend at 127.0.0.1', '/backends', json({ service: 'web', address: '127.0.0.1' }),
    'address: 127.0.0.1 is a loopback address, not a host\'s address'],
  ['a backend at 224.0.0.1', '/backends', json({ service: 'web', address: '224.0.0.1' }),
    'address: 224.0.0.1 is a multicast address, not a host\'s address'],
  ['a backend at 240.0.0.1', '/backends', json({ service: 'web', address: '240.0.0.1' }),
    'address: 240.0.0.1 is a reserved or broadcast address, not a host\'s address'],
  ['a backend address that is no address', '/backends', json({ service: 'web', address: 'example.com' }),
    'address: "example.com" is not an IPv4 address'],
  ['a weight of 1e400', '/backends', '{"service":"web","address":"198.18.1.13","weight":1e400}',
    'weight: a number too large to hold is not an integer from 0 to 10000'],
  ['a weight out of range', '/backends', json({ service: 'web', address: '198.18.1.13', weight: 10001 }),
    'weight: 10001 is not an integer from 0 to 10000'],
  ['a port out of range', '/backends', json({ service: 'web', address: '198.18.1.13', port: 0 }), 'port: 0 is not a port (1..65535)'],
  ['no service', '/backends', json({ address: '198.18.1.13' }), 'service: required'],
  ['a service name config check would refuse', '/backends', json({ service: 'Web', address: '198.18.1.13' }),
    'service: "Web" is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit'],
  ['a deny CIDR with host bits', '/deny', json({ cidr: '10.1.2.3/8' }), 'cidr: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?'],
  ['a config that is not text', '/config', json({ yaml: 7 }), 'yaml: required: the config file\'s text, as a string'],
  ['a body that is not JSON', '/config', '{yaml', 'request body is not a JSON object: Expected property name or \'}\' in JSON at position 1'],
] as const) {
  test(`refused before any handler: ${title}`, async (t) => {
    const { socket, calls } = await start(t);
    const r = await request(socket, 'POST', path, body);
    t.is(r.status, 400);
    t.deepEqual(r.body, { error, code: 'XLB_BAD_REQUEST' });
    t.deepEqual(calls, []);
  });
}

test('an empty config reaches the daemon, which says what is wrong with it (not "a non-empty string is required")', async (t) => {
  const { socket, calls } = await start(t);
  const r = await request(socket, 'POST', '/config', json({ yaml: '', source: 'empty.yaml' }));
  t.is(r.status, 200);
  t.deepEqual(calls, [['applyConfig', { yaml: '', source: 'empty.yaml' }]]);
});

test('a 5 MB config is within the body limit; the limit covers any config of up to 16 MiB', async (t) => {
  const { socket, calls } = await start(t);
  const yaml = `node: { interfaces: [eth0] }\ndeny:\n${'  - "203.0.113.0/24"\n'.repeat(250_000)}`;
  t.true(yaml.length > 5_000_000);
  const r = await request(socket, 'POST', '/config', json({ yaml }));
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is((calls[0]?.[1] as { yaml: string }).yaml, yaml);
  t.true(MAX_BODY >= json({ yaml: '"\n'.repeat(MAX_CONFIG_BYTES / 2), source: '/etc/xlb/xlb.yaml' }).length);
});

test('a body over the limit is refused by its Content-Length, with the size, the limit and the config limit', async (t) => {
  const { socket, calls } = await start(t);
  const size = MAX_BODY + 1;
  const r = await request(socket, 'POST', '/config', '', { 'content-length': size });
  t.is(r.status, 400);
  t.deepEqual(r.body, {
    code: 'XLB_BAD_REQUEST',
    error: `the request body is ${size} bytes, over the control socket's limit of ${MAX_BODY} bytes; ` +
      `a config may be at most ${MAX_CONFIG_BYTES} bytes (16 MiB)`,
  });
  t.deepEqual(calls, []);
});

test('a chunked body is cut off at the limit', async (t) => {
  const { socket, calls } = await start(t);
  const r = await new Promise<Answer>((resolve, reject) => {
    let answered = false;
    const req = http.request({ socketPath: socket, method: 'POST', path: '/config' }, (res) => {
      answered = true;
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    // Once answered, the rest of the body meets a closed socket: that is the point, not a failure.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const chunk = Buffer.alloc(1 << 20, 'x');
    let sent = 0;
    const more = (): void => {
      while (sent <= MAX_BODY && !answered) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
  t.is(r.status, 400);
  t.regex(r.body.error, new RegExp(`^the request body is over ${MAX_BODY} bytes, over the control socket's limit`));
  t.deepEqual(calls, []);
});

test('errors that reach the socket carry the catalog\'s code: XLB_PLAN, XLB_BPF, XLB_INTERNAL', async (t) => {
  for (const [err, status, code] of [
    [new PlanError('too many services'), 400, 'XLB_PLAN'],
    [new BpfError('bpf_map_update_elem', 7, { object: 'xlb_services' }), 500, 'XLB_BPF'],
    [new TypeError('boom'), 500, 'XLB_INTERNAL'],
  ] as const) {
    const { socket } = await start(t, err);
    const r = await request(socket, 'POST', '/config', json({ yaml: '' }));
    t.is(r.status, status);
    t.like(r.body, { code, error: err.message });
  }
});
