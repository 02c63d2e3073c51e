// Private redis-server and Sentinel processes for tests, `npm run demo` and the bench: each on its own port (a free one
// unless given) and data directory, optionally inside a network namespace, TLS-only or with a password, killed with the
// process that started them. Also makeTlsFiles(): a self-signed CA and a server certificate for 127.0.0.1, by openssl.
//
//   const redis = await RedisServer.start();          // temp dir, free port, no persistence: a restart starts empty
//   await redis.cli('SET', 'k', 'v');                  // redis-cli against it (its TLS and password included)
//   await redis.stop(); await redis.start();           // the same port and directory again
//   await redis.destroy();                              // stops it and removes the directory it made
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deathSignal } from './lab.js';

const READY_MS = 15_000;
const STOP_MS = 10_000;
const CLI_MS = 15_000;
const PING_EVERY_MS = 50;
const HOST = '127.0.0.1';

export interface TlsFiles {
  /** PEM: the CA that signed `cert`; clients verify the server with it. */
  ca: string;
  cert: string;
  key: string;
}

interface ProcessOptions {
  /** Data directory; default: a new temp directory, removed by destroy(). */
  dir?: string;
  /** Default: a free port on 127.0.0.1 (6379 inside `netns`). */
  port?: number;
  /** Address to listen on. @default 127.0.0.1 */
  bind?: string;
  /** Run redis-server and redis-cli in this network namespace (`ip netns exec`). */
  netns?: string;
  /** requirepass (and masterauth, for a replica). */
  password?: string;
  /** Serve TLS only, on `port`. */
  tls?: TlsFiles;
}

export interface RedisServerOptions extends ProcessOptions {
  /** Start as a replica of this master. */
  replicaOf?: { host: string; port: number };
  /** Keep the data across restarts (append-only file, synced at every write). @default false */
  persist?: boolean;
  /** More config file lines, e.g. "min-replicas-to-write 1". */
  config?: string[];
}

/** A config file value, quoted: paths and passwords may hold spaces. */
function q(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Children still running; killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHook = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/** A TCP port nobody listens on right now (the OS's choice); a server that loses the race is started again. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

function run(argv: string[], timeoutMs = CLI_MS): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => (stderr += err.message));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 + constants.signals[signal] : 127) });
    });
  });
}

/** A redis-server process (a server or a Sentinel) on its own port and directory; see RedisServer, SentinelServer. */
abstract class RedisProcess {
  readonly dir: string;
  readonly host: string;
  port: number;
  private child?: ChildProcess;
  private output = '';
  private readonly ownDir: boolean;
  private readonly portGiven: boolean;

  protected constructor(protected readonly options: ProcessOptions) {
    this.ownDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'xlb-redis-'));
    this.host = options.bind ?? HOST;
    this.portGiven = options.port !== undefined || options.netns !== undefined;
    this.port = options.port ?? (options.netns !== undefined ? 6379 : 0);
  }

  /** The config file's lines, for this.port. */
  protected abstract config(): string[];
  /** The config file's name and the arguments after it. */
  protected abstract readonly mode: { file: string; args: string[] };

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  /** What the process printed (its log), for a failed test. */
  get log(): string {
    return this.output;
  }

  /** (Re)starts it on the same port and directory, resolving once it answers PING; one with a port of its own choice
   * takes another if its port was taken meanwhile. */
  async start(): Promise<void> {
    if (this.running) return;
    for (let attempt = 1; ; attempt++) {
      if (!this.portGiven && (this.port === 0 || attempt > 1)) this.port = await freePort();
      const file = join(this.dir, this.mode.file);
      writeFileSync(file, [`bind ${this.host}`, `dir ${q(this.dir)}`, 'daemonize no', 'logfile ""', ...this.config()]
        .join('\n') + '\n');
      try {
        await this.launch([file, ...this.mode.args]);
        return;
      } catch (err) {
        const taken = /Address already in use/.test(this.output);
        if (!taken || this.portGiven || attempt >= 5) throw err;
      }
    }
  }

  private async launch(args: string[]): Promise<void> {
    const argv = [...this.prefix(), ...deathSignal(), 'redis-server', ...args];
    this.output = '';
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    track(child);
    const keep = (d: string) => (this.output = (this.output + d).slice(-20_000));
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`redis-server on port ${this.port} exited (${code ?? signal}) ` +
        `before it answered: ${this.output.trim().slice(-2000)}`)));
      child.once('error', reject);
    });
    exited.catch(() => undefined);
    await Promise.race([exited, this.waitPing()]);
  }

  private async waitPing(): Promise<void> {
    const deadline = Date.now() + READY_MS;
    for (;;) {
      // NOAUTH and LOADING also mean it listens; only a refused connection means not yet.
      const res = await this.cli('PING');
      if (res.code === 0 && /PONG|NOAUTH|LOADING/.test(res.stdout + res.stderr)) return;
      if (!this.running) return; // launch() reports the exit
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} not answering after ${READY_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, PING_EVERY_MS));
    }
  }

  private prefix(): string[] {
    return this.options.netns !== undefined ? ['ip', 'netns', 'exec', this.options.netns] : [];
  }

  /** redis-cli with this process's address, TLS and password; never throws on the exit code. */
  cli(...args: string[]): Promise<CliResult> {
    const o = this.options;
    const conn = ['-h', this.host, '-p', String(this.port)];
    if (o.tls) conn.push('--tls', '--cacert', o.tls.ca);
    if (o.password !== undefined) conn.push('--no-auth-warning', '-a', o.password);
    return run([...this.prefix(), 'redis-cli', ...conn, ...args]);
  }

  /** Like cli(), but rejects on a failed run or an error reply; resolves with stdout trimmed. */
  async must(...args: string[]): Promise<string> {
    const res = await this.cli(...args);
    const out = res.stdout.trim();
    if (res.code !== 0 || /^(ERR|WRONGTYPE|NOAUTH|WRONGPASS|NOSCRIPT|\(error\))/m.test(out)) {
      throw new Error(`redis-cli ${args.join(' ')}: ${(out + ' ' + res.stderr).trim()}`);
    }
    return out;
  }

  /** Sends `signal` (SIGKILL after 10 s) and resolves once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stops it and removes the directory it made (not one it was given). */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One redis-server: a master, or a replica with `replicaOf`. */
export class RedisServer extends RedisProcess {
  protected readonly mode = { file: 'redis.conf', args: [] };

  private constructor(protected override readonly options: RedisServerOptions) {
    super(options);
  }

  /** Starts a server; resolves once it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options);
    try {
      await server.start();
      return server;
    } catch (err) {
      await server.destroy();
      throw err;
    }
  }

  /** redis:// or rediss:// (TLS), without the password. */
  get url(): string {
    return `${this.options.tls ? 'rediss' : 'redis'}://${this.host}:${this.port}/0`;
  }

  protected config(): string[] {
    const o = this.options;
    // Protected mode refuses every client off loopback without a password: lab servers listen on a lab address.
    const lines = [o.tls ? 'port 0' : `port ${this.port}`, 'save ""', `appendonly ${o.persist ? 'yes' : 'no'}`,
      'appendfsync always', 'protected-mode no'];
    if (o.tls) {
      lines.push(`tls-port ${this.port}`, `tls-cert-file ${q(o.tls.cert)}`, `tls-key-file ${q(o.tls.key)}`,
        `tls-ca-cert-file ${q(o.tls.ca)}`, 'tls-auth-clients no', 'tls-replication yes');
    }
    if (o.password !== undefined) lines.push(`requirepass ${q(o.password)}`, `masterauth ${q(o.password)}`);
    if (o.replicaOf) lines.push(`replicaof ${o.replicaOf.host} ${o.replicaOf.port}`);
    return [...lines, ...(o.config ?? [])];
  }
}

export interface SentinelOptions {
  master: { host: string; port: number };
  /** The master group's name. @default mymaster */
  name?: string;
  /** The password of the watched servers (auth-pass); the Sentinel itself has none. */
  authPass?: string;
  dir?: string;
}

/** A Sentinel watching one master with quorum 1, so SENTINEL FAILOVER needs no other Sentinel. */
export class SentinelServer extends RedisProcess {
  readonly name: string;
  protected readonly mode = { file: 'sentinel.conf', args: ['--sentinel'] };

  private constructor(private readonly watch: SentinelOptions) {
    super({ ...(watch.dir !== undefined && { dir: watch.dir }) });
    this.name = watch.name ?? 'mymaster';
  }

  static async start(options: SentinelOptions): Promise<SentinelServer> {
    const sentinel = new SentinelServer(options);
    try {
      await sentinel.start();
      return sentinel;
    } catch (err) {
      await sentinel.destroy();
      throw err;
    }
  }

  protected config(): string[] {
    const { master } = this.watch;
    const lines = [
      `port ${this.port}`,
      `sentinel monitor ${this.name} ${master.host} ${master.port} 1`,
      `sentinel down-after-milliseconds ${this.name} 2000`,
      `sentinel failover-timeout ${this.name} 10000`,
    ];
    if (this.watch.authPass !== undefined) lines.push(`sentinel auth-pass ${this.name} ${q(this.watch.authPass)}`);
    return lines;
  }

  /** The master's address as this Sentinel names it now. */
  async master(): Promise<{ host: string; port: number }> {
    const [host, port] = (await this.must('SENTINEL', 'get-master-addr-by-name', this.name)).split('\n');
    return { host: host!, port: Number(port) };
  }
}

/** A CA and a server certificate for `addresses` (default 127.0.0.1) signed by it, made with openssl in `dir`. */
export async function makeTlsFiles(dir: string, addresses: readonly string[] = ['127.0.0.1']): Promise<TlsFiles> {
  const f = (name: string) => join(dir, name);
  const openssl = async (...args: string[]) => {
    const res = await run(['openssl', ...args]);
    if (res.code !== 0) throw new Error(`openssl ${args[0]} failed (${res.code}): ${res.stderr.trim()}`);
  };
  writeFileSync(f('server.ext'), `subjectAltName = ${addresses.map((a) => `IP:${a}`).join(',')}\nbasicConstraints = CA:FALSE\n`);
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-days', '2', '-subj', '/CN=xlb test CA');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'),
    '-subj', `/CN=${addresses[0]}`);
  await openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext'));
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}
