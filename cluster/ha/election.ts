// Who of an HA pair owns the VIPs, decided from facts the node gathers (the lease in Redis, the peer's heartbeats,
// whether it can serve) and the clock. Pure: the caller performs what it asks for (acquire, renew, release) and feeds
// back the outcome; times are monotonic milliseconds.
//
// The rules, in short (DESIGN.md "Who owns the VIPs", "Never two owners"):
// - Nobody becomes active without the lease; a node that learns of a higher epoch steps down at once.
// - The active node may forward and answer ARP until its deadline: the send time of its last successful renewal plus
//   the lease minus a margin, so its data plane stops before Redis lets the lease go to another node. While Redis is
//   unreachable for both, a heartbeat from the peer saying "standby at your epoch, no Redis either" extends it: the
//   peer cannot take the lease without Redis, so nothing flaps.
// - A standby takes a free lease only while its peer is not seen active and serving: a live active peer that lost
//   Redis keeps the VIPs until its own deadline ends, and only then is the lease taken.
// - An active node that cannot serve resigns (releases the lease) at once; `switchover` hands over on purpose: the
//   node stops answering ARP, releases the lease to its peer, and forwards what still reaches it for a drain period.

export type Role = 'standby' | 'active' | 'leaving';

export type TransitionReason =
  | 'lease-acquired'  // standby -> active
  | 'lease-lost'      // the lease was another node's, or gone, at renewal
  | 'higher-epoch'    // the peer is active at a higher epoch
  | 'deadline'        // no renewal (nor peer confirmation) before the deadline
  | 'unserveable'     // resigned: cannot serve
  | 'switchover'      // active -> leaving, on purpose
  | 'drained';        // leaving -> standby

export interface Transition {
  from: Role;
  to: Role;
  reason: TransitionReason;
  /** Monotonic ms. */
  at: number;
}

/** What the peer last said, as the node took it. */
export interface PeerView {
  nodeId: string;
  role: Role;
  epoch: number;
  digest: string;
  redis: boolean;
  serveable: boolean;
  /** Monotonic ms at receipt. */
  receivedAt: number;
}

export interface ElectionOptions {
  nodeId: string;
  leaseMs: number;
  /** The data plane stops this long before the lease would lapse in Redis. */
  marginMs: number;
  /** Heartbeat interval and how many missed ones make the peer dead. */
  heartbeatMs: number;
  misses: number;
  /** How long a node that handed over forwards what still reaches it (clients whose ARP caches are not updated yet). */
  drainMs: number;
}

/** What the node should do with Redis now. */
export type LeaseAction = 'acquire' | 'renew' | 'release' | 'none';

/** What the data plane may do: answer ARP and forward VIP traffic until these monotonic ms (0: not at all). */
export interface DataPlaneGrant {
  arpUntil: number;
  forwardUntil: number;
}

export class Election {
  private roleNow: Role = 'standby';
  private epochNow = 0;
  private deadline = 0;
  private drainUntil = 0;
  private lastRenewSent = -Infinity;
  private redisOk = false;
  private serve: { ok: boolean; why: string } = { ok: false, why: 'not started' };
  private peerNow?: PeerView;
  private releasePending = false;
  private last?: Transition;
  /** Transitions by reason since start, for metrics. */
  readonly transitions: Partial<Record<TransitionReason, number>> = {};

  constructor(private readonly o: ElectionOptions) {
    if (o.marginMs <= 0 || o.marginMs >= o.leaseMs) throw new RangeError('margin must be above 0 and below the lease');
  }

  get role(): Role {
    return this.roleNow;
  }

  get epoch(): number {
    return this.epochNow;
  }

  get lastTransition(): Transition | undefined {
    return this.last;
  }

  get redis(): boolean {
    return this.redisOk;
  }

  get serveable(): { ok: boolean; why: string } {
    return this.serve;
  }

  /** The peer's last heartbeat, if it is fresh (within `misses` intervals). */
  peer(now: number): PeerView | undefined {
    const p = this.peerNow;
    return p && now - p.receivedAt <= this.o.heartbeatMs * this.o.misses ? p : undefined;
  }

  /** The last heartbeat ever taken from the peer, fresh or not. */
  get lastPeer(): PeerView | undefined {
    return this.peerNow;
  }

  // ---- facts ---------------------------------------------------------------------------------------------------

  /** The lease was taken at `epoch` by a command sent at `sentAt`. */
  acquired(epoch: number, sentAt: number): Transition | undefined {
    this.epochNow = Math.max(this.epochNow, epoch);
    this.lastRenewSent = sentAt;
    this.deadline = sentAt + this.o.leaseMs - this.o.marginMs;
    if (this.roleNow === 'active') return undefined;
    return this.become('active', 'lease-acquired', sentAt);
  }

  /** A renewal sent at `sentAt` succeeded. */
  renewed(sentAt: number): void {
    if (this.roleNow !== 'active') return;
    this.lastRenewSent = Math.max(this.lastRenewSent, sentAt);
    this.deadline = Math.max(this.deadline, sentAt + this.o.leaseMs - this.o.marginMs);
  }

  /** A renewal found the lease another node's (at `epoch`, when known) or gone. */
  lost(now: number, epoch?: number): Transition | undefined {
    if (epoch !== undefined) this.epochNow = Math.max(this.epochNow, epoch);
    if (this.roleNow !== 'active') return undefined;
    return this.become('standby', 'lease-lost', now);
  }

  /** The lease was released (resign or handover): nothing more to release. */
  released(): void {
    this.releasePending = false;
  }

  /** Whether Redis answers. */
  setRedis(ok: boolean): void {
    this.redisOk = ok;
  }

  /** Whether this node could serve; an active node that cannot resigns at once. */
  setServeable(ok: boolean, why: string, now: number): Transition | undefined {
    this.serve = { ok, why };
    if (ok || this.roleNow !== 'active') return undefined;
    this.releasePending = true;
    return this.become('standby', 'unserveable', now);
  }

  /** An authenticated heartbeat from the peer. */
  heartbeat(peer: PeerView): Transition | undefined {
    this.peerNow = peer;
    const now = peer.receivedAt;
    if (peer.role === 'active' && peer.epoch > this.epochNow) {
      this.epochNow = peer.epoch;
      // A leaving node already gave the VIPs up; it drains on.
      if (this.roleNow === 'active') return this.become('standby', 'higher-epoch', now);
    }
    if (this.roleNow === 'active' && !this.redisOk && peer.role === 'standby' && peer.epoch === this.epochNow &&
      !peer.redis) {
      this.deadline = Math.max(this.deadline, now + this.o.leaseMs - this.o.marginMs);
    }
    return undefined;
  }

  /**
   * Hands over on purpose: only an active node whose peer is fresh, serveable and has the same digest (`digest` is this
   * node's). Returns why not, or the transition to leaving.
   */
  switchover(digest: string, now: number): { ok: true; transition: Transition } | { ok: false; why: string } {
    if (this.roleNow !== 'active') return { ok: false, why: `this node is ${this.roleNow}, not active` };
    const peer = this.peer(now);
    if (!peer) return { ok: false, why: 'no heartbeat from the peer: it would not take over' };
    if (!peer.serveable) return { ok: false, why: `the peer ${peer.nodeId} cannot serve` };
    if (peer.digest !== digest) {
      return { ok: false, why: `the peer's tables differ (digest ${peer.digest}, this node ${digest}): flows would move` };
    }
    this.releasePending = true;
    this.drainUntil = now + this.o.drainMs;
    return { ok: true, transition: this.become('leaving', 'switchover', now) };
  }

  // ---- decisions -------------------------------------------------------------------------------------------------

  /** Time-driven changes: a deadline passed, a drain ended. */
  tick(now: number): Transition | undefined {
    if (this.roleNow === 'active' && now >= this.deadline) return this.become('standby', 'deadline', now);
    if (this.roleNow === 'leaving' && now >= this.drainUntil) return this.become('standby', 'drained', now);
    return undefined;
  }

  /** What to ask of Redis now. */
  leaseAction(now: number): LeaseAction {
    if (this.releasePending) return this.redisOk ? 'release' : 'none';
    if (this.roleNow === 'active') return now - this.lastRenewSent >= this.o.leaseMs / 4 ? 'renew' : 'none';
    if (this.roleNow === 'leaving' || !this.redisOk || !this.serve.ok) return 'none';
    const peer = this.peer(now);
    if (peer && peer.role === 'active' && peer.serveable) return 'none';
    return 'acquire';
  }

  grant(now: number): DataPlaneGrant {
    if (this.roleNow === 'active' && now < this.deadline) return { arpUntil: this.deadline, forwardUntil: this.deadline };
    if (this.roleNow === 'leaving' && now < this.drainUntil) return { arpUntil: 0, forwardUntil: this.drainUntil };
    return { arpUntil: 0, forwardUntil: 0 };
  }

  /** Whether this standby's tables match the active peer's, and why not. */
  readiness(digest: string, now: number): { ready: boolean; why: string } {
    if (this.roleNow !== 'standby') return { ready: true, why: this.roleNow };
    const peer = this.peer(now);
    if (!peer) return { ready: false, why: 'no heartbeat from the peer' };
    if (peer.role !== 'active') return { ready: true, why: `the peer is ${peer.role}` };
    if (peer.digest !== digest) return { ready: false, why: `tables differ from the active's (${peer.digest})` };
    return { ready: true, why: 'tables match the active\'s' };
  }

  private become(to: Role, reason: TransitionReason, at: number): Transition {
    const t: Transition = { from: this.roleNow, to, reason, at };
    this.roleNow = to;
    if (to !== 'active') this.deadline = 0;
    if (to !== 'leaving') this.drainUntil = 0;
    this.last = t;
    this.transitions[reason] = (this.transitions[reason] ?? 0) + 1;
    return t;
  }
}
