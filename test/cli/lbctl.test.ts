// lbctl as an operator runs it: the compiled CLI as a child process, against a fake control server on a unix socket
// that answers the routes of lb/control/api.ts with canned data and records every request. The fake is right here:
// these tests are about the CLI's own logic (parsing, requests, output, exit codes); the daemon has its own tests.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApplyResult, ErrorBody, Event, Stats, Status } from '../../lb/control/api.js';
import { parseCidrArg, parseEndpoint, parseWatch, parseWeight } from '../../lb/cli/commands/args.js';
import { resolveSocket } from '../../lb/cli/commands/global.js';
import { formatBytes, formatCount, formatDuration, renderStats, table } from '../../lb/cli/output.js';

const CLI = fileURLToPath(new URL('../../lb/cli/lbctl.js', import.meta.url));

// ---- canned data -------------------------------------------------------------------------------------------------

const STATUS: Status = {
  role: 'active',
  nodeId: 'lb-a',
  pid: 4242,
  uptime: 3725,
  adopted: true,
  pinPath: '/sys/fs/bpf/xlb',
  interfaces: [
    { name: 'eth0', ifindex: 2, mode: 'native', state: 'attached' },
    { name: 'back', ifindex: 3, mode: 'generic', state: 'attached' },
  ],
  services: [
    {
      name: 'ping', vip: '198.18.0.10', protocol: 'icmp', scheduler: 'rr', forwarding: 'nat', health: 'icmp', allow: [],
      backends: [{ address: '198.18.1.11', weight: 1, drained: false, health: 'up', probe: 'echo reply', mac: '02:00:00:00:01:11' }],
    },
    {
      name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, scheduler: 'maglev', forwarding: 'nat', health: 'http',
      allow: ['198.18.0.0/16'],
      backends: [
        { address: '198.18.1.11', port: 8080, weight: 1, drained: false, health: 'up', probe: 'HTTP 200', mac: '02:00:00:00:01:11' },
        {
          address: '198.18.1.12', port: 8080, weight: 2, drained: true, health: 'down', probe: 'connect ECONNREFUSED', mac: null,
          unresolved: 'resolving 198.18.1.12 on back',
        },
      ],
    },
  ],
  deny: ['203.0.113.0/24'],
};

/** Stats whose web counters grow by `n` * 1000 packets: the n-th answer of the fake (from 0). */
function statsAt(n: number): Stats {
  return {
    services: [{
      name: 'web', packets: 1_234_567 + n * 1000, bytes: 1_234_567_890 + n * 1_500_000, flowsNew: 4321 + n * 10,
      backends: [
        { address: '198.18.1.11', port: 8080, packets: 1_000_000 + n * 1000, bytes: 1_000_000_000, flowsNew: 4000 },
        { address: '198.18.1.12', port: 8080, packets: 234_567, bytes: 234_567_890, flowsNew: 321 },
      ],
    }],
    outcomes: {
      pass_not_vip: { packets: 999, bytes: 999 },
      tx: { packets: 1_234_567 + n * 1000, bytes: 1_234_567_890 + n * 1_500_000 },
      drop_denied: { packets: 12, bytes: 1500 },
    },
  };
}

const EVENTS: Event[] = [
  {
    time: Date.UTC(2025, 0, 2, 3, 4, 5, 678), kind: 'flow', source: '203.0.113.5', sport: 40000,
    destination: '198.18.0.10', dport: 80, protocol: 'tcp', service: 'web', backend: '198.18.1.11:8080', verdict: 'tx',
  },
  {
    time: Date.UTC(2025, 0, 2, 3, 4, 5, 900), kind: 'drop', source: '203.0.113.9', destination: '198.18.0.10',
    protocol: 'icmp', verdict: 'drop_denied',
  },
];
const EVENT_LINES = [
  '2025-01-02T03:04:05.678Z  flow  tx  tcp  203.0.113.5:40000 -> 198.18.0.10:80  web -> 198.18.1.11:8080',
  '2025-01-02T03:04:05.900Z  drop  drop_denied  icmp  203.0.113.9 -> 198.18.0.10',
];

const APPLIED: ApplyResult = { writes: 3, services: 2, backends: 4 };

// ---- the fake control server -------------------------------------------------------------------------------------

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}

type Handler = (req: Recorded, res: http.ServerResponse) => void;

interface Fake {
  dir: string;
  socket: string;
  requests: Recorded[];
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Starts a fake daemon for one test; `overrides` replace routes by "METHOD /url". Closed when the test ends. */
async function startFake(t: { teardown(fn: () => Promise<void>): void }, overrides: Record<string, Handler> = {}): Promise<Fake> {
  const dir = await mkdtemp(join(tmpdir(), 'xlb-cli-'));
  const socket = join(dir, 'xlb.sock');
  const requests: Recorded[] = [];
  const deny = [...STATUS.deny];
  let statsCalls = 0;
  const routes: Record<string, Handler> = {
    'GET /status': (_r, res) => sendJson(res, 200, STATUS),
    'GET /stats': (_r, res) => sendJson(res, 200, statsAt(statsCalls++)),
    'POST /config': (_r, res) => sendJson(res, 200, APPLIED),
    'POST /backends': (_r, res) => sendJson(res, 200, APPLIED),
    'DELETE /backends': (_r, res) => sendJson(res, 200, APPLIED),
    'POST /backends/drain': (_r, res) => sendJson(res, 200, { ...APPLIED, writes: 1 }),
    'POST /backends/undrain': (_r, res) => sendJson(res, 200, { ...APPLIED, writes: 0 }),
    'GET /deny': (_r, res) => sendJson(res, 200, { deny }),
    'POST /deny': (r, res) => {
      deny.push((r.body as { cidr: string }).cidr);
      sendJson(res, 200, { deny });
    },
    'DELETE /deny': (r, res) => {
      deny.splice(deny.indexOf((r.body as { cidr: string }).cidr), 1);
      sendJson(res, 200, { deny });
    },
    'GET /events': (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // Split mid-line, so the client must join chunks into lines.
      const text = EVENTS.map((e) => `${JSON.stringify(e)}\n`).join('');
      res.write(text.slice(0, 30));
      setTimeout(() => res.end(text.slice(30)), 20);
    },
    'POST /detach': (_r, res) => sendJson(res, 200, { detached: ['eth0', 'back'] }),
    ...overrides,
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const recorded: Recorded = { method: req.method!, url: req.url!, body: text ? JSON.parse(text) : undefined };
      requests.push(recorded);
      const route = routes[`${req.method} ${req.url}`];
      if (route) route(recorded, res);
      else sendJson(res, 404, { error: `no route ${req.method} ${req.url}`, code: 'XLB_TEST_NO_ROUTE' } satisfies ErrorBody);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, socket, requests };
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xlb-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---- running lbctl -----------------------------------------------------------------------------------------------

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  stdout(): string;
  /** Resolves once stdout matches `re`; rejects if lbctl exits first or WAIT_MS pass after it was spawned. */
  waitFor(re: RegExp): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Result>;
}

/** The environment lbctl runs in: without XLB_SOCKET unless a test sets it. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('XLB_SOCKET' in extra)) delete env.XLB_SOCKET;
  return env;
}

/** How long waitFor waits for output. */
const WAIT_MS = 15_000;

/** At most this many lbctl processes at once: ava runs this file's tests concurrently. */
const MAX_CHILDREN = 6;
let children = 0;
const queue: (() => void)[] = [];

function start(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Running {
  let stdout = '';
  let stderr = '';
  let child: ReturnType<typeof spawn> | undefined;
  const waiters: { re: RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  let markSpawned!: () => void;
  // A child may wait in the queue behind others: a wait's clock starts when its child runs, not when it is asked for.
  const spawned = new Promise<void>((resolve) => (markSpawned = resolve));
  const done = new Promise<Result>((resolve) => {
    const run = (): void => {
      children++;
      child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      markSpawned();
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        stdout += c;
        for (const w of [...waiters]) {
          if (w.re.test(stdout)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('close', (code, signal) => {
        children--;
        queue.shift()?.();
        for (const w of waiters) w.reject(new Error(`lbctl exited (${code}) before printing ${w.re}:\n${stdout}\n${stderr}`));
        resolve({ code, signal, stdout, stderr });
      });
    };
    if (children < MAX_CHILDREN) run();
    else queue.push(run);
  });
  return {
    stdout: () => stdout,
    waitFor: async (re) => {
      await spawned;
      if (re.test(stdout)) return;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.findIndex((w) => w.re === re), 1);
          reject(new Error(`lbctl printed no ${re} within ${WAIT_MS / 1000}s:\n${stdout}\n${stderr}`));
        }, WAIT_MS);
        const settle = (f: () => void) => () => {
          clearTimeout(timer);
          f();
        };
        waiters.push({ re, resolve: settle(resolve), reject: (e) => settle(() => reject(e))() });
      });
    },
    kill: (signal) => child!.kill(signal),
    done,
  };
}

function lbctl(args: string[], env?: NodeJS.ProcessEnv): Promise<Result> {
  return start(args, env).done;
}

/** A table row split into its cells (cells are separated by two spaces or more and never empty). */
function cells(line: string): string[] {
  return line.trim().split(/\s{2,}/);
}

function rowOf(stdout: string, ...first: string[]): string[] {
  const line = stdout.split('\n').find((l) => first.every((f, i) => cells(l)[i] === f));
  if (line === undefined) throw new Error(`no row starting ${first.join(' ')} in:\n${stdout}`);
  return cells(line);
}

function lineStarting(stdout: string, prefix: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no line starting "${prefix}" in:\n${stdout}`);
  return line;
}

// ---- status ------------------------------------------------------------------------------------------------------

test('status prints the node, then aligned tables of services and backends', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'status']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  t.deepEqual(fake.requests.map((q) => `${q.method} ${q.url}`), ['GET /status']);

  t.regex(r.stdout, /^role {8}active \(node lb-a\)$/m);
  t.regex(r.stdout, /^uptime {6}1h 2m$/m);
  t.regex(r.stdout, /^maps {8}\/sys\/fs\/bpf\/xlb \(adopted from a previous daemon\)$/m);
  t.regex(r.stdout, /^interfaces {2}eth0 \(ifindex 2, native\), back \(ifindex 3, generic\)$/m);
  t.regex(r.stdout, /^deny {8}203\.0\.113\.0\/24$/m);

  const services = lineStarting(r.stdout, 'SERVICE  VIP');
  t.deepEqual(cells(services), ['SERVICE', 'VIP', 'PROTOCOL', 'PORT', 'SCHEDULER', 'FORWARDING', 'CHECK', 'ALLOW', 'UP']);
  t.deepEqual(rowOf(r.stdout, 'ping', '198.18.0.10'), ['ping', '198.18.0.10', 'icmp', '-', 'rr', 'nat', 'icmp', 'any', '1/1']);
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.0.10'),
    ['web', '198.18.0.10', 'tcp', '80', 'maglev', 'nat', 'http', '198.18.0.0/16', '1/2']);
  // Left-aligned columns start where their header does.
  const webService = r.stdout.split('\n').find((l) => l.startsWith('web ') && l.includes('maglev'))!;
  t.is(webService.indexOf('maglev'), services.indexOf('SCHEDULER'));
  t.is(webService.indexOf('198.18.0.0/16'), services.indexOf('ALLOW'));

  const backends = lineStarting(r.stdout, 'SERVICE  BACKEND');
  t.deepEqual(cells(backends), ['SERVICE', 'BACKEND', 'WEIGHT', 'HEALTH', 'DRAINED', 'MAC']);
  t.deepEqual(rowOf(r.stdout, 'ping', '198.18.1.11'), ['ping', '198.18.1.11', '1', 'up', 'no', '02:00:00:00:01:11']);
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.1.12:8080'), ['web', '198.18.1.12:8080', '2', 'down', 'yes', 'unresolved']);
  const down = r.stdout.split('\n').find((l) => l.includes('198.18.1.12:8080'))!;
  t.is(down.indexOf('down'), backends.indexOf('HEALTH'));
});

test('status says why a backend gets no traffic; UP counts only backends that are up with a next hop', async (t) => {
  const web = STATUS.services[1]!;
  const status: Status = {
    ...STATUS,
    interfaces: [
      STATUS.interfaces[0]!,
      { name: 'back', ifindex: 3, mode: 'generic', state: 'missing', problem: 'gone since 2025-01-02T03:04:05.678Z; xlb attaches again when it returns' },
    ],
    services: [STATUS.services[0]!, {
      ...web,
      backends: [...web.backends, {
        address: '198.18.1.13', port: 8080, weight: 1, drained: false, health: 'up', probe: 'HTTP 200', mac: null,
        unresolved: 'reached through eth9, which is not in node.interfaces',
      }],
    }],
  };
  // A reload that began 3 s before the answer.
  const fake = await startFake(t, {
    'GET /status': (_r, res) => sendJson(res, 200, { ...status, reload: { source: '/etc/xlb/xlb.yaml', since: Date.now() - 3000 } }),
  });
  const r = await lbctl(['--socket', fake.socket, 'status']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^interfaces {2}eth0 \(ifindex 2, native\), back \(missing: gone since 2025-01-02T03:04:05\.678Z; xlb attaches again when it returns\)$/m);
  t.regex(r.stdout, /^reload {6}reading and checking \/etc\/xlb\/xlb\.yaml for ([3-9]|[1-9]\d+)s$/m);
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.0.10'),
    ['web', '198.18.0.10', 'tcp', '80', 'maglev', 'nat', 'http', '198.18.0.0/16', '1/3'], 'the unresolved .13 is not up');
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.1.13:8080'), ['web', '198.18.1.13:8080', '1', 'up', 'no', 'unresolved']);
  const problems = r.stdout.slice(r.stdout.indexOf('\nproblems\n') + 1).trimEnd().split('\n');
  t.deepEqual(problems, [
    'problems',
    '  web 198.18.1.12:8080 is down: connect ECONNREFUSED',
    '  web 198.18.1.12:8080 has no next hop: resolving 198.18.1.12 on back',
    '  web 198.18.1.13:8080 has no next hop: reached through eth9, which is not in node.interfaces',
  ]);

  const json = await lbctl(['--socket', fake.socket, 'status', '--json']);
  const { reload, ...rest } = JSON.parse(json.stdout) as Status;
  t.deepEqual(rest, status);
  t.is(reload?.source, '/etc/xlb/xlb.yaml');
});

test('status --json prints the Status object exactly as the API gave it', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['status', '--json', '--socket', fake.socket]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${JSON.stringify(STATUS, null, 2)}\n`);
  t.deepEqual(JSON.parse(r.stdout), STATUS);
});

// ---- stats -------------------------------------------------------------------------------------------------------

test('stats prints counters per service and backend with separators and SI bytes, then outcomes', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'stats']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(cells(lineStarting(r.stdout, 'SERVICE')), ['SERVICE', 'BACKEND', 'PACKETS', 'BYTES', 'NEW FLOWS']);
  t.deepEqual(rowOf(r.stdout, 'web', 'all'), ['web', 'all', '1,234,567', '1.23 GB', '4,321']);
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.1.11:8080'), ['web', '198.18.1.11:8080', '1,000,000', '1.00 GB', '4,000']);
  t.deepEqual(rowOf(r.stdout, 'web', '198.18.1.12:8080'), ['web', '198.18.1.12:8080', '234,567', '235 MB', '321']);
  t.deepEqual(cells(lineStarting(r.stdout, 'OUTCOME')), ['OUTCOME', 'PACKETS', 'BYTES']);
  t.deepEqual(rowOf(r.stdout, 'pass_not_vip'), ['pass_not_vip', '999', '999 B']);
  t.deepEqual(rowOf(r.stdout, 'tx'), ['tx', '1,234,567', '1.23 GB']);
  t.deepEqual(rowOf(r.stdout, 'drop_denied'), ['drop_denied', '12', '1.50 kB']);
  // Numbers are right-aligned: each ends where its header ends.
  const header = lineStarting(r.stdout, 'SERVICE');
  const row = r.stdout.split('\n').find((l) => l.startsWith('web') && l.includes('234,567'))!;
  t.is(row.indexOf('234,567') + '234,567'.length, header.indexOf('PACKETS') + 'PACKETS'.length);
});

test('stats --json prints the Stats object as it is', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'stats', '--json']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${JSON.stringify(statsAt(0), null, 2)}\n`);
});

test('stats --watch redraws with rates per second until Ctrl-C, then exits 0', async (t) => {
  const fake = await startFake(t);
  const run = start(['--socket', fake.socket, 'stats', '--watch', '0.3']);
  await run.waitFor(/(xlb stats every 0\.3s[\s\S]*){2}drop_denied[^\n]*\n/);
  run.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.is(r.signal, null);
  const frames = r.stdout.split(/^xlb stats every 0\.3s at \d\d:\d\d:\d\d \(Ctrl-C to stop\)$/m).slice(1);
  t.true(frames.length >= 2, r.stdout);
  const headers = ['SERVICE', 'BACKEND', 'PACKETS', 'PKT/S', 'BYTES', 'BYTES/S', 'NEW FLOWS', 'FLOWS/S'];
  t.deepEqual(cells(lineStarting(frames[0]!.trimStart(), 'SERVICE')), headers);
  // The first frame has nothing to compare with.
  t.deepEqual(rowOf(frames[0]!, 'web', 'all'), ['web', 'all', '1,234,567', '-', '1.23 GB', '-', '4,321', '-']);
  // The second: 1000 packets, 1.5 MB and 10 flows more, over about 0.3 s.
  const second = rowOf(frames[1]!, 'web', 'all');
  t.is(second[2], '1,235,567');
  const pps = Number(second[3]!.replace(/,/g, ''));
  t.true(pps > 100 && pps <= 1000 / 0.3 * 1.05, `packets per second ${second[3]}`);
  t.regex(second[5]!, /^\d+(\.\d+)? (kB|MB)\/s$/);
  t.not(second[7], '-');
  t.deepEqual(rowOf(frames[1]!, 'web', '198.18.1.12:8080').slice(3, 4), ['0']);
  t.deepEqual(cells(lineStarting(frames[1]!.split('\n\n').find((b) => b.includes('OUTCOME'))!, 'OUTCOME')),
    ['OUTCOME', 'PACKETS', 'PKT/S', 'BYTES', 'BYTES/S']);
  t.true(fake.requests.length >= 2);
});

// ---- backends ----------------------------------------------------------------------------------------------------

test('backend add sends the service, address, port and weight', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'backend', 'add', 'web', '198.18.1.13:8080', '--weight', '3']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fake.requests, [
    { method: 'POST', url: '/backends', body: { service: 'web', address: '198.18.1.13', port: 8080, weight: 3 } },
  ]);
  t.is(r.stdout, 'added 198.18.1.13:8080 to web with weight 3: 3 map writes\n');
});

test('backend add without a port or weight sends neither', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'backend', 'add', 'ping', '198.18.1.14']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fake.requests, [{ method: 'POST', url: '/backends', body: { service: 'ping', address: '198.18.1.14' } }]);
  t.is(r.stdout, 'added 198.18.1.14 to ping: 3 map writes\n');
});

test('backend --weight 0 is a weight', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'backend', 'add', 'web', '198.18.1.13', '--weight', '0']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fake.requests[0]!.body, { service: 'web', address: '198.18.1.13', weight: 0 });
});

for (const [verb, method, url, stdout] of [
  ['remove', 'DELETE', '/backends', 'removed 198.18.1.12:8080 from web: 3 map writes\n'],
  ['drain', 'POST', '/backends/drain', 'drained 198.18.1.12:8080 in web: 1 map write\n'],
  ['undrain', 'POST', '/backends/undrain', 'undrained 198.18.1.12:8080 in web: no change\n'],
] as const) {
  test(`backend ${verb} sends ${method} ${url} with the backend`, async (t) => {
    const fake = await startFake(t);
    const r = await lbctl(['--socket', fake.socket, 'backend', verb, 'web', '198.18.1.12:8080']);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(fake.requests, [{ method, url, body: { service: 'web', address: '198.18.1.12', port: 8080 } }]);
    t.is(r.stdout, stdout);
  });
}

// ---- deny --------------------------------------------------------------------------------------------------------

test('deny add, remove and list', async (t) => {
  const fake = await startFake(t);
  const add = await lbctl(['--socket', fake.socket, 'deny', 'add', '198.51.100.0/24']);
  t.is(add.code, 0, add.stderr);
  t.is(add.stdout, 'denied 198.51.100.0/24; the deny list has 2 entries\n');
  const bare = await lbctl(['--socket', fake.socket, 'deny', 'add', '192.0.2.7']);
  t.is(bare.code, 0, bare.stderr);
  const remove = await lbctl(['--socket', fake.socket, 'deny', 'remove', '203.0.113.0/24']);
  t.is(remove.code, 0, remove.stderr);
  t.is(remove.stdout, 'no longer denied: 203.0.113.0/24; the deny list has 2 entries\n');
  const list = await lbctl(['--socket', fake.socket, 'deny', 'list']);
  t.is(list.code, 0, list.stderr);
  t.is(list.stdout, '198.51.100.0/24\n192.0.2.7/32\n');
  const json = await lbctl(['--socket', fake.socket, 'deny', 'list', '--json']);
  t.is(json.stdout, `${JSON.stringify({ deny: ['198.51.100.0/24', '192.0.2.7/32'] }, null, 2)}\n`);
  t.deepEqual(fake.requests, [
    { method: 'POST', url: '/deny', body: { cidr: '198.51.100.0/24' } },
    { method: 'POST', url: '/deny', body: { cidr: '192.0.2.7/32' } },
    { method: 'DELETE', url: '/deny', body: { cidr: '203.0.113.0/24' } },
    { method: 'GET', url: '/deny', body: undefined },
    { method: 'GET', url: '/deny', body: undefined },
  ]);
});

test('deny list says so when the list is empty', async (t) => {
  const fake = await startFake(t, { 'GET /deny': (_r, res) => sendJson(res, 200, { deny: [] }) });
  const r = await lbctl(['--socket', fake.socket, 'deny', 'list']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'the deny list is empty\n');
});

// ---- config ------------------------------------------------------------------------------------------------------

const GOOD_YAML = `node:
  interfaces: [eth0]
services:
  - name: ping
    vip: 198.18.0.10
    protocol: icmp
    backends:
      - address: 198.18.1.11
      - address: 198.18.1.12
  - name: web
    vip: 198.18.0.10
    protocol: tcp
    port: 80
    backends:
      - { address: 198.18.1.11, port: 8080 }
`;

const BAD_YAML = `node:
  interfaces: [eth0]
services:
  - name: ping
    vip: 300.1.2.3
    protocol: icmp
  - name: web
    vip: 198.18.0.10
    protocol: tcp
`;

test('config check on a good file prints ok with the counts, exit 0, without a daemon', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'good.yaml');
  await writeFile(file, GOOD_YAML);
  const r = await lbctl(['--socket', join(dir, 'none.sock'), 'config', 'check', file]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${file}: ok (2 services, 3 backends)\n`);
  t.is(r.stderr, '');
});

test('config check on a bad file prints every problem as FILE: path: message, exit 1', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, BAD_YAML);
  const r = await lbctl(['--socket', join(dir, 'none.sock'), 'config', 'check', file]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  t.is(lines[0], `lbctl: ${file}: 2 problems`);
  t.deepEqual(lines.slice(1), [
    `${file}: services[0].vip: "300.1.2.3" is not an IPv4 address`,
    `${file}: services[1].port: required for tcp services`,
  ]);
});

test('config check on a missing file fails with a clear line', async (t) => {
  const dir = await tempDir(t);
  const r = await lbctl(['config', 'check', join(dir, 'nope.yaml')]);
  t.is(r.code, 1);
  t.is(r.stderr, `lbctl: cannot read ${join(dir, 'nope.yaml')} (ENOENT)\n`);
});

test('config apply sends the file\'s text and path', async (t) => {
  const fake = await startFake(t);
  const file = join(fake.dir, 'xlb.yaml');
  await writeFile(file, GOOD_YAML);
  const r = await lbctl(['--socket', fake.socket, 'config', 'apply', file]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fake.requests, [{ method: 'POST', url: '/config', body: { yaml: GOOD_YAML, source: file } }]);
  t.is(r.stdout, `applied ${file}: 3 map writes (2 services, 4 backends)\n`);
});

// ---- daemon errors -----------------------------------------------------------------------------------------------

test('an error body prints its message and every problem, exit 1', async (t) => {
  const body: ErrorBody = {
    error: 'xlb.yaml: 2 problems', code: 'XLB_CONFIG_INVALID',
    problems: [
      { path: 'services[0].vip', message: '"1.2.3" is not an IPv4 address' },
      { path: 'services[1].port', message: 'required for tcp services' },
    ],
  };
  const fake = await startFake(t, { 'POST /config': (_r, res) => sendJson(res, 400, body) });
  const file = join(fake.dir, 'xlb.yaml');
  await writeFile(file, 'services: []\n');
  const r = await lbctl(['--socket', fake.socket, 'config', 'apply', file]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, [
    'lbctl: xlb.yaml: 2 problems',
    '  services[0].vip: "1.2.3" is not an IPv4 address',
    '  services[1].port: required for tcp services',
    '',
  ].join('\n'));
});

test('an error body without problems prints its message; --verbose adds its code', async (t) => {
  const fake = await startFake(t, {
    'POST /backends': (_r, res) => sendJson(res, 404, { error: 'no service "nope"', code: 'XLB_NOT_FOUND' }),
  });
  const r = await lbctl(['--socket', fake.socket, 'backend', 'add', 'nope', '198.18.1.13']);
  t.is(r.code, 1);
  t.is(r.stderr, 'lbctl: no service "nope"\n');
  const v = await lbctl(['--socket', fake.socket, '--verbose', 'backend', 'add', 'nope', '198.18.1.13']);
  t.is(v.code, 1);
  t.regex(v.stderr, /^lbctl: no service "nope"\ncode: XLB_NOT_FOUND\n/);
});

test('a bad answer fails with exit 1, the stack only with --verbose', async (t) => {
  const fake = await startFake(t, { 'GET /status': (_r, res) => res.end('<html>not json</html>') });
  const r = await lbctl(['--socket', fake.socket, 'status']);
  t.is(r.code, 1);
  t.is(r.stderr, 'lbctl: the daemon answered GET /status with something that is not JSON: <html>not json</html>\n');
  const v = await lbctl(['--socket', fake.socket, 'status', '--verbose']);
  t.is(v.code, 1);
  t.regex(v.stderr, /code: XLB_BAD_RESPONSE/);
  t.regex(v.stderr, /\n {4}at /);
});

test('an error status without an error body shows the status and text', async (t) => {
  const fake = await startFake(t, { 'GET /stats': (_r, res) => { res.writeHead(500); res.end('boom'); } });
  const r = await lbctl(['--socket', fake.socket, 'stats']);
  t.is(r.code, 1);
  t.is(r.stderr, 'lbctl: the daemon answered HTTP 500: boom\n');
});

// ---- the socket --------------------------------------------------------------------------------------------------

test('no daemon: one clear line, exit 1', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'xlb.sock');
  const r = await lbctl(['--socket', socket, 'status']);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `lbctl: no xlb daemon at ${socket} (ENOENT): start one with lbctl daemon -c FILE, or pass --socket\n`);
});

test('the socket comes from XLB_SOCKET without --socket or -c', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['deny', 'list'], cleanEnv({ XLB_SOCKET: fake.socket }));
  t.is(r.code, 0, r.stderr);
  t.is(fake.requests.length, 1);
});

test('-c FILE\'s node.control_socket comes before XLB_SOCKET; --socket before both', async (t) => {
  const fake = await startFake(t);
  const file = join(fake.dir, 'xlb.yaml');
  await writeFile(file, `node:\n  interfaces: [eth0]\n  control_socket: ${fake.socket}\n`);
  const elsewhere = join(fake.dir, 'elsewhere.sock');
  const viaConfig = await lbctl(['-c', file, 'deny', 'list'], cleanEnv({ XLB_SOCKET: elsewhere }));
  t.is(viaConfig.code, 0, viaConfig.stderr);
  t.is(fake.requests.length, 1);
  const viaFlag = await lbctl(['-c', file, '--socket', elsewhere, 'deny', 'list']);
  t.is(viaFlag.code, 1);
  t.true(viaFlag.stderr.includes(`no xlb daemon at ${elsewhere} (ENOENT)`), viaFlag.stderr);
  t.is(fake.requests.length, 1);
});

test('resolveSocket: --socket, else -c FILE (default socket if FILE names none), else XLB_SOCKET, else the default', async (t) => {
  const dir = await tempDir(t);
  const bare = join(dir, 'bare.yaml');
  await writeFile(bare, 'node:\n  interfaces: [eth0]\n');
  t.is(await resolveSocket({ socket: '/s' }, { XLB_SOCKET: '/e' }), '/s');
  t.is(await resolveSocket({ config: bare }, { XLB_SOCKET: '/e' }), '/run/xlb/xlb.sock');
  t.is(await resolveSocket({}, { XLB_SOCKET: '/e' }), '/e');
  t.is(await resolveSocket({}, {}), '/run/xlb/xlb.sock');
  await t.throwsAsync(resolveSocket({ config: join(dir, 'missing.yaml') }, {}), { message: /cannot read .*missing\.yaml \(ENOENT\)/ });
});

// ---- what lbctl loads ------------------------------------------------------------------------------------------

/** A module hook that fails any import of the YAML parser or of the config checker, naming it. */
const NO_CONFIG_HOOK = 'export async function resolve(specifier, context, next) {' +
  ' if (specifier === "yaml" || /\\/config\\/(load|yaml|document)\\.js$/.test(specifier)) throw new Error(`lbctl loaded ${specifier}`);' +
  ' return next(specifier, context); }';
const NO_CONFIG_MODULES = `--import=data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(NO_CONFIG_HOOK)}`)});`)}`;

test('verbs that need no config file never load the YAML parser or the config checker', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'none.sock');
  const env = cleanEnv({ NODE_OPTIONS: NO_CONFIG_MODULES });
  for (const args of [['status'], ['stats'], ['deny', 'list'], ['deny', 'add', '10.0.0.0/8'], ['events'], ['detach'],
    ['backend', 'add', 'web', '198.18.1.13:8080', '--weight', '2']]) {
    const r = await lbctl([...args, '--socket', socket], env);
    t.is(r.stderr, `lbctl: no xlb daemon at ${socket} (ENOENT): start one with lbctl daemon -c FILE, or pass --socket\n`,
      args.join(' '));
  }
  const file = join(dir, 'xlb.yaml');
  await writeFile(file, GOOD_YAML);
  const check = await lbctl(['config', 'check', file], env);
  t.regex(check.stderr, /^lbctl: lbctl loaded .*config\/load\.js$/m, 'the hook does catch what config check needs');
});

// ---- usage errors ------------------------------------------------------------------------------------------------

for (const [args, usage, message] of [
  [[], 'lbctl <command> [options]', /name a command/],
  [['frobnicate'], 'lbctl <command> [options]', /Unknown argument: frobnicate/],
  [['backend'], 'lbctl backend', /name a backend verb/],
  [['backend', 'add', 'web'], 'lbctl backend add <service> <address>', /Not enough non-option arguments/],
  [['backend', 'add', 'web', '300.1.2.3'], 'lbctl backend add <service> <address>', /"300\.1\.2\.3" is not ADDRESS\[:PORT\]/],
  [['backend', 'add', 'web', 'backend-1:80'], 'lbctl backend add <service> <address>', /is not ADDRESS\[:PORT\]/],
  [['backend', 'add', 'web', '127.0.0.1'], 'lbctl backend add <service> <address>', /^lbctl: 127\.0\.0\.1 is a loopback address, not a host's address$/m],
  [['backend', 'drain', 'Web', '198.18.1.13'], 'lbctl backend drain <service> <address>', /"Web" is not a service name: 1 to 63 lower-case/],
  [['backend', 'add', 'web', '198.18.1.13:70000'], 'lbctl backend add <service> <address>', /"70000" .* is not a port/],
  [['backend', 'add', 'web', '198.18.1.13:0'], 'lbctl backend add <service> <address>', /"0" .* is not a port/],
  [['backend', 'add', 'web', '198.18.1.13:http'], 'lbctl backend add <service> <address>', /"http" .* is not a port/],
  [['backend', 'add', 'web', '198.18.1.13', '--weight', 'abc'], 'lbctl backend add <service> <address>', /--weight must be an integer from 0 to 10000$/m],
  [['backend', 'add', 'web', '198.18.1.13', '--weight', '1.5'], 'lbctl backend add <service> <address>', /--weight must be .* \(got 1\.5\)/],
  [['backend', 'add', 'web', '198.18.1.13', '--weight', '10001'], 'lbctl backend add <service> <address>', /\(got 10001\)/],
  [['backend', 'add', 'web', '198.18.1.13', '--weight', '-1'], 'lbctl backend add <service> <address>', /\(got -1\)/],
  [['backend', 'add', 'web', '198.18.1.13', '--weight'], 'lbctl backend add <service> <address>', /Not enough arguments following: weight/],
  [['backend', 'drain', 'web', '198.18.1.13', '--weight', '2'], 'lbctl backend drain <service> <address>', /Unknown argument: weight/],
  [['deny', 'add', '10.0.0.0/33'], 'lbctl deny add <cidr>', /is not an IPv4 CIDR/],
  [['deny', 'add', '10.1.2.3/8'], 'lbctl deny add <cidr>', /has host bits set; did you mean 10\.0\.0\.0\/8\?/],
  [['deny', 'remove', 'example.com'], 'lbctl deny remove <cidr>', /is not an IPv4 CIDR/],
  [['deny', 'add'], 'lbctl deny add <cidr>', /Not enough non-option arguments/],
  [['status', '--bogus'], 'lbctl status', /Unknown argument: bogus/],
  [['stats', '--watch', '--json'], 'lbctl stats', /mutually exclusive/],
  [['stats', '--watch', '0'], 'lbctl stats', /--watch 0 is not a number of seconds/],
  [['config', 'check'], 'lbctl config check <file>', /Not enough non-option arguments/],
  [['daemon'], 'lbctl daemon', /Missing required argument: config/],
  [['status', '--timeout', '0'], 'lbctl status', /--timeout: "0" is not a number of seconds, more than 0 and at most 86400/],
  [['deny', 'list', '--timeout', 'soon'], 'lbctl deny list', /--timeout: "soon" is not a number of seconds/],
] as const) {
  test(`usage error, exit 2: lbctl ${args.join(' ')}`, async (t) => {
    const fake = await startFake(t);
    const r = await lbctl([...args, '--socket', fake.socket]);
    t.is(r.code, 2, r.stderr);
    t.is(r.stdout, '');
    const lines = r.stderr.split('\n');
    t.is(lines[0], `Usage: ${usage}`);
    t.regex(r.stderr, message);
    t.regex(r.stderr, /^Run 'lbctl[a-z ]*--help' for details\.$/m);
    t.deepEqual(fake.requests, [], 'a usage error must not reach the daemon');
  });
}

test('--help prints the verbs and exits 0', async (t) => {
  const r = await lbctl(['--help']);
  t.is(r.code, 0, r.stderr);
  for (const verb of ['daemon', 'config', 'status', 'stats', 'backend', 'deny', 'events', 'detach']) {
    t.regex(r.stdout, new RegExp(`^ {2}lbctl ${verb} `, 'm'));
  }
});

// ---- events ------------------------------------------------------------------------------------------------------

test('events prints one line per event', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'events']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${EVENT_LINES.join('\n')}\n`);
  t.deepEqual(fake.requests.map((q) => q.url), ['/events']);
});

test('events --json prints one Event object a line', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'events', '--json']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), EVENTS);
});

test('events --follow prints each event as it arrives and ends when the daemon closes the stream', async (t) => {
  let stream: http.ServerResponse | undefined;
  let opened!: () => void;
  const isOpen = new Promise<void>((resolve) => (opened = resolve));
  const fake = await startFake(t, {
    'GET /events?follow=1': (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify(EVENTS[0])}\n`);
      stream = res;
      opened();
    },
  });
  const run = start(['--socket', fake.socket, 'events', '--follow']);
  await isOpen;
  // The first event shows while the stream is still open and the second not yet sent.
  await run.waitFor(/tcp.*\n/);
  t.is(run.stdout(), `${EVENT_LINES[0]}\n`);
  stream!.end(`${JSON.stringify(EVENTS[1])}\n`);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${EVENT_LINES.join('\n')}\n`);
});

test('events --follow ends with exit 0 on Ctrl-C', async (t) => {
  const fake = await startFake(t, {
    'GET /events?follow=1': (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify(EVENTS[1])}\n`);
    },
  });
  const run = start(['--socket', fake.socket, 'events', '--follow', '--json']);
  await run.waitFor(/\n/);
  run.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), EVENTS[1]);
});

// ---- detach ------------------------------------------------------------------------------------------------------

test('detach posts /detach and names the interfaces', async (t) => {
  const fake = await startFake(t);
  const r = await lbctl(['--socket', fake.socket, 'detach']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(fake.requests, [{ method: 'POST', url: '/detach', body: undefined }]);
  t.is(r.stdout, 'detached from eth0, back; the daemon is exiting\n');
});

// ---- daemon ------------------------------------------------------------------------------------------------------

test('daemon -c FILE runs the daemon and ends with its exit code', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'missing.yaml');
  // A config that cannot be read: the daemon stops at once, before touching the kernel, and says why.
  const r = await lbctl(['daemon', '-c', missing]);
  t.is(r.code, 1);
  t.true(`${r.stdout}${r.stderr}`.includes(missing), `${r.stdout}${r.stderr}`);
});

// ---- the pure parts ----------------------------------------------------------------------------------------------

test('parseEndpoint, parseCidrArg, parseWeight, parseWatch', (t) => {
  t.deepEqual(parseEndpoint('198.18.1.11'), { address: '198.18.1.11' });
  t.deepEqual(parseEndpoint('198.18.1.11:65535'), { address: '198.18.1.11', port: 65535 });
  for (const bad of ['198.18.1.11:', '198.18.1.011', '198.18.1', '::1', '[::1]:80', '198.18.1.11:80:80', '198.18.1.11:080000']) {
    t.throws(() => parseEndpoint(bad), { name: 'UsageError' }, bad);
  }
  t.is(parseCidrArg('10.0.0.0/8'), '10.0.0.0/8');
  t.is(parseCidrArg('10.0.0.1'), '10.0.0.1/32');
  t.throws(() => parseCidrArg('10.0.0.0/'), { name: 'UsageError' });
  t.is(parseWeight(10000), 10000);
  t.throws(() => parseWeight(Number.NaN), { name: 'UsageError' });
  t.is(parseWatch(''), 1);
  t.is(parseWatch('2.5'), 2.5);
  t.is(parseWatch(undefined), undefined);
  t.throws(() => parseWatch('-1'), { name: 'UsageError' });
});

test('units: counts, bytes, durations', (t) => {
  t.is(formatCount(0), '0');
  t.is(formatCount(999), '999');
  t.is(formatCount(1000), '1,000');
  t.is(formatCount(1234567890), '1,234,567,890');
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(999), '999 B');
  t.is(formatBytes(999.7), '1.00 kB');
  t.is(formatBytes(1500), '1.50 kB');
  t.is(formatBytes(56_789_012), '56.8 MB');
  t.is(formatBytes(234_567_890), '235 MB');
  t.is(formatBytes(999_999_999), '1.00 GB');
  t.is(formatBytes(2e15), '2.00 PB');
  t.is(formatDuration(0), '0s');
  t.is(formatDuration(42), '42s');
  t.is(formatDuration(60), '1m 0s');
  t.is(formatDuration(3725), '1h 2m');
  t.is(formatDuration(90061), '1d 1h');
});

test('table pads columns and right-aligns where asked', (t) => {
  t.deepEqual(table(['A', 'NUMBER', 'Z'], [['long cell', '1', ''], ['x', '1,000', 'z']], ['left', 'right', 'left']), [
    'A          NUMBER  Z',
    'long cell       1',
    'x           1,000  z',
  ]);
});

test('renderStats shows "-" for a rate whose counter went backwards', (t) => {
  const lines = renderStats(statsAt(0), { stats: statsAt(5), seconds: 1 });
  t.deepEqual(rowOf(lines.join('\n'), 'web', 'all').slice(2, 4), ['1,234,567', '-']);
});
