// The xlb daemon in a namespace lab, for end-to-end tests: a node (lab + temp dir + config files) whose daemon runs
// `lbctl daemon -c FILE` in the lab's LB network namespace and the lab's mount namespace, where /sys/fs/bpf starts
// unmounted as on a fresh machine (the daemon mounts it), so every test takes the bare machine's path.
//
//   const node = await XlbNode.create(t);                 // lab, temp dir; one teardown cleans everything, in order
//   const d = await node.start(node.config());            // writes the config, starts the daemon, waits for status
//   const r = await node.lbctl(['status', '--json']);     // { code, stdout, stderr }; --socket is added
//   const text = await node.metrics();                    // GET /metrics inside the LB namespace
//   await d.stop();                                        // SIGTERM, waits for the exit
//
// Also here: httpBurst() (N GETs from the client namespace, each on a new connection), HttpClient (a long-lived client
// with one keep-alive connection), ping() (parsed replies and summary).
//
// Names are unique per node: pin_path /sys/fs/bpf/<prefix> (inside the lab's mount namespace: node.pinDir reaches it
// from here), control_socket /run/xlb/<prefix>.sock, where <prefix> is the lab's random namespace prefix ("xlbd" + 8
// hex digits). The teardown (also on failure or timeout) stops every daemon this node started, destroys the lab (and
// with its mount namespace the pins), removes the socket and the temp dir; if the test failed, it t.log()s each
// daemon's log (JSON lines from its stderr).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import * as layout from '../../lb/bpf/layout.js';
import type { Status } from '../../lb/control/api.js';
import { BACKEND_HTTP_PORT, IFACES, Lab, labCleanupOnExit, type LabOptions } from '../../scripts/lab/lab.js';
import { RedisServer, type RedisServerOptions } from '../../scripts/lab/redis.js';

export const LBCTL = fileURLToPath(new URL('../../lb/cli/lbctl.js', import.meta.url));
/** Where /metrics listens inside the LB namespace (each lab has its own, so one port for all). */
export const METRICS_PORT = 9470;
/** The VIP of the default config's services. */
export const VIP = '198.18.100.10';
/** From the spawn: the daemon answers status (it loads, attaches, waits up to 3 s for neighbours). */
const READY_MS = 40_000;
/** From the first answer: every backend's next hop is resolved (an ARP round trip, a retry). */
const RESOLVED_MS = 20_000;
const STOP_MS = 10_000;
const LBCTL_TIMEOUT_MS = 30_000;
const LOG_LINES_SHOWN = 300;

/** What a test hands in: enough of ava's ExecutionContext. */
export interface TestContext {
  teardown(fn: () => void | Promise<void>): void;
  log(...values: unknown[]): void;
  readonly passed: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly configPath: string;
  /** Everything it wrote to stderr so far (pino JSON lines). */
  readonly log: string;
  /** Its stderr as parsed JSON lines (lines that are not JSON are skipped). */
  logEntries(): Record<string, unknown>[];
  /** Resolves with the exit code (128 + signal number when killed) once it has exited. */
  readonly exited: Promise<number>;
  readonly running: boolean;
  /** Sends SIGTERM (or `signal`) and waits for the exit; SIGKILL and an error if it takes over 10 s. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Sends a signal without waiting (e.g. SIGHUP). */
  signal(signal: NodeJS.Signals): void;
}

export type ConfigObject = Record<string, unknown>;

const liveNodes = new Set<XlbNode>();
let exitHandler = false;

export interface StartOptions {
  /** The config file's name in the node's temp dir. @default xlb.yaml */
  name?: string;
  /** More arguments for `lbctl daemon`. */
  args?: string[];
  /** More environment for the daemon, e.g. XLB_LOG_LEVEL. */
  env?: NodeJS.ProcessEnv;
  /**
   * Also wait until every backend's next hop is resolved (status: mac not null). A daemon is ready (answers status)
   * before it has the MACs, and until then the backends get no traffic. @default true
   */
  resolved?: boolean;
}

export class XlbNode {
  readonly lab: Lab;
  readonly dir: string;
  readonly pinPath: string;
  readonly socket: string;
  readonly daemons: DaemonProcess[] = [];

  /** The LB namespace this node's daemons run in. */
  readonly lbNs: string;

  private constructor(lab: Lab, dir: string, lb = 0) {
    this.lab = lab;
    this.dir = dir;
    this.lbNs = lab.lbs[lb]!.ns;
    // A pair's two nodes share the lab's mount namespace: each has its own pins (and socket).
    const name = lb === 0 ? lab.prefix : `${lab.prefix}-${lb + 1}`;
    this.pinPath = `/sys/fs/bpf/${name}`;
    this.socket = `/run/xlb/${name}.sock`;
  }

  get prefix(): string {
    return this.lab.prefix;
  }

  /** The pin directory as this process reaches it. */
  get pinDir(): string {
    return this.lab.inMounts(this.pinPath);
  }

  /** The daemon started last. */
  get daemon(): DaemonProcess | undefined {
    return this.daemons.at(-1);
  }

  /** Builds a lab and registers the one teardown that removes everything the node makes. */
  static async create(t: TestContext, options: LabOptions = {}): Promise<XlbNode> {
    // 8 random hex digits: tests in parallel workers must never pick the same names.
    const lab = await Lab.create({ prefix: `xlbd${randomBytes(4).toString('hex')}`, ...options });
    labCleanupOnExit(lab);
    const node = new XlbNode(lab, mkdtempSync(join(tmpdir(), `${lab.prefix}-`)));
    liveNodes.add(node);
    if (!exitHandler) {
      // If the worker dies before the teardown, the lab's own handler kills the daemons and the namespaces; this
      // removes what is outside them.
      exitHandler = true;
      process.on('exit', () => {
        for (const n of liveNodes) n.removeFiles();
      });
    }
    t.teardown(() => node.cleanup(t));
    return node;
  }

  /**
   * Two nodes, one per LB of a pair lab (scripts/lab/lab.ts `pair`), each with its own pins, socket and temp dir; one
   * teardown stops both nodes' daemons, then removes the lab.
   */
  static async pair(t: TestContext, options: LabOptions = {}): Promise<[XlbNode, XlbNode]> {
    const a = await XlbNode.create(t, { ...options, pair: true });
    const b = new XlbNode(a.lab, mkdtempSync(join(tmpdir(), `${a.lab.prefix}-2-`)), 1);
    liveNodes.add(b);
    // Registered after a's: ava runs teardowns in reverse, so b's daemons stop before a's cleanup removes the lab.
    t.teardown(() => b.cleanup(t, false));
    return [a, b];
  }

  /**
   * The default config: node settings unique to this lab (interfaces front and back, metrics on 127.0.0.1:9470),
   * services "ping" (icmp, rr) and "web" (tcp 80 -> 8080, maglev, nat, http health every 500 ms) on 198.18.100.10
   * over the lab's backends. `services`/`deny` replace the defaults when given.
   */
  config(overrides: { services?: ConfigObject[]; deny?: string[]; node?: ConfigObject; redis?: ConfigObject; ha?: ConfigObject } = {}):
    ConfigObject {
    const backends = this.lab.addresses.backends;
    return {
      node: {
        interfaces: [IFACES.lbFront, IFACES.lbBack],
        xdp_mode: 'auto',
        control_socket: this.socket,
        pin_path: this.pinPath,
        metrics: `127.0.0.1:${METRICS_PORT}`,
        ...overrides.node,
      },
      ...(overrides.redis && { redis: overrides.redis }),
      ...(overrides.ha && { ha: overrides.ha }),
      deny: overrides.deny ?? [],
      services: overrides.services ?? [pingService(backends), webService(backends)],
    };
  }

  /** Writes `config` (an object, dumped as YAML, or YAML text) to `name` in the node's temp dir; returns the path. */
  writeConfig(config: ConfigObject | string, name = 'xlb.yaml'): string {
    const path = join(this.dir, name);
    writeFileSync(path, typeof config === 'string' ? config : stringify(config));
    return path;
  }

  /**
   * Writes `config` (default: this.config()) to xlb.yaml and starts a daemon with it; resolves once
   * `lbctl status --json` answers with the new daemon's pid (within 40 s of the spawn), and every next hop is resolved
   * (within 20 s of that first answer; see StartOptions). Rejects (with the daemon's log) if it exits first or a
   * deadline passes.
   */
  async start(config: ConfigObject | string = this.config(), opts: StartOptions = {}): Promise<DaemonProcess> {
    const configPath = this.writeConfig(config, opts.name ?? 'xlb.yaml');
    const d = this.spawnDaemon(configPath, opts.args ?? [], opts.env);
    const wantMacs = opts.resolved ?? true;
    let deadline = Date.now() + READY_MS;
    let answered = false;
    let why = '';
    for (;;) {
      if (!d.running) {
        throw new Error(`the daemon exited (${await d.exited}) before it was ready; its log:\n${d.log}`);
      }
      const last = await this.lbctl(['status', '--json'], { timeoutMs: 10_000 });
      why = `lbctl status: ${last.code} ${last.stderr.trim()}`;
      if (last.code === 0) {
        try {
          const s = JSON.parse(last.stdout) as Status;
          const unresolved = s.services.flatMap((v) => v.backends.filter((b) => b.mac === null).map((b) => `${b.address} (${b.unresolved})`));
          if (s.pid === d.pid && !answered) {
            answered = true;
            deadline = Date.now() + RESOLVED_MS;
          }
          why = s.pid !== d.pid ? `status answered by pid ${s.pid}, not ${d.pid}`
            : `next hops unresolved: ${[...new Set(unresolved)].join(', ')}`;
          if (s.pid === d.pid && (!wantMacs || unresolved.length === 0)) return d;
        } catch {
          why = `lbctl status --json printed something that is not JSON: ${last.stdout.slice(0, 200)}`;
        }
      }
      if (Date.now() > deadline) {
        const phase = answered ? `its next hops were not resolved within ${RESOLVED_MS / 1000} s of its first answer`
          : `it did not answer within ${READY_MS / 1000} s of its start`;
        throw new Error(`the daemon was not ready: ${phase} (${why}); its log:\n${d.log}`);
      }
      await sleep(200);
    }
  }

  /** Starts `lbctl daemon -c configPath` in the LB namespace (see the file comment) and captures its output. */
  spawnDaemon(configPath: string, args: string[] = [], env?: NodeJS.ProcessEnv): DaemonProcess {
    const child = this.lab.spawnBare(this.lbNs, [process.execPath, LBCTL, 'daemon', '-c', configPath, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    let log = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (log += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    let exitCode: number | undefined;
    const exited = new Promise<number>((resolve) => {
      // 'close', not 'exit': by then its stdout and stderr are read to the end, so the log is complete.
      child.once('close', (code, signal) => {
        exitCode = code ?? 128 + (signal ? signalNumber(signal) : 0);
        resolve(exitCode);
      });
      child.once('error', (err) => {
        log += `spawn error: ${err.message}\n`;
        exitCode = 127;
        resolve(127);
      });
    });
    const d: DaemonProcess = {
      child,
      pid: child.pid!,
      configPath,
      get log() {
        return log;
      },
      logEntries: () => log.split('\n').flatMap((line) => {
        try {
          const v = JSON.parse(line) as unknown;
          return v !== null && typeof v === 'object' ? [v as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
      exited,
      get running() {
        return exitCode === undefined;
      },
      signal: (signal) => {
        if (exitCode === undefined) child.kill(signal);
      },
      stop: async (signal = 'SIGTERM') => {
        if (exitCode !== undefined) return exitCode;
        child.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_MS))),
        ]);
        clearTimeout(timer);
        if (late) {
          child.kill('SIGKILL');
          await exited;
          throw new Error(`the daemon (pid ${child.pid}) did not exit within ${STOP_MS / 1000} s of ${signal}`);
        }
        return exited;
      },
    };
    this.daemons.push(d);
    return d;
  }

  /** Runs lbctl from this process with `--socket` (unless `socket: false`); never throws on the exit code. */
  lbctl(args: string[], opts: { socket?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    const argv = [LBCTL, ...args, ...(opts.socket === false ? [] : ['--socket', this.socket])];
    return run(process.execPath, argv, opts.timeoutMs ?? LBCTL_TIMEOUT_MS);
  }

  /** `lbctl ARGS --json` parsed; throws with lbctl's stderr when it fails. */
  async lbctlJson<T>(args: string[]): Promise<T> {
    const r = await this.lbctl([...args, '--json']);
    if (r.code !== 0) throw new Error(`lbctl ${args.join(' ')} --json exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  status(): Promise<Status> {
    return this.lbctlJson<Status>(['status']);
  }

  /** GET http://127.0.0.1:9470/metrics from inside the LB namespace; throws unless it answers 200. */
  async metrics(port = METRICS_PORT): Promise<string> {
    const r = await this.lab.exec(this.lbNs, [
      'curl', '-sS', '--fail', '--max-time', '10', `http://127.0.0.1:${port}/metrics`,
    ]);
    if (r.code !== 0) throw new Error(`metrics scrape failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /**
   * The backends the data plane holds (xlb_backends, read from the pins with bpftool): each in-use entry's address,
   * port and owning service id.
   */
  async backendsInMaps(): Promise<{ addr: string; port: number; service: number }[]> {
    const r = await run('bpftool', ['-j', 'map', 'dump', 'pinned', `${this.pinDir}/xlb_backends`], 60_000);
    if (r.code !== 0) throw new Error(`bpftool map dump xlb_backends failed (${r.code}): ${r.stderr.trim()}`);
    const entries = JSON.parse(r.stdout) as { value: string[] }[];
    return entries
      .map((e) => layout.backend.decode(Buffer.from(e.value.map((h) => parseInt(h, 16)))))
      .filter((b) => b.addr !== '0.0.0.0')
      .map((b) => ({ addr: b.addr, port: b.port, service: b.service }));
  }

  /** XDP program ids on an interface of the LB namespace, from `ip -j link show` (empty: none attached). */
  async xdpProgIds(dev: string): Promise<number[]> {
    const r = await this.lab.exec(this.lbNs, ['ip', '-j', '-d', 'link', 'show', 'dev', dev]);
    if (r.code !== 0) throw new Error(`ip link show ${dev} failed: ${r.stderr.trim()}`);
    const [link] = JSON.parse(r.stdout) as { xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] } }[];
    const xdp = link?.xdp;
    if (!xdp) return [];
    const ids = [xdp.prog?.id, ...(xdp.attached ?? []).map((a) => a.prog?.id)];
    return [...new Set(ids.filter((id): id is number => typeof id === 'number'))];
  }

  /** The control socket and the temp dir. */
  removeFiles(): void {
    rmSync(this.socket, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops this node's daemons (their logs shown if the test failed), then, if `destroyLab`, the lab. */
  private async cleanup(t: TestContext, destroyLab = true): Promise<void> {
    const errors: string[] = [];
    for (const d of this.daemons) {
      try {
        await d.stop();
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (!t.passed) {
      for (const [i, d] of this.daemons.entries()) {
        const lines = d.log.trimEnd().split('\n');
        const shown = lines.slice(-LOG_LINES_SHOWN).join('\n');
        t.log(`daemon ${i + 1} (pid ${d.pid}, ${d.configPath}) log${lines.length > LOG_LINES_SHOWN ? ` (last ${LOG_LINES_SHOWN} lines)` : ''}:\n${shown}`);
      }
    }
    if (destroyLab) {
      try {
        await this.lab.destroy();
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    this.removeFiles();
    liveNodes.delete(this);
    if (errors.length) throw new Error(`cleanup of ${this.prefix}: ${errors.join('; ')}`);
  }
}

/**
 * A private redis-server for a lab's daemons: in the switch namespace on the backend bridge (lab.switchAddress), so
 * the LBs reach it over their back interfaces; removed at the test's teardown.
 */
export async function labRedis(t: TestContext, lab: Lab, options: Omit<RedisServerOptions, 'netns' | 'bind'> = {}):
  Promise<RedisServer> {
  const server = await RedisServer.start({ ...options, netns: lab.ns.sw, bind: lab.switchAddress });
  t.teardown(async () => {
    if (!t.passed) t.log(`redis-server at ${server.url}:\n${server.log.slice(-3000)}`);
    await server.destroy();
  });
  return server;
}

export function pingService(backends: string[], extra: ConfigObject = {}): ConfigObject {
  return { name: 'ping', vip: VIP, protocol: 'icmp', backends: backends.map((address) => ({ address })), ...extra };
}

export function webService(backends: string[], extra: ConfigObject = {}): ConfigObject {
  return {
    name: 'web',
    vip: VIP,
    protocol: 'tcp',
    port: 80,
    scheduler: 'maglev',
    forwarding: 'nat',
    health: { type: 'http', port: BACKEND_HTTP_PORT, path: '/healthz', interval: '500ms', timeout: '300ms', rise: 2, fall: 2 },
    backends: backends.map((address) => ({ address, port: BACKEND_HTTP_PORT })),
    ...extra,
  };
}

/** Runs a command to completion; never throws (127 when it cannot start, 128 + n when killed by signal n). */
export function run(cmd: string, args: string[], timeoutMs = LBCTL_TIMEOUT_MS, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    child.on('error', (err) => {
      stderr += err.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 + signalNumber(signal) : 127) });
    });
  });
}

/**
 * A status's services without what the probes last found (`probe` changes with every probe): what tests compare
 * to say the pool stayed as it was.
 */
export function servicesOf(s: Status): unknown[] {
  return s.services.map((v) => ({ ...v, backends: v.backends.map(({ probe: _probe, ...b }) => b) }));
}

/** Calls `fn` every `everyMs` until it returns a value other than undefined/false, or throws after `ms`. */
export async function eventually<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>, everyMs = 200):
  Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

// ---- HTTP clients in the client namespace --------------------------------------------------------------------------

export interface HttpBurst {
  /** Requests that got a 200. */
  ok: number;
  /** X-Backend of each request in order ("" when it failed). */
  backends: string[];
  /** Requests per backend name. */
  counts: Record<string, number>;
  errors: string[];
}

/** Node script: `count` GETs of `url`, one after the other, each on a new connection; prints an HttpBurst. */
const BURST_JS = `
const http = require('node:http');
const [url, count, timeout] = process.argv.slice(1);
const get = () => new Promise((resolve) => {
  const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: Number(timeout) }, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () =>
      resolve(res.statusCode === 200 ? { backend: String(res.headers['x-backend'] ?? '') } : { error: 'HTTP ' + res.statusCode }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ error: e.code || e.message }));
});
(async () => {
  const out = { ok: 0, backends: [], counts: {}, errors: [] };
  for (let i = 0; i < Number(count); i++) {
    const r = await get();
    if (r.error) { out.errors.push(r.error); out.backends.push(''); continue; }
    out.ok++;
    out.backends.push(r.backend);
    out.counts[r.backend] = (out.counts[r.backend] ?? 0) + 1;
  }
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

/**
 * Clients that count on rr's exact turns run on CPU 0: rr rotates per CPU, and veth hands a frame to the receiver's XDP
 * program on the sending CPU, so a client the scheduler moved between CPUs would see two rotations. A NIC gives one
 * client's flows the same treatment when they hash to one queue.
 */
const CLIENT_CPU = ['taskset', '-c', '0'];

/** `count` HTTP GETs from the client namespace (on CLIENT_CPU), each on a new connection (default: the web VIP, port 80). */
export async function httpBurst(lab: Lab, count: number, url = `http://${VIP}/`, timeoutMs = 3000): Promise<HttpBurst> {
  const r = await lab.exec(lab.ns.client, [...CLIENT_CPU, process.execPath, '-e', BURST_JS, url, String(count), String(timeoutMs)],
    { timeoutMs: 60_000 + count * timeoutMs });
  if (r.code !== 0) throw new Error(`http burst failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as HttpBurst;
}

export interface HttpAnswer {
  status?: number;
  backend?: string;
  /** The client's local port: the same on one connection. */
  localPort?: number;
  /** True when the request went over a socket that had carried an earlier one. */
  reused?: boolean;
  error?: string;
}

/**
 * Node script reading commands from stdin, one a line: "keep" GETs over one keep-alive connection (an Agent with
 * keepAlive, maxSockets 1), "new" GETs on a new connection; prints an HttpAnswer JSON line for each.
 */
const CLIENT_JS = `
const http = require('node:http');
const readline = require('node:readline');
const url = process.argv[1];
const keep = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });
const get = (agent) => new Promise((resolve) => {
  const req = http.get(url, { agent, timeout: 3000 }, (res) => {
    const localPort = res.socket.localPort;
    res.resume().on('end', () => resolve({ status: res.statusCode, backend: res.headers['x-backend'], localPort, reused: req.reusedSocket }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ error: e.code || e.message }));
});
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const r = await get(line.trim() === 'keep' ? keep : false);
  process.stdout.write(JSON.stringify(r) + '\\n');
}).on('close', () => { keep.destroy(); });
process.stdout.write('ready\\n');
`;

/** A long-lived HTTP client in the client namespace (see CLIENT_JS); ends with the lab or with close(). */
export class HttpClient {
  private buffer = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiting.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    child.stderr!.resume();
  }

  static async open(lab: Lab, url = `http://${VIP}/`): Promise<HttpClient> {
    const child = lab.spawn(lab.ns.client, [...CLIENT_CPU, process.execPath, '-e', CLIENT_JS, url], { stdio: ['pipe', 'pipe', 'pipe'] });
    const c = new HttpClient(child);
    const first = await c.next(10_000);
    if (first !== 'ready') throw new Error(`http client: expected "ready", got ${JSON.stringify(first)}`);
    return c;
  }

  /** A GET over the one keep-alive connection ("keep") or on a new connection ("new"). */
  async get(how: 'keep' | 'new'): Promise<HttpAnswer> {
    this.child.stdin!.write(`${how}\n`);
    return JSON.parse(await this.next(10_000)) as HttpAnswer;
  }

  close(): void {
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
  }

  private next(ms: number): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(done);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`http client: no answer within ${ms} ms`));
      }, ms);
      const done = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiting.push(done);
    });
  }
}

/** Pings from the client namespace (on CLIENT_CPU); `replies` lists each reply's source address in order. */
export async function ping(lab: Lab, args: string[], target = VIP, timeoutMs = 60_000):
  Promise<RunResult & { replies: { from: string; seq: number }[]; loss?: number; transmitted?: number; received?: number }> {
  const r = await lab.exec(lab.ns.client, [...CLIENT_CPU, 'ping', '-n', ...args, target], { timeoutMs });
  const replies = [...r.stdout.matchAll(/bytes from ([0-9.]+): icmp_seq=(\d+)/g)].map((m) => ({ from: m[1]!, seq: Number(m[2]) }));
  const sum = /(\d+) packets transmitted, (\d+) received,.*?([0-9.]+)% packet loss/.exec(r.stdout);
  return {
    ...r, replies,
    ...(sum ? { transmitted: Number(sum[1]), received: Number(sum[2]), loss: Number(sum[3]) } : {}),
  };
}
