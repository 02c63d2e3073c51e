// NAT replies, backend -> client, translated back to VIP:port. With a route and neighbour in this test's namespace,
// bpf_fib_lookup gives the next hop and the reply is forwarded from XDP; without one, the kernel gets it to route.
import test from 'ava';
import { CLIENT, POOL, VIP, BACKENDS } from '../../scripts/lab/cases.js';
import { buildFrame, TCP_FLAGS, type FrameSpec } from '../../scripts/lab/frames.js';
import { backendMac, CLIENT_MAC, Harness, LB_MAC } from '../../scripts/lab/harness.js';
import { routedNetwork } from '../../scripts/lab/routed.js';

const net = routedNetwork();
const frontMac = net.frontMac;

const replySpec: FrameSpec = {
  srcMac: backendMac(BACKENDS[0]), dstMac: LB_MAC, src: BACKENDS[0], dst: CLIENT, proto: 'tcp', sport: 8080,
  dport: 40000, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, ttl: 64,
};

const arrivingOn = (dev: 'front' | 'back') => net[dev];

test('a reply routed out of another interface is redirected, source VIP:80, TTL down by one, next-hop MACs', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const front = net.front;
  const value = Buffer.alloc(8);
  value.writeUInt32LE(front);
  const key = Buffer.alloc(4);
  key.writeUInt32LE(front);
  h.dp.map('egress').update(key, value);

  const r = h.run(buildFrame(replySpec), arrivingOn('back'));
  t.is(r.verdict, 'REDIRECT');
  const expected = buildFrame({ ...replySpec, src: VIP, sport: 80, ttl: 63, srcMac: frontMac, dstMac: CLIENT_MAC });
  t.is(r.out.toString('hex'), expected.toString('hex'));
  t.is(h.dp.outcomes().redirect.packets, 1n);
});

test('a reply whose egress is not in the devmap goes to the kernel translated, still addressed to this node', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const r = h.run(buildFrame(replySpec), arrivingOn('back'));
  t.is(r.verdict, 'PASS');
  t.is(r.out.toString('hex'), buildFrame({ ...replySpec, src: VIP, sport: 80 }).toString('hex'), 'MACs and TTL untouched');
  t.is(h.dp.outcomes().pass_reverse.packets, 1n);
});

test('a reply to a client without a known next hop goes to the kernel, translated, TTL untouched', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const spec = { ...replySpec, dst: '198.18.0.77' };
  const r = h.run(buildFrame(spec), arrivingOn('back'));
  t.is(r.verdict, 'PASS');
  t.is(r.out.toString('hex'), buildFrame({ ...spec, src: VIP, sport: 80 }).toString('hex'));
  t.is(h.dp.outcomes().pass_reverse.packets, 1n);
});

test('replies of UDP services and from ports that are no backend of a nat service', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const udp = { ...replySpec, dst: '198.18.0.77', proto: 'udp' as const, sport: 5353 };
  const r = h.run(buildFrame(udp), arrivingOn('back'));
  t.is(r.out.toString('hex'), buildFrame({ ...udp, src: VIP, sport: 53 }).toString('hex'));
  const stranger = buildFrame({ ...replySpec, sport: 9999 });
  t.true(h.run(stranger, arrivingOn('back')).out.equals(stranger), 'not a backend port: untouched');
  const dsr = buildFrame({ ...replySpec, src: '198.18.1.21', sport: 80 });
  t.true(h.run(dsr, arrivingOn('back')).out.equals(dsr), 'dsr backends answer on their own: untouched');
});

test("a backend's packet to the node itself (a health check's answer) is not translated", (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  h.apply(POOL);
  const toNode = buildFrame({ ...replySpec, dst: '198.18.1.254' });
  const before = h.run(toNode, arrivingOn('back'));
  t.not(before.out.toString('hex'), toNode.toString('hex'), 'without the local address it looks like a reply');
  h.applyLocal(['198.18.1.254']);
  t.is(h.run(toNode, arrivingOn('back')).out.toString('hex'), toNode.toString('hex'));
});
