// The planner alone: pool + health + next hops -> map contents, without a kernel.
import test from 'ava';
import { BE_ALIVE, BE_SVC_SHIFT, PROTO, SVC_ALLOW, SVC_DENY, SVC_DSR, SVC_MAGLEV } from '../../lb/bpf/layout.js';
import { EMPTY_ALLOCATION, plan, PlanError, type PlanInput } from '../../lb/plan/planner.js';
import type { Pool } from '../../config/pool.js';
import { pool, service, testNextHop } from '../../scripts/lab/harness.js';

const CAPACITY = { services: 8, backends: 16, tableSize: 251, prefixes: 4, owned: 4 };
const input = (p: Pool, extra: Partial<PlanInput> = {}): PlanInput =>
  ({ pool: p, capacity: CAPACITY, previous: EMPTY_ALLOCATION, isUp: () => true, nextHop: testNextHop, ...extra });

const web = (backends: Parameters<typeof service>[1], extra = {}) =>
  service({ name: 'web', protocol: 'tcp', port: 80, ...extra }, backends);

test('service flags follow scheduler, forwarding, deny and allow; each backend carries its service\'s', (t) => {
  const p = plan(input({
    deny: ['198.18.9.0/24'],
    services: [
      web(['198.18.1.11'], { scheduler: 'maglev', allow: ['198.18.0.0/16'] }),
      service({ name: 'd', protocol: 'tcp', port: 81, forwarding: 'dsr' }, ['198.18.1.12']),
    ],
  }));
  const flags = Object.fromEntries(p.services.map((s) => [s.name, s.flags]));
  t.is(flags.web, SVC_MAGLEV | SVC_DENY | SVC_ALLOW);
  t.is(flags.d, SVC_DSR | SVC_DENY);
  const carried = Object.fromEntries(p.backends.map((b) => [b.value.addr, b.value.flags]));
  t.deepEqual(carried, {
    '198.18.1.11': BE_ALIVE | (flags.web! << BE_SVC_SHIFT), '198.18.1.12': BE_ALIVE | (flags.d! << BE_SVC_SHIFT),
  });
  t.deepEqual(p.deny, [{ addr: '198.18.9.0', length: 24 }]);
  t.deepEqual(p.allow, [{ service: p.services.find((s) => s.name === 'web')!.id, prefix: { addr: '198.18.0.0', length: 16 } }]);
});

test('ids survive pool changes; freed ones are not reused by the same plan; reuse bumps the generation', (t) => {
  const first = plan(input(pool(web(['198.18.1.11', '198.18.1.12']))));
  const index = (p: ReturnType<typeof plan>, a: string) => p.backends.find((b) => b.value.addr === a)!;
  const second = plan(input(pool(web(['198.18.1.12', '198.18.1.13'])), { previous: first.allocation }));
  t.is(index(second, '198.18.1.12').index, index(first, '198.18.1.12').index);
  t.not(index(second, '198.18.1.13').index, index(first, '198.18.1.11').index, 'the freed index waits a plan');
  const third = plan(input(pool(web(['198.18.1.12', '198.18.1.13', '198.18.1.14'])), { previous: second.allocation }));
  const reused = index(third, '198.18.1.14');
  t.is(reused.index, index(first, '198.18.1.11').index);
  t.is(reused.value.gen, index(first, '198.18.1.11').value.gen + 1);
});

test('down, unreachable, drained and weight-0 backends stay in the backend map but out of the table', (t) => {
  const p = plan(input(pool(web(['198.18.1.11', '198.18.1.12', { address: '198.18.1.13', drained: true },
    { address: '198.18.1.14', weight: 0 }, '198.18.1.15'])), {
    isUp: (_s, b) => b.address !== '198.18.1.12',
    nextHop: (s, b) => (b.address === '198.18.1.15' ? undefined : testNextHop(s, b)),
  }));
  const alive = Object.fromEntries(p.backends.map((b) => [b.value.addr, (b.value.flags & BE_ALIVE) !== 0]));
  t.deepEqual(alive, { '198.18.1.11': true, '198.18.1.12': false, '198.18.1.13': true, '198.18.1.14': true, '198.18.1.15': false });
  const only = p.backends.find((b) => b.value.addr === '198.18.1.11')!.index;
  t.deepEqual(p.services[0].table, [only]);
});

test('a plan that follows another keeps the tables that come out the same, and builds the others as a fresh plan would', (t) => {
  const backends = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
  const p = pool(web(backends, { scheduler: 'maglev' }), service({ name: 'api', protocol: 'tcp', port: 81 }, backends));
  const first = plan(input(p));
  const table = (q: ReturnType<typeof plan>, name: string) => q.services.find((s) => s.name === name)!.table;
  const down = (_s: unknown, b: { address: string }) => b.address !== '198.18.1.12';
  const next = plan(input(p, { previous: first.allocation, reuse: first, isUp: (s, b) => s.name !== 'web' || down(s, b) }));
  const fresh = plan(input(p, { previous: first.allocation, isUp: (s, b) => s.name !== 'web' || down(s, b) }));
  t.is(table(next, 'api'), table(first, 'api'), 'api\'s backends did not change: its table is the same array');
  t.not(table(next, 'web'), table(first, 'web'));
  t.deepEqual(table(next, 'web'), table(fresh, 'web'));
  t.notDeepEqual(table(next, 'web'), table(first, 'web'));
  // The same backends, but a table of another size (or another scheduler): not the same table.
  const bigger = plan(input(p, { previous: first.allocation, reuse: first, capacity: { ...CAPACITY, tableSize: 257 } }));
  t.is(table(bigger, 'web').length, 257);
  const rr = pool(web(backends), service({ name: 'api', protocol: 'tcp', port: 81 }, backends));
  t.deepEqual(table(plan(input(rr, { previous: first.allocation, reuse: first })), 'web'), table(plan(input(rr, { previous: first.allocation })), 'web'));
});

// An rr ring follows the pool's order (that is the rotation operators configure); a Maglev table does not depend on it.
test('two planners build identical tables from the same pool, and Maglev ones whatever the backend order', (t) => {
  const backends = ['198.18.1.11', '198.18.1.12', '198.18.1.13', '198.18.1.14'];
  const a = plan(input(pool(web(backends, { scheduler: 'maglev' }), service({ name: 'p', protocol: 'icmp' }, backends))));
  const b = plan(input(pool(service({ name: 'p', protocol: 'icmp' }, backends),
    web([...backends].reverse(), { scheduler: 'maglev' }))));
  const owners = (p: typeof a) => p.services.map((s) => s.table.map((i) => p.backends.find((x) => x.index === i)!.value.addr));
  t.deepEqual(owners(a), owners(b));
});

test('nat services get reverse entries for every backend; dsr and icmp services none', (t) => {
  const p = plan(input(pool(
    web([{ address: '198.18.1.11', port: 8080 }]),
    service({ name: 'd', protocol: 'udp', port: 53, forwarding: 'dsr' }, ['198.18.1.12']),
    service({ name: 'p', protocol: 'icmp' }, ['198.18.1.13']),
  )));
  t.deepEqual(p.reverse, [{ key: { addr: '198.18.1.11', port: 8080, proto: PROTO.tcp }, value: { vip: '198.18.0.10', port: 80, backend: 1 } }]);
});

test('a nat backend address:port in two services cannot be planned, and says which', (t) => {
  const err = t.throws(() => plan(input(pool(
    web([{ address: '198.18.1.11', port: 8080 }]),
    service({ name: 'other', protocol: 'tcp', port: 81 }, [{ address: '198.18.1.11', port: 8080 }]),
  ))), { instanceOf: PlanError });
  t.regex(err!.message, /198\.18\.1\.11:8080\/tcp is in nat services "web" and "other"/);
});

test('more backends than the data plane holds is a plan error', (t) => {
  const many = Array.from({ length: 17 }, (_, i) => `198.18.1.${i + 1}`);
  t.throws(() => plan(input(pool(web(many)))), { instanceOf: PlanError, message: /too many backends: the data plane holds 16/ });
});

test('the node\'s own addresses pass through, sorted and unique', (t) => {
  const p = plan(input(pool(web(['198.18.1.11'])), { local: ['198.18.1.1', '127.0.0.1', '198.18.1.1'] }));
  t.deepEqual(p.local, ['127.0.0.1', '198.18.1.1']);
});

test('more deny or allow prefixes than the tries hold is a plan error', (t) => {
  const five = Array.from({ length: 5 }, (_, i) => `198.18.${i}.0/24`);
  t.throws(() => plan(input({ ...pool(web(['198.18.1.11'])), deny: five })), { instanceOf: PlanError, message: /too many deny entries: 5/ });
  t.throws(() => plan(input(pool(web(['198.18.1.11'], { allow: five.slice(0, 3) }),
    service({ name: 'p', protocol: 'icmp', allow: five.slice(3) }, ['198.18.1.12'])))), { instanceOf: PlanError, message: /too many allow entries/ });
});

test('ARP is answered for every VIP on any interface and each floating address on its own, by address, whatever the order', (t) => {
  const pools = pool(web(['198.18.1.11'], { vip: '198.18.0.20' }), service({ name: 'p', protocol: 'icmp', vip: '198.18.0.3' }, ['198.18.1.12']));
  const floating = [{ address: '198.18.1.1', ifindex: 7 }, { address: '198.18.0.1', ifindex: 3 }];
  const a = plan(input(pools, { floating }));
  t.deepEqual(a.owned, [
    { address: '198.18.0.1', ifindex: 3 }, { address: '198.18.0.20', ifindex: 0 }, { address: '198.18.0.3', ifindex: 0 },
    { address: '198.18.1.1', ifindex: 7 },
  ]);
  const b = plan(input({ ...pools, services: [...pools.services].reverse() }, { floating: [...floating].reverse() }));
  t.deepEqual(b.owned, a.owned);
  t.deepEqual(plan(input(pools)).owned.map((o) => o.address), ['198.18.0.20', '198.18.0.3']);
  t.deepEqual(plan(input(pools, { floating: [...floating, floating[0]!] })).owned, a.owned, 'the same address on the same interface twice is one');
});

test('floating addresses that cannot be planned say why', (t) => {
  const p = pool(web(['198.18.1.11']));
  const fails = (floating: { address: string; ifindex: number }[], message: string) =>
    t.throws(() => plan(input(p, { floating })), { instanceOf: PlanError, message });
  fails([{ address: '198.18.0.10', ifindex: 2 }],
    'floating address 198.18.0.10 is also a VIP: a VIP is answered for on every interface already');
  fails([{ address: '198.18.1.1', ifindex: 2 }, { address: '198.18.1.1', ifindex: 3 }],
    'floating address 198.18.1.1 is given on two interfaces (ifindex 2 and 3)');
  fails([{ address: '198.18.1.1', ifindex: 0 }], 'floating address 198.18.1.1: ifindex 0 is not an interface\'s (a positive integer)');
  fails([{ address: '198.18.1.1', ifindex: 1.5 }], 'floating address 198.18.1.1: ifindex 1.5 is not an interface\'s (a positive integer)');
  fails([{ address: '198.18.1.256', ifindex: 2 }], 'floating address "198.18.1.256" is not an IPv4 address');
  fails([{ address: '198.18.1.0/24', ifindex: 2 }], 'floating address "198.18.1.0/24" is not an IPv4 address');
  fails(Array.from({ length: 4 }, (_, i) => ({ address: `198.18.1.${i + 1}`, ifindex: 2 })),
    'too many VIPs and floating addresses: 5, the data plane answers ARP for 4');
});
