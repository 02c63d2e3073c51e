// `lbctl daemon`: the node. Loads (or re-adopts) the data plane, attaches it, keeps the maps equal to the plan of
// pool + health + next hops, and serves lbctl and Prometheus. States: loading -> ready -> stopping -> stopped.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { RingBuffer } from '../bpf/ringbuf.js';
import { ifNameToIndex } from '../bpf/system.js';
import * as layout from '../bpf/layout.js';
import type {
  ApplyResult, BackendChange, BackendRef, BackendStatus, ConfigApply, DenyList, Event, Stats, Status,
} from '../control/api.js';
import { addBackend, addDeny, removeBackend, removeDeny, setDrained } from '../control/edits.js';
import { answers, serveControl, type ControlHandlers } from '../control/server.js';
import { DataPlane, PIN_NAMES } from '../dataplane/dataplane.js';
import { ensureBpffs, makePinDirectory, PinLock, removePins } from '../dataplane/pindir.js';
import { Syncer } from '../dataplane/syncer.js';
import { XlbError } from '../errors.js';
import { HealthChecker, type Target } from '../health/checker.js';
import { rootLogger } from '../log.js';
import { plan, PlanError, type Allocation, type Plan } from '../plan/planner.js';
import { backendId, backendPort, type Pool } from '../pool.js';
import { ConfigError, formatProblems, loadConfigFile, parseConfig } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { attachAll, detachAll } from './attach.js';
import { formatMetrics } from './metrics.js';
import { NextHops } from './nexthops.js';

export interface DaemonOptions {
  configPath: string;
  detachOnExit: boolean;
  verbose: boolean;
}

type State = 'loading' | 'ready' | 'stopping' | 'stopped';

const RECENT_EVENTS = 1000;
const EVENT_POLL_MS = 100;
const NEXTHOP_REFRESH_MS = 5000;
const NEXTHOP_RETRY_MS = 500;
/** How long start waits for backends' neighbours before attaching, so the first packets find their next hops. */
const NEXTHOP_SETTLE_MS = 3000;

export class Daemon {
  private state: State = 'loading';
  private readonly started = Date.now();
  private dp?: DataPlane;
  private syncer?: Syncer;
  private allocation?: Allocation;
  private current?: Plan;
  private pool: Pool;
  private interfaces: Status['interfaces'] = [];
  private control?: Server;
  private metrics?: Server;
  private ring?: RingBuffer;
  private eventTimer?: NodeJS.Timeout;
  private hopTimer?: NodeJS.Timeout;
  private stopRequested?: boolean;
  private pinLock?: PinLock;
  /** Event streams of `lbctl events --follow`, ended at stop. */
  private readonly followers = new Set<NodeJS.WritableStream>();
  private readonly health: HealthChecker;
  private readonly hops: NextHops;
  private readonly recent: Event[] = [];
  private readonly listeners = new Set<(e: Event) => void>();
  /** CLOCK_MONOTONIC ns (the data plane's clock) -> epoch ms. */
  private readonly monoToEpochMs = Date.now() - Number(process.hrtime.bigint() / 1_000_000n);
  /** Every change of the maps goes through here, one at a time; a failed one does not block the next. */
  private queue: Promise<unknown> = Promise.resolve();
  private done!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.done = resolve));

  constructor(private config: Config, private readonly options: DaemonOptions, private readonly log: Logger) {
    this.pool = config.pool;
    this.hops = new NextHops(config.node.interfaces, log.child({ module: 'nexthops' }));
    this.health = new HealthChecker({
      logger: log.child({ module: 'health' }),
      onChange: () => void this.sync().catch((err) => this.log.error({ err }, 'sync after a health change failed')),
    });
  }

  async start(): Promise<void> {
    const node = this.config.node;
    // Before touching pins or interfaces: a second daemon for the same node must leave the running one alone.
    if (await answers(node.controlSocket)) {
      throw new XlbError('XLB_CONFLICT', `another xlb daemon answers on ${node.controlSocket}; stop it first, or give this node its own node.control_socket and node.pin_path`);
    }
    ensureBpffs(this.log);
    makePinDirectory(node.pinPath);
    this.pinLock = PinLock.acquire(node.pinPath);
    const dp = DataPlane.load({ pinPath: node.pinPath });
    this.dp = dp;
    const { adopted, replaced } = dp.pins;
    for (const r of replaced) this.log.warn(r, `pinned map ${r.map} did not fit this xlb and was replaced: ${r.reason}`);
    if (adopted.length) this.log.info({ maps: adopted.length, pinPath: node.pinPath }, 'adopted the pinned maps of a previous daemon');

    this.syncer = new Syncer(dp.syncMaps(), dp.capacity.tableSize);
    const { allocation, orphans } = this.syncer.adopt(dp.syncMaps(), dp.capacity.backends);
    this.allocation = allocation;
    if (orphans.length) this.log.warn({ orphans }, `${orphans.length} backend entries of services that are gone (a stop mid-apply): the next apply frees them`);

    await this.hops.settle(this.addresses(), this.configuredMacs(), NEXTHOP_SETTLE_MS);
    this.health.setTargets(this.targets());
    await this.sync();

    // Redirect targets exist before the program that uses them runs.
    for (const name of node.interfaces) {
      const ifindex = ifNameToIndex(name);
      const value = Buffer.alloc(8);
      value.writeUInt32LE(ifindex);
      dp.map('egress').update(layout.u32Key(ifindex), value);
    }
    this.interfaces = attachAll(dp.program, node.interfaces, node.xdpMode, this.log.child({ module: 'attach' }));

    this.ring = new RingBuffer(dp.map('events'), (r) => this.onEvent(layout.event.decode(r)));
    dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 1 }));
    this.eventTimer = setInterval(() => this.ring?.consume(), EVENT_POLL_MS);
    this.scheduleNextHops();

    this.control = await serveControl(node.controlSocket, this.handlers(), this.log.child({ module: 'control' }));
    if (node.metrics) this.metrics = await this.serveMetrics(node.metrics.host, node.metrics.port);
    this.state = 'ready';
    this.log.info({ socket: node.controlSocket, services: this.pool.services.length }, 'ready');
    if (this.stopRequested) await this.stop(this.options.detachOnExit);
  }

  private addresses(): Set<string> {
    return new Set(this.pool.services.flatMap((s) => s.backends.map((b) => b.address)));
  }

  private configuredMacs(): Map<string, string> {
    return new Map(this.pool.services.flatMap((s) => s.backends.flatMap((b) => (b.mac ? [[b.address, b.mac] as const] : []))));
  }

  private targets(): Target[] {
    return this.pool.services.flatMap((s) => s.backends.map((b) => {
      const t: Target = { id: backendId(s, b), service: s.name, address: b.address, check: s.health };
      const port = backendPort(s, b);
      if (port) t.port = port;
      return t;
    }));
  }

  private scheduleNextHops(): void {
    const unresolved = [...this.addresses()].some((a) => !this.hops.get(a));
    this.hopTimer = setTimeout(() => {
      this.hops.refresh(this.addresses(), this.configuredMacs())
        .then((changed) => (changed ? this.sync() : undefined))
        .catch((err) => this.log.error({ err }, 'next-hop refresh failed'))
        .finally(() => { if (this.state === 'ready') this.scheduleNextHops(); });
    }, unresolved ? NEXTHOP_RETRY_MS : NEXTHOP_REFRESH_MS);
  }

  /** Runs `fn` after every change queued before it, whether those succeeded or not. */
  private serially<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private planFor(pool: Pool): Plan {
    return plan({
      pool,
      capacity: this.dp!.capacity,
      previous: this.allocation!,
      isUp: (s, b) => this.health.isUp(backendId(s, b)),
      nextHop: (_s, b) => this.hops.get(b.address),
      local: this.hops.local,
    });
  }

  /** Plans the current pool and writes the difference. */
  private sync(): Promise<void> {
    return this.serially(() => {
      const next = this.planFor(this.pool);
      const { writes } = this.syncer!.apply(next);
      this.allocation = next.allocation;
      this.current = next;
      if (writes) this.log.debug({ writes }, 'maps updated');
    });
  }

  /**
   * Makes `edit(pool)` the pool, whole or not at all: the edit sees the pool as the changes queued before it left it,
   * the result is planned before anything is touched, and the pool changes only once the maps hold it.
   */
  private replacePool(edit: (pool: Pool) => Pool): Promise<ApplyResult> {
    return this.serially(async () => {
      const pool = edit(this.pool);
      const previous = this.pool;
      try {
        this.planFor(pool);
      } catch (err) {
        if (err instanceof PlanError) throw new XlbError('XLB_PLAN', err.message);
        throw err;
      }
      const backends = pool.services.reduce((n, s) => n + s.backends.length, 0);
      this.pool = pool;
      try {
        await this.hops.refresh(this.addresses(), this.configuredMacs());
        this.health.setTargets(this.targets());
        const next = this.planFor(pool);
        const { writes } = this.syncer!.apply(next);
        this.allocation = next.allocation;
        this.current = next;
        this.log.info({ writes, services: pool.services.length, backends }, 'pool applied');
        return { writes, services: pool.services.length, backends };
      } catch (err) {
        this.pool = previous;
        this.health.setTargets(this.targets());
        // A failed apply may have written part of the change: the pool that stands is written again over it.
        try {
          const back = this.planFor(previous);
          this.syncer!.apply(back);
          this.allocation = back.allocation;
          this.current = back;
        } catch (again) {
          this.log.error({ err: again }, 'could not restore the running pool after a failed change');
        }
        throw err;
      }
    });
  }

  async reload(text?: string, source = this.options.configPath): Promise<ApplyResult> {
    const { config, problems } = parseConfig(text ?? readFileSync(this.options.configPath, 'utf8'));
    if (!config) {
      throw new ConfigError('XLB_CONFIG_INVALID', `${source}: ${problems.length} problem(s); the running pool stays`, problems);
    }
    if (JSON.stringify(config.node) !== JSON.stringify(this.config.node)) {
      this.log.warn({ source }, 'node settings changed: they take effect at the next restart; applying the pool only');
    }
    const result = await this.replacePool(() => config.pool);
    this.config = { ...this.config, pool: config.pool };
    return result;
  }

  private onEvent(e: layout.Event): void {
    const services = this.current?.services ?? [];
    const backends = this.current?.backends ?? [];
    const svc = services.find((s) => s.id === e.service);
    const be = backends.find((b) => b.index === e.backend);
    const proto = (Object.keys(layout.PROTO) as layout.Protocol[]).find((p) => layout.PROTO[p] === e.proto) ?? String(e.proto);
    const ported = proto === 'tcp' || proto === 'udp';
    const event: Event = {
      time: this.monoToEpochMs + Number(e.timeNs / 1_000_000n),
      kind: layout.OUTCOMES[e.outcome]?.startsWith('drop_') ? 'drop' : 'flow',
      source: e.src,
      destination: e.dst,
      protocol: proto,
      verdict: layout.OUTCOMES[e.outcome] ?? `outcome ${e.outcome}`,
    };
    if (ported) {
      event.sport = e.sport;
      event.dport = e.dport;
    }
    if (svc) event.service = svc.name;
    if (be) event.backend = be.value.port ? `${be.value.addr}:${be.value.port}` : be.value.addr;
    this.recent.push(event);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    for (const l of this.listeners) l(event);
  }

  status(): Status {
    const services = this.pool.services.map((s) => ({
      name: s.name,
      vip: s.vip,
      protocol: s.protocol,
      ...(s.port === undefined ? {} : { port: s.port }),
      scheduler: s.scheduler,
      forwarding: s.forwarding,
      health: s.health.type,
      allow: s.allow,
      backends: s.backends.map((b): BackendStatus => ({
        address: b.address,
        ...(backendPort(s, b) ? { port: backendPort(s, b) } : {}),
        weight: b.weight,
        drained: b.drained,
        health: this.health.isUp(backendId(s, b)) ? 'up' : 'down',
        mac: this.hops.get(b.address)?.mac ?? null,
      })),
    }));
    return {
      role: 'standalone',
      pid: process.pid,
      uptime: Math.round((Date.now() - this.started) / 1000),
      adopted: (this.dp?.pins.adopted.length ?? 0) > 0,
      pinPath: this.config.node.pinPath,
      interfaces: this.interfaces,
      services,
      deny: this.pool.deny,
    };
  }

  stats(): Stats {
    const dp = this.dp!;
    const num = (c: layout.Counters) => ({ packets: Number(c.packets), bytes: Number(c.bytes), flowsNew: Number(c.flowsNew) });
    const planned = this.current;
    const services = this.pool.services.map((s) => {
      const ps = planned?.services.find((p) => p.name === s.name);
      const backends = s.backends.map((b) => {
        const index = planned?.allocation.backends.get(backendId(s, b));
        const c = index === undefined ? { packets: 0, bytes: 0, flowsNew: 0 } : num(dp.counters('backendStats', index));
        const port = backendPort(s, b);
        return { address: b.address, ...(port ? { port } : {}), ...c };
      });
      const c = ps ? num(dp.counters('serviceStats', ps.id)) : { packets: 0, bytes: 0, flowsNew: 0 };
      return { name: s.name, ...c, backends };
    });
    const outcomes = Object.fromEntries(Object.entries(dp.outcomes()).map(([o, c]) => [o, { packets: Number(c.packets), bytes: Number(c.bytes) }]));
    return { services, outcomes };
  }

  private eventsSuppressed(): number {
    return this.dp!.map('eventBudget').lookupPerCpu(layout.u32Key(0))
      .reduce((n, b) => n + Number(layout.eventBudget.decode(b).suppressed), 0);
  }

  private async serveMetrics(host: string, port: number): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('try /metrics\n');
        return;
      }
      try {
        const text = formatMetrics({
          status: this.status(), stats: this.stats(), haActive: true,
          healthTransitions: this.health.transitions(), eventsSuppressed: this.eventsSuppressed(),
        });
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
      } catch (err) {
        this.log.error({ err }, 'metrics failed');
        res.writeHead(500).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.log.info({ host, port }, `metrics at http://${host}:${port}/metrics`);
    return server;
  }

  private handlers(): ControlHandlers {
    return {
      status: () => this.status(),
      stats: () => this.stats(),
      applyConfig: (b: ConfigApply) => this.reload(b.yaml, b.source ?? 'the applied config'),
      addBackend: (c: BackendChange) => this.replacePool((p) => addBackend(p, c)),
      removeBackend: (r: BackendRef) => this.replacePool((p) => removeBackend(p, r)),
      setDrained: (r: BackendRef, drained: boolean) => this.replacePool((p) => setDrained(p, r, drained)),
      deny: (): DenyList => ({ deny: this.pool.deny }),
      addDeny: async (cidr: string) => {
        await this.replacePool((p) => addDeny(p, cidr));
        return { deny: this.pool.deny };
      },
      removeDeny: async (cidr: string) => {
        await this.replacePool((p) => removeDeny(p, cidr));
        return { deny: this.pool.deny };
      },
      recentEvents: () => [...this.recent],
      subscribe: (l, stream) => {
        this.listeners.add(l);
        this.followers.add(stream);
        return () => {
          this.listeners.delete(l);
          this.followers.delete(stream);
        };
      },
      detach: async () => {
        const detached = await this.stop(true);
        return { detached };
      },
    };
  }

  /**
   * After a failed start: undoes only what this daemon made. Pins and a program it adopted from a running or stopped
   * predecessor stay as they were; a fresh install is taken off and unpinned.
   */
  async abort(): Promise<void> {
    this.state = 'stopping';
    clearInterval(this.eventTimer);
    clearTimeout(this.hopTimer);
    this.health.stop();
    this.ring?.close();
    this.control?.close();
    this.metrics?.close();
    const fresh = this.dp !== undefined && this.dp.pins.adopted.length === 0;
    if (fresh && this.interfaces.length) detachAll(this.interfaces.map((i) => i.name), this.log.child({ module: 'attach' }));
    this.dp?.close();
    if (fresh) removePins(this.config.node.pinPath, PIN_NAMES);
    this.pinLock?.release();
    this.state = 'stopped';
  }

  /** Stops serving; with `detach`, also takes the program off and removes the pins. Returns what was detached. */
  async stop(detach: boolean): Promise<string[]> {
    if (this.state === 'stopping' || this.state === 'stopped') return [];
    if (this.state === 'loading') {
      // start() finishes what it is doing (closing the maps under it would fail it halfway), then stops.
      this.stopRequested = true;
      return [];
    }
    this.state = 'stopping';
    clearInterval(this.eventTimer);
    clearTimeout(this.hopTimer);
    this.health.stop();
    await this.queue;
    this.metrics?.close();
    for (const f of this.followers) f.end();
    // The control server closes after this request is answered.
    setImmediate(() => {
      this.control?.close();
      this.control?.closeIdleConnections();
    });
    let detached: string[] = [];
    if (this.dp) {
      try {
        this.dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 0 }));
      } catch (err) {
        this.log.warn({ err }, 'could not switch events off');
      }
    }
    this.ring?.close();
    if (detach) {
      detached = detachAll(this.config.node.interfaces, this.log.child({ module: 'attach' }));
      this.dp?.close();
      removePins(this.config.node.pinPath, PIN_NAMES);
      this.log.info({ detached }, 'detached; maps unpinned');
    } else {
      this.dp?.close();
      this.log.info('stopped; the program stays attached and forwarding with the pinned maps');
    }
    this.pinLock?.release();
    this.state = 'stopped';
    setImmediate(() => this.done(0));
    return detached;
  }
}

export async function runDaemon(options: DaemonOptions): Promise<number> {
  const log = rootLogger(options.verbose);
  let config: Config;
  try {
    config = loadConfigFile(options.configPath);
  } catch (err) {
    // Plain lines, as lbctl config check prints them: this is what an operator reads first.
    process.stderr.write(`lbctl daemon: ${(err as Error).message}\n`);
    return 1;
  }
  const daemon = new Daemon(config, options, log);
  const stop = (signal: string) => {
    log.info({ signal }, `${signal}: stopping`);
    void daemon.stop(options.detachOnExit);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the config');
    daemon.reload().catch((err: ConfigError | Error) => {
      const problems = 'problems' in err ? formatProblems(err.problems) : [];
      log.error({ err, problems }, `reload rejected, the running pool stays: ${err.message}`);
    });
  });
  try {
    await daemon.start();
  } catch (err) {
    log.error({ err }, `start failed: ${(err as Error).message}`);
    await daemon.abort().catch((e) => log.error({ err: e }, 'cleanup after the failed start failed'));
    return 1;
  }
  return daemon.finished;
}
