// A loaded data plane driven through BPF_PROG_TEST_RUN: apply a pool, send a frame, get the verdict and bytes back.
import { XDP_ACTION } from '../../lb/bpf/ffi.js';
import { DataPlane, type MapRole } from '../../lb/dataplane/dataplane.js';
import { currentCpu, pinThread, rcuGracePeriod, setThreadAffinity, threadAffinity } from '../../lb/bpf/system.js';
import { Syncer, type BatchMap, type SyncMaps } from '../../lb/dataplane/syncer.js';
import { EMPTY_ALLOCATION, plan, type Allocation, type NextHop, type OwnedAddress, type Plan } from '../../lb/plan/planner.js';
import type { BackendSpec, Pool, ServiceSpec } from '../../config/pool.js';

export const LB_MAC = '02:1b:00:00:00:01';
export const CLIENT_MAC = '02:c1:00:00:00:01';

/** Each backend's MAC, derived from its address so expected frames can name it. */
export function backendMac(address: string): string {
  return ['02', 'be', ...address.split('.').map((n) => Number(n).toString(16).padStart(2, '0'))].join(':');
}

export const VERDICT: Record<number, string> = Object.fromEntries(Object.entries(XDP_ACTION).map(([k, v]) => [v, k]));

export interface RunResult {
  verdict: string;
  out: Buffer;
}

export interface ApplyOptions {
  /** Backends health-checked down, as "service>address". */
  down?: ReadonlySet<string>;
}

export interface HarnessOptions {
  /** Flow table entries; default 65536. */
  maxFlows?: number;
  /** The interface every backend is behind (next hop's ifindex); default 0: the receiving one. */
  backendIfindex?: number;
  /** The syncer's batch size (SyncOptions.batchEntries). */
  batchEntries?: number;
}

export class Harness {
  readonly dp: DataPlane;
  private readonly syncer: Syncer;
  private allocation: Allocation = EMPTY_ALLOCATION;
  private afterWrite?: (role: string, entries: number) => void;
  private local: string[] = [];
  private floating: OwnedAddress[] = [];
  private lastPool?: Pool;
  private readonly affinity: number[];
  private readonly backendIfindex: number;

  constructor(pool?: Pool, options: HarnessOptions = {}) {
    this.backendIfindex = options.backendIfindex ?? 0;
    this.dp = DataPlane.load({ maxFlows: options.maxFlows ?? 65536 });
    // rr cursors are per CPU: frames run on one CPU see one rotation.
    this.affinity = threadAffinity();
    pinThread(currentCpu());
    const maps = this.dp.syncMaps();
    // Every write reported, a batch as one of its number of entries.
    const watch = (role: MapRole): BatchMap & { maxEntries: number } => {
      const map = this.dp.map(role);
      return {
        maxEntries: map.maxEntries,
        update: (key, value) => { map.update(key, value); this.afterWrite?.(role, 1); },
        delete: (key) => { const found = map.delete(key); this.afterWrite?.(role, 1); return found; },
        updateBatch: (keys, values) => { map.updateBatch(keys, values); this.afterWrite?.(role, keys.length / map.keySize); },
      };
    };
    const watched: SyncMaps = {
      ...maps,
      services: watch('services'), vips: watch('vips'), local: watch('local'), tables: watch('tables'),
      backends: watch('backends'), reverse: watch('reverse'), owned: watch('owned'), filter: watch('filter'), deny: watch('deny'),
      allow: watch('allow'),
    };
    this.syncer = new Syncer(watched, this.dp.capacity.tableSize, {
      batchEntries: options.batchEntries,
      gracePeriod: () => { rcuGracePeriod(); this.afterWrite?.('grace period', 0); },
    });
    if (pool) this.apply(pool);
  }

  /** Re-applies the last pool with `local` as the node's own addresses. */
  applyLocal(local: string[]): Plan {
    this.local = local;
    return this.apply(this.lastPool!);
  }

  /** Re-applies the last pool with `floating` as the node's floating addresses. */
  applyFloating(floating: OwnedAddress[]): Plan {
    this.floating = floating;
    return this.apply(this.lastPool!);
  }

  plan(pool: Pool, options: ApplyOptions = {}): Plan {
    this.lastPool = pool;
    return plan({
      local: this.local,
      floating: this.floating,
      pool,
      capacity: this.dp.capacity,
      previous: this.allocation,
      isUp: (s, b) => !options.down?.has(`${s.name}>${b.address}`),
      nextHop: (s, b) => ({ ...testNextHop(s, b), ifindex: this.backendIfindex }),
    });
  }

  apply(pool: Pool, options: ApplyOptions = {}): Plan {
    const p = this.plan(pool, options);
    this.syncer.apply(p);
    this.allocation = p.allocation;
    return p;
  }

  /**
   * Applies `pool` with `afterWrite` called after every map write the syncer makes (a batch is one, of `entries`
   * entries) and after the grace period between a prelude and its plan (role 'grace period', 0 entries).
   */
  applyWatched(pool: Pool, afterWrite: (role: string, entries: number) => void): Plan {
    this.afterWrite = afterWrite;
    try {
      return this.apply(pool);
    } finally {
      this.afterWrite = undefined;
    }
  }

  /** Runs `frame` as if received on interface `ingress` (default: the loopback BPF_PROG_TEST_RUN picks). */
  run(frame: Buffer, ingress?: number): RunResult {
    const r = this.dp.program.testRun({ data: frame, ctxIn: ingress === undefined ? undefined : xdpContext(frame, ingress) });
    return { verdict: VERDICT[r.retval] ?? `retval ${r.retval}`, out: r.data };
  }

  close(): void {
    this.dp.close();
    setThreadAffinity(this.affinity);
  }
}

/** struct xdp_md for BPF_PROG_TEST_RUN: the kernel wants data_end to be the frame's length. */
export function xdpContext(frame: Buffer, ingress: number): Buffer {
  const ctx = Buffer.alloc(24);
  ctx.writeUInt32LE(frame.length, 4);
  ctx.writeUInt32LE(ingress, 12);
  return ctx;
}

export function testNextHop(_s: ServiceSpec, b: BackendSpec): NextHop {
  return { ifindex: 0, mac: b.mac ?? backendMac(b.address), srcMac: LB_MAC };
}

export function pool(...services: ServiceSpec[]): Pool {
  return { services, deny: [] };
}

export function service(spec: Partial<ServiceSpec> & Pick<ServiceSpec, 'name' | 'protocol'>,
  backends: (string | Partial<BackendSpec>)[]): ServiceSpec {
  return {
    vip: '198.18.0.10',
    scheduler: 'rr',
    forwarding: 'nat',
    allow: [],
    health: { type: 'none', intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 },
    ...spec,
    backends: backends.map((b) => ({ weight: 1, drained: false, ...(typeof b === 'string' ? { address: b } : b) }) as BackendSpec),
  };
}
