// A node's side of an HA pair: the election (./election.ts, pure) driven by a clock tick and fed by I/O: the lease in
// Redis (./lease.ts), the peer's heartbeats on the wire (./heartbeat.ts, ./wire.ts), what the daemon can serve. It acts
// on the outcome: the data plane's grant (its dead-man switch), the floating addresses, gratuitous ARP on takeover,
// and the health view a standby plans with (the active node publishes its own, tagged with its epoch).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { HaConfig } from '../../config/types.js';
import { Election, type DataPlaneGrant, type PeerView, type Role, type Transition, type TransitionReason } from './election.js';
import { gratuitousArp, nextAnnouncement } from './garp.js';
import { HeartbeatVerifier, sealHeartbeat, type Rejection } from './heartbeat.js';
import { Lease, type Holder } from './lease.js';
import { HeartbeatWire } from './wire.js';

/** What the daemon shows the pair. */
export interface PairView {
  /** Digest of the tables in the maps (lb/plan/digest.ts). */
  digest(): string;
  /** Whether the node could serve now, and why not. */
  serveable(): { ok: boolean; why: string };
  /** What to announce on takeover: each address on the interface it is announced on, with that interface's MAC. */
  announcements(): { address: string; ifindex: number; mac: string }[];
  /** This node's own health verdicts, published while it is active: the backends (backendId) that are down. */
  down(): string[];
  /** The health view to plan with changed (a standby follows the active's): plan again. */
  healthViewChanged(): void;
}

/** What the pair does to the data plane and the kernel. */
export interface PairActions {
  /** CLOCK_MONOTONIC ns deadlines (DataPlane.setHa). */
  grant(grant: { forwardUntilNs: bigint; arpUntilNs: bigint }): void;
  transmit(ifindex: number, frame: Buffer): void;
  /** Adds (true) or removes (false) the floating addresses on their interfaces. */
  float(hold: boolean): Promise<void>;
}

export interface HaPairOptions {
  config: HaConfig;
  keyPrefix: string;
  key: Buffer;
  /** A connection that never queues commands (enableOfflineQueue false): a renewal fails at once without Redis. */
  redis: Redis;
  /** The heartbeat interface's IPv4 address. */
  localAddress: string;
  view: PairView;
  actions: PairActions;
  logger: Logger;
  /** Monotonic milliseconds (CLOCK_MONOTONIC, as the data plane's clock). */
  now?: () => number;
}

/** What `lbctl ha status` shows. */
export interface PairStatus {
  nodeId: string;
  pair: string;
  role: Role;
  epoch: number;
  /** The lease as last read or written: who holds it, and for how long still (ms). */
  lease?: Holder & { ttlMs: number };
  redis: boolean;
  serveable: { ok: boolean; why: string };
  digest: string;
  ready: { ready: boolean; why: string };
  peer?: {
    nodeId: string; role: Role; epoch: number; digest: string; redis: boolean; serveable: boolean; heartbeatAgeMs: number;
    up: boolean;
  };
  lastTransition?: { from: Role; to: Role; reason: TransitionReason; ageMs: number };
  transitions: Partial<Record<TransitionReason, number>>;
  heartbeatsRejected: Record<Rejection, number>;
}

const MARGIN_FRACTION = 0.25;
/** A node that hands over keeps forwarding what still reaches it past the 5 s re-announcement. */
const DRAIN_MS = 6000;
/** How often the active publishes its health view again, and a standby reads it. */
const HEALTH_EVERY_MS = 250;
/** How long a switchover waits for the peer to take the lease. */
const SWITCHOVER_MS = 5000;
/** Heartbeats are refused when their sender's wall clock is this far from ours. */
const CLOCK_WINDOW_MS = 5000;

const nsOf = (ms: number): bigint => (ms > 0 ? BigInt(Math.floor(ms)) * 1_000_000n : 0n);

export class HaPair {
  private readonly election: Election;
  private readonly lease: Lease;
  private readonly verifier: HeartbeatVerifier;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly boot = randomBytes(8).toString('hex');
  private readonly healthKey: string;
  private wire?: HeartbeatWire;
  private timer?: NodeJS.Timeout;
  private busy = false;
  private seq = 0;
  private lastHeartbeat = -Infinity;
  private lastGrant?: DataPlaneGrant;
  private holder?: Holder & { ttlMs: number };
  private activeSince?: number;
  private announced = 0;
  private healthPublished = -Infinity;
  private healthRead = -Infinity;
  /** The active's view, while this node is a standby: the backends down at that epoch. */
  private view?: { epoch: number; down: Set<string> };
  private floating = false;
  private stopped = false;

  constructor(private readonly o: HaPairOptions) {
    const c = o.config;
    this.log = o.logger.child({ module: 'ha' });
    this.now = o.now ?? (() => Number(process.hrtime.bigint() / 1_000_000n));
    this.election = new Election({
      nodeId: c.nodeId, leaseMs: c.leaseMs, marginMs: Math.max(50, Math.round(c.leaseMs * MARGIN_FRACTION)),
      heartbeatMs: c.heartbeat.intervalMs, misses: c.heartbeat.misses, drainMs: DRAIN_MS,
    });
    this.lease = new Lease(o.redis, o.keyPrefix, c.pair, c.nodeId, c.leaseMs);
    this.verifier = new HeartbeatVerifier(o.key, c.pair, c.nodeId, CLOCK_WINDOW_MS);
    this.healthKey = `${o.keyPrefix}:ha:${c.pair}:health`;
  }

  get role(): Role {
    return this.election.role;
  }

  get epoch(): number {
    return this.election.epoch;
  }

  async start(): Promise<void> {
    this.wire = await HeartbeatWire.open(this.o.localAddress, (d) => this.onDatagram(d));
    this.wire.onError((err) => this.log.warn({ err }, `heartbeat socket: ${err.message}`));
    const tickMs = Math.max(10, Math.min(50, Math.floor(this.o.config.heartbeat.intervalMs / 2)));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.tick();
  }

  /**
   * Stops taking part. With `resign`, an active node first hands the lease to its peer (or drops it), so the peer takes
   * over at once; without, the lease lapses by itself (a restarted daemon resumes it, the data plane forwarding on
   * meanwhile until its deadline).
   */
  async stop(resign: boolean): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (resign && this.election.role === 'active') {
      await this.lease.release(this.election.epoch, this.election.peer(this.now())?.nodeId).catch(() => undefined);
      this.o.actions.grant({ forwardUntilNs: 0n, arpUntilNs: 0n });
      await this.o.actions.float(false).catch(() => undefined);
    }
    this.wire?.close();
  }

  /** Hands over to the peer on purpose; resolves once the peer holds the lease (or fails saying why). */
  async switchover(): Promise<{ to: string; epoch: number; ms: number }> {
    const started = this.now();
    const from = this.election.epoch;
    const r = this.election.switchover(this.o.view.digest(), started);
    if (!r.ok) throw new Error(r.why);
    const peer = this.election.peer(started)!.nodeId;
    this.onTransition(r.transition);
    this.tick();
    const taken = await new Promise<PeerView | undefined>((resolve) => {
      const check = setInterval(() => {
        const p = this.election.peer(this.now());
        if (p?.nodeId === peer && p.role === 'active' && p.epoch > from) done(p);
        else if (this.now() - started > SWITCHOVER_MS) done(undefined);
      }, 5);
      const done = (p: PeerView | undefined) => {
        clearInterval(check);
        resolve(p);
      };
    });
    if (!taken) throw new Error(`${peer} did not take the lease within ${SWITCHOVER_MS / 1000} s; this node drains and stands by`);
    return { to: peer, epoch: taken.epoch, ms: this.now() - started };
  }

  /** The health view a standby plans with: the active's, at the current epoch; undefined otherwise (its own). */
  isUpView(): ((id: string) => boolean) | undefined {
    const v = this.view;
    if (this.election.role !== 'standby' || !v || v.epoch !== this.election.epoch) return undefined;
    return (id) => !v.down.has(id);
  }

  status(): PairStatus {
    const now = this.now();
    const peer = this.election.lastPeer;
    const last = this.election.lastTransition;
    const digest = this.o.view.digest();
    return {
      nodeId: this.o.config.nodeId,
      pair: this.o.config.pair,
      role: this.election.role,
      epoch: this.election.epoch,
      ...(this.holder && { lease: this.holder }),
      redis: this.election.redis,
      serveable: this.election.serveable,
      digest,
      ready: this.election.readiness(digest, now),
      ...(peer && {
        peer: {
          nodeId: peer.nodeId, role: peer.role, epoch: peer.epoch, digest: peer.digest, redis: peer.redis,
          serveable: peer.serveable, heartbeatAgeMs: now - peer.receivedAt, up: this.election.peer(now) !== undefined,
        },
      }),
      ...(last && { lastTransition: { from: last.from, to: last.to, reason: last.reason, ageMs: now - last.at } }),
      transitions: { ...this.election.transitions },
      heartbeatsRejected: { ...this.verifier.rejected },
    };
  }

  // ---- the tick ------------------------------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    const now = this.now();
    const serve = this.o.view.serveable();
    const resigned = this.election.setServeable(serve.ok, serve.why, now);
    if (resigned) this.onTransition(resigned);
    const timed = this.election.tick(now);
    if (timed) this.onTransition(timed);
    this.applyGrant(now);
    if (now - this.lastHeartbeat >= this.o.config.heartbeat.intervalMs) this.sendHeartbeat(now);
    if (this.election.role === 'active') this.announce(now);
    if (!this.busy) {
      this.busy = true;
      this.redisStep(now).finally(() => {
        this.busy = false;
        this.applyGrant(this.now());
      });
    }
  }

  /** One Redis step: the lease action the election asks for, else a look at the lease; and the health view. */
  private async redisStep(now: number): Promise<void> {
    try {
      const action = this.election.leaseAction(now);
      const sentAt = this.now();
      switch (action) {
        case 'acquire': {
          const r = await this.lease.acquire();
          this.election.setRedis(true);
          if (r.ok) {
            const t = this.election.acquired(r.epoch, sentAt);
            if (r.resumed) this.log.info({ epoch: r.epoch }, `resumed this node's lease at epoch ${r.epoch}`);
            if (t) this.onTransition(t);
            this.holder = { nodeId: this.o.config.nodeId, epoch: r.epoch, ttlMs: this.o.config.leaseMs };
          } else if (r.holder) {
            this.holder = { ...r.holder, ttlMs: NaN };
          }
          break;
        }
        case 'renew': {
          const epoch = this.election.epoch;
          const r = await this.lease.renew(epoch);
          this.election.setRedis(true);
          if (r.ok) {
            this.election.renewed(sentAt);
            this.holder = { nodeId: this.o.config.nodeId, epoch, ttlMs: this.o.config.leaseMs };
          } else {
            const t = this.election.lost(this.now(), r.holder?.epoch);
            if (t) this.onTransition(t);
          }
          break;
        }
        case 'release': {
          const peer = this.election.role === 'leaving' ? this.election.peer(now)?.nodeId : undefined;
          await this.lease.release(this.election.epoch, peer);
          this.election.setRedis(true);
          this.election.released();
          break;
        }
        case 'none':
          this.holder = await this.lease.holder();
          this.election.setRedis(true);
          break;
      }
      await this.healthStep(this.now());
    } catch (err) {
      if (this.election.redis) this.log.warn({ err }, `Redis unreachable for the lease: ${(err as Error).message}`);
      this.election.setRedis(false);
    }
  }

  /** The active publishes its health view (with its epoch); a standby reads the active's. */
  private async healthStep(now: number): Promise<void> {
    const role = this.election.role;
    if (role === 'active' && now - this.healthPublished >= HEALTH_EVERY_MS) {
      this.healthPublished = now;
      const view = JSON.stringify({ epoch: this.election.epoch, node: this.o.config.nodeId, down: this.o.view.down().sort() });
      await this.o.redis.set(this.healthKey, view);
    } else if (role === 'standby' && now - this.healthRead >= HEALTH_EVERY_MS) {
      this.healthRead = now;
      const raw = await this.o.redis.get(this.healthKey);
      const next = parseHealthView(raw);
      const before = this.view;
      this.view = next;
      const key = (v?: { epoch: number; down: Set<string> }) => (v ? `${v.epoch}:${[...v.down].join(',')}` : '');
      if (key(before) !== key(next)) this.o.view.healthViewChanged();
    }
  }

  private applyGrant(now: number): void {
    const g = this.election.grant(now);
    if (this.lastGrant && g.arpUntil === this.lastGrant.arpUntil && g.forwardUntil === this.lastGrant.forwardUntil) return;
    this.lastGrant = g;
    this.o.actions.grant({ forwardUntilNs: nsOf(g.forwardUntil), arpUntilNs: nsOf(g.arpUntil) });
  }

  private onTransition(t: Transition): void {
    const level = t.to === 'active' || t.reason === 'switchover' || t.reason === 'drained' ? 'info' : 'warn';
    this.log[level]({ from: t.from, to: t.to, reason: t.reason, epoch: this.election.epoch }, `${t.from} -> ${t.to}: ${t.reason}`);
    this.applyGrant(this.now());
    if (t.to === 'active') {
      this.activeSince = this.now();
      this.announced = 0;
      this.view = undefined;
      this.announce(this.activeSince);
    } else {
      this.activeSince = undefined;
    }
    const hold = t.to === 'active';
    if (hold !== this.floating) {
      this.floating = hold;
      this.o.actions.float(hold).catch((err) => this.log.error({ err }, `floating addresses: ${(err as Error).message}`));
    }
    this.sendHeartbeat(this.now());
    this.o.view.healthViewChanged();
  }

  /** Gratuitous ARP for every VIP and floating address: at takeover, after ~1.1 s, at ~5 s, then a slow refresh. */
  private announce(now: number): void {
    if (this.activeSince === undefined) return;
    const elapsed = now - this.activeSince;
    if (this.announced > 0 && elapsed < this.announced) return;
    this.announced = nextAnnouncement(elapsed);
    for (const a of this.o.view.announcements()) {
      for (const kind of ['request', 'reply'] as const) {
        try {
          this.o.actions.transmit(a.ifindex, gratuitousArp(kind, a.address, a.mac));
        } catch (err) {
          this.log.warn({ err, address: a.address, ifindex: a.ifindex }, `gratuitous ARP for ${a.address}: ${(err as Error).message}`);
        }
      }
    }
  }

  private sendHeartbeat(now: number): void {
    if (!this.wire) return;
    this.lastHeartbeat = now;
    const serve = this.election.serveable;
    const datagram = sealHeartbeat({
      pair: this.o.config.pair, nodeId: this.o.config.nodeId, boot: this.boot, seq: ++this.seq, time: Date.now(),
      role: this.election.role, epoch: this.election.epoch, digest: this.o.view.digest(), redis: this.election.redis,
      serveable: serve.ok,
    }, this.o.key);
    this.wire.send(datagram).catch((err: Error) => this.log.debug({ err }, `heartbeat not sent: ${err.message}`));
  }

  private onDatagram(datagram: Buffer): void {
    const verdict = this.verifier.verify(datagram, Date.now());
    if (!verdict.ok) {
      if (verdict.reason !== 'self') this.log.debug({ reason: verdict.reason }, `heartbeat refused: ${verdict.reason}`);
      return;
    }
    const h = verdict.heartbeat;
    const peer: PeerView = {
      nodeId: h.nodeId, role: h.role, epoch: h.epoch, digest: h.digest, redis: h.redis, serveable: h.serveable,
      receivedAt: this.now(),
    };
    const t = this.election.heartbeat(peer);
    if (t) this.onTransition(t);
    // A peer that hands over (or is gone from the lease) is worth a look at once, not at the next tick.
    if (h.role === 'leaving' && this.election.role === 'standby') this.tick();
  }
}

/** The active's published view; undefined when absent or not of the expected shape. */
function parseHealthView(raw: string | null): { epoch: number; down: Set<string> } | undefined {
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as { epoch?: unknown; down?: unknown };
    if (!Number.isSafeInteger(v.epoch) || !Array.isArray(v.down) || !v.down.every((d) => typeof d === 'string')) return undefined;
    return { epoch: v.epoch as number, down: new Set(v.down as string[]) };
  } catch {
    return undefined;
  }
}
