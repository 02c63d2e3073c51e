// NAT replies, backend -> client, translated back to VIP:port. With a route and neighbour in this test's namespace,
// bpf_fib_lookup gives the next hop and the reply is forwarded from XDP; without one, the kernel gets it to route.
// A reply is one only for a flow the LB sent to that backend: each test opens its flow first.
import test from 'ava';
import { CLIENT, POOL, VIP, BACKENDS, clientFrame } from '../../scripts/lab/cases.js';
import { buildFrame, parseFrame, TCP_FLAGS, type FrameSpec } from '../../scripts/lab/frames.js';
import { backendMac, CLIENT_MAC, Harness, LB_MAC } from '../../scripts/lab/harness.js';
import { routedNetwork } from '../../scripts/lab/routed.js';

const net = routedNetwork();
const frontMac = net.frontMac;

const replySpec: FrameSpec = {
  srcMac: backendMac(BACKENDS[0]), dstMac: LB_MAC, src: BACKENDS[0], dst: CLIENT, proto: 'tcp', sport: 8080,
  dport: 40000, tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, ttl: 64,
};

const arrivingOn = (dev: 'front' | 'back') => net[dev];

/** Sends the client's first packet of the flow a reply answers; returns the backend it went to. */
function open(h: Harness, reply: FrameSpec, vipPort: number): string {
  const r = h.run(clientFrame({
    proto: reply.proto as 'tcp' | 'udp', src: reply.dst, sport: reply.dport, dport: vipPort,
    ...(reply.proto === 'tcp' ? { tcpFlags: TCP_FLAGS.SYN } : {}),
  }));
  return parseFrame(r.out).dst;
}

test('a reply routed out of another interface is redirected, source VIP:80, TTL down by one, next-hop MACs', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const front = net.front;
  const value = Buffer.alloc(8);
  value.writeUInt32LE(front);
  const key = Buffer.alloc(4);
  key.writeUInt32LE(front);
  h.dp.map('egress').update(key, value);

  t.is(open(h, replySpec, 80), BACKENDS[0]);
  const r = h.run(buildFrame(replySpec), arrivingOn('back'));
  t.is(r.verdict, 'REDIRECT');
  const expected = buildFrame({ ...replySpec, src: VIP, sport: 80, ttl: 63, srcMac: frontMac, dstMac: CLIENT_MAC });
  t.is(r.out.toString('hex'), expected.toString('hex'));
  t.is(h.dp.outcomes().redirect.packets, 1n);
});

test('a reply whose egress is not in the devmap goes to the kernel translated, still addressed to this node', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  t.is(open(h, replySpec, 80), BACKENDS[0]);
  const r = h.run(buildFrame(replySpec), arrivingOn('back'));
  t.is(r.verdict, 'PASS');
  t.is(r.out.toString('hex'), buildFrame({ ...replySpec, src: VIP, sport: 80 }).toString('hex'), 'MACs and TTL untouched');
  t.is(h.dp.outcomes().pass_reverse.packets, 1n);
});

test('a reply to a client without a known next hop goes to the kernel, translated, TTL untouched', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const spec = { ...replySpec, dst: '198.18.0.77' };
  t.is(open(h, spec, 80), BACKENDS[0]);
  const r = h.run(buildFrame(spec), arrivingOn('back'));
  t.is(r.verdict, 'PASS');
  t.is(r.out.toString('hex'), buildFrame({ ...spec, src: VIP, sport: 80 }).toString('hex'));
  t.is(h.dp.outcomes().pass_reverse.packets, 1n);
});

test('replies of UDP services and from ports that are no backend of a nat service', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const request = { ...replySpec, dst: '198.18.0.77', proto: 'udp' as const, sport: 5353 };
  const backend = open(h, request, 53);
  const udp = { ...request, src: backend, srcMac: backendMac(backend) };
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
  open(h, { ...replySpec, dst: '198.18.1.254' }, 80);
  const before = h.run(toNode, arrivingOn('back'));
  t.not(before.out.toString('hex'), toNode.toString('hex'), 'without the local address it looks like a reply');
  h.applyLocal(['198.18.1.254']);
  t.is(h.run(toNode, arrivingOn('back')).out.toString('hex'), toNode.toString('hex'));
});

test('a frame with a backend\'s address:port as its source that answers no flow sent there is dropped, untouched', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  // From the client side, to any address: without the check it would leave as VIP:80 -> that address.
  const relay = buildFrame({ ...replySpec, srcMac: CLIENT_MAC, dst: '198.18.0.99', dport: 1234 });
  const r = h.run(relay, arrivingOn('front'));
  t.is(r.verdict, 'DROP');
  t.is(r.out.toString('hex'), relay.toString('hex'));
  t.is(h.dp.outcomes().drop_stray_reply.packets, 1n);

  // A real flow, answered by another backend of the same service than the one it was sent to.
  t.is(open(h, replySpec, 80), BACKENDS[0]);
  const other = buildFrame({ ...replySpec, src: BACKENDS[1], srcMac: backendMac(BACKENDS[1]) });
  t.is(h.run(other, arrivingOn('back')).verdict, 'DROP');
  t.is(h.dp.outcomes().drop_stray_reply.packets, 2n);
  t.is(h.run(buildFrame(replySpec), arrivingOn('back')).verdict, 'PASS', 'the backend the flow went to is answered');
});

test('a reply is taken only on the interface its backend is behind, when the node knows it', (t) => {
  const h = new Harness(POOL, { backendIfindex: net.back });
  t.teardown(() => h.close());
  open(h, replySpec, 80);
  t.is(h.run(buildFrame(replySpec), arrivingOn('front')).verdict, 'DROP', 'from the client side');
  t.is(h.dp.outcomes().drop_stray_reply.packets, 1n);
  t.is(h.run(buildFrame(replySpec), arrivingOn('back')).out.toString('hex'),
    buildFrame({ ...replySpec, src: VIP, sport: 80 }).toString('hex'));
});
