// Route and neighbour resolution from one read of the kernel's tables: longest prefix, metrics, policy rules, route
// types, multipath, neighbour states; and the same answers as `ip route get` on a real namespace's tables.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readTables } from '../../lb/daemon/nexthops.js';
import { inPrefix, ipv4ToNumber, lookup, resolve, routeFor, routePrefix, type RouteJson, type RuleJson, type Tables } from '../../lb/daemon/routes.js';

const DEFAULT_RULES: RuleJson[] = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];

const LINKS = [
  { ifname: 'lo', ifindex: 1, address: '00:00:00:00:00:00' },
  { ifname: 'front', ifindex: 2, address: '02:1b:00:00:00:01' },
  { ifname: 'back', ifindex: 3, address: '02:1b:00:00:00:02' },
  { ifname: 'eth9', ifindex: 9, address: '02:1b:00:00:00:09' },
];

const ROUTES: RouteJson[] = [
  { dst: 'default', gateway: '198.18.0.254', dev: 'front' },
  { dst: '198.18.0.0/24', dev: 'front' },
  { dst: '198.18.1.0/24', dev: 'back' },
  { dst: '198.18.1.128/25', gateway: '198.18.1.2', dev: 'back', metric: 20 },
  { dst: '198.18.1.128/25', gateway: '198.18.1.3', dev: 'back', metric: 10 },
  { dst: '198.18.9.0/24', dev: 'eth9' },
  { dst: '198.18.10.0/24', nexthops: [{ gateway: '198.18.1.4', dev: 'back' }, { gateway: '198.18.1.5', dev: 'back' }] },
  { dst: '198.18.11.0/24', type: 'blackhole' },
  { dst: '198.18.12.0/24', type: 'unreachable' },
  { dst: '198.18.13.0/24', nhid: 7 },
  { dst: '198.18.1.1', type: 'local', dev: 'back', table: 'local' },
  { dst: '198.18.1.255', type: 'broadcast', dev: 'back', table: 'local' },
];

function tables(over: Partial<Tables> = {}): Tables {
  return {
    links: LINKS,
    rules: DEFAULT_RULES,
    routes: ROUTES,
    neighbours: [
      { dst: '198.18.1.11', dev: 'back', lladdr: '02:BE:C6:12:01:0B', state: ['REACHABLE'] },
      { dst: '198.18.1.12', dev: 'back', lladdr: '02:be:c6:12:01:0c', state: ['STALE'] },
      { dst: '198.18.1.13', dev: 'back', state: ['FAILED'] },
      { dst: '198.18.1.14', dev: 'back', state: ['INCOMPLETE'] },
      { dst: '198.18.1.3', dev: 'back', lladdr: '02:00:00:00:01:03', state: ['REACHABLE'] },
      { dst: '198.18.1.4', dev: 'back', lladdr: '02:00:00:00:01:04', state: ['PERMANENT'] },
      { dst: '198.18.1.15', dev: 'front', lladdr: '02:00:00:00:00:15', state: ['REACHABLE'] },
    ],
    ...over,
  };
}

const IFACES = ['front', 'back'];

test('addresses and prefixes', (t) => {
  t.is(ipv4ToNumber('198.18.1.11'), 0xc612010b);
  t.is(ipv4ToNumber('255.255.255.255'), 0xffffffff);
  for (const bad of ['198.18.1', '198.18.1.256', '1.2.3.4.5', 'x', '']) t.true(Number.isNaN(ipv4ToNumber(bad)), bad);
  t.deepEqual(routePrefix('default'), { prefix: 0, len: 0 });
  t.deepEqual(routePrefix('198.18.1.0/24'), { prefix: 0xc6120100, len: 24 });
  t.deepEqual(routePrefix('198.18.1.1'), { prefix: 0xc6120101, len: 32 });
  t.is(routePrefix('fe80::/64'), undefined);
  t.is(routePrefix('198.18.1.0/33'), undefined);
  t.true(inPrefix(ipv4ToNumber('198.18.1.200'), ipv4ToNumber('198.18.1.128'), 25));
  t.false(inPrefix(ipv4ToNumber('198.18.1.100'), ipv4ToNumber('198.18.1.128'), 25));
  t.true(inPrefix(ipv4ToNumber('8.8.8.8'), 0, 0));
  t.true(inPrefix(ipv4ToNumber('198.18.1.1'), ipv4ToNumber('198.18.1.1'), 32));
});

test('the longest prefix wins; among equals, the lowest metric', (t) => {
  const a = ipv4ToNumber('198.18.1.200');
  t.is(lookup(ROUTES, 'main', a)?.route.gateway, '198.18.1.3');
  t.is(lookup(ROUTES, 'main', ipv4ToNumber('198.18.1.20'))?.route.dst, '198.18.1.0/24');
  t.is(lookup(ROUTES, 'main', ipv4ToNumber('203.0.113.1'))?.route.dst, 'default');
  t.is(lookup(ROUTES, 'local', ipv4ToNumber('203.0.113.1')), undefined);
  // Order in the table does not matter.
  t.is(lookup([...ROUTES].reverse(), 'main', a)?.route.gateway, '198.18.1.3');
});

const CASES: [string, string, Partial<Tables>, { mac?: string; ifindex?: number; problem?: string; resolve?: string }][] = [
  ['a connected neighbour, REACHABLE (MAC lower-cased)', '198.18.1.11', {}, { mac: '02:be:c6:12:01:0b', ifindex: 3 }],
  ['a connected neighbour, STALE (still usable)', '198.18.1.12', {}, { mac: '02:be:c6:12:01:0c', ifindex: 3 }],
  ['a neighbour that does not answer', '198.18.1.13', {}, { problem: '198.18.1.13 does not answer ARP on back', resolve: '198.18.1.13' }],
  ['a neighbour being resolved', '198.18.1.14', {}, { problem: 'resolving 198.18.1.14 on back', resolve: '198.18.1.14' }],
  ['no neighbour entry yet', '198.18.1.20', {}, { problem: 'resolving 198.18.1.20 on back', resolve: '198.18.1.20' }],
  ['a neighbour known on another interface only', '198.18.1.15', {}, { problem: 'resolving 198.18.1.15 on back', resolve: '198.18.1.15' }],
  ['via a gateway: the gateway\'s MAC', '198.18.1.200', {}, { mac: '02:00:00:00:01:03', ifindex: 3 }],
  ['multipath: the first path', '198.18.10.5', {}, { mac: '02:00:00:00:01:04', ifindex: 3 }],
  ['the default route, gateway unresolved', '203.0.113.7', {}, { problem: 'resolving 198.18.0.254 on front', resolve: '198.18.0.254' }],
  ['an interface xlb does not run on', '198.18.9.1', {}, { problem: 'reached through eth9, which is not in node.interfaces' }],
  ['a blackhole route', '198.18.11.1', {}, { problem: 'the route to 198.18.11.1 is blackhole (198.18.11.0/24, table main)' }],
  ['an unreachable route', '198.18.12.1', {}, { problem: 'the route to 198.18.12.1 is unreachable (198.18.12.0/24, table main)' }],
  ['a nexthop object', '198.18.13.1', {}, { problem: 'the route to 198.18.13.1 uses nexthop object 7, which xlb does not read: give the backend\'s mac' }],
  ['the node\'s own address', '198.18.1.1', {}, { problem: '198.18.1.1 is an address of this node' }],
  ['a broadcast address', '198.18.1.255', {}, { problem: '198.18.1.255 is a broadcast address' }],
  ['no route at all', '198.18.1.11', { routes: [] }, { problem: 'no route to 198.18.1.11' }],
  ['a route through an interface that is gone', '198.18.1.11', { links: LINKS.filter((l) => l.ifname !== 'back') },
    { problem: 'the route to 198.18.1.11 leaves by back, which does not exist' }],
  // Policy routing.
  ['a rule sends a prefix to its own table', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 100, src: 'all', dst: '198.18.1.0', dstlen: 24, table: '100' }],
    routes: [...ROUTES, { dst: '198.18.1.0/24', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { problem: 'resolving 198.18.0.9 on front', resolve: '198.18.0.9' }],
  ['a rule for another prefix does not apply', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 100, src: 'all', dst: '198.18.7.0', dstlen: 24, table: '100' }],
    routes: [...ROUTES, { dst: 'default', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { mac: '02:be:c6:12:01:0b', ifindex: 3 }],
  ['rules on a source, mark, other input or output interface, or ports do not apply', '198.18.1.11', {
    rules: [...DEFAULT_RULES,
      { priority: 10, src: '198.18.0.0', srclen: 16, table: '100' },
      { priority: 11, src: 'all', fwmark: '0x5', table: '100' },
      { priority: 12, src: 'all', iif: 'front', table: '100' },
      { priority: 13, src: 'all', oif: 'front', table: '100' },
      { priority: 14, src: 'all', dport: '80', table: '100' },
      { priority: 15, src: 'all', uidrange: '1000-2000', table: '100' }],
    routes: [...ROUTES, { dst: 'default', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { mac: '02:be:c6:12:01:0b', ifindex: 3 }],
  ['rules from lo, for mark 0 or for uid 0 apply', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 10, src: 'all', iif: 'lo', fwmark: '0x0', fwmask: '0x1', uidrange: '0-0', table: '100' }],
    routes: [...ROUTES, { dst: 'default', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { problem: 'resolving 198.18.0.9 on front', resolve: '198.18.0.9' }],
  ['a "not" rule applies to what it does not select', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 10, not: true, src: 'all', fwmark: '0x5', table: '100' }],
    routes: [...ROUTES, { dst: 'default', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { problem: 'resolving 198.18.0.9 on front', resolve: '198.18.0.9' }],
  ['an unreachable rule', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 50, src: 'all', dst: '198.18.1.0', dstlen: 24, action: 'unreachable' }],
  }, { problem: 'policy rule 50 makes 198.18.1.11 unreachable' }],
  ['a throw route hands on to the next rule', '198.18.1.11', {
    rules: [...DEFAULT_RULES, { priority: 10, src: 'all', table: '100' }],
    routes: [...ROUTES, { dst: '198.18.1.0/24', type: 'throw', table: '100' }, { dst: 'default', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { mac: '02:be:c6:12:01:0b', ifindex: 3 }],
  ['suppress_prefixlength 0 passes over a default route (wg-quick)', '198.18.1.11', {
    rules: [{ priority: 0, table: 'local' }, { priority: 10, src: 'all', table: 'main', suppress_prefixlength: 0 }, { priority: 20, table: '100' }],
    routes: [{ dst: 'default', gateway: '198.18.0.254', dev: 'front' }, { dst: '198.18.1.0/24', gateway: '198.18.0.9', dev: 'front', table: '100' }],
  }, { problem: 'resolving 198.18.0.9 on front', resolve: '198.18.0.9' }],
  ['no rules read: the kernel\'s defaults', '198.18.1.11', { rules: [] }, { mac: '02:be:c6:12:01:0b', ifindex: 3 }],
];

for (const [name, address, over, want] of CASES) {
  test(`resolve: ${name}`, (t) => {
    const r = resolve(tables(over), IFACES, address);
    if (want.mac) {
      t.deepEqual(r.hop, { ifindex: want.ifindex!, mac: want.mac, srcMac: LINKS.find((l) => l.ifindex === want.ifindex)!.address });
      t.is(r.problem, undefined);
    } else {
      t.is(r.hop, undefined);
      t.is(r.problem, want.problem);
      t.is(r.resolve, want.resolve);
    }
  });
}

test('resolve: a MAC from the config needs no neighbour, but still the route and the interface', (t) => {
  const r = resolve(tables(), IFACES, '198.18.1.13', '02:AA:00:00:00:01');
  t.deepEqual(r.hop, { ifindex: 3, mac: '02:aa:00:00:00:01', srcMac: '02:1b:00:00:00:02' });
  t.is(resolve(tables(), IFACES, '198.18.9.1', '02:aa:00:00:00:01').problem,
    'reached through eth9, which is not in node.interfaces');
});

test('routeFor: rules in priority order, whatever order they are read in', (t) => {
  const r = routeFor({
    rules: [{ priority: 32766, table: 'main' }, { priority: 5, table: '100' }],
    routes: [{ dst: 'default', dev: 'front' }, { dst: 'default', dev: 'back', table: '100' }],
  }, '203.0.113.1');
  t.like(r, { route: { dev: 'back' } });
  t.deepEqual(routeFor({ rules: [], routes: [] }, 'nonsense'), { problem: 'nonsense is not an IPv4 address' });
});

test('the same next-hop interface and gateway as `ip route get`, on a namespace\'s real tables', async (t) => {
  const ns = `xlbr${randomBytes(4).toString('hex')}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', ns]));
  ip('link', 'add', 'name', 'front', 'type', 'veth', 'peer', 'name', 'pf');
  ip('link', 'add', 'name', 'back', 'type', 'veth', 'peer', 'name', 'pb');
  for (const dev of ['front', 'back', 'pf', 'pb', 'lo']) ip('link', 'set', dev, 'up');
  ip('addr', 'add', '198.18.0.2/24', 'dev', 'front');
  ip('addr', 'add', '198.18.1.1/24', 'dev', 'back');
  ip('route', 'add', 'default', 'via', '198.18.0.254');
  ip('route', 'add', '198.18.1.128/25', 'via', '198.18.1.3', 'metric', '10');
  ip('route', 'add', '198.18.1.128/25', 'via', '198.18.1.2', 'metric', '20');
  ip('route', 'add', '198.18.6.0/24', 'via', '198.18.1.9', 'table', '100');
  ip('rule', 'add', 'to', '198.18.6.0/23', 'table', '100', 'pref', '100');
  ip('route', 'add', 'throw', '198.18.7.0/24', 'table', '100');
  ip('route', 'add', 'blackhole', '198.18.11.0/24');

  // readTables reads the namespace it runs in: enter it for this one read.
  const snapshot = JSON.parse(execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', `
    import { readTables } from ${JSON.stringify(new URL('../../lb/daemon/nexthops.js', import.meta.url).href)};
    process.stdout.write(JSON.stringify(await readTables()));
  `], { encoding: 'utf8' })) as Awaited<ReturnType<typeof readTables>>;
  t.deepEqual(snapshot.own, ['127.0.0.1', '198.18.0.2', '198.18.1.1']);

  for (const address of ['198.18.1.20', '198.18.1.200', '198.18.0.77', '203.0.113.9', '198.18.6.1', '198.18.7.1', '198.18.11.1', '198.18.1.1']) {
    let kernel: { dev?: string; gateway?: string; type?: string } | string;
    try {
      [kernel] = JSON.parse(ip('-j', 'route', 'get', address)) as { dev?: string; gateway?: string; type?: string }[];
    } catch (err) {
      kernel = (err as { stderr?: string }).stderr?.trim() ?? 'error';
    }
    const ours = routeFor(snapshot, address);
    if (typeof kernel === 'string' || kernel.type === 'local' || kernel.type === 'blackhole') {
      t.true('problem' in ours, `${address}: the kernel says ${JSON.stringify(kernel)}, we say ${JSON.stringify(ours)}`);
    } else {
      t.true('route' in ours, `${address}: ${JSON.stringify(ours)}`);
      if ('route' in ours) {
        t.is(ours.route.dev, kernel.dev, address);
        t.is(ours.route.gateway, kernel.gateway, address);
      }
    }
  }
});
