// The plan digest: equal for two nodes that would send every new flow to the same backend, whatever their history.
import test from 'ava';
import { planDigest } from '../../lb/plan/digest.js';
import { EMPTY_ALLOCATION, plan, type PlanInput } from '../../lb/plan/planner.js';
import type { Pool } from '../../config/pool.js';
import { pool, service, testNextHop } from '../../scripts/lab/harness.js';

const CAPACITY = { services: 8, backends: 16, tableSize: 251, prefixes: 4, owned: 4 };
const input = (p: Pool, extra: Partial<PlanInput> = {}): PlanInput =>
  ({ pool: p, capacity: CAPACITY, previous: EMPTY_ALLOCATION, isUp: () => true, nextHop: testNextHop, ...extra });
const web = (backends: string[]) => service({ name: 'web', protocol: 'tcp', port: 80, scheduler: 'maglev' }, backends);
const BACKENDS = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];

test('the same pool planned from different histories (other backend indexes) has the same digest', (t) => {
  const fresh = plan(input(pool(web(BACKENDS))));
  const before = plan(input(pool(web(['198.18.1.20', '198.18.1.21', ...BACKENDS.slice().reverse()]))));
  const later = plan(input(pool(web(BACKENDS.slice().reverse())), { previous: before.allocation }));
  t.notDeepEqual(later.backends.map((b) => b.index), fresh.backends.map((b) => b.index), 'the indexes do differ');
  t.is(planDigest(later), planDigest(fresh));
  t.regex(planDigest(fresh), /^[0-9a-f]{16}$/);
});

test('a different health view, backend, or ACL gives another digest', (t) => {
  const base = planDigest(plan(input(pool(web(BACKENDS)))));
  const down = plan(input(pool(web(BACKENDS)), { isUp: (_s, b) => b.address !== '198.18.1.12' }));
  t.not(planDigest(down), base);
  t.not(planDigest(plan(input(pool(web([...BACKENDS, '198.18.1.14']))))), base);
  t.not(planDigest(plan(input({ ...pool(web(BACKENDS)), deny: ['198.18.9.0/24'] }))), base);
});
