// The daemon's pure views: status and stats from the pool, what health checks and next hops found, and counters; a
// ring-buffer record as the api's Event.
import test from 'ava';
import type { Counters } from '../../lb/bpf/layout.js';
import { toEvent } from '../../lb/daemon/events.js';
import { statsView, statusView } from '../../lb/daemon/views.js';
import { plan, EMPTY_ALLOCATION } from '../../lb/plan/planner.js';
import type { Pool } from '../../config/pool.js';

const POOL: Pool = {
  deny: ['203.0.113.0/24'],
  services: [{
    name: 'web', vip: '198.18.100.10', protocol: 'tcp', port: 80, scheduler: 'rr', forwarding: 'nat', allow: [],
    health: { type: 'http', path: '/', intervalMs: 500, timeoutMs: 300, rise: 2, fall: 2 },
    backends: [
      { address: '198.18.1.11', port: 8080, weight: 1, drained: false },
      { address: '198.18.1.12', port: 8080, weight: 2, drained: true },
      { address: '198.18.1.13', weight: 1, drained: false },
    ],
  }],
};

const HOP = { ifindex: 3, mac: '02:be:00:00:00:0b', srcMac: '02:1b:00:00:00:02' };

test('status: health and the last probe per backend, the MAC or why there is none', (t) => {
  const s = statusView({
    pool: POOL, role: 'standalone', pid: 42, pinPath: '/sys/fs/bpf/xlb', started: 1000, now: 61_400, adopted: true,
    interfaces: [{ name: 'back', ifindex: 3, mode: 'native', state: 'attached' }],
    reload: { source: '/etc/xlb.yaml', since: 60_000 },
    health: (id) => (id.endsWith('198.18.1.12:8080')
      ? { service: 'web', up: false, detail: 'connect ECONNREFUSED', checkedAt: 1, since: 1 }
      : id.endsWith('198.18.1.11:8080') ? { service: 'web', up: true, detail: 'HTTP 200', checkedAt: 1, since: undefined } : undefined),
    nextHop: (a) => (a === '198.18.1.11' ? { hop: HOP, dev: 'back' }
      : a === '198.18.1.12' ? { dev: 'back', problem: 'resolving 198.18.1.12 on back', resolve: '198.18.1.12' } : undefined),
  });
  t.like(s, { role: 'standalone', pid: 42, uptime: 60, adopted: true, deny: ['203.0.113.0/24'], reload: { source: '/etc/xlb.yaml', since: 60_000 } });
  t.deepEqual(s.services[0]!.backends, [
    { address: '198.18.1.11', port: 8080, weight: 1, drained: false, health: 'up', probe: 'HTTP 200', mac: HOP.mac },
    { address: '198.18.1.12', port: 8080, weight: 2, drained: true, health: 'down', probe: 'connect ECONNREFUSED', mac: null,
      unresolved: 'resolving 198.18.1.12 on back' },
    // Not a health target yet, not resolved yet: up (nothing against it) and saying so.
    { address: '198.18.1.13', port: 80, weight: 1, drained: false, health: 'up', probe: 'not probed yet', mac: null,
      unresolved: 'not resolved yet' },
  ]);
  const standby = statusView({
    pool: POOL, role: 'standby', nodeId: 'lb-b', pid: 1, pinPath: '/x', started: 0, now: 0, adopted: false, interfaces: [],
    health: () => undefined, nextHop: () => undefined,
  });
  t.false('reload' in standby);
  t.like(standby, { role: 'standby', nodeId: 'lb-b' });
});

test('stats: counters by the plan\'s ids and indexes; zero for what is not planned', (t) => {
  const p = plan({
    pool: POOL, capacity: { services: 4, backends: 8, tableSize: 13, prefixes: 16, owned: 8 }, previous: EMPTY_ALLOCATION,
    isUp: () => true, nextHop: () => HOP,
  });
  const counters = (role: string, index: number): Counters =>
    ({ packets: BigInt(role === 'serviceStats' ? 1000 + index : index + 1), bytes: 100n, flowsNew: 1n });
  const s = statsView({ pool: POOL, plan: p, counters, outcomes: { tx: { packets: 5n, bytes: 500n, flowsNew: 0n } } });
  const index = (address: string) => p.backends.find((b) => b.value.addr === address)!.index;
  t.deepEqual(s.services[0]!.backends.map((b) => b.packets), ['198.18.1.11', '198.18.1.12', '198.18.1.13'].map((a) => index(a) + 1));
  t.is(s.services[0]!.packets, 1000 + p.services[0]!.id);
  t.deepEqual(s.outcomes, { tx: { packets: 5, bytes: 500 } });
  const unplanned = statsView({ pool: POOL, plan: undefined, counters, outcomes: {} });
  t.deepEqual(unplanned.services[0], {
    name: 'web', packets: 0, bytes: 0, flowsNew: 0,
    backends: [
      { address: '198.18.1.11', port: 8080, packets: 0, bytes: 0, flowsNew: 0 },
      { address: '198.18.1.12', port: 8080, packets: 0, bytes: 0, flowsNew: 0 },
      { address: '198.18.1.13', port: 80, packets: 0, bytes: 0, flowsNew: 0 },
    ],
  });
});

test('a ring-buffer record as an Event: time in epoch ms, names from the plan, ports only for tcp and udp', (t) => {
  const p = plan({
    pool: POOL, capacity: { services: 4, backends: 8, tableSize: 13, prefixes: 16, owned: 8 }, previous: EMPTY_ALLOCATION,
    isUp: () => true, nextHop: () => HOP,
  });
  const be = p.backends.find((b) => b.value.addr === '198.18.1.11')!;
  const record = { timeNs: 5_000_000n, src: '198.18.0.1', dst: '198.18.100.10', sport: 40000, dport: 80, proto: 6, outcome: 1,
    service: p.services[0]!.id, backend: be.index };
  t.deepEqual(toEvent(record, p, 1_700_000_000_000), {
    time: 1_700_000_000_005, kind: 'flow', source: '198.18.0.1', sport: 40000, destination: '198.18.100.10', dport: 80,
    protocol: 'tcp', verdict: 'tx', service: 'web', backend: '198.18.1.11:8080',
  });
  t.deepEqual(toEvent({ ...record, proto: 1, outcome: 10, service: 99, backend: 99 }, p, 0), {
    time: 5, kind: 'drop', source: '198.18.0.1', destination: '198.18.100.10', protocol: 'icmp', verdict: 'drop_denied',
  });
  t.like(toEvent({ ...record, proto: 47, outcome: 200 }, undefined, 0), { protocol: '47', verdict: 'outcome 200', kind: 'flow' });
});
