// A restarted control plane takes over the maps as they are: nothing rewritten, flows kept, the next change built
// in each service's idle table.
import test from 'ava';
import * as layout from '../../lb/bpf/layout.js';
import { Syncer } from '../../lb/dataplane/syncer.js';
import { plan } from '../../lb/plan/planner.js';
import { clientFrame, BACKENDS, POOL } from '../../scripts/lab/cases.js';
import { parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness, testNextHop } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import type { Pool } from '../../config/pool.js';

isolateNetwork();

test('adopting maps recovers the allocation, rewrites nothing, and keeps every flow on its backend', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const first = h.apply(POOL);
  const sports = Array.from({ length: 200 }, (_, i) => 30000 + i);
  const pinned = sports.map((sport) => parseFrame(h.run(clientFrame({ proto: 'tcp', sport, dport: 80, tcpFlags: TCP_FLAGS.SYN })).out).dst);

  const successor = new Syncer(h.dp.syncMaps(), h.dp.capacity.tableSize);
  const { allocation, orphans } = successor.adopt(h.dp.syncMaps(), h.dp.capacity.backends);
  t.deepEqual(orphans, []);
  const sorted = (m: ReadonlyMap<string, number>) => [...m].sort();
  t.deepEqual(sorted(allocation.services), sorted(first.allocation.services));
  t.deepEqual(sorted(allocation.backends), sorted(first.allocation.backends));

  const input = { capacity: h.dp.capacity, isUp: () => true, nextHop: testNextHop };
  const same = plan({ ...input, pool: POOL, previous: allocation });
  t.is(successor.apply(same).writes, 0);

  // A change after adoption: one backend fewer for web. Flows on the others stay put.
  const smaller: Pool = { ...POOL, services: POOL.services.map((s) => s.name === 'web' ? { ...s, backends: s.backends.slice(1) } : s) };
  successor.apply(plan({ ...input, pool: smaller, previous: same.allocation }));
  const now = sports.map((sport) => parseFrame(h.run(clientFrame({ proto: 'tcp', sport, dport: 80 })).out).dst);
  pinned.forEach((was, i) => {
    if (was === BACKENDS[0]) t.not(now[i], BACKENDS[0]);
    else t.is(now[i], was);
  });
});

test('backend entries of a service that is gone (a stop mid-apply) are reported at adoption and freed by the next apply', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const first = h.apply(POOL);
  // What a kill -9 between removing a service and freeing its backends leaves: a backend naming a gone service id.
  const index = h.dp.capacity.backends - 1;
  const orphan = { addr: '198.18.1.99', port: 8080, flags: layout.BE_ALIVE, gen: 7, ifindex: 0, mac: '02:be:00:00:00:99', srcMac: '02:1b:00:00:00:01', service: 200 };
  h.dp.map('backends').update(layout.u32Key(index), layout.backend.encode(orphan));

  const successor = new Syncer(h.dp.syncMaps(), h.dp.capacity.tableSize);
  const { allocation, orphans } = successor.adopt(h.dp.syncMaps(), h.dp.capacity.backends);
  t.deepEqual(orphans, [{ index, service: 200, addr: '198.18.1.99', port: 8080 }]);
  t.false([...allocation.backends.values()].includes(index));

  const input = { capacity: h.dp.capacity, isUp: () => true, nextHop: testNextHop };
  const { writes } = successor.apply(plan({ ...input, pool: POOL, previous: allocation }));
  t.true(writes >= 1);
  t.like(layout.backend.decode(h.dp.map('backends').lookup(layout.u32Key(index))!), { addr: '0.0.0.0', flags: 0, gen: 7 });
  t.deepEqual(successor.adopt(h.dp.syncMaps(), h.dp.capacity.backends).orphans, [], 'none left');
  t.is(first.backends.length, allocation.backends.size);
});

test('what ARP is answered for is adopted too: the same plan writes nothing, a floating address dropped is removed', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const floating = [{ address: '198.18.1.1', ifindex: 1 }];
  h.applyFloating(floating);
  const successor = new Syncer(h.dp.syncMaps(), h.dp.capacity.tableSize);
  const { allocation } = successor.adopt(h.dp.syncMaps(), h.dp.capacity.backends);
  const input = { capacity: h.dp.capacity, isUp: () => true, nextHop: testNextHop, pool: POOL };
  const same = plan({ ...input, previous: allocation, floating });
  t.is(successor.apply(same).writes, 0);
  const owned = () => h.dp.map('owned').keys().map((k) => layout.decodeAddr(k, 0)).sort();
  t.deepEqual(owned(), ['198.18.0.10', '198.18.0.20', '198.18.1.1']);
  t.is(successor.apply(plan({ ...input, previous: same.allocation })).writes, 1);
  t.deepEqual(owned(), ['198.18.0.10', '198.18.0.20']);
  t.is(successor.apply(plan({ ...input, previous: same.allocation, floating: [{ address: '198.18.1.1', ifindex: 2 }] })).writes, 1,
    'on another interface: one write');
  t.is(layout.owned.decode(h.dp.map('owned').lookup(Buffer.from([198, 18, 1, 1, ...Array(12).fill(0)]))!).ifindex, 2);
});
