// Interfaces that go away under the daemon: status tells the truth while one is gone (the interface missing, its
// backends without a next hop and not counted up), the log says it once, and when it comes back the program is
// attached again, the egress map rewritten, the next hops resolved, and traffic through the VIP resumes.
import test from 'ava';
import type { Status } from '../../lb/control/api.js';
import type { AttachedInterface } from '../../lb/daemon/attach.js';
import { linkChanges } from '../../lb/daemon/links.js';
import { eventually, httpBurst, ping, XlbNode } from '../support/daemon.js';

const back = (s: Status) => s.interfaces.find((i) => i.name === 'back')!;

test('linkChanges: gone, back (anew or with another index), xlb\'s program taken; nothing when all is as it was', (t) => {
  const link = (name: string, ifindex: number, state: AttachedInterface['state'] = 'attached'): AttachedInterface =>
    ({ name, ifindex, mode: 'native', state, programId: 70 });
  const now = new Map([['a', 2], ['b', 9], ['c', 4], ['d', 5], ['g', 8]]);
  const programs = new Map([[2, 70], [9, 0], [4, 0], [5, 71]]);
  const changes = linkChanges(
    [link('a', 2), link('b', 3), link('c', 4, 'missing'), link('d', 5), link('e', 6), link('f', 7, 'missing'), link('g', 8)],
    (name) => now.get(name), (ifindex) => (ifindex === 8 ? undefined : programs.get(ifindex) ?? 0));
  t.deepEqual(changes, [
    { name: 'b', kind: 'back', ifindex: 9 },
    { name: 'c', kind: 'back', ifindex: 4 },
    { name: 'd', kind: 'taken', program: 71 },
    { name: 'e', kind: 'lost' },
  ]);
  // A failed attach is not retried until the interface changes again.
  t.deepEqual(linkChanges([link('b', 9, 'failed')], (name) => now.get(name), () => 0), []);
});

test('the back interface deleted and made again: status tells the truth in between; then traffic resumes', async (t) => {
  t.timeout(120_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const d = await node.start();
  const before = await node.status();
  t.like(back(before), { state: 'attached' });
  const burst = await httpBurst(lab, 9);
  t.is(burst.ok, 9, JSON.stringify(burst));

  await lab.unplugBack();
  const gone = await eventually('back missing in status, its backends unresolved', 30_000, async () => {
    const s = await node.status();
    const web = s.services.find((v) => v.name === 'web')!;
    return back(s).state === 'missing' && web.backends.every((b) => b.mac === null) ? s : undefined;
  });
  t.regex(back(gone).problem ?? '', /^gone since \S+; xlb attaches again when it returns$/);
  t.is(back(gone).ifindex, back(before).ifindex, 'while missing, the ifindex it had');
  for (const b of gone.services.flatMap((v) => v.backends)) {
    t.is(b.mac, null);
    t.is(typeof b.unresolved, 'string', JSON.stringify(b));
  }
  const table = await node.lbctl(['status']);
  t.regex(table.stdout, /^interfaces\s+front \(ifindex \d+, (native|generic)\), back \(missing: gone since .*\)$/m);
  t.regex(table.stdout, /^web\s+198\.18\.100\.10\s+tcp\s+80\s+maglev\s+nat\s+http\s+any\s+0\/3$/m, 'no backend counts as up');
  t.regex(table.stdout, /^ {2}web 198\.18\.1\.11:8080 has no next hop: .+$/m);
  const down = await ping(lab, ['-c', '2', '-i', '0.2', '-W', '1']);
  t.is(down.received, 0, 'the VIP is unreachable while back is gone');

  await lab.plugBack();
  // (Their health checks failed meanwhile: they come back after `rise` good probes.)
  const returned = await eventually('back attached again, every next hop resolved, every backend up', 30_000, async () => {
    const s = await node.status();
    const all = s.services.flatMap((v) => v.backends);
    return back(s).state === 'attached' && all.every((b) => b.mac !== null && b.health === 'up') ? s : undefined;
  });
  t.not(back(returned).ifindex, back(before).ifindex, 'the new interface, not the old index');
  t.is(back(returned).problem, undefined);
  t.deepEqual((await node.xdpProgIds('back')).length, 1, 'a program is attached to the new back');
  t.deepEqual(await node.xdpProgIds('front'), await node.xdpProgIds('back'), 'the same program as on front');

  // Status shows health and next hops as soon as they change; the maps follow with the next plan.
  const again = await eventually('HTTP through the VIP to every backend', 20_000, async () => {
    const r = await httpBurst(lab, 9);
    return r.ok === 9 && Object.keys(r.counts).length === 3 ? r : undefined;
  });
  t.deepEqual(again.errors, []);
  t.deepEqual(Object.keys(again.counts).sort(), ['b1', 'b2', 'b3']);
  const pings = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '2']);
  t.is(pings.received, 3, pings.stdout);

  const entries = d.logEntries();
  t.is(entries.filter((e) => typeof e.msg === 'string' && e.msg.startsWith('back is gone')).length, 1, 'the loss is logged once');
  t.true(entries.some((e) => e.level === 40 && e.interface === 'back' && String(e.msg).startsWith('back is gone')));
  t.true(entries.some((e) => e.level === 30 && String(e.msg).startsWith(`back is back (ifindex ${back(returned).ifindex})`)));
});
