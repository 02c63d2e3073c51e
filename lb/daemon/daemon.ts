// `lbctl daemon`: the node's lifecycle. Loads (or re-adopts) the data plane, attaches it, keeps the maps equal to the
// plan of pool + health + next hops, follows its interfaces, serves lbctl and Prometheus, and stops.
// States: loading -> ready -> stopping -> stopped, changed only by setState().
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RingBuffer } from '../bpf/ringbuf.js';
import { ifNameToIndex } from '../bpf/system.js';
import * as layout from '../bpf/layout.js';
import type { ApplyResult, BackendChange, BackendRef, ConfigApply, DenyList, Stats, Status } from '../control/api.js';
import { addBackend, addDeny, removeBackend, removeDeny, setDrained } from '../control/edits.js';
import type { Edit } from '../control/requests.js';
import { answers, CLOSE_GRACE_MS, serveControl, type ControlHandlers } from '../control/server.js';
import { DataPlane, HA_OFF, interfacesNamed, PIN_NAMES } from '../dataplane/dataplane.js';
import { ensureBpffs, makePinDirectory, PinLock, removePins } from '../dataplane/pindir.js';
import { Syncer } from '../dataplane/syncer.js';
import { XlbError } from '../errors.js';
import { HealthChecker, type Target } from '../health/checker.js';
import type { HttpServer } from '../http.js';
import { planDigest } from '../plan/digest.js';
import { plan, PlanError, type Allocation, type Plan } from '../plan/planner.js';
import { backendId, backendPort, type Pool } from '../../config/pool.js';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { formatEndpoint } from '../../config/values.js';
import type { ChangeInfo } from '../../cluster/writer.js';
import type { PoolUpdate } from '../../cluster/follower.js';
import { DEFAULT_TUNING, redisConnector } from '../../cluster/connection.js';
import { HaPair } from '../../cluster/ha/pair.js';
import { attachAll, detachAll, programIdOn, refuseForeign, type AttachedInterface } from './attach.js';
import { coalesced } from './coalesce.js';
import { checkConfig, type ConfigInput } from './config-reader.js';
import { EventFeed, toEvent } from './events.js';
import { linkChanges, type LinkChange } from './links.js';
import { formatMetrics } from './metrics.js';
import { serveMetrics } from './metrics-server.js';
import { NextHops } from './nexthops.js';
import { RedisPool } from './redis-pool.js';
import { statsView, statusView } from './views.js';

export interface DaemonOptions {
  configPath: string;
  detachOnExit: boolean;
  verbose: boolean;
  /** Replace an XDP program xlb did not put on an interface (lbctl daemon --force). */
  force: boolean;
}

export type DaemonState = 'loading' | 'ready' | 'stopping' | 'stopped';

/** The states each state may go to. */
const NEXT: Record<DaemonState, readonly DaemonState[]> = {
  loading: ['ready', 'stopping'],
  ready: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

const EVENT_POLL_MS = 100;
const NEXTHOP_REFRESH_MS = 5000;
/** While a neighbour is being resolved (ARP under way), next hops are read again this soon. */
const NEXTHOP_RETRY_MS = 500;
/** How long start waits for backends' neighbours before attaching, so the first packets find their next hops. */
const NEXTHOP_SETTLE_MS = 3000;
const LINK_CHECK_MS = 1000;
/** How long start waits for the pool's Redis before it serves its file's pool (and follows Redis once it answers). */
const REDIS_FIRST_SYNC_MS = 5000;

export class Daemon {
  #state: DaemonState = 'loading';
  private readonly started = Date.now();
  private dp?: DataPlane;
  private syncer?: Syncer;
  private allocation?: Allocation;
  private current?: Plan;
  private pool: Pool;
  /** The pool's version in Redis; 0: the config file's (no redis:, or not synced yet). */
  private poolVersion = 0;
  private redis?: RedisPool;
  private ha?: HaPair;
  private haRedis?: Redis;
  /** planDigest() of the plan in the maps, for an HA pair. */
  private digest = '';
  private links: AttachedInterface[] = [];
  private control?: HttpServer;
  private metrics?: HttpServer;
  private ring?: RingBuffer;
  private eventTimer?: NodeJS.Timeout;
  private hopTimer?: NodeJS.Timeout;
  private linkTimer?: NodeJS.Timeout;
  private stopRequested?: boolean;
  private pinLock?: PinLock;
  private readonly health: HealthChecker;
  private readonly hops: NextHops;
  private readonly events = new EventFeed();
  /** Configs being read and checked, by a counter: status shows the oldest. */
  private readonly reloads = new Map<number, { source: string; since: number }>();
  private reloadCount = 0;
  /** Aborted at stop: ends config reads under way. */
  private readonly stopping = new AbortController();
  /** CLOCK_MONOTONIC ns (the data plane's clock) -> epoch ms. */
  private readonly monoToEpochMs = Date.now() - Number(process.hrtime.bigint() / 1_000_000n);
  /** Every change of the maps goes through here, one at a time; a failed one does not block the next. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Plans the current pool and writes the difference. A sync asked for while another waits for its turn is that one:
   * it plans from the health and next hops of its turn, so a burst of health changes costs one plan, not one each.
   */
  private readonly sync: () => Promise<void>;
  private done!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.done = resolve));

  constructor(private config: Config, private readonly options: DaemonOptions, private readonly log: Logger) {
    this.pool = config.pool;
    this.sync = coalesced((run) => this.serially(run), () => {
      if (this.#state === 'stopping' || this.#state === 'stopped') return;
      const writes = this.applyPlan(this.pool);
      if (writes) this.log.debug({ writes }, 'maps updated');
    });
    this.hops = new NextHops(config.node.interfaces, log.child({ module: 'nexthops' }));
    this.health = new HealthChecker({
      logger: log,
      onChange: () => void this.sync().catch((err) => this.log.error({ err }, 'sync after a health change failed')),
    });
  }

  get state(): DaemonState {
    return this.#state;
  }

  /** The one place the state changes. */
  private setState(next: DaemonState): void {
    if (!NEXT[this.#state].includes(next)) throw new Error(`daemon state ${this.#state} cannot become ${next}`);
    this.log.debug({ from: this.#state, to: next }, `state ${next}`);
    this.#state = next;
  }

  async start(): Promise<void> {
    const node = this.config.node;
    // Before touching pins or interfaces: a second daemon for the same node must leave the running one alone, and
    // another tool's XDP program is not taken off unasked.
    if (await answers(node.controlSocket)) {
      throw new XlbError('XLB_CONFLICT', `another xlb daemon answers on ${node.controlSocket}; stop it first, or give this node its own node.control_socket and node.pin_path`);
    }
    await refuseForeign(node.interfaces.filter((n) => ifindexOf(n) !== undefined), this.options.force, this.log.child({ module: 'attach' }));
    ensureBpffs(this.log);
    makePinDirectory(node.pinPath);
    this.pinLock = PinLock.acquire(node.pinPath);
    const dp = DataPlane.load({ pinPath: node.pinPath });
    this.dp = dp;
    const { adopted, replaced } = dp.pins;
    for (const r of replaced) this.log.warn(r, `pinned map ${r.map} did not fit this xlb and was replaced: ${r.reason}`);
    if (adopted.length) this.log.info({ maps: adopted.length, pinPath: node.pinPath }, 'adopted the pinned maps of a previous daemon');

    if (this.config.redis) await this.followRedis();

    this.syncer = new Syncer(dp.syncMaps(), dp.capacity.tableSize);
    const { allocation, orphans } = this.syncer.adopt(dp.syncMaps(), dp.capacity.backends);
    this.allocation = allocation;
    if (orphans.length) this.log.warn({ orphans }, `${orphans.length} backend entries of services that are gone (a stop mid-apply): the next apply frees them`);

    await this.hops.settle(this.addresses(), this.configuredMacs(), NEXTHOP_SETTLE_MS);
    this.health.setTargets(this.targets());
    await this.sync();

    // Redirect targets, and the MACs ARP replies carry, exist before the program that uses them runs.
    for (const name of node.interfaces) this.setEgress(ifNameToIndex(name));
    dp.setInterfaces(interfacesNamed(node.interfaces));
    if (!this.config.ha) {
      // Standalone: pins an HA node left may hold its deadlines.
      dp.setHa(HA_OFF);
    } else if (dp.ha() === HA_OFF) {
      // A node of a pair starts as a standby: it forwards nothing until it holds the lease. Adopted deadlines stay:
      // a restarted active node forwards on until them, and resumes its own lease.
      dp.setHa({ forwardUntilNs: 0n, arpUntilNs: 0n });
    }
    this.links = attachAll(dp.program, node.interfaces, node.xdpMode, this.log.child({ module: 'attach' }));

    this.ring = new RingBuffer(dp.map('events'), (r) => this.events.push(toEvent(layout.event.decode(r), this.current, this.monoToEpochMs)));
    dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 1 }));
    this.eventTimer = setInterval(() => this.ring?.consume(), EVENT_POLL_MS);
    this.scheduleNextHops();
    this.scheduleLinkCheck();

    this.control = await serveControl(node.controlSocket, this.handlers(), this.log.child({ module: 'control' }));
    if (node.metrics) {
      this.metrics = await serveMetrics(node.metrics.host, node.metrics.port, () => this.scrape(), this.log.child({ module: 'metrics' }));
    }
    if (this.config.ha) await this.joinPair();
    this.setState('ready');
    this.log.info({ socket: node.controlSocket, services: this.pool.services.length }, 'ready');
    if (this.stopRequested) await this.stop(this.options.detachOnExit);
  }

  /**
   * With redis: the pool lives there. Waits a little for Redis's answer before the first plan, so the node starts on
   * Redis's pool rather than its file's; an empty Redis is seeded with the file's; unreachable, the file's pool serves
   * until Redis answers.
   */
  private async followRedis(): Promise<void> {
    const nodeId = this.config.ha?.nodeId ?? `${hostname()}:${this.config.node.pinPath}`;
    const log = this.log.child({ module: 'redis' });
    this.redis = new RedisPool(this.config.redis!, nodeId, {
      held: () => ({ pool: this.pool, version: this.poolVersion }),
      apply: (update) => this.applyFromRedis(update),
    }, this.log);
    const state = await this.redis.start(REDIS_FIRST_SYNC_MS);
    const { endpoint } = this.redis.status();
    if (state === 'synced') log.info({ endpoint, version: this.poolVersion }, `the pool is Redis's (${endpoint}), version ${this.poolVersion}`);
    else log.warn({ endpoint, state }, `Redis at ${endpoint} is ${state === 'refused' ? 'refused' : 'not answering'}: serving the config file's pool meanwhile`);
  }

  /**
   * With ha: joins the pair (cluster/ha/pair.ts) as a standby: heartbeats on the wire, the lease in Redis, the data
   * plane's grant, floating addresses and gratuitous ARP as its role changes.
   */
  private async joinPair(): Promise<void> {
    const ha = this.config.ha!;
    const log = this.log.child({ module: 'ha' });
    const key = readKeyFile(ha.keyFile);
    const localAddress = ipv4Of(ha.heartbeat.interface);
    // Its own connection, which never queues and gives up on an answer well inside the lease.
    const tuning = { ...DEFAULT_TUNING, connectTimeoutMs: ha.leaseMs, replyTimeoutMs: Math.min(1000, Math.round(ha.leaseMs / 2)),
      retry: { minMs: 20, maxMs: 250 } };
    const redis = redisConnector(this.config.redis!, ha.nodeId, tuning).connect('commands');
    // Its failures show on the lease's own commands (HaPair logs those once per state change).
    redis.on('error', () => undefined);
    this.haRedis = redis;
    this.ha = new HaPair({
      config: ha, keyPrefix: this.config.redis!.keyPrefix, key, redis, localAddress, logger: this.log,
      view: {
        digest: () => this.digest,
        serveable: () => this.serveable(),
        announcements: () => this.announcements(),
        down: () => this.pool.services.flatMap((s) => s.backends.map((b) => backendId(s, b)))
          .filter((id) => !this.health.isUp(id)),
        healthViewChanged: () => void this.sync().catch((err) => log.error({ err }, 'planning with the new health view failed')),
      },
      actions: {
        grant: (g) => this.dp!.setHa(g),
        transmit: (ifindex, frame) => this.dp!.transmit(ifindex, frame),
        float: (hold) => floatAddresses(ha.floating, hold),
      },
    });
    await this.ha.start();
    log.info({ node: ha.nodeId, pair: ha.pair, heartbeat: ha.heartbeat.interface }, `joined pair ${ha.pair} as ${ha.nodeId}, standing by`);
  }

  /** Whether this node could serve its VIPs now: every interface attached, and a backend to send new flows to. */
  private serveable(): { ok: boolean; why: string } {
    const broken = this.links.find((l) => l.state !== 'attached');
    if (broken) return { ok: false, why: `${broken.name} is ${broken.state}${broken.problem ? `: ${broken.problem}` : ''}` };
    if (!this.current?.services.some((s) => s.table.length > 0)) return { ok: false, why: 'no service has a usable backend' };
    return { ok: true, why: 'interfaces attached, backends usable' };
  }

  /** The VIPs on every interface, and each floating address on its own, with the interface's MAC. */
  private announcements(): { address: string; ifindex: number; mac: string }[] {
    const macs = new Map(interfacesNamed(this.config.node.interfaces).map((i) => [i.ifindex, i.mac]));
    const vips = [...new Set(this.pool.services.map((s) => s.vip))];
    const out = [...macs].flatMap(([ifindex, mac]) => vips.map((address) => ({ address, ifindex, mac })));
    for (const f of this.config.ha?.floating ?? []) {
      const ifindex = ifindexOf(f.interface);
      const mac = ifindex === undefined ? undefined : macs.get(ifindex);
      if (ifindex !== undefined && mac) out.push({ address: f.address, ifindex, mac });
    }
    return out;
  }

  /** A pool from Redis: taken as it is before the first plan, applied like any change after. */
  private async applyFromRedis(update: PoolUpdate): Promise<ApplyResult> {
    if (!this.current) {
      this.pool = update.pool;
      this.poolVersion = update.version;
      return { writes: 0, ...counts(update.pool) };
    }
    return this.replacePool(() => update.pool, undefined, update.version);
  }

  /** An lbctl edit: written to Redis when the pool lives there (every node applies it), else applied here. */
  private edited(edit: Edit | undefined, change: ChangeInfo, fn: (pool: Pool) => Pool): Promise<ApplyResult> {
    if (!this.redis) return this.replacePool(fn, edit);
    edit?.begin();
    return this.redis.edit(change, fn);
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

  private setEgress(ifindex: number): void {
    const value = Buffer.alloc(8);
    value.writeUInt32LE(ifindex);
    this.dp!.map('egress').update(layout.u32Key(ifindex), value);
  }

  /** Next hops again from a fresh read; the maps follow when anything changed. */
  private async refreshNextHops(): Promise<void> {
    if (await this.hops.refresh(this.addresses(), this.configuredMacs())) await this.sync();
  }

  private scheduleNextHops(): void {
    const arping = [...this.addresses()].some((a) => this.hops.resolution(a)?.resolve !== undefined);
    this.hopTimer = setTimeout(() => {
      this.refreshNextHops()
        .catch((err) => this.log.error({ err }, 'next-hop refresh failed'))
        .finally(() => { if (this.#state === 'ready' || this.#state === 'loading') this.scheduleNextHops(); });
    }, arping ? NEXTHOP_RETRY_MS : NEXTHOP_REFRESH_MS);
  }

  private scheduleLinkCheck(): void {
    this.linkTimer = setTimeout(() => {
      this.followLinks()
        .catch((err) => this.log.error({ err }, 'following the interfaces failed'))
        .finally(() => { if (this.#state === 'ready' || this.#state === 'loading') this.scheduleLinkCheck(); });
    }, LINK_CHECK_MS);
  }

  /** Notices interfaces that went, came back or lost xlb's program, and acts: see LinkChange. */
  private async followLinks(): Promise<void> {
    const programOn = (ifindex: number, mode: AttachedInterface['mode']): number | undefined => {
      try {
        return programIdOn(ifindex, mode);
      } catch {
        return undefined;
      }
    };
    const changes = linkChanges(this.links, ifindexOf, programOn);
    for (const change of changes) await this.onLinkChange(change);
    if (changes.length) await this.refreshNextHops();
  }

  private async onLinkChange(change: LinkChange): Promise<void> {
    const link = this.links.find((l) => l.name === change.name)!;
    const log = this.log.child({ module: 'attach' });
    const at = new Date().toISOString();
    switch (change.kind) {
      case 'lost':
        link.state = 'missing';
        link.problem = `gone since ${at}; xlb attaches again when it returns`;
        log.warn({ interface: link.name, ifindex: link.ifindex }, `${link.name} is gone: its backends get no traffic until it returns`);
        return;
      case 'taken':
        link.state = 'failed';
        link.problem = change.program
          ? `since ${at}, XDP program ${change.program} runs on it instead of xlb's`
          : `since ${at}, no XDP program runs on it: someone took xlb's off`;
        log.error({ interface: link.name, program: change.program }, `${link.name}: ${link.problem}`);
        return;
      case 'back':
        await this.serially(async () => {
          if (this.#state === 'stopping' || this.#state === 'stopped') return;
          try {
            await refuseForeign([link.name], this.options.force, log);
            this.dp!.map('egress').delete(layout.u32Key(link.ifindex));
            this.setEgress(change.ifindex);
            this.dp!.setInterfaces(interfacesNamed(this.config.node.interfaces));
            const [attached] = attachAll(this.dp!.program, [link.name], this.config.node.xdpMode, log);
            Object.assign(link, attached);
            delete link.problem;
            log.info({ interface: link.name, ifindex: change.ifindex }, `${link.name} is back (ifindex ${change.ifindex}): attached again`);
          } catch (err) {
            Object.assign(link, { ifindex: change.ifindex, state: 'failed', problem: `back since ${at}, but not attached: ${(err as Error).message}` });
            log.error({ interface: link.name, err }, `${link.name} is back but xlb could not attach to it: ${(err as Error).message}`);
          }
        });
    }
  }

  /**
   * Runs `fn` after every change queued before it, whether those succeeded or not. An `edit` from the control socket
   * begins only then (and is dropped if it was cancelled meanwhile, or the daemon is stopping).
   */
  private serially<T>(fn: () => Promise<T> | T, edit?: Edit): Promise<T> {
    const turn = async () => {
      // Each change starts in a turn of its own: between two, the event loop serves the control socket (a client may
      // cancel its edit), the probes and the timers, however long the queue.
      await new Promise((resolve) => setImmediate(resolve));
      if (edit && this.#state === 'stopping') edit.cancel();
      edit?.begin();
      return fn();
    };
    const run = this.queue.then(turn, turn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private planFor(pool: Pool): Plan {
    return plan({
      pool,
      capacity: this.dp!.capacity,
      previous: this.allocation!,
      reuse: this.current,
      // A standby plans with the active node's health view, so both build the same tables.
      isUp: (s, b) => (this.ha?.isUpView() ?? ((id: string) => this.health.isUp(id)))(backendId(s, b)),
      nextHop: (_s, b) => this.hops.get(b.address),
      local: this.hops.local,
      floating: (this.config.ha?.floating ?? []).flatMap((f) => {
        const ifindex = ifindexOf(f.interface);
        return ifindex === undefined ? [] : [{ address: f.address, ifindex }];
      }),
    });
  }

  /** Plans `pool` and writes the difference; the plan becomes the current one. Call only inside the queue. */
  private applyPlan(pool: Pool): number {
    const next = this.planFor(pool);
    const { writes } = this.syncer!.apply(next);
    this.allocation = next.allocation;
    this.current = next;
    if (this.config.ha) this.digest = planDigest(next);
    return writes;
  }

  /**
   * Makes `change(pool)` the pool, whole or not at all: the change sees the pool as the edits queued before it left
   * it, the result is planned before anything is touched, and the pool changes only once the maps hold it.
   */
  private replacePool(change: (pool: Pool) => Pool, edit?: Edit, version?: number): Promise<ApplyResult> {
    return this.serially(async () => {
      const pool = change(this.pool);
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
        await this.hops.add(this.addresses(), this.configuredMacs());
        this.health.setTargets(this.targets());
        const writes = this.applyPlan(pool);
        if (version !== undefined) this.poolVersion = version;
        this.log.info({ writes, services: pool.services.length, backends, ...(version !== undefined && { version }) }, 'pool applied');
        return { writes, services: pool.services.length, backends };
      } catch (err) {
        this.pool = previous;
        this.health.setTargets(this.targets());
        // A failed apply may have written part of the change: the pool that stands is written again over it.
        try {
          this.applyPlan(previous);
        } catch (again) {
          this.log.error({ err: again }, 'could not restore the running pool after a failed change');
        }
        throw err;
      }
    }, edit);
  }

  /**
   * Reads and checks a config off the event loop (the daemon's own file, or text from lbctl), then makes its pool
   * the pool (in Redis, when the pool lives there). A config with problems changes nothing. With redis:, the daemon's
   * own file (SIGHUP) is checked but its pool not applied: Redis holds the pool, and `lbctl config apply FILE` is how a
   * file becomes it.
   */
  async reload(input: ConfigInput = { path: this.options.configPath }, source = this.options.configPath, edit?: Edit):
    Promise<ApplyResult> {
    if (this.#state !== 'ready') {
      throw new XlbError('XLB_CONFLICT', `the daemon is ${this.#state}, not ready: nothing was reloaded; try again once it is`);
    }
    const key = this.reloadCount++;
    const since = Date.now();
    this.reloads.set(key, { source, since });
    let config: Config | undefined;
    try {
      const checked = await checkConfig(input, this.stopping.signal);
      this.log.info({ source, ms: Date.now() - since, problems: checked.problems.length }, `${source} read and checked`);
      if (!checked.config) {
        const n = checked.problems.length;
        throw new ConfigError('XLB_CONFIG_INVALID', `${source}: ${n} problem${n === 1 ? '' : 's'}; the running pool stays`, checked.problems);
      }
      config = checked.config;
    } finally {
      this.reloads.delete(key);
    }
    if (JSON.stringify(config.node) !== JSON.stringify(this.config.node)) {
      this.log.warn({ source }, 'node settings changed: they take effect at the next restart; applying the pool only');
    }
    const next = config.pool;
    if (this.redis) {
      if ('path' in input) {
        this.log.info({ source }, `${source} checked; the pool lives in Redis: lbctl config apply ${source} makes it the pool`);
        return { writes: 0, ...counts(this.pool) };
      }
      edit?.begin();
      return this.redis.replace(next, { kind: 'config apply', detail: source });
    }
    const result = await this.replacePool(() => next, edit);
    this.config = { ...this.config, pool: next };
    return result;
  }

  status(): Status {
    const [reload] = this.reloads.values();
    return statusView({
      pool: this.pool,
      role: this.ha?.role ?? 'standalone',
      ...(this.config.ha ? { nodeId: this.config.ha.nodeId } : {}),
      pid: process.pid,
      pinPath: this.config.node.pinPath,
      started: this.started,
      now: Date.now(),
      adopted: (this.dp?.pins.adopted.length ?? 0) > 0,
      interfaces: this.links.map(({ programId: _id, ...status }) => status),
      ...(reload ? { reload } : {}),
      ...(this.redis ? { redis: this.redis.status() } : {}),
      health: (id) => this.health.status(id),
      nextHop: (address) => this.hops.resolution(address),
    });
  }

  stats(): Stats {
    const dp = this.dp!;
    return statsView({
      pool: this.pool,
      plan: this.current,
      counters: (role, index) => dp.counters(role, index),
      outcomes: dp.outcomes(),
    });
  }

  private scrape(): string {
    const suppressed = this.dp!.map('eventBudget').lookupPerCpu(layout.u32Key(0))
      .reduce((n, b) => n + Number(layout.eventBudget.decode(b).suppressed), 0);
    return formatMetrics({
      status: this.status(), stats: this.stats(), haActive: !this.ha || this.ha.role === 'active',
      ...(this.ha ? { ha: this.ha.status() } : {}),
      healthTransitions: this.health.transitions(), eventsSuppressed: suppressed,
      ...(this.redis ? { poolSync: this.redis.syncSeconds.snapshot() } : {}),
    });
  }

  private handlers(): ControlHandlers {
    return {
      status: () => this.status(),
      stats: () => this.stats(),
      applyConfig: (b: ConfigApply, edit) => this.reload({ text: b.yaml }, b.source ?? 'the applied config', edit),
      addBackend: (c: BackendChange, edit) =>
        this.edited(edit, { kind: 'backend add', detail: backendDetail(c) }, (p) => addBackend(p, c)),
      removeBackend: (r: BackendRef, edit) =>
        this.edited(edit, { kind: 'backend remove', detail: backendDetail(r) }, (p) => removeBackend(p, r)),
      setDrained: (r: BackendRef, drained: boolean, edit) =>
        this.edited(edit, { kind: drained ? 'backend drain' : 'backend undrain', detail: backendDetail(r) },
          (p) => setDrained(p, r, drained)),
      deny: (): DenyList => ({ deny: this.pool.deny }),
      addDeny: async (cidr: string, edit) => {
        await this.edited(edit, { kind: 'deny add', detail: cidr }, (p) => addDeny(p, cidr));
        return { deny: this.pool.deny };
      },
      removeDeny: async (cidr: string, edit) => {
        await this.edited(edit, { kind: 'deny remove', detail: cidr }, (p) => removeDeny(p, cidr));
        return { deny: this.pool.deny };
      },
      recentEvents: () => this.events.recent(),
      subscribe: (listener, stream) => this.events.subscribe(listener, stream),
      detach: async () => ({ detached: await this.stop(true) }),
      ha: () => {
        if (!this.ha) throw noHa();
        return this.ha.status();
      },
      switchover: async () => {
        if (!this.ha) throw noHa();
        try {
          return await this.ha.switchover();
        } catch (err) {
          throw new XlbError('XLB_SWITCHOVER_REFUSED', `no switchover: ${(err as Error).message}`);
        }
      },
    };
  }

  private async leavePair(resign: boolean): Promise<void> {
    await this.ha?.stop(resign).catch((err) => this.log.warn({ err }, `leaving the pair: ${(err as Error).message}`));
    this.haRedis?.disconnect();
  }

  /** Ends what runs on its own: timers, probes, config reads, the event ring. */
  private quiet(): void {
    void this.redis?.stop().catch((err) => this.log.warn({ err }, 'closing the Redis connections failed'));
    clearInterval(this.eventTimer);
    clearTimeout(this.hopTimer);
    clearTimeout(this.linkTimer);
    this.health.stop();
    this.stopping.abort();
  }

  /**
   * After a failed start: undoes only what this daemon made. Pins and a program it adopted from a running or stopped
   * predecessor stay as they were; a fresh install is taken off and unpinned.
   */
  async abort(): Promise<void> {
    this.setState('stopping');
    await this.leavePair(false);
    this.quiet();
    this.ring?.close();
    await Promise.all([this.control?.close(0), this.metrics?.close(0)]);
    const fresh = this.dp !== undefined && this.dp.pins.adopted.length === 0;
    if (fresh && this.links.length) await detachAll(this.links.map((i) => i.name), this.log.child({ module: 'attach' }));
    this.dp?.close();
    if (fresh) removePins(this.config.node.pinPath, PIN_NAMES);
    this.pinLock?.release();
    this.setState('stopped');
  }

  /**
   * Stops serving; with `detach`, also takes the program off and removes the pins. Returns what was detached.
   * Edits still queued are cancelled (nothing of them applied); answers under way get CLOSE_GRACE_MS, then every
   * connection of the control socket and the metrics server is ended, however slow its client.
   */
  async stop(detach: boolean): Promise<string[]> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return [];
    if (this.#state === 'loading') {
      // start() finishes what it is doing (closing the maps under it would fail it halfway), then stops.
      this.stopRequested = true;
      return [];
    }
    this.setState('stopping');
    // Detaching, an active node hands the lease to its peer at once; a plain stop lets it lapse (or be resumed).
    await this.leavePair(detach);
    this.quiet();
    await this.queue;
    this.events.end();
    // Not awaited: the answer to POST /detach (which called this) is sent within the grace.
    for (const server of [this.control, this.metrics]) {
      server?.close(CLOSE_GRACE_MS).catch((err) => this.log.warn({ err }, 'closing a server failed'));
    }
    if (this.dp) {
      try {
        this.dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 0 }));
      } catch (err) {
        this.log.warn({ err }, 'could not switch events off');
      }
    }
    this.ring?.close();
    let detached: string[] = [];
    if (detach) {
      // Only where xlb's program runs: not a missing interface, not another tool's program.
      const ours = this.links.filter((l) => l.state === 'attached').map((l) => l.name);
      detached = await detachAll(ours, this.log.child({ module: 'attach' }));
      this.dp?.close();
      removePins(this.config.node.pinPath, PIN_NAMES);
      this.log.info({ detached }, 'detached; maps unpinned');
    } else {
      this.dp?.close();
      this.log.info('stopped; the program stays attached and forwarding with the pinned maps');
    }
    this.pinLock?.release();
    this.setState('stopped');
    setImmediate(() => this.done(0));
    return detached;
  }
}

function noHa(): XlbError {
  return new XlbError('XLB_NO_HA', 'this node is not one of an HA pair: its config has no ha: section');
}

/** The pair's shared secret; too short a key would make heartbeats forgeable. */
function readKeyFile(path: string): Buffer {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    throw new XlbError('XLB_SETUP', `ha.key_file ${path} cannot be read: ${(err as Error).message}`);
  }
  if (key.length < 16) {
    throw new XlbError('XLB_SETUP', `ha.key_file ${path} holds ${key.length} bytes: a shared secret needs 16 or more, ` +
      'e.g. head -c 32 /dev/urandom > FILE on one node, copied to the other');
  }
  return key;
}

/** The first IPv4 address of interface `name`: where heartbeats go out and come in. */
function ipv4Of(name: string): string {
  const address = networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
  if (!address) throw new XlbError('XLB_SETUP', `ha.heartbeat.interface ${name} has no IPv4 address: heartbeats need one`);
  return address;
}

const ip = promisify(execFile);

/** Adds (or removes) the floating addresses on their interfaces; one already there (or already gone) is no error. */
async function floatAddresses(floating: readonly { address: string; prefixLength: number; interface: string }[],
  hold: boolean): Promise<void> {
  for (const f of floating) {
    const args = ['addr', hold ? 'replace' : 'del', `${f.address}/${f.prefixLength}`, 'dev', f.interface];
    try {
      await ip('ip', args);
    } catch (err) {
      if (hold || !/Cannot assign requested address|No such device/.test((err as { stderr?: string }).stderr ?? '')) throw err;
    }
  }
}

/** "web 198.18.1.13:8080": what an edit touched, for the change stream. */
function backendDetail(ref: BackendRef): string {
  return `${ref.service} ${formatEndpoint(ref.address, ref.port)}`;
}

function counts(pool: Pool): { services: number; backends: number } {
  return { services: pool.services.length, backends: pool.services.reduce((n, s) => n + s.backends.length, 0) };
}

/** The interface's index now; undefined when there is none of that name. */
function ifindexOf(name: string): number | undefined {
  try {
    return ifNameToIndex(name);
  } catch {
    return undefined;
  }
}
