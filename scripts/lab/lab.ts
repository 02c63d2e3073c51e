// A network-namespace lab for integration tests, `npm run demo` and the throughput bench:
//
//  client ns [c0 198.18.0.1/24] --veth-- [front 198.18.0.2/24] lb ns [back 198.18.1.1/24] --veth-- [plb] sw ns (br0)
//  sw ns: br0 with ports plb, pb1..pbN --veth-- backend ns bK [eth0 198.18.1.(10+K)/24], K = 1..N
//
// The client routes the VIP net 198.18.100.0/24 (and the backend net) via the LB's front address, so nobody answers
// ARP for VIPs; backends route everything via the LB, so NAT replies come back through it. With `backendNet` (e.g.
// 198.18.16.0/20), b1 also answers for every address of that prefix (a local route on its lo: ICMP echo, and its
// server's TCP/HTTP on 0.0.0.0), which the LBs (and a single LB's client) reach through b1: thousands of backend
// addresses behind one next hop, in one namespace. The LB forwards as a plain
// router until someone attaches xlb to front/back. Interface names inside each namespace are fixed; namespace names
// are "<prefix>-client", "-lb", "-sw", "-b1".."-bN".
//
// With `pair: true` there are two LBs, as an HA pair has them:
//
//  client ns [c0 198.18.0.1/24] --veth-- [pc] sw ns (fbr) [pf1] --veth-- [front 198.18.0.2/24] lb ns  [back 198.18.1.2/24]
//                                                          [pf2] --veth-- [front 198.18.0.3/24] lb2 ns [back 198.18.1.3/24]
//  sw ns: br0 with ports plb (lb's back), plb2 (lb2's back), pb1..pbN
//
// The client has no routes: VIPs sit in its own subnet, reachable once a node answers ARP for them; the backends'
// gateway 198.18.1.1 is nobody's until the active node floats it.
//
// What runs the daemon (spawnBare, exec with bare) enters a namespace's network and the lab's own mount namespace,
// where /sys/fs/bpf starts unmounted as on a fresh machine: `ip netns exec` would remount /sys, and the host's bpffs
// is never touched.
//
// Frames that XDP sends with XDP_TX or a redirect are only accepted by a veth whose receiving end runs an XDP program,
// so c0 and plb carry an XDP_PASS program (dist/bpf/pass.o). TX checksum offload is off on every veth: XDP cannot
// complete partial checksums.
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MountNamespace } from './mounts.js';

/** nftables by path: under npm, node_modules/.bin comes first in PATH, and ava brings another `nft` (@vercel/nft) there
 * that takes any arguments and exits 0. */
export const NFT = '/usr/sbin/nft';

export const BACKEND_HTTP_PORT = 8080;
export const BACKEND_UDP_PORT = 5353;
/** Where tests put VIPs; the client routes it via the LB's front address. */
export const VIP_NET = '198.18.100.0/24';
/** Interface names, the same in every lab. */
export const IFACES = {
  client: 'c0',
  lbFront: 'front',
  lbBack: 'back',
  /** The switch port facing the LB's back (carries the XDP_PASS program); lb2's is plb2. */
  swLb: 'plb',
  bridge: 'br0',
  /** A pair's client-side bridge, and the switch port facing the client on it. */
  frontBridge: 'fbr',
  swClient: 'pc',
  backend: 'eth0',
} as const;
export const MAX_BACKENDS = 80;

const PASS_OBJ = fileURLToPath(new URL('../../bpf/pass.o', import.meta.url));
const SERVER_JS = fileURLToPath(new URL('./backend-server.js', import.meta.url));
const COMMAND_TIMEOUT_MS = 30_000;
const SERVER_READY_MS = 20_000;
const LINKS_UP_MS = 10_000;
const PREFIX_RE = /^[A-Za-z0-9_]{1,32}$/;

export interface LabOptions {
  /** Two load balancers on a client bridge and the backend bridge (see the file comment). Default false. */
  pair?: boolean;
  /** Namespace name prefix (letters, digits, underscore). Default "xlbt" + 4 random hex digits. */
  prefix?: string;
  /** Number of backends, 1..MAX_BACKENDS. Default 3. */
  backends?: number;
  /** VIPs the backends hold on lo (/32) for DSR; backends then get arp_ignore=1, arp_announce=2. */
  dsrVips?: string[];
  /** Start a backend-server in every backend. Default true. */
  servers?: boolean;
  /** A prefix inside 198.18.0.0/15, apart from the lab's own nets, that b1 answers for at every address. */
  backendNet?: string;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Enter the network namespace and the lab's mount namespace (see the file comment), not `ip netns exec`. */
  bare?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; 128 + signal number if killed by a signal; 127 if it could not be started. */
  code: number;
}

/** Every lab between the start of its create() and the end of its destroy(); exit handlers clean these. */
const live = new Set<Lab>();

/** One load balancer's namespace, its interfaces' addresses and MACs. */
export interface LabLb {
  ns: string;
  front: string;
  back: string;
  frontMac: string;
  backMac: string;
}

export class Lab {
  readonly prefix: string;
  readonly ns: { client: string; lb: string; sw: string; backends: string[] };
  readonly addresses: { client: string; lbFront: string; lbBack: string; backends: string[] };
  readonly macs: { client: string; lbFront: string; lbBack: string; backends: string[] };
  /** The load balancers: the one of ns.lb, and in a pair a second one. */
  readonly lbs: LabLb[];
  /** The backends' default gateway: the LB's back address, or in a pair the address the active node floats. */
  readonly gateway: string;
  /**
   * An address of the switch namespace on the backend bridge, where lab services the LBs use run (Redis): reached
   * over the LBs' back interfaces.
   */
  readonly switchAddress = '198.18.1.250';
  /** "b1".."bN": the backends' names, as their servers report them. */
  readonly backendNames: string[];

  /** The prefix b1 answers for at every address (LabOptions.backendNet), if any. */
  readonly backendNet: string | undefined;

  private readonly dsrVips: string[];
  private mountNs?: MountNamespace;
  private readonly created: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly servers: (ChildProcess | undefined)[];
  private destroying?: Promise<void>;

  private constructor(prefix: string, count: number, dsrVips: string[], readonly pair: boolean, backendNet?: string) {
    this.prefix = prefix;
    this.dsrVips = dsrVips;
    this.backendNet = backendNet;
    const ids = Array.from({ length: count }, (_, i) => i + 1);
    this.backendNames = ids.map((k) => `b${k}`);
    this.ns = {
      client: `${prefix}-client`,
      lb: `${prefix}-lb`,
      sw: `${prefix}-sw`,
      backends: ids.map((k) => `${prefix}-b${k}`),
    };
    this.addresses = {
      client: '198.18.0.1',
      lbFront: '198.18.0.2',
      lbBack: pair ? '198.18.1.2' : '198.18.1.1',
      backends: ids.map((k) => `198.18.1.${10 + k}`),
    };
    this.gateway = '198.18.1.1';
    // The same MACs as ./harness.ts uses for its frames.
    this.macs = {
      client: '02:c1:00:00:00:01',
      lbFront: '02:1b:00:00:00:01',
      lbBack: '02:1b:00:00:00:02',
      backends: this.addresses.backends.map(
        (a) => ['02', 'be', ...a.split('.').map((n) => Number(n).toString(16).padStart(2, '0'))].join(':'),
      ),
    };
    this.lbs = [{ ns: this.ns.lb, front: this.addresses.lbFront, back: this.addresses.lbBack, frontMac: this.macs.lbFront,
      backMac: this.macs.lbBack }];
    if (pair) {
      this.lbs.push({ ns: `${prefix}-lb2`, front: '198.18.0.3', back: '198.18.1.3', frontMac: '02:1b:00:00:01:01',
        backMac: '02:1b:00:00:01:02' });
    }
    this.servers = ids.map(() => undefined);
  }

  /** True once destroy() (or destroySync()) has begun. */
  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  /** Builds the lab (and starts the backend servers unless `servers: false`). On failure, removes what it built. */
  static async create(options: LabOptions = {}): Promise<Lab> {
    const count = options.backends ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > MAX_BACKENDS) {
      throw new RangeError(`lab: backends must be an integer in 1..${MAX_BACKENDS}, not ${count}`);
    }
    const prefix = options.prefix ?? `xlbt${randomBytes(2).toString('hex')}`;
    if (!PREFIX_RE.test(prefix)) throw new RangeError(`lab: bad prefix ${JSON.stringify(prefix)}`);
    const dsrVips = options.dsrVips ?? [];
    for (const vip of dsrVips) if (!isIPv4(vip)) throw new RangeError(`lab: bad DSR VIP ${JSON.stringify(vip)}`);
    if (options.backendNet !== undefined) checkBackendNet(options.backendNet);

    const lab = new Lab(prefix, count, dsrVips, options.pair ?? false, options.backendNet);
    live.add(lab);
    try {
      await lab.build();
      if (options.servers ?? true) await Promise.all(lab.backendNames.map((_, i) => lab.startServer(i)));
      return lab;
    } catch (err) {
      await lab.destroy().catch((cleanupErr: unknown) => {
        process.stderr.write(`lab ${prefix}: cleanup after failed create: ${String(cleanupErr)}\n`);
      });
      throw err;
    }
  }

  /** Runs cmd in namespace ns (`ip netns exec`; see ExecOptions.bare). Never throws on exit status. */
  exec(ns: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run([...(opts.bare ? this.enterBare(ns) : enter(ns)), ...cmd], opts);
  }

  /** Starts cmd in namespace ns (`ip netns exec`); the process (group) is killed at destroy, or if we die. */
  spawn(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.launch(enter(ns), cmd, opts);
  }

  /** Like spawn, in ns's network and the lab's mount namespace, where /sys/fs/bpf starts unmounted (for the daemon). */
  spawnBare(ns: string, cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.launch(this.enterBare(ns), cmd, opts);
  }

  /** `path` in the lab's mount namespace, as this process reaches it (e.g. a daemon's pins). */
  inMounts(path: string): string {
    if (!this.mountNs) throw new Error(`lab ${this.prefix}: no mount namespace`);
    return this.mountNs.path(path);
  }

  private enterBare(ns: string): string[] {
    if (!this.mountNs) throw new Error(`lab ${this.prefix}: no mount namespace`);
    return ['nsenter', `--mount=${this.mountNs.nsPath}`, `--net=/run/netns/${ns}`];
  }

  /** Stops backend i's server (i indexes ns.backends: 0 is b1). Resolves once it has exited. */
  async stopServer(i: number): Promise<void> {
    this.checkIndex(i);
    const child = this.servers[i];
    this.servers[i] = undefined;
    if (child) await terminate(child);
  }

  /** Starts backend i's server (0 is b1) unless it runs; resolves once it listens on HTTP and UDP. */
  async startServer(i: number): Promise<void> {
    this.checkIndex(i);
    const current = this.servers[i];
    if (current && running(current)) return;
    const name = this.backendNames[i]!;
    const child = this.spawn(
      this.ns.backends[i]!,
      [process.execPath, SERVER_JS, '--name', name, '--http', String(BACKEND_HTTP_PORT), '--udp', String(BACKEND_UDP_PORT)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.servers[i] = child;
    try {
      await waitReady(child, SERVER_READY_MS);
    } catch (err) {
      if (this.servers[i] === child) this.servers[i] = undefined;
      await terminate(child);
      throw new Error(`lab ${this.prefix}: server ${name}: ${(err as Error).message}`);
    }
  }

  /** Deletes the LB's `back` veth (and so its switch port `plb`), as a driver unload or a bond change would. */
  async unplugBack(): Promise<void> {
    await ipBatch(this.ns.lb, [`link del ${IFACES.lbBack}`]);
  }

  /** Makes `back` again as build() made it (same MAC and address, its peer on the switch), after unplugBack(). */
  async plugBack(): Promise<void> {
    const I = IFACES;
    await ipBatch(this.ns.lb, [
      `link add ${I.lbBack} address ${this.macs.lbBack} type veth peer name ${I.swLb} netns ${this.ns.sw}`,
      `addr add ${this.addresses.lbBack}/24 dev ${I.lbBack}`,
      `link set ${I.lbBack} up`,
    ]);
    await ipBatch(this.ns.sw, [`link set ${I.swLb} master ${I.bridge}`, `link set ${I.swLb} up`]);
    await this.txOff(this.ns.lb, I.lbBack);
    await this.txOff(this.ns.sw, I.swLb);
    await this.attachPass(this.ns.sw, I.swLb);
    await Promise.all([waitLinksUp(this.ns.lb, LINKS_UP_MS), waitLinksUp(this.ns.sw, LINKS_UP_MS)]);
  }

  /** Kills every spawned process and deletes every namespace this lab created. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all([...this.children].map((c) => terminate(c)));
      await this.mountNs?.close();
      const errors: string[] = [];
      for (const ns of [...this.created].reverse()) {
        killNamespacePids(ns);
        const res = await run(['ip', 'netns', 'del', ns]);
        if (res.code !== 0 && existsSync(`/run/netns/${ns}`)) errors.push(`${ns}: ${res.stderr.trim()}`);
      }
      live.delete(this);
      if (errors.length) throw new Error(`lab ${this.prefix}: could not delete namespaces: ${errors.join('; ')}`);
    })();
    return this.destroying;
  }

  /** destroy() without waiting for anything: SIGKILL, then `ip netns del`. For exit and signal handlers. */
  destroySync(): void {
    this.destroying ??= Promise.resolve();
    for (const child of this.children) killGroup(child, 'SIGKILL');
    this.mountNs?.closeSync();
    for (const ns of [...this.created].reverse()) {
      killNamespacePids(ns);
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
      } catch {
        // gone already, or nothing more we can do on the way out
      }
    }
    live.delete(this);
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.servers.length) {
      throw new RangeError(`lab: no backend ${i} (0..${this.servers.length - 1})`);
    }
  }

  private launch(entry: string[], cmd: string[], opts: SpawnOptions): ChildProcess {
    if (this.destroying) throw new Error(`lab ${this.prefix}: destroyed`);
    // Own process group, so destroy can kill what the command starts; parent-death signal, so a crashed test run
    // does not leave servers behind.
    const argv = [...entry, ...deathSignal(), ...cmd];
    const child = spawn(argv[0]!, argv.slice(1), { ...opts, detached: true });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  private async addNamespace(ns: string): Promise<void> {
    await must(['ip', 'netns', 'add', ns]);
    this.created.push(ns);
    const settings: Record<string, number> = {
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
    };
    if (existsSync('/proc/sys/net/ipv6')) {
      // Quiet wires: no router solicitations, MLD or DAD in captures and counters.
      settings['net.ipv6.conf.all.disable_ipv6'] = 1;
      settings['net.ipv6.conf.default.disable_ipv6'] = 1;
    }
    await this.sysctl(ns, settings);
    await ipBatch(ns, ['link set lo up']);
  }

  private async sysctl(ns: string, settings: Record<string, number>): Promise<void> {
    await must([...enterNet(ns), 'sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
  }

  private async txOff(ns: string, dev: string): Promise<void> {
    await must([...enterNet(ns), 'ethtool', '-K', dev, 'tx', 'off']);
  }

  private async attachPass(ns: string, dev: string): Promise<void> {
    await ipBatch(ns, [`link set dev ${dev} xdpgeneric off`, `link set dev ${dev} xdpdrv obj ${PASS_OBJ} sec xdp`]);
  }

  private async build(): Promise<void> {
    if (!existsSync(PASS_OBJ)) throw new Error(`lab: ${PASS_OBJ} is missing (run scripts/build)`);
    this.mountNs = await MountNamespace.create({ bpffs: false });
    if (this.pair) await this.buildPair();
    else await this.buildSingle();
    await this.buildBackends();
    await Promise.all(this.created.map((ns) => waitLinksUp(ns, LINKS_UP_MS)));
  }

  private async buildSingle(): Promise<void> {
    const { client, lb, sw } = this.ns;
    const a = this.addresses;
    const m = this.macs;
    const I = IFACES;

    for (const ns of [client, lb, sw]) await this.addNamespace(ns);
    await this.sysctl(lb, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.forwarding': 1 });

    await ipBatch(client, [
      `link add ${I.client} address ${m.client} type veth peer name ${I.lbFront} address ${m.lbFront} netns ${lb}`,
      `addr add ${a.client}/24 dev ${I.client}`,
      `link set ${I.client} up`,
    ]);
    await ipBatch(lb, [
      `link add ${I.lbBack} address ${m.lbBack} type veth peer name ${I.swLb} netns ${sw}`,
      `addr add ${a.lbFront}/24 dev ${I.lbFront}`,
      `addr add ${a.lbBack}/24 dev ${I.lbBack}`,
      `link set ${I.lbFront} up`,
      `link set ${I.lbBack} up`,
    ]);
    await ipBatch(sw, [
      `link add ${I.bridge} type bridge stp_state 0 forward_delay 0`,
      `link set ${I.swLb} master ${I.bridge}`,
      `link set ${I.swLb} up`,
      `link set ${I.bridge} up`,
    ]);
    await ipBatch(client, [`route add ${VIP_NET} via ${a.lbFront}`, `route add 198.18.1.0/24 via ${a.lbFront}`]);
    await this.txOff(client, I.client);
    await this.txOff(lb, I.lbFront);
    await this.txOff(lb, I.lbBack);
    await this.txOff(sw, I.swLb);
    await this.attachPass(client, I.client);
    await this.attachPass(sw, I.swLb);
  }

  private async buildPair(): Promise<void> {
    const { client, sw } = this.ns;
    const I = IFACES;
    for (const ns of [client, sw, ...this.lbs.map((l) => l.ns)]) await this.addNamespace(ns);
    await ipBatch(sw, [
      `link add ${I.bridge} type bridge stp_state 0 forward_delay 0`,
      `link add ${I.frontBridge} type bridge stp_state 0 forward_delay 0`,
      `link set ${I.bridge} up`,
      `link set ${I.frontBridge} up`,
    ]);
    await ipBatch(client, [
      `link add ${I.client} address ${this.macs.client} type veth peer name ${I.swClient} netns ${sw}`,
      `addr add ${this.addresses.client}/24 dev ${I.client}`,
      `link set ${I.client} up`,
    ]);
    for (const [k, lb] of this.lbs.entries()) {
      const front = `pf${k + 1}`;
      const back = k === 0 ? I.swLb : `${I.swLb}${k + 1}`;
      await this.sysctl(lb.ns, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.forwarding': 1 });
      await ipBatch(lb.ns, [
        `link add ${I.lbFront} address ${lb.frontMac} type veth peer name ${front} netns ${sw}`,
        `link add ${I.lbBack} address ${lb.backMac} type veth peer name ${back} netns ${sw}`,
        `addr add ${lb.front}/24 dev ${I.lbFront}`,
        `addr add ${lb.back}/24 dev ${I.lbBack}`,
        `link set ${I.lbFront} up`,
        `link set ${I.lbBack} up`,
      ]);
      await ipBatch(sw, [
        `link set ${front} master ${I.frontBridge}`, `link set ${front} up`,
        `link set ${back} master ${I.bridge}`, `link set ${back} up`,
      ]);
      for (const dev of [I.lbFront, I.lbBack]) await this.txOff(lb.ns, dev);
      // The LBs send with XDP_TX and redirects: the switch ports facing them run a program.
      for (const port of [front, back]) {
        await this.txOff(sw, port);
        await this.attachPass(sw, port);
      }
    }
    await ipBatch(sw, [`link set ${I.swClient} master ${I.frontBridge}`, `link set ${I.swClient} up`]);
    await this.txOff(client, I.client);
    await this.txOff(sw, I.swClient);
  }

  private async buildBackends(): Promise<void> {
    const { sw } = this.ns;
    await ipBatch(sw, [`addr add ${this.switchAddress}/24 dev ${IFACES.bridge}`]);
    const a = this.addresses;
    const m = this.macs;
    const I = IFACES;
    for (const [i, ns] of this.ns.backends.entries()) {
      const port = `pb${i + 1}`;
      await this.addNamespace(ns);
      if (this.dsrVips.length) {
        await this.sysctl(ns, {
          'net.ipv4.conf.all.arp_ignore': 1,
          'net.ipv4.conf.all.arp_announce': 2,
          'net.ipv4.conf.default.arp_ignore': 1,
          'net.ipv4.conf.default.arp_announce': 2,
        });
      }
      await ipBatch(ns, [
        `link add ${I.backend} address ${m.backends[i]} type veth peer name ${port} netns ${sw}`,
        `addr add ${a.backends[i]}/24 dev ${I.backend}`,
        ...this.dsrVips.map((vip) => `addr add ${vip}/32 dev lo`),
        `link set ${I.backend} up`,
        `route add default via ${this.gateway}`,
      ]);
      await ipBatch(sw, [`link set ${port} master ${I.bridge}`, `link set ${port} up`]);
      await this.txOff(ns, I.backend);
      await this.txOff(sw, port);
    }
    if (this.backendNet !== undefined) {
      const net = this.backendNet;
      const via = a.backends[0]!;
      await ipBatch(this.ns.backends[0]!, [`route add local ${net} dev lo`]);
      for (const lb of this.lbs) await ipBatch(lb.ns, [`route add ${net} via ${via}`]);
      // A pair's client has no routes (its VIPs are on its own subnet), so only a single LB's client gets one.
      if (!this.pair) await ipBatch(this.ns.client, [`route add ${net} via ${a.lbFront}`]);
    }
  }
}

/** The addresses of `net` (a.b.c.d/len) in order, from its first: what a lab's backendNet offers as backends. */
export function addressesIn(net: string, count: number): string[] {
  const { base, size } = parseNet(net);
  if (!Number.isInteger(count) || count < 0 || count > size) throw new RangeError(`lab: ${net} has no ${count} addresses`);
  return Array.from({ length: count }, (_, i) => {
    const n = base + i;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  });
}

function parseNet(net: string): { base: number; size: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(net);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const len = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || !(len >= 0 && len <= 32)) throw new RangeError(`lab: bad prefix ${JSON.stringify(net)}`);
  const address = octets.reduce((n, o) => n * 256 + o, 0);
  const size = 2 ** (32 - len);
  if (address % size !== 0) throw new RangeError(`lab: ${net} has host bits set`);
  return { base: address, size };
}

/** A backendNet must be ours (198.18.0.0/15) and apart from the client, backend and VIP nets the lab routes. */
function checkBackendNet(net: string): void {
  const { base, size } = parseNet(net);
  const inside = (n: string) => {
    const p = parseNet(n);
    return base >= p.base && base + size <= p.base + p.size;
  };
  const overlaps = (n: string) => {
    const p = parseNet(n);
    return base < p.base + p.size && p.base < base + size;
  };
  if (!inside('198.18.0.0/15')) throw new RangeError(`lab: backendNet ${net} is not inside 198.18.0.0/15`);
  for (const own of ['198.18.0.0/24', '198.18.1.0/24', VIP_NET]) {
    if (overlaps(own)) throw new RangeError(`lab: backendNet ${net} overlaps the lab's ${own}`);
  }
}

/**
 * Installs, once per process, exit and SIGINT/SIGTERM/SIGHUP handlers that destroy synchronously every lab not yet
 * destroyed (lab and any other). A signal then exits with 128 + its number.
 */
export function labCleanupOnExit(lab: Lab): void {
  if (!lab.destroyed) live.add(lab);
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanAll = () => {
    for (const l of [...live]) l.destroySync();
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanAll();
      process.exit(128 + constants.signals[signal]);
    });
  }
}
let handlersInstalled = false;

/** Deletes namespaces named "<prefix>-*" (killing their processes) left by an earlier run; skips live labs here. */
export async function removeStaleLabs(prefix: string): Promise<void> {
  if (!PREFIX_RE.test(prefix)) throw new RangeError(`lab: bad prefix ${JSON.stringify(prefix)}`);
  if ([...live].some((l) => l.prefix === prefix)) return;
  for (const ns of await listNamespaces()) {
    if (!ns.startsWith(`${prefix}-`)) continue;
    killNamespacePids(ns);
    await run(['ip', 'netns', 'del', ns]);
  }
}

/** Names from `ip netns list`. */
export async function listNamespaces(): Promise<string[]> {
  const res = await must(['ip', 'netns', 'list']);
  return res.stdout.split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
}

function enter(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

function enterNet(ns: string): string[] {
  return ['nsenter', `--net=/run/netns/${ns}`];
}

let pdeathsig: boolean | undefined;
/** setpriv's --pdeathsig where it has it: a child started with it dies with us even if we are SIGKILLed. */
export function deathSignal(): string[] {
  if (pdeathsig === undefined) {
    try {
      pdeathsig = execFileSync('setpriv', ['--help'], { encoding: 'utf8' }).includes('--pdeathsig');
    } catch {
      pdeathsig = false;
    }
  }
  return pdeathsig ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
}

function run(argv: string[], opts: Omit<ExecOptions, 'bare'> = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    };
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutMs ?? COMMAND_TIMEOUT_MS} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? COMMAND_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
    child.on('error', (err) => {
      stderr += err.message;
      if (child.pid === undefined) finish(127);
    });
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 + constants.signals[signal] : 127)));
  });
}

async function must(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const res = await run(argv, opts);
  if (res.code !== 0) throw new Error(`lab: ${argv.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  return res;
}

/** Runs ip commands (without the leading "ip") in namespace ns, stopping at the first failure. */
async function ipBatch(ns: string, lines: string[]): Promise<void> {
  await must(['ip', '-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

/** SIGTERM to the child's process group, SIGKILL after graceMs; resolves once the child has exited. */
export async function terminate(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => {
    if (!running(child)) resolve();
    else child.once('exit', () => resolve());
  });
  killGroup(child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ]);
  clearTimeout(timer);
  // Whatever else is left in the group goes too (the leader may have exited first).
  killGroup(child, 'SIGKILL');
  if (late) await exited;
}

/** SIGKILLs every process in the namespace except this one (which may have entered it). */
function killNamespacePids(ns: string): void {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  } catch {
    return;
  }
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Waits until every link but lo in ns is operationally up (veth carrier reaches operstate with a delay). */
async function waitLinksUp(ns: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await must(['ip', '-n', ns, '-j', 'link', 'show']);
    const links = JSON.parse(res.stdout) as { ifname: string; operstate: string }[];
    const down = links.filter((l) => l.ifname !== 'lo' && l.operstate !== 'UP').map((l) => `${l.ifname} ${l.operstate}`);
    if (!down.length) return;
    if (Date.now() > deadline) throw new Error(`lab: links not up in ${ns} after ${ms} ms: ${down.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves when the child prints "ready"; rejects if it exits or stays silent for ms. Keeps its output drained. */
function waitReady(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (error?: Error) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', onOut);
      child.stdout!.resume();
      if (error) reject(error);
      else resolve();
    };
    const onOut = (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) done();
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`exited (${code ?? signal}) before ready: ${err.trim()}`));
    const timer = setTimeout(() => done(new Error(`not ready after ${ms} ms: ${err.trim()}`)), ms);
    child.stdout!.setEncoding('utf8').on('data', onOut);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.once('exit', onExit);
    child.once('error', (e) => done(e));
  });
}
