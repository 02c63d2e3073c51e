// The documented limits hold at the edge: a full pool (every service id, or every backend index) replaces another
// full pool. The plan then has a prelude that removes what goes; its ids are reused only after a grace period, so
// no packet that read the old pool can see an id or index change hands under it.
import test from 'ava';
import { clientFrame } from '../../scripts/lab/cases.js';
import { parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness, service } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import type { Pool } from '../../config/pool.js';

isolateNetwork();

/** `count` tcp services on ports from `firstPort`, each with `backends` backends of its own. */
function full(firstPort: number, count: number, backends: number): Pool {
  return {
    deny: [],
    services: Array.from({ length: count }, (_, s) => service(
      { name: `s${firstPort + s}`, protocol: 'tcp', port: firstPort + s },
      Array.from({ length: backends }, (_, b) => `198.18.${16 + ((s * backends + b) >> 8)}.${(s * backends + b) & 0xff}`),
    )),
  };
}

function reaches(h: Harness, port: number): string {
  const r = h.run(clientFrame({ proto: 'tcp', sport: 30000, dport: port, tcpFlags: TCP_FLAGS.SYN }));
  return r.verdict === 'TX' ? parseFrame(r.out).dst : r.verdict;
}

for (const [what, count, backends] of [['services', 256, 1], ['backends', 16, 256]] as const) {
  test(`a pool of every ${what} the data plane holds replaces another such pool, freeing before reusing`, (t) => {
    const h = new Harness();
    t.teardown(() => h.close());
    const capacity = what === 'services' ? h.dp.capacity.services : h.dp.capacity.backends;
    t.is(what === 'services' ? count : count * backends, capacity);
    const a = full(1000, count, backends);
    const b = full(5000, count, backends);
    const before = h.apply(a);
    t.regex(reaches(h, 1000), /^198\.18\./);

    const seen: string[] = [];
    const p = h.applyWatched(b, (role) => {
      if (role !== 'grace period') return;
      seen.push(role);
      // Between the two phases: the old pool is gone and the new one not there yet.
      t.is(reaches(h, 1000), 'PASS');
      t.is(reaches(h, 5000), 'PASS');
    });
    t.truthy(p.prelude, 'the plan came in two phases');
    t.deepEqual(seen, ['grace period']);
    const oldIds = new Set(before.services.map((s) => s.id));
    const oldIndexes = new Set(before.backends.map((be) => be.index));
    t.true(p.services.every((s) => oldIds.has(s.id)) && p.backends.every((be) => oldIndexes.has(be.index)), 'every id reused');
    for (const s of [0, count - 1]) {
      t.is(reaches(h, 1000 + s), 'PASS');
      // One frame, then the check: under rr every frame takes the next backend of the ring.
      const got = reaches(h, 5000 + s);
      t.true(b.services[s]!.backends.some((be) => be.address === got), `service ${s} reached ${got}`);
    }
  });
}

test('a pool over the limit is refused, saying by how much', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  t.throws(() => h.apply(full(1000, h.dp.capacity.services + 1, 1)), { message: /too many services: the data plane holds 256, the pool has 257/ });
});
