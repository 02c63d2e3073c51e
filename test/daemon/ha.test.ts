// HA pairs end to end (README "High availability"): two daemons in a pair lab, one lease in a real Redis, heartbeats
// on the wire; the client on the VIP's own subnet finds it by ARP, which only the active node answers.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sealHeartbeat } from '../../cluster/ha/heartbeat.js';
import { HEARTBEAT_GROUP, HEARTBEAT_PORT } from '../../cluster/ha/wire.js';
import { NFT } from '../../scripts/lab/lab.js';
import { eventually, HttpClient, ping, sleep, type XlbNode } from '../support/daemon.js';
import { captureArpReplies, clientNeighbour, keepAsking, PAIR_VIP, startPair } from '../support/pair.js';

test.serial('the active node answers for the VIP; killed with its links down, the standby takes over and a connection carries on', async (t) => {
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

test.serial('a stopped active daemon (SIGSTOP): its data plane stops answering within the lease, never two MACs answer; SIGCONT, it steps down', async (t) => {
  t.timeout(120_000);
  const pair = await startPair(t);
  const { a, b } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  const lab = a.lab;
  const capture = await captureArpReplies(a);
  const asking = keepAsking(a);
  await sleep(1000);

  const stoppedAt = Date.now();
  a.daemon!.signal('SIGSTOP');
  const took = await pair.until(b, 'active', 10_000);
  t.log(`standby active ${Date.now() - stoppedAt} ms after SIGSTOP (epoch ${took.epoch})`);
  await sleep(2000);
  a.daemon!.signal('SIGCONT');
  const down = await pair.until(a, 'standby', 10_000);
  t.true(['lease-lost', 'deadline', 'higher-epoch'].includes(down.lastTransition!.reason), JSON.stringify(down.lastTransition));
  await sleep(1000);
  await asking.stop();
  const replies = await capture.stop();

  const macA = lab.lbs[0]!.frontMac;
  const macB = lab.lbs[1]!.frontMac;
  const lastA = Math.max(...replies.filter((r) => r.mac === macA).map((r) => r.at));
  const firstB = Math.min(...replies.filter((r) => r.mac === macB).map((r) => r.at));
  t.true(replies.length > 10, `${replies.length} ARP replies seen`);
  t.true(replies.every((r) => r.mac === macA || r.mac === macB), JSON.stringify(replies.slice(0, 5)));
  t.true(lastA < firstB, `A answered until ${lastA}, B from ${firstB}: never both`);
  t.true(lastA - stoppedAt < 800, `A's data plane stopped answering ${lastA - stoppedAt} ms after SIGSTOP, within the lease`);
  t.false(replies.some((r) => r.mac === macA && r.at > firstB), 'after SIGCONT, A never answered again');
  t.is((await pair.ha(b)).epoch, took.epoch, 'B kept its lease: no fight');
});

test.serial('the heartbeat link cut while both reach Redis: the lease decides, never two owners', async (t) => {
  t.timeout(120_000);
  // A longer lease: "nothing flaps" is about the rules, and a loaded test machine stalls event loops for hundreds of ms.
  const pair = await startPair(t, { lease: '2s' });
  const { a, b } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  const capture = await captureArpReplies(a);
  const asking = keepAsking(a);
  // Heartbeats dropped at b's side, both ways.
  const nft = await a.lab.exec(b.lbNs, [NFT, '-f', '-'], { input: `table inet hb { chain in { type filter hook input priority 0; udp dport ${HEARTBEAT_PORT} drop; }; chain out { type filter hook output priority 0; udp dport ${HEARTBEAT_PORT} drop; }; }\n` });
  if (nft.code !== 0) throw new Error(`nft: ${nft.stderr}`);
  await eventually('b sees no peer', 10_000, async () => (await pair.ha(b)).peer?.up === false);
  await sleep(3000);
  const sa = await pair.ha(a);
  const sb = await pair.ha(b);
  await asking.stop();
  const replies = await capture.stop();
  t.is(sa.role, 'active');
  t.is(sb.role, 'standby', `b stands by: ${JSON.stringify(sb.lease)}`);
  t.deepEqual([...new Set(replies.map((r) => r.mac))], [a.lab.lbs[0]!.frontMac], 'only the lease holder answered');
  t.deepEqual(sa.transitions, { 'lease-acquired': 1 }, 'nothing flapped');
});

test.serial('Redis stopped with a healthy pair: the active keeps the VIPs, the standby stands by at the same epoch, nothing flaps', async (t) => {
  t.timeout(120_000);
  // A longer lease: "nothing flaps" is about the rules, and a loaded test machine stalls event loops for hundreds of ms.
  const pair = await startPair(t, { lease: '2s' });
  const { a, b, redis } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  const flood = ping(a.lab, ['-i', '0.02', '-c', '300', '-W', '1'], PAIR_VIP, 60_000);
  await redis.stop();
  await eventually('a sees Redis gone', 10_000, async () => !(await pair.ha(a)).redis);
  await sleep(3000);
  const sa = await pair.ha(a);
  const sb = await pair.ha(b);
  t.is(sa.role, 'active');
  t.is(sb.role, 'standby');
  t.is(sb.peer!.epoch, sa.epoch);
  t.deepEqual(sa.transitions, { 'lease-acquired': 1 }, 'nothing flapped');
  const r = await flood;
  t.is(r.loss, 0, r.stdout.slice(-300));
  await redis.start();
  await eventually('a renews again', 15_000, async () => (await pair.ha(a)).redis);
  t.is((await pair.ha(a)).role, 'active');
});

test.serial('forged and replayed heartbeats are ignored and counted; the pair stays as it is', async (t) => {
  t.timeout(90_000);
  const pair = await startPair(t);
  const { a, b } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  const key = readFileSync(join(a.dir, 'ha.key'));
  const now = Date.now();
  // A stranger claims to be lb-b, active at a higher epoch, without the key; then a heartbeat of lb-b's from an earlier
  // boot, sealed with the key (as if captured earlier), is sent again.
  const forged = sealHeartbeat({ pair: 'edge-1', nodeId: 'lb-b', boot: 'stranger', seq: 1, time: now, role: 'active', epoch: 99,
    digest: 'x', redis: true, serveable: true }, Buffer.from('not the key of this pair at all'));
  const replayed = sealHeartbeat({ pair: 'edge-1', nodeId: 'lb-b', boot: 'earlier', seq: 7, time: now - 2000, role: 'active',
    epoch: 99, digest: 'x', redis: true, serveable: true }, key);
  const s = await eventually('both counted', 10_000, async () => {
    await sendFromClient(a, [forged, replayed]);
    const st = await pair.ha(a);
    return st.heartbeatsRejected.forged >= 1 && st.heartbeatsRejected.replayed >= 1 ? st : undefined;
  });
  t.is(s.role, 'active');
  t.is(s.epoch, 1);
  t.regex(await a.metrics(), /^xlb_ha_heartbeats_rejected_total\{reason="forged"\} [1-9]/m);
});

test.serial('switchover: the peer takes over with no ping lost, and a connection carries on', async (t) => {
  t.timeout(120_000);
  const pair = await startPair(t);
  const { a, b } = pair;
  await pair.start(a, 'active');
  await pair.start(b, 'standby');
  await eventually('the tables match', 10_000, async () => (await pair.ha(b)).ready.ready);
  const client = await HttpClient.open(a.lab, `http://${PAIR_VIP}/`);
  t.teardown(() => client.close());
  const before = await client.get('keep');

  const flood = ping(a.lab, ['-i', '0.01', '-c', '500', '-W', '1'], PAIR_VIP, 60_000);
  await sleep(1500);
  const r = await a.lbctl(['ha', 'switchover']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^handed over to lb-b \(epoch 2\) in \d+ ms/);
  const pings = await flood;
  t.is(pings.loss, 0, pings.stdout.slice(-300));
  t.is((await pair.ha(b)).role, 'active');
  const old = await pair.ha(a);
  t.true(old.role === 'leaving' || old.role === 'standby', old.role);
  t.is(old.transitions.switchover, 1, JSON.stringify(old.transitions));
  const after = await client.get('keep');
  t.true(after.reused && after.backend === before.backend, JSON.stringify(after));
  const refused = await a.lbctl(['ha', 'switchover']);
  t.is(refused.code, 1, 'only the active node hands over');
  t.regex(refused.stderr, /no switchover: this node is (leaving|standby), not active/);
});

/** Sends each datagram to the heartbeat group from the client, on the pair's front segment. */
async function sendFromClient(node: XlbNode, datagrams: Buffer[]): Promise<void> {
  const js = `
    const s = require('node:dgram').createSocket('udp4');
    s.bind(0, () => {
      s.setMulticastInterface('${node.lab.addresses.client}');
      const all = ${JSON.stringify(datagrams.map((d) => d.toString('base64')))};
      let n = 0;
      for (const d of all) s.send(Buffer.from(d, 'base64'), ${HEARTBEAT_PORT}, '${HEARTBEAT_GROUP}', () => { if (++n === all.length) s.close(); });
    });`;
  const r = await node.lab.exec(node.lab.ns.client, [process.execPath, '-e', js]);
  if (r.code !== 0) throw new Error(`sending heartbeats failed: ${r.stderr}`);
}
