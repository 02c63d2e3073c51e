// `lbctl daemon`: the node's lifecycle. Loads (or re-adopts) the data plane, attaches it, keeps the maps equal to the
// plan of pool + health + next hops, follows its interfaces, serves lbctl and Prometheus, and stops.
// States: loading -> ready -> stopping -> stopped, changed only by setState().
import type { Logger } from 'pino';
import { RingBuffer } from '../bpf/ringbuf.js';
import { ifNameToIndex } from '../bpf/system.js';
import * as layout from '../bpf/layout.js';
import type { ApplyResult, BackendChange, BackendRef, ConfigApply, DenyList, Stats, Status } from '../control/api.js';
import { addBackend, addDeny, removeBackend, removeDeny, setDrained } from '../control/edits.js';
import type { Edit } from '../control/requests.js';
import { answers, CLOSE_GRACE_MS, serveControl, type ControlHandlers } from '../control/server.js';
import { DataPlane, PIN_NAMES } from '../dataplane/dataplane.js';
import { ensureBpffs, makePinDirectory, PinLock, removePins } from '../dataplane/pindir.js';
import { Syncer } from '../dataplane/syncer.js';
import { XlbError } from '../errors.js';
import { HealthChecker, type Target } from '../health/checker.js';
import type { HttpServer } from '../http.js';
import { plan, PlanError, type Allocation, type Plan } from '../plan/planner.js';
import { backendId, backendPort, type Pool } from '../../config/pool.js';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { attachAll, detachAll, programIdOn, refuseForeign, type AttachedInterface } from './attach.js';
import { checkConfig, type ConfigInput } from './config-reader.js';
import { EventFeed, toEvent } from './events.js';
import { linkChanges, type LinkChange } from './links.js';
import { formatMetrics } from './metrics.js';
import { serveMetrics } from './metrics-server.js';
import { NextHops } from './nexthops.js';
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

export class Daemon {
  #state: DaemonState = 'loading';
  private readonly started = Date.now();
  private dp?: DataPlane;
  private syncer?: Syncer;
  private allocation?: Allocation;
  private current?: Plan;
  private pool: Pool;
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
  /** A sync queued and not begun yet: the changes that come meanwhile join it (see sync()). */
  private pendingSync?: Promise<void>;
  private done!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.done = resolve));

  constructor(private config: Config, private readonly options: DaemonOptions, private readonly log: Logger) {
    this.pool = config.pool;
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

    this.syncer = new Syncer(dp.syncMaps(), dp.capacity.tableSize);
    const { allocation, orphans } = this.syncer.adopt(dp.syncMaps(), dp.capacity.backends);
    this.allocation = allocation;
    if (orphans.length) this.log.warn({ orphans }, `${orphans.length} backend entries of services that are gone (a stop mid-apply): the next apply frees them`);

    await this.hops.settle(this.addresses(), this.configuredMacs(), NEXTHOP_SETTLE_MS);
    this.health.setTargets(this.targets());
    await this.sync();

    // Redirect targets exist before the program that uses them runs.
    for (const name of node.interfaces) this.setEgress(ifNameToIndex(name));
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
    this.setState('ready');
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
      isUp: (s, b) => this.health.isUp(backendId(s, b)),
      nextHop: (_s, b) => this.hops.get(b.address),
      local: this.hops.local,
    });
  }

  /** Plans `pool` and writes the difference; the plan becomes the current one. Call only inside the queue. */
  private applyPlan(pool: Pool): number {
    const next = this.planFor(pool);
    const { writes } = this.syncer!.apply(next);
    this.allocation = next.allocation;
    this.current = next;
    return writes;
  }

  /**
   * Plans the current pool and writes the difference. A sync asked for while another waits for its turn is that one:
   * it plans from the health and next hops of its turn, so a burst of health changes costs one plan, not one each.
   */
  private sync(): Promise<void> {
    this.pendingSync ??= this.serially(() => {
      this.pendingSync = undefined;
      if (this.#state === 'stopping' || this.#state === 'stopped') return;
      const writes = this.applyPlan(this.pool);
      if (writes) this.log.debug({ writes }, 'maps updated');
    });
    return this.pendingSync;
  }

  /**
   * Makes `change(pool)` the pool, whole or not at all: the change sees the pool as the edits queued before it left
   * it, the result is planned before anything is touched, and the pool changes only once the maps hold it.
   */
  private replacePool(change: (pool: Pool) => Pool, edit?: Edit): Promise<ApplyResult> {
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
        this.log.info({ writes, services: pool.services.length, backends }, 'pool applied');
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
   * the pool. A config with problems changes nothing.
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
    const result = await this.replacePool(() => next, edit);
    this.config = { ...this.config, pool: next };
    return result;
  }

  status(): Status {
    const [reload] = this.reloads.values();
    return statusView({
      pool: this.pool,
      pid: process.pid,
      pinPath: this.config.node.pinPath,
      started: this.started,
      now: Date.now(),
      adopted: (this.dp?.pins.adopted.length ?? 0) > 0,
      interfaces: this.links.map(({ programId: _id, ...status }) => status),
      ...(reload ? { reload } : {}),
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
      status: this.status(), stats: this.stats(), haActive: true,
      healthTransitions: this.health.transitions(), eventsSuppressed: suppressed,
    });
  }

  private handlers(): ControlHandlers {
    return {
      status: () => this.status(),
      stats: () => this.stats(),
      applyConfig: (b: ConfigApply, edit) => this.reload({ text: b.yaml }, b.source ?? 'the applied config', edit),
      addBackend: (c: BackendChange, edit) => this.replacePool((p) => addBackend(p, c), edit),
      removeBackend: (r: BackendRef, edit) => this.replacePool((p) => removeBackend(p, r), edit),
      setDrained: (r: BackendRef, drained: boolean, edit) => this.replacePool((p) => setDrained(p, r, drained), edit),
      deny: (): DenyList => ({ deny: this.pool.deny }),
      addDeny: async (cidr: string, edit) => {
        await this.replacePool((p) => addDeny(p, cidr), edit);
        return { deny: this.pool.deny };
      },
      removeDeny: async (cidr: string, edit) => {
        await this.replacePool((p) => removeDeny(p, cidr), edit);
        return { deny: this.pool.deny };
      },
      recentEvents: () => this.events.recent(),
      subscribe: (listener, stream) => this.events.subscribe(listener, stream),
      detach: async () => ({ detached: await this.stop(true) }),
    };
  }

  /** Ends what runs on its own: timers, probes, config reads, the event ring. */
  private quiet(): void {
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

/** The interface's index now; undefined when there is none of that name. */
function ifindexOf(name: string): number | undefined {
  try {
    return ifNameToIndex(name);
  } catch {
    return undefined;
  }
}
