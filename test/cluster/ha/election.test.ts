// The election's rules, driven by hand with a made-up clock: every way a pair can lose a node, Redis, or the wire.
import test from 'ava';
import { Election, type PeerView, type Role } from '../../../cluster/ha/election.js';

const LEASE = 800;
const MARGIN = 200;
const HB = 100;
const OPTIONS = { nodeId: 'lb-a', leaseMs: LEASE, marginMs: MARGIN, heartbeatMs: HB, misses: 3, drainMs: 6000 };

function ready(now = 0): Election {
  const e = new Election(OPTIONS);
  e.setRedis(true);
  e.setServeable(true, 'ok', now);
  return e;
}

function peer(receivedAt: number, role: Role, epoch: number, extra: Partial<PeerView> = {}): PeerView {
  return { nodeId: 'lb-b', role, epoch, digest: 'd1', redis: true, serveable: true, receivedAt, ...extra };
}

test('a standby that reaches Redis and can serve asks for the lease; taking it makes it active until its deadline', (t) => {
  const e = ready();
  t.is(e.role, 'standby');
  t.is(e.leaseAction(0), 'acquire');
  t.deepEqual(e.grant(0), { arpUntil: 0, forwardUntil: 0 }, 'a standby answers for nothing');
  const tr = e.acquired(7, 1000);
  t.like(tr, { from: 'standby', to: 'active', reason: 'lease-acquired' });
  t.is(e.epoch, 7);
  // The data plane stops a margin before Redis would let the lease lapse (sent at 1000, lapses no earlier than 1800).
  t.deepEqual(e.grant(1001), { arpUntil: 1000 + LEASE - MARGIN, forwardUntil: 1000 + LEASE - MARGIN });
  t.is(e.leaseAction(1001), 'none');
  t.is(e.leaseAction(1000 + LEASE / 4), 'renew');
});

test('without renewals the active node steps down at its deadline, and its data plane stopped before Redis let go', (t) => {
  const e = ready();
  e.acquired(1, 0);
  e.renewed(200);
  t.is(e.tick(799), undefined);
  // A stalled daemon (SIGSTOP, a long GC pause): its data plane's own clock ends the grant.
  t.deepEqual(e.grant(800), { arpUntil: 0, forwardUntil: 0 });
  t.like(e.tick(800), { from: 'active', to: 'standby', reason: 'deadline' });
  t.is(e.role, 'standby');
});

test('a renewal that finds the lease gone or another node\'s makes the node standby at once', (t) => {
  const e = ready();
  e.acquired(3, 0);
  t.like(e.lost(100, 4), { to: 'standby', reason: 'lease-lost' });
  t.is(e.epoch, 4);
  t.is(e.lost(150), undefined, 'once');
});

test('a heartbeat of an active peer at a higher epoch makes an active node step down at once', (t) => {
  const e = ready();
  e.acquired(3, 0);
  t.is(e.heartbeat(peer(50, 'active', 3)), undefined, 'the same epoch is not higher');
  t.like(e.heartbeat(peer(100, 'active', 4)), { from: 'active', to: 'standby', reason: 'higher-epoch' });
  t.deepEqual(e.grant(101), { arpUntil: 0, forwardUntil: 0 });
});

test('Redis down for both: the peer standing by at the same epoch without Redis keeps the active node active', (t) => {
  const e = ready();
  e.acquired(5, 0);
  e.setRedis(false);
  for (let now = 100; now <= 10_000; now += HB) {
    e.heartbeat(peer(now, 'standby', 5, { redis: false }));
    t.is(e.tick(now), undefined, `no flap at ${now}`);
    t.true(e.grant(now).arpUntil > now);
  }
  t.is(e.leaseAction(10_000), 'renew', 'renewals go on being tried: how a node learns that Redis is back');
  // The peer's heartbeats stop (or it reaches Redis again): the extension stops, the deadline ends it.
  t.like(e.tick(10_000 + LEASE - MARGIN), { to: 'standby', reason: 'deadline' });
});

test('Redis down for the active node only: a peer that reaches Redis does not extend it', (t) => {
  const e = ready();
  e.acquired(5, 0);
  e.setRedis(false);
  e.heartbeat(peer(500, 'standby', 5, { redis: true }));
  t.like(e.tick(LEASE - MARGIN), { reason: 'deadline' });
});

test('a standby leaves the lease alone while its peer is seen active and serving, and asks once the peer is dead', (t) => {
  const e = ready();
  e.heartbeat(peer(1000, 'active', 9));
  t.is(e.leaseAction(1000), 'none');
  t.is(e.leaseAction(1000 + 3 * HB), 'none', 'three intervals: still fresh');
  t.is(e.leaseAction(1000 + 3 * HB + 1), 'acquire', 'dead after three missed heartbeats');
  e.heartbeat(peer(2000, 'active', 9, { serveable: false }));
  t.is(e.leaseAction(2000), 'acquire', 'an active peer that cannot serve is no reason to wait');
});

test('a standby that cannot serve or does not reach Redis does not ask for the lease', (t) => {
  const e = ready();
  e.setServeable(false, 'no healthy backend', 0);
  t.is(e.leaseAction(0), 'none');
  e.setServeable(true, 'ok', 0);
  e.setRedis(false);
  t.is(e.leaseAction(0), 'none');
});

test('an active node that cannot serve resigns at once and releases the lease', (t) => {
  const e = ready();
  e.acquired(2, 0);
  t.like(e.setServeable(false, 'back is down', 50), { from: 'active', to: 'standby', reason: 'unserveable' });
  t.is(e.leaseAction(60), 'release');
  e.released();
  t.is(e.leaseAction(70), 'none', 'not serveable: it does not ask again');
  t.deepEqual(e.serveable, { ok: false, why: 'back is down' });
});

test('switchover: refused without a fresh, serveable peer with the same tables; else the node stops answering ARP and drains', (t) => {
  const e = ready();
  t.like(e.switchover('d1', 0), { ok: false, why: 'this node is standby, not active' });
  e.acquired(4, 0);
  t.like(e.switchover('d1', 10), { ok: false, why: 'no heartbeat from the peer: it would not take over' });
  e.heartbeat(peer(20, 'standby', 4, { serveable: false }));
  t.like(e.switchover('d1', 30), { ok: false, why: 'the peer lb-b cannot serve' });
  e.heartbeat(peer(40, 'standby', 4, { digest: 'd2' }));
  t.like(e.switchover('d1', 50), { ok: false });
  e.heartbeat(peer(60, 'standby', 4));
  const r = e.switchover('d1', 70);
  t.like(r, { ok: true, transition: { from: 'active', to: 'leaving', reason: 'switchover' } });
  t.deepEqual(e.grant(80), { arpUntil: 0, forwardUntil: 70 + 6000 }, 'no ARP, but what still arrives is forwarded');
  t.is(e.leaseAction(80), 'release');
  e.released();
  // The peer takes over at a higher epoch: the leaving node drains on, then is a standby.
  t.is(e.heartbeat(peer(200, 'active', 5)), undefined);
  t.is(e.role, 'leaving');
  t.is(e.leaseAction(300), 'none', 'a leaving node never asks for the lease back');
  t.like(e.tick(70 + 6000), { from: 'leaving', to: 'standby', reason: 'drained' });
  t.deepEqual(e.transitions, { 'lease-acquired': 1, switchover: 1, drained: 1 });
});

test('a standby is ready when its tables match the active peer\'s, and says why not', (t) => {
  const e = ready();
  t.deepEqual(e.readiness('d1', 0), { ready: false, why: 'no heartbeat from the peer' });
  e.heartbeat(peer(10, 'active', 1, { digest: 'd9' }));
  t.deepEqual(e.readiness('d1', 20), { ready: false, why: 'tables differ from the active\'s (d9)' });
  e.heartbeat(peer(30, 'active', 1));
  t.true(e.readiness('d1', 40).ready);
});

test('the margin must leave the data plane time before the lease lapses', (t) => {
  t.throws(() => new Election({ ...OPTIONS, marginMs: LEASE }), { instanceOf: RangeError });
  t.throws(() => new Election({ ...OPTIONS, marginMs: 0 }), { instanceOf: RangeError });
});
