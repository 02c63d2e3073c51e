// npm run demo: xlb as an HA pair in a namespace lab (a client, two load balancers lb-a and lb-b on its segment, three
// backends with small HTTP servers, a redis-server of the demo's own on the backend switch), each node's daemon on its
// config (config/demo.yaml, config/demo-b.yaml), step by step with short captions: ping to the VIP spread over the
// backends, HTTP requests spread over the backends, a backend stopped and taken out by its health check, a backend
// drained, `lbctl status`, `lbctl stats` and `lbctl ha status` along the way; then the active node is killed (kill -9,
// its links down) and the standby takes over, with the gap the client saw measured from a ping flood. Under a minute;
// cleans everything up on exit, also on a failure or Ctrl-C. One demo at a time (/run/xlb/demo.pid): a second one
// refuses to start rather than tear down the first one's lab.
//
//   node dist/scripts/demo.js           the demo
//   node dist/scripts/demo.js --keep    the demo, then keep the lab up to explore until Ctrl-C
//   node dist/scripts/demo.js --down    tear down what a killed run left (daemons, namespaces, Redis, key, sockets)
//
// The daemons' JSON logs go to /tmp/xlb-demo-lb-a.log and /tmp/xlb-demo-lb-b.log, not the terminal.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ControlClient } from '../lb/cli/client.js';
import type { ServiceSpec } from '../config/pool.js';
import { Lab, labCleanupOnExit, listNamespaces, removeStaleLabs, type LabLb } from './lab/lab.js';
import { RedisServer } from './lab/redis.js';

const PREFIX = 'xlbdemo';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LBCTL = `${ROOT}dist/lb/cli/lbctl.js`;
/** Where the demo's redis-server keeps its files; removed at the end, and by --down. */
const REDIS_DIR = '/tmp/xlb-demo-redis';
/** Holds the pid of the demo that runs now: a run starts by tearing down whatever it finds under the demo's names. */
const LOCK = '/run/xlb/demo.pid';
const REQUESTS = 12;
/** Slow requests in flight while a backend is drained. */
const SLOW = 6;
const DAEMON_READY_MS = 15_000;
const HEALTH_CHANGE_MS = 10_000;
const TAKEOVER_MS = 10_000;
/** The client's echo requests while the active node dies: one every 10 ms. */
const FLOOD_INTERVAL_S = 0.01;
/** How long the flood runs before the kill, and on after the takeover. */
const FLOOD_MARGIN_MS = 1000;

// ---- terminal ----------------------------------------------------------------------------------------------------

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const sgr = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = sgr('1');
const dim = sgr('2');
const red = sgr('31');
const green = sgr('32');
const yellow = sgr('33');
const cyan = sgr('36');
const BACKEND_COLORS = [sgr('35'), sgr('34'), sgr('33')];

const say = (line = '') => process.stdout.write(`${line}\n`);
const caption = (n: number, text: string) => say(`\n${bold(cyan(`== ${n}. ${text}`))}`);
/** A command as the operator would type it; `where` is a namespace's short name ("client"), else the host. */
const command = (text: string, where?: string) => say(yellow(`${where ? `${where}$` : '$'} ${text}`));
const output = (lines: string[]) => lines.forEach((l) => say(l ? `  ${l}` : ''));
const note = (text: string) => say(dim(`  ${text}`));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

class DemoError extends Error {
  constructor(message: string, readonly showLog = false) {
    super(message);
  }
}

// ---- state shared with the exit handlers -------------------------------------------------------------------------

/** One node of the pair: its config file and what the demo knows of it. */
interface NodeSettings {
  /** "lb-a", "lb-b": the config's ha.node_id. */
  id: string;
  configRel: string;
  config: Config;
  socket: string;
  redisUrl: string;
  log: string;
}

interface Settings {
  a: NodeSettings;
  b: NodeSettings;
  keyFile: string;
  /** The Redis both nodes use; the demo starts it. */
  redisUrl: string;
  ping: ServiceSpec;
  web: ServiceSpec;
}

let settings: Settings | undefined;
let lab: Lab | undefined;
let redis: RedisServer | undefined;
const daemons = new Map<string, ChildProcess>();
/** Set once everything is torn down: the exit handler then does nothing. */
let settled = false;
/** --keep, after the steps: Ctrl-C is the way out, not a failure. */
let waitingForCtrlC = false;
let locked = false;

// ---- main --------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let values: { keep?: boolean; down?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { keep: { type: 'boolean', default: false }, down: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\nusage: node dist/scripts/demo.js [--keep | --down]\n`);
    return 2;
  }
  if (values.keep && values.down) {
    process.stderr.write('demo: --keep or --down, not both\n');
    return 2;
  }
  if (values.help) {
    say('usage: node dist/scripts/demo.js [--keep | --down]   (npm run demo [-- --keep])');
    say('  --keep  keep the lab, Redis and the surviving node up afterwards, print commands to explore them; Ctrl-C ends it');
    say('  --down  tear down what a killed run left');
    return 0;
  }
  if (process.getuid?.() !== 0) throw new DemoError('the demo needs root (network namespaces, XDP, bpffs)');
  settings = loadSettings();
  installSignalHandlers();
  lock();

  if (values.down) {
    settled = true;
    await teardown(settings, true);
    return 0;
  }
  return demo(settings, values.keep!);
}

function loadNode(configRel: string): NodeSettings {
  let config: Config;
  try {
    config = loadConfigFile(`${ROOT}${configRel}`);
  } catch (err) {
    throw new DemoError((err as Error).message);
  }
  if (!config.ha || !config.redis || !('url' in config.redis)) {
    throw new DemoError(`${configRel} needs an ha: section and redis: with a url; the demo runs an HA pair on its own Redis`);
  }
  const id = config.ha.nodeId;
  return { id, configRel, config, socket: config.node.controlSocket, redisUrl: config.redis.url, log: `/tmp/xlb-demo-${id}.log` };
}

function loadSettings(): Settings {
  const a = loadNode('config/demo.yaml');
  const b = loadNode('config/demo-b.yaml');
  if (a.config.ha!.keyFile !== b.config.ha!.keyFile || a.redisUrl !== b.redisUrl) {
    throw new DemoError(`${a.configRel} and ${b.configRel} name different ha.key_file or redis.url: the demo makes one of each`);
  }
  const service = (name: string) => {
    const s = a.config.pool.services.find((v) => v.name === name);
    if (!s) throw new DemoError(`${a.configRel} has no service "${name}", which the demo drives`);
    return s;
  };
  return { a, b, keyFile: a.config.ha!.keyFile, redisUrl: a.redisUrl, ping: service('ping'), web: service('web') };
}

async function demo(s: Settings, keep: boolean): Promise<number> {
  const started = performance.now();
  const { a, b, ping, web } = s;
  const client = { [a.id]: new ControlClient(a.socket, { timeoutMs: 5000 }), [b.id]: new ControlClient(b.socket, { timeoutMs: 5000 }) };

  say(bold('xlb demo: an HA pair of XDP load balancers between network namespaces'));
  say(dim(`  lbctl below is node dist/lb/cli/lbctl.js --socket ${a.socket} (${a.id}); lbctl-b adds --socket ${b.socket} (${b.id})`));
  say(dim(`  "client$" runs in namespace ${PREFIX}-client; the daemons' logs (JSON): ${a.log}, ${b.log}`));

  // Whatever a killed earlier run left: its daemons, namespaces, pins, Redis, key and sockets.
  const stale = await teardown(s, false);
  if (stale.length) note(`removed what an earlier run left: ${stale.join(', ')}`);

  // ---- 0: lab, Redis, the pair
  caption(0, 'the lab: a client and the pair lb-a, lb-b on one segment; three backends (HTTP on :8080) and Redis behind');
  const t0 = performance.now();
  lab = await Lab.create({ prefix: PREFIX, backends: 3, pair: true });
  labCleanupOnExit(lab);
  const [lbA, lbB] = lab.lbs as [LabLb, LabLb];
  const name = new Map(lab.addresses.backends.map((addr, i) => [addr, lab!.backendNames[i]!]));
  const paint = (x: string) => BACKEND_COLORS[lab!.backendNames.indexOf(x) % BACKEND_COLORS.length]?.(x) ?? x;
  const nodeOf = new Map([[lbA.frontMac, a.id], [lbB.frontMac, b.id]]);
  output([
    `client ${lab.addresses.client} (${lab.ns.client})`,
    `${a.id}: front ${lbA.front} ${lbA.frontMac} | back ${lbA.back} (${lbA.ns})`,
    `${b.id}: front ${lbB.front} ${lbB.frontMac} | back ${lbB.back} (${lbB.ns})`,
    `backends ${lab.backendNames.map((x, i) => `${x} ${lab!.addresses.backends[i]}`).join(', ')}, gateway ${lab.gateway}: ` +
      'the active node floats it',
    `VIP ${web.vip}, in the client's subnet: service ping (icmp, ${ping.scheduler}), service web (tcp ${web.port}, ` +
      `${web.scheduler}, ${web.forwarding})`,
  ]);
  note(`lab up in ${seconds(performance.now() - t0)}`);

  const redisUrl = new URL(s.redisUrl);
  const redisPort = Number(redisUrl.port || 6379);
  command(`redis-server --bind ${redisUrl.hostname} --port ${redisPort} --dir ${REDIS_DIR} &`, 'switch');
  mkdirSync(REDIS_DIR, { recursive: true, mode: 0o700 });
  redis = await RedisServer.start({ netns: lab.ns.sw, bind: redisUrl.hostname, port: redisPort, dir: REDIS_DIR });
  note(`Redis answers at ${redis.url} (pid ${redis.pid}): the pool and the pair's lease live there`);
  command(`openssl rand -hex 32 > ${s.keyFile}`);
  mkdirSync(dirname(s.keyFile), { recursive: true, mode: 0o755 });
  writeFileSync(s.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  note('the shared secret that seals the pair\'s heartbeats');

  for (const [node, lb, role] of [[a, lbA, 'active'], [b, lbB, 'standby']] as const) {
    command(`lbctl daemon -c ${node.configRel} --detach-on-exit 2>${node.log} &`, node.id);
    const t1 = performance.now();
    startDaemon(node, lb.ns);
    const ready = await waitFor(DAEMON_READY_MS, async () => {
      const d = daemons.get(node.id)!;
      if (d.exitCode !== null || d.signalCode !== null) {
        throw new DemoError(`${node.id}'s daemon exited (${d.exitCode ?? d.signalCode}) before it was ready`, true);
      }
      const st = await client[node.id]!.call('GET /status', undefined).catch(() => undefined);
      const ha = await client[node.id]!.call('GET /ha', undefined).catch(() => undefined);
      // Ready to serve: every backend up and its next-hop MAC known; the standby's tables the same as the active's.
      const backends = st?.services.every((v) => v.backends.every((x) => x.health === 'up' && x.mac));
      return backends && ha?.role === role && (role === 'active' || ha.ready.ready) ? ha : undefined;
    });
    if (!ready) throw new DemoError(`${node.id} was not ${role} and ready within ${seconds(DAEMON_READY_MS)}`, true);
    note(`${node.id} ${role} in ${seconds(performance.now() - t1)}, epoch ${ready.epoch}` +
      (role === 'standby' ? `: ${ready.ready.why}` : ': it holds the lease, answers ARP for the VIP, floats the gateway'));
  }

  // ---- 1: ping
  caption(1, `ping the VIP: lb-a answers its ARP; each echo request goes to the next backend (service ping, ${ping.scheduler})`);
  command(`ping -c 6 -i 0.2 ${ping.vip}`, 'client');
  const pong = await lab.exec(lab.ns.client, ['ping', '-n', '-c', '6', '-i', '0.2', '-W', '1', ping.vip]);
  const replies = pong.stdout.split('\n').filter((l) => / bytes from /.test(l));
  const sources = replies.map((l) => /from ([\d.]+)/.exec(l)?.[1] ?? '?');
  output(replies.map((l, i) => l.replace(sources[i]!, bold(sources[i]!))));
  const summary = pong.stdout.split('\n').find((l) => /packets transmitted/.test(l));
  if (summary) output([dim(summary)]);
  const pingedBy = sources.map((x) => name.get(x) ?? x);
  note(`answered by ${pingedBy.map(paint).join(' ')}`);
  if (replies.length < 5) throw new DemoError(`ping: only ${replies.length} of 6 replies\n${pong.stdout}${pong.stderr}`, true);
  if (new Set(pingedBy).size < 2) throw new DemoError(`ping: every reply came from ${pingedBy[0]}; the requests were not spread`);
  await neighbour(lab, ping.vip, nodeOf, a.id);

  // ---- 2: status
  caption(2, "lb-a's view: its role, interfaces, services, backends and their health");
  await lbctl(a, ['status']);

  // ---- 3: HTTP
  caption(3, `${REQUESTS} HTTP requests: ${web.scheduler} hashes each new connection to a backend`);
  await requests(lab, web, { paint });

  // ---- 4: health check takes a stopped backend out
  const b2 = 1;
  const b2Name = lab.backendNames[b2]!;
  const b2Endpoint = `${lab.addresses.backends[b2]}:${web.backends[b2]?.port ?? web.port}`;
  const h = web.health;
  caption(4, `stop ${b2Name}'s server: the ${h.type} health check (every ${h.intervalMs} ms, down after ${h.fall} failures) takes it out`);
  const t4 = performance.now();
  await lab.stopServer(b2);
  note(`${b2Name}'s HTTP server stopped`);
  if (!(await waitHealth(client[a.id]!, web.name, b2Endpoint, 'down'))) {
    throw new DemoError(`${b2Endpoint} still up ${seconds(HEALTH_CHANGE_MS)} after its server stopped`, true);
  }
  note(`${b2Endpoint} marked down after ${seconds(performance.now() - t4)}`);
  await lbctl(a, ['status'], (lines) => backendRows(lines, web.name), `trimmed to the ${web.name} backends`);
  await requests(lab, web, { paint, avoid: b2Name, why: 'down' });
  const t4b = performance.now();
  await lab.startServer(b2);
  if (!(await waitHealth(client[a.id]!, web.name, b2Endpoint, 'up'))) {
    throw new DemoError(`${b2Endpoint} still down ${seconds(HEALTH_CHANGE_MS)} after its server restarted`, true);
  }
  note(`${b2Name}'s server restarted: up again after ${seconds(performance.now() - t4b)} (${h.rise} good probes)`);

  // ---- 5: drain
  const b3 = 2;
  const b3Name = lab.backendNames[b3]!;
  const b3Endpoint = `${lab.addresses.backends[b3]}:${web.backends[b3]?.port ?? web.port}`;
  caption(5, `drain ${b3Name}: it keeps its established connections and gets no new ones`);
  // Slow requests opened before the drain and answered after it: those on b3 must still reach b3.
  const slowMs = 1500;
  command(`for i in $(seq ${SLOW}); do curl -s http://${web.vip}/slow?ms=${slowMs} & done`, 'client');
  const slow = Array.from({ length: SLOW }, () =>
    lab!.exec(lab!.ns.client, ['curl', '-s', '--max-time', '5', `http://${web.vip}:${web.port}/slow?ms=${slowMs}`]));
  await sleep(300);
  await lbctl(a, ['backend', 'drain', web.name, b3Endpoint]);
  await requests(lab, web, { paint, avoid: b3Name, why: 'drained' });
  const late = (await Promise.all(slow)).map((r) => (r.code === 0 ? r.stdout.trim() : `x(curl ${r.code})`));
  output([`${late.map((x) => (x.startsWith('x(') ? red(x) : paint(x))).join(' ')}  ${dim('<- the slow requests, answered now')}`]);
  const kept = late.filter((x) => x === b3Name).length;
  note(kept
    ? `${kept} of them were on ${b3Name} and finished there: drained, its established connections carry on`
    : `(none of them happened to be on ${b3Name} this time)`);
  if (late.some((x) => x.startsWith('x('))) throw new DemoError(`a connection open before the drain broke: ${late.join(' ')}`, true);
  await lbctl(a, ['backend', 'undrain', web.name, b3Endpoint]);

  // ---- 6: stats
  caption(6, 'what the data plane counted: packets, bytes, new flows per service and backend; outcomes');
  await lbctl(a, ['stats'], (lines) => lines.filter((l) => !/^\S+\s+0\s+0 B$/.test(l)), 'trimmed: outcomes with no packets');

  // ---- 7: the pair
  caption(7, 'the pair: lb-a active, lb-b standing by with the same tables (every pool edit above went through Redis)');
  await lbctl(a, ['ha', 'status']);
  await lbctl(b, ['ha', 'status']);

  // ---- 8: failover
  caption(8, `power loss on ${a.id}: kill -9 its daemon, its links down; ${b.id} takes over`);
  const gap = await failover(s, lab, client[b.id]!, paint);
  await lbctl(b, ['ha', 'status']);
  await neighbour(lab, ping.vip, nodeOf, b.id);
  await requests(lab, web, { paint });
  note(`the client's longest wait for an echo reply: ${bold(`${gap.gapMs} ms`)} (${gap.lost} of ${gap.sent} echo requests lost)`);

  const took = performance.now() - started;
  if (keep) {
    say();
    say(green(bold(`demo done in ${seconds(took)}; the lab, Redis and ${b.id} stay up until Ctrl-C (--keep). Explore:`)));
    const lines: [string, string][] = [
      [`ip netns exec ${lab.ns.client} ping ${ping.vip}`, 'replies from each backend in turn'],
      [`ip netns exec ${lab.ns.client} curl http://${web.vip}/`, 'which backend answered'],
      [`node dist/lb/cli/lbctl.js --socket ${b.socket} ha status`, `the pair as ${b.id} sees it`],
      [`node dist/lb/cli/lbctl.js --socket ${b.socket} status`, 'services, backends, health'],
      [`node dist/lb/cli/lbctl.js --socket ${b.socket} stats --watch`, 'counters and rates'],
      [`node dist/lb/cli/lbctl.js --socket ${b.socket} events --follow`, 'flow and drop events'],
      [`ip netns exec ${lab.ns.sw} redis-cli -h ${redisUrl.hostname} -p ${redisPort} --scan`, 'the pool and the lease in Redis'],
      [`ip netns exec ${lab.ns.backends[1]} ip -s link`, '...or any command in a namespace'],
      [`tail -f ${b.log}`, `${b.id}'s logs`],
    ];
    const width = Math.max(...lines.map(([c]) => c.length));
    for (const [c, what] of lines) say(`  ${yellow(c.padEnd(width))}  ${dim(`# ${what}`)}`);
    say(dim('Ctrl-C tears it all down.'));
    waitingForCtrlC = true;
    // Only a signal ends it (the handlers clean up): this keeps the event loop alive until then.
    setInterval(() => undefined, 1 << 30);
    return 0;
  }

  say();
  const removed = await cleanup(s, client[b.id]!);
  settled = true;
  say(green(bold(`demo done in ${seconds(performance.now() - started)}`)) + dim(`; cleaned up: ${removed}`));
  return 0;
}

// ---- steps -------------------------------------------------------------------------------------------------------

/**
 * Starts node's daemon in the lab's mount namespace, where /sys/fs/bpf starts unmounted as on a fresh machine: the
 * daemon mounts it, and the pins go with the lab. Entering a mount namespace starts at its root directory: the config
 * goes by its absolute path.
 */
function startDaemon(node: NodeSettings, ns: string): void {
  const log = openSync(node.log, 'w');
  try {
    const argv = [process.execPath, LBCTL, 'daemon', '-c', `${ROOT}${node.configRel}`, '--detach-on-exit'];
    daemons.set(node.id, lab!.spawnBare(ns, argv, { cwd: ROOT, stdio: ['ignore', log, log] }));
  } finally {
    closeSync(log);
  }
}

/** `node -e KEEPALIVE_JS URL`: for each line on stdin, a GET over one keep-alive connection; prints a JSON line each. */
const KEEPALIVE_JS = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((resolve) => {
  const req = http.get(process.argv[1], { agent, timeout: 3000 }, (res) => {
    const localPort = res.socket.localPort;
    res.resume().on('end', () => resolve({ backend: String(res.headers['x-backend']), localPort, reused: req.reusedSocket }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ error: e.code || e.message }));
});
require('node:readline').createInterface({ input: process.stdin })
  .on('line', async () => process.stdout.write(JSON.stringify(await get()) + '\\n'))
  .on('close', () => agent.destroy());
`;

interface Answer {
  backend?: string;
  localPort?: number;
  reused?: boolean;
  error?: string;
}

/** A client in the client namespace holding one keep-alive HTTP connection (KEEPALIVE_JS). */
class KeepAlive {
  private lines: string[] = [];
  private waiting?: (line: string) => void;

  private constructor(private readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (this.waiting) this.waiting(line);
        else this.lines.push(line);
      }
    });
    child.stderr!.resume();
  }

  static open(l: Lab, url: string): KeepAlive {
    return new KeepAlive(l.spawn(l.ns.client, [process.execPath, '-e', KEEPALIVE_JS, url], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  async get(): Promise<Answer> {
    this.child.stdin!.write('get\n');
    const line = this.lines.shift() ?? await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 10_000);
      this.waiting = (l) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(l);
      };
    });
    return line === undefined ? { error: 'no answer within 10 s' } : JSON.parse(line) as Answer;
  }

  close(): void {
    this.child.stdin!.end();
  }
}

function describe(x: Answer, paint: (b: string) => string): string {
  return x.error ? red(`x(${x.error})`)
    : `${paint(x.backend ?? '?')} (client port ${x.localPort}, ${x.reused ? 'the same connection' : 'a new connection'})`;
}

interface Gap {
  gapMs: number;
  sent: number;
  lost: number;
}

/**
 * The kill: a ping flood from the client (timestamped replies) is under way and a keep-alive HTTP connection open
 * when lb-a's daemon is killed and its links go down; once lb-b says active, the flood runs on a moment and stops, and
 * the connection carries a second request. The gap is the client's: the longest time between two echo replies.
 */
async function failover(s: Settings, l: Lab, clientB: ControlClient, paint: (x: string) => string): Promise<Gap> {
  const { a, b, web } = s;
  const [lbA] = l.lbs as [LabLb];
  command(`ping -D -i ${FLOOD_INTERVAL_S} ${web.vip}`, 'client');
  const flood = l.spawn(l.ns.client, ['ping', '-n', '-D', '-i', String(FLOOD_INTERVAL_S), '-W', '1', web.vip],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let floodOut = '';
  flood.stdout!.setEncoding('utf8').on('data', (d: string) => (floodOut += d));
  flood.stderr!.resume();
  const floodDone = new Promise<void>((resolve) => flood.once('close', () => resolve()));
  note(`a client opens one keep-alive HTTP connection to http://${web.vip}/: a GET now, another after the takeover`);
  const conn = KeepAlive.open(l, `http://${web.vip}:${web.port}/`);
  const before = await conn.get();
  output([`${describe(before, paint)}  ${dim(`<- through ${a.id}`)}`]);
  if (before.error) throw new DemoError(`the keep-alive connection failed before the kill: ${before.error}`, true);
  await sleep(FLOOD_MARGIN_MS);

  const d = daemons.get(a.id)!;
  command(`kill -9 ${d.pid}; ip link set front down; ip link set back down`, a.id);
  const killedAt = performance.now();
  const exited = new Promise((resolve) => (d.exitCode !== null || d.signalCode !== null ? resolve(undefined) : d.once('exit', resolve)));
  d.kill('SIGKILL');
  await exited;
  for (const dev of ['front', 'back']) await l.exec(lbA.ns, ['ip', 'link', 'set', dev, 'down']);
  const took = await waitFor(TAKEOVER_MS, async () => {
    const ha = await clientB.call('GET /ha', undefined).catch(() => undefined);
    return ha?.role === 'active' ? ha : undefined;
  }, 20);
  if (!took) {
    flood.kill('SIGINT');
    throw new DemoError(`${b.id} did not take over within ${seconds(TAKEOVER_MS)} of the kill`, true);
  }
  note(`${b.id} active ${Math.round(performance.now() - killedAt)} ms after the kill (as ${b.id} saw it), epoch ${took.epoch}: ` +
    `${took.lastTransition?.reason ?? 'no reason given'}`);
  await sleep(FLOOD_MARGIN_MS);
  flood.kill('SIGINT');
  await floodDone;

  const gap = floodGap(floodOut);
  if (!gap) throw new DemoError(`the ping flood printed no replies:\n${floodOut.slice(-2000)}`, true);
  const around = floodOut.split('\n').filter((line) => /packets transmitted|rtt /.test(line));
  output([dim(`... ${gap.sent} echo requests, one every ${FLOOD_INTERVAL_S * 1000} ms ...`), ...around.map((line) => dim(line))]);
  note(`the client's ping got no reply for ${gap.gapMs} ms: the last before at ${gap.before}, the first after at ${gap.after}`);
  if (gap.received < gap.sent / 2) throw new DemoError(`the pings did not resume: ${gap.received} of ${gap.sent} answered`, true);

  const after = await conn.get();
  conn.close();
  output([`${describe(after, paint)}  ${dim(`<- through ${b.id}`)}`]);
  if (after.error || !after.reused || after.localPort !== before.localPort) {
    throw new DemoError(`the connection opened before the kill did not carry on: ${JSON.stringify(after)}`, true);
  }
  note(after.backend === before.backend
    ? `the same connection, the same backend: ${b.id} built the same tables, so maglev picks as ${a.id} did`
    : `the same connection, but another backend (${after.backend}): the tables differed`);
  if (after.backend !== before.backend) throw new DemoError('the connection moved to another backend', true);
  return { gapMs: gap.gapMs, sent: gap.sent, lost: gap.sent - gap.received };
}

/** From `ping -D` output: the longest time between two replies, where it was, and the counts. */
function floodGap(text: string):
  { gapMs: number; before: string; after: string; sent: number; received: number } | undefined {
  const times = [...text.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from /gm)].map((m) => Number(m[1]));
  const sum = /(\d+) packets transmitted, (\d+) received/.exec(text);
  if (times.length < 2 || !sum) return undefined;
  let at = 1;
  for (let i = 2; i < times.length; i++) if (times[i]! - times[i - 1]! > times[at]! - times[at - 1]!) at = i;
  const clock = (t: number) => new Date(t * 1000).toISOString().slice(11, 23);
  return {
    gapMs: Math.round((times[at]! - times[at - 1]!) * 1000), before: clock(times[at - 1]!), after: clock(times[at]!),
    sent: Number(sum[1]), received: Number(sum[2]),
  };
}

/** Shows the client's neighbour entry for the VIP and checks it names `expected`'s front MAC. */
async function neighbour(l: Lab, vip: string, nodeOf: Map<string, string>, expected: string): Promise<void> {
  command(`ip neigh show ${vip}`, 'client');
  const r = await l.exec(l.ns.client, ['ip', 'neigh', 'show', vip]);
  output([r.stdout.trim()]);
  const mac = /lladdr (\S+)/.exec(r.stdout)?.[1];
  const owner = mac ? nodeOf.get(mac) : undefined;
  note(mac ? `the VIP is at ${mac}: ${owner ?? 'nobody in the pair'}` : 'the client holds no MAC for the VIP');
  if (owner !== expected) throw new DemoError(`the client found the VIP at ${mac ?? 'no MAC'}, not at ${expected}`, true);
}

/** Runs lbctl with node's socket, showing it as typed; `trim` picks the lines worth showing. */
async function lbctl(node: NodeSettings, args: string[], trim?: (lines: string[]) => string[], trimmed = 'trimmed'):
  Promise<void> {
  const shownName = node === settings!.a ? 'lbctl' : 'lbctl-b';
  command(`${shownName} ${args.join(' ')}`);
  const res = await run([process.execPath, LBCTL, '--socket', node.socket, ...args]);
  const lines = res.stdout.replace(/\n$/, '').split('\n');
  const shown = trim ? trim(lines) : lines;
  output(shown);
  if (shown.length < lines.length) note(`(${trimmed})`);
  if (res.code !== 0) throw new DemoError(`${shownName} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`, true);
}

/** The backends table's header and the rows of `service`. */
function backendRows(lines: string[], service: string): string[] {
  const header = lines.findIndex((l) => /^SERVICE\s+BACKEND\s/.test(l));
  if (header === -1) return lines;
  return [lines[header]!, ...lines.slice(header + 1).filter((l) => l.startsWith(`${service} `))];
}

/** REQUESTS curls from the client, one after another, each a new connection; prints who answered and a tally. */
async function requests(
  l: Lab, web: ServiceSpec, o: { paint: (b: string) => string; avoid?: string; why?: string },
): Promise<void> {
  command(`for i in $(seq ${REQUESTS}); do curl -s http://${web.vip}/; done`, 'client');
  const answers: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const res = await l.exec(l.ns.client, ['curl', '-s', '--max-time', '2', `http://${web.vip}:${web.port}/`]);
    answers.push(res.code === 0 ? res.stdout.trim() : `x(curl ${res.code})`);
  }
  output([answers.map((a) => (a.startsWith('x(') ? red(a) : o.paint(a))).join(' ')]);
  const tally = l.backendNames.map((b) => `${o.paint(b)} ${answers.filter((a) => a === b).length}`);
  const failed = answers.filter((a) => a.startsWith('x(')).length;
  note(`tally: ${tally.join('  ')}${failed ? `  ${red(`failed ${failed}`)}` : ''}` +
    (o.avoid ? `  (${o.avoid} is ${o.why}: none go to it)` : ''));
  if (failed) throw new DemoError(`${failed} of ${REQUESTS} HTTP requests to ${web.vip} failed`, true);
  if (o.avoid && answers.includes(o.avoid)) throw new DemoError(`${o.avoid} is ${o.why} but still got new connections`, true);
  const distinct = new Set(answers).size;
  if (distinct < (o.avoid ? 2 : 3) && REQUESTS >= 12) {
    // 12 connections over 3 backends all missing one is unlikely but possible with hashing; say so, do not fail.
    note(`(only ${distinct} backend(s) answered this time: hashing, not a fault)`);
  }
}

/** Waits until `endpoint` in `service` has `health`; false on timeout. */
async function waitHealth(client: ControlClient, service: string, endpoint: string, health: 'up' | 'down'): Promise<boolean> {
  const seen = await waitFor(HEALTH_CHANGE_MS, async () => {
    const st = await client.call('GET /status', undefined).catch(() => undefined);
    const b = st?.services.find((v) => v.name === service)?.backends.find((x) => `${x.address}:${x.port}` === endpoint);
    return b?.health === health ? true : undefined;
  });
  return seen === true;
}

async function waitFor<T>(ms: number, probe: () => Promise<T | undefined>, everyMs = 100): Promise<T | undefined> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

// ---- one demo at a time --------------------------------------------------------------------------------------------

/** Takes LOCK, or fails naming the live demo that holds it; the lock of a demo that is gone is taken over. */
function lock(): void {
  mkdirSync(dirname(LOCK), { recursive: true, mode: 0o755 });
  for (;;) {
    try {
      writeFileSync(LOCK, `${process.pid}\n`, { flag: 'wx' });
      locked = true;
      process.on('exit', unlock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(LOCK, 'utf8').trim());
    } catch {
      continue; // released meanwhile
    }
    if (isDemo(holder)) {
      throw new DemoError(`another demo runs (pid ${holder}): wait for it to end, or end it (Ctrl-C there, or kill ${holder})`);
    }
    rmSync(LOCK, { force: true });
  }
}

function isDemo(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.endsWith('scripts/demo.js'));
  } catch {
    return false;
  }
}

function unlock(): void {
  if (!locked) return;
  locked = false;
  rmSync(LOCK, { force: true });
}

// ---- teardown ----------------------------------------------------------------------------------------------------

/** The normal end: the surviving daemon stops (--detach-on-exit takes XDP off and unpins), then the lab and Redis go. */
async function cleanup(s: Settings, survivor: ControlClient): Promise<string> {
  for (const d of daemons.values()) {
    if (d.exitCode !== null || d.signalCode !== null) continue;
    const exited = new Promise((resolve) => d.once('exit', resolve));
    await survivor.call('POST /detach', undefined).catch(() => d.kill('SIGTERM'));
    await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
  }
  await lab?.destroy();
  await redis?.destroy();
  removeFiles(s);
  return `daemons, namespaces ${PREFIX}-* (with their pins), redis-server and ${REDIS_DIR}, ${s.keyFile}, the sockets`;
}

/** What the demo leaves outside the lab: Redis's directory, the key, the sockets. Returns those it found. */
function removeFiles(s: Settings): string[] {
  const found = [REDIS_DIR, s.keyFile, s.a.socket, s.b.socket].filter((p) => existsSync(p));
  for (const p of found) rmSync(p, { recursive: true, force: true });
  return found;
}

/**
 * --down, and the start of every run: stops daemons on the demo's sockets (lbctl detach), deletes the demo's
 * namespaces (killing what runs in them: the daemons, Redis) and removes Redis's directory, the key and the sockets.
 * Returns what it found.
 */
async function teardown(s: Settings, verbose: boolean): Promise<string[]> {
  const found: string[] = [];
  const report = (line: string) => verbose && say(line);
  for (const node of [s.a, s.b]) {
    if (!existsSync(node.socket)) continue;
    const res = await run([process.execPath, LBCTL, '--socket', node.socket, 'detach'], 5000);
    if (res.code === 0) {
      found.push(`${node.id}'s daemon`);
      report(`$ lbctl --socket ${node.socket} detach\n  ${res.stdout.trim()}`);
    }
  }
  const namespaces = (await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`));
  await removeStaleLabs(PREFIX);
  if (namespaces.length) {
    found.push(`namespaces ${PREFIX}-*`);
    report(`deleted namespaces ${namespaces.join(' ')}`);
  }
  for (const p of removeFiles(s)) {
    found.push(p);
    report(`removed ${p}`);
  }
  if (verbose && !found.length) say('nothing to tear down: no demo lab, daemons, Redis, key or sockets');
  else if (verbose) say(green('demo torn down'));
  return found;
}

/** The way out on a signal, a failure or a crash: everything synchronously, whatever state the demo is in. */
function cleanupSync(): void {
  // Without the lock, what runs under the demo's names is another demo's.
  if (settled || !settings || !locked) return;
  settled = true;
  const s = settings;
  // The daemons first, so they detach and unpin (takes a moment when one is alive, nothing when it is not).
  for (const node of [s.a, s.b]) {
    if (existsSync(node.socket)) {
      spawnSync(process.execPath, [LBCTL, '--socket', node.socket, 'detach'], { stdio: 'ignore', timeout: 5000 });
    }
  }
  // Redis runs in the lab's switch namespace: deleting the namespaces kills it.
  lab?.destroySync();
  // Namespaces of a lab that was still being created (not assigned to `lab` yet).
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const ns of (list.stdout ?? '').split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${PREFIX}-`))) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
      if (pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
  removeFiles(s);
}

function installSignalHandlers(): void {
  // Registered before labCleanupOnExit's, so these run first: the daemons get to detach before the lab is killed.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const code = waitingForCtrlC ? 0 : 128 + constants.signals[signal];
      if (settled || !locked) process.exit(code);
      process.stdout.write(`\n${waitingForCtrlC ? dim(`${signal}: tearing down`) : red(`${signal}: cleaning up`)}\n`);
      cleanupSync();
      process.stdout.write(`${dim(`cleaned up: namespaces ${PREFIX}-*, Redis, ${REDIS_DIR}, ${settings?.keyFile}, the sockets`)}\n`);
      process.exit(code);
    });
  }
  process.on('exit', cleanupSync);
}

// ---- helpers -----------------------------------------------------------------------------------------------------

function run(argv: string[], timeoutMs = 30_000): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => (stderr += err.message));
    child.on('close', (code, signal) => resolve({ stdout, stderr, code: code ?? (signal ? 128 + constants.signals[signal] : 127) }));
  });
}

function logTail(log: string, lines = 15): string[] {
  try {
    return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch {
    return [`(no log at ${log})`];
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  const e = err as Error;
  process.stderr.write(`\n${red(bold('demo failed:'))} ${e instanceof DemoError ? e.message : (e.stack ?? e.message)}\n`);
  if (e instanceof DemoError && e.showLog && settings) {
    for (const node of [settings.a, settings.b]) {
      process.stderr.write(`${dim(`last lines of ${node.id}'s log (${node.log}):`)}\n${logTail(node.log).map((l) => `  ${l}`).join('\n')}\n`);
    }
  }
  if (locked && !settled) {
    process.stderr.write(dim('cleaning up...\n'));
    cleanupSync();
    process.stderr.write(dim(`cleaned up: namespaces ${PREFIX}-*, Redis, the key, the sockets\n`));
  }
  process.exitCode = 1;
}
