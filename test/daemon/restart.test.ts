// A daemon restart is invisible on the wire: the program stays attached with the pinned maps while no daemon runs,
// and the next daemon re-adopts the pins and replaces the program atomically.
import test from 'ava';
import { existsSync } from 'node:fs';
import type { Event, Stats } from '../../lb/control/api.js';
import { eventually, httpBurst, ping, sleep, XlbNode } from '../support/daemon.js';

test('restarting the daemon during a ping flood loses no packet', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const first = await node.start();
  t.false((await node.status()).adopted, 'the first daemon creates the maps');

  // 2000 pings over 10 s: long enough for a stop and a start on a loaded machine (asserted below).
  const flood = ping(lab, ['-i', '0.005', '-c', '2000', '-W', '5'], undefined, 80_000);
  const floodEnded = flood.then(() => Date.now());
  // The restart happens while the flood goes through xlb: its first packets are counted.
  await eventually('the flood counted by xlb', 20_000, async () => {
    const stats = await node.lbctlJson<Stats>(['stats']);
    return (stats.services.find((s) => s.name === 'ping')?.packets ?? 0) > 0;
  });

  t.is(await first.stop('SIGTERM'), 0, 'the daemon stops cleanly on SIGTERM');
  // Nobody runs the node now; the program must still be on both interfaces.
  t.true((await node.xdpProgIds('front')).length > 0, 'the program stays attached to front');
  t.true((await node.xdpProgIds('back')).length > 0, 'the program stays attached to back');
  t.true(first.log.includes('the program stays attached'), first.log);

  const second = await node.start();
  const readyAt = Date.now();
  const status = await node.status();
  t.is(status.pid, second.pid);
  t.true(status.adopted, 'the second daemon re-adopts the pinned maps');
  const attached = second.logEntries().filter((e) => e.module === 'attach' && typeof e.interface === 'string');
  t.deepEqual(attached.map((e) => [e.interface, e.replaced]), [['front', true], ['back', true]],
    'the program was replaced in place, not detached and attached again');

  const r = await flood;
  t.true(readyAt < (await floodEnded), 'the new daemon was ready before the flood ended (else the flood is too short)');
  t.is(r.transmitted, 2000, r.stdout.slice(-400) + r.stderr);
  t.is(r.loss, 0, r.stdout.slice(-400));
  t.is(r.received, 2000);
  t.is(r.code, 0);
  // The flood went through xlb all along: its replies come from the backends.
  t.deepEqual(new Set(r.replies.map((x) => x.from)), new Set(lab.addresses.backends));
});

test('a second daemon for the same node is refused and leaves the running one alone', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const first = await node.start();
  const progs = await node.xdpProgIds('front');
  t.is(progs.length, 1);

  // The same file again: same control socket, same pins, same interfaces.
  const second = node.spawnDaemon(first.configPath);
  const code = await Promise.race([second.exited, sleep(15_000).then(() => 'still running')]);
  t.is(code, 1, `the second daemon fails; its log:\n${second.log}`);
  t.regex(second.log, /another xlb daemon answers/);

  t.true(first.running, 'the first daemon runs on');
  t.is((await node.status()).pid, first.pid);
  t.true(existsSync(node.pinDir), 'the pins stay');
  t.true((await node.xdpProgIds('front')).length > 0, 'a program stays attached to front');
  t.true((await node.xdpProgIds('back')).length > 0, 'a program stays attached to back');
  const r = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '2']);
  t.is(r.received, 3, `the VIP still answers:\n${r.stdout}`);
  const failedAt = Date.now();
  const burst = await httpBurst(lab, 10);
  t.is(burst.ok, 10);
  // The first daemon's events still flow (the failed one did not switch them off in the shared maps).
  const events = await node.lbctl(['events', '--json']);
  const fresh = events.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event)
    .filter((e) => e.kind === 'flow' && e.service === 'web' && e.time >= failedAt - 1000);
  t.true(fresh.length > 0, `flow events after the second daemon failed:\n${events.stdout.slice(-1000)}`);
});
