// HA pairs end to end (README "High availability"): two daemons in a pair lab, one lease in a real Redis, heartbeats
// on the wire; the client on the VIP's own subnet finds it by ARP, which only the active node answers.
import test from 'ava';
import { HttpClient, ping, sleep } from '../support/daemon.js';
import { clientNeighbour, PAIR_VIP, startPair } from '../support/pair.js';

test('the active node answers for the VIP; killed with its links down, the standby takes over and a connection carries on', async (t) => {
  t.timeout(120_000);
  const pair = await startPair(t);
  const { a, b } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  const lab = a.lab;

  const first = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '2'], PAIR_VIP);
  t.is(first.received, 3, first.stdout + first.stderr);
  t.is(await clientNeighbour(a), lab.lbs[0]!.frontMac, 'the client found the VIP at the active node');
  const client = await HttpClient.open(lab, `http://${PAIR_VIP}/`);
  t.teardown(() => client.close());
  const before = await client.get('keep');
  t.is(before.status, 200);

  // Power loss: the daemon killed, the links down.
  const flood = ping(lab, ['-i', '0.02', '-c', '400', '-W', '1'], PAIR_VIP, 60_000);
  await sleep(1000);
  const killedAt = Date.now();
  await a.daemon!.stop('SIGKILL');
  for (const dev of ['front', 'back']) await lab.exec(a.lbNs, ['ip', 'link', 'set', dev, 'down']);
  const took = await pair.until(b, 'active', 10_000);
  t.log(`standby active ${Date.now() - killedAt} ms after the kill (epoch ${took.epoch})`);
  const r = await flood;
  t.true((r.received ?? 0) > 300, `pings resumed: ${r.received} of ${r.transmitted}`);
  t.is(await clientNeighbour(b), lab.lbs[1]!.frontMac, 'the client moved to the new active node');

  const after = await client.get('keep');
  t.is(after.status, 200, JSON.stringify(after));
  t.true(after.reused, 'the same connection');
  t.is(after.backend, before.backend, 'on the same backend: the tables match');
});
