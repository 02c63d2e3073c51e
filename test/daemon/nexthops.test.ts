// NextHops over an injected read of the kernel's tables: one read per refresh whatever the number of backends, none
// for a change that adds no address, one for a new address that resolves only it; neighbours asked for.
import test from 'ava';
import pino from 'pino';
import { NextHops, type Snapshot } from '../../lb/daemon/nexthops.js';

const LINKS = [{ ifname: 'back', ifindex: 3, address: '02:1b:00:00:00:02' }];

function snapshot(neighbours: Snapshot['neighbours']): Snapshot {
  return {
    links: LINKS,
    rules: [],
    routes: [{ dst: '198.18.0.0/16', dev: 'back' }],
    neighbours,
    own: ['198.18.1.1'],
  };
}

/** `n` backend addresses 198.18.x.y from 198.18.2.0 on, each with a neighbour entry. */
function addresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${2 + (i >> 8)}.${i & 255}`);
}

function mac(i: number): string {
  return `02:be:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
}

function setup(known: string[]) {
  const reads: number[] = [];
  const asked: string[] = [];
  let tables = snapshot(known.map((a, i) => ({ dst: a, dev: 'back', lladdr: mac(i), state: ['REACHABLE'] })));
  const hops = new NextHops(['back'], pino({ level: 'silent' }), async () => {
    reads.push(Date.now());
    return tables;
  }, (a) => asked.push(a));
  return { hops, reads, asked, set: (t: Snapshot) => (tables = t), get tables() { return tables; } };
}

test('a refresh of 352 addresses is one read of the tables', async (t) => {
  const all = addresses(352);
  const s = setup(all);
  t.true(await s.hops.refresh(all, new Map()));
  t.is(s.reads.length, 1);
  t.deepEqual(all.map((a) => s.hops.get(a)?.mac), all.map((_, i) => mac(i)));
  t.deepEqual(s.hops.local, ['198.18.1.1']);
  t.false(await s.hops.refresh(all, new Map()), 'nothing changed');
  t.is(s.reads.length, 2);
});

test('add(): no read when every address is known; one read that resolves only the new one otherwise', async (t) => {
  const all = addresses(100);
  const s = setup([...all, '198.18.9.9']);
  await s.hops.refresh(all, new Map());
  t.false(await s.hops.add(all, new Map()), 'another port of a known address: nothing to resolve');
  t.is(s.reads.length, 1);

  // The neighbours of the others changed in the kernel meanwhile: add() leaves them to the next refresh.
  s.set({ ...s.tables, neighbours: s.tables.neighbours.map((n) => ({ ...n, lladdr: '02:00:00:00:00:99' })) });
  t.true(await s.hops.add([...all, '198.18.9.9'], new Map()));
  t.is(s.reads.length, 2);
  t.is(s.hops.get('198.18.9.9')?.mac, '02:00:00:00:00:99');
  t.is(s.hops.get(all[0]!)?.mac, mac(0), 'known addresses keep their resolution until the next refresh');

  t.true(await s.hops.add(all.slice(1), new Map()), 'a removed address is forgotten without a read');
  t.is(s.reads.length, 2);
  t.is(s.hops.resolution(all[0]!), undefined);
  t.is(s.hops.resolution('198.18.9.9'), undefined);
});

test('add(): a MAC given in the config (or taken away) makes the address new again', async (t) => {
  const s = setup(['198.18.2.1']);
  await s.hops.refresh(['198.18.2.1'], new Map());
  t.true(await s.hops.add(['198.18.2.1'], new Map([['198.18.2.1', '02:AA:00:00:00:01']])));
  t.is(s.hops.get('198.18.2.1')?.mac, '02:aa:00:00:00:01');
  t.true(await s.hops.add(['198.18.2.1'], new Map()));
  t.is(s.hops.get('198.18.2.1')?.mac, mac(0));
  t.is(s.reads.length, 3);
});

test('a neighbour not known yet: the kernel is asked to resolve it, status says so, the next read picks it up', async (t) => {
  const s = setup([]);
  await s.hops.refresh(['198.18.2.7'], new Map());
  t.deepEqual(s.asked, ['198.18.2.7']);
  t.deepEqual(s.hops.resolution('198.18.2.7'), { dev: 'back', problem: 'resolving 198.18.2.7 on back', resolve: '198.18.2.7' });
  s.set(snapshot([{ dst: '198.18.2.7', dev: 'back', lladdr: '02:be:00:00:00:07', state: ['REACHABLE'] }]));
  t.true(await s.hops.refresh(['198.18.2.7'], new Map()));
  t.deepEqual(s.hops.get('198.18.2.7'), { ifindex: 3, mac: '02:be:00:00:00:07', srcMac: '02:1b:00:00:00:02' });
  t.deepEqual(s.asked, ['198.18.2.7'], 'a resolved neighbour is not asked for again');
});
