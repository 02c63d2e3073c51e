// The ARP responder: requests for the node's VIPs (any interface) and floating addresses (their own interface) are
// answered from XDP, exactly; everything else that is ARP passes to the kernel untouched; an HA node answers only until
// its ARP deadline. Frames arrive on real interfaces (a namespace of the test's own), whose MACs the replies carry.
import test from 'ava';
import { ARP_FRAME_BYTES, ARP_OP, buildArp, parseArp, type ArpSpec } from '../../scripts/lab/frames.js';
import { CLIENT, DSR_VIP, POOL, VIP } from '../../scripts/lab/cases.js';
import { CLIENT_MAC, Harness } from '../../scripts/lab/harness.js';
import { routedNetwork } from '../../scripts/lab/routed.js';
import { interfaceMac, monotonicNs } from '../../lb/bpf/system.js';
import { HA_OFF } from '../../lb/dataplane/dataplane.js';

const net = routedNetwork();
const backMac = interfaceMac('back');
/** The backends' gateway, as an HA pair floats it on its back interface. */
const GATEWAY = '198.18.1.1';
const SECOND = 1_000_000_000n;

const request = (targetIp: string, extra: Partial<ArpSpec> = {}) =>
  buildArp({ op: ARP_OP.request, senderMac: CLIENT_MAC, senderIp: CLIENT, targetIp, ...extra });

/** The reply of `mac` for `address` to the client's request. */
const reply = (address: string, mac: string, to = CLIENT) =>
  buildArp({
    op: ARP_OP.reply, dstMac: CLIENT_MAC, srcMac: mac, senderMac: mac, senderIp: address, targetMac: CLIENT_MAC, targetIp: to,
  });

function harness(t: { teardown(fn: () => void): void }): Harness {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  h.dp.setInterfaces([{ ifindex: net.front, mac: net.frontMac }, { ifindex: net.back, mac: backMac }]);
  return h;
}

test('the MACs replies carry are the interfaces\' own, read by ioctl in this namespace', (t) => {
  t.is(interfaceMac('front'), net.frontMac);
  t.regex(backMac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  t.not(backMac, net.frontMac);
  t.is(interfaceMac('lo'), '00:00:00:00:00:00');
  t.throws(() => interfaceMac('nosuch0'), { message: /ENODEV/ });
  t.throws(() => interfaceMac('a-name-too-long-for-linux'), { message: /ENODEV/ });
});

test('a request for a VIP is answered in place on the interface it came in on, with that interface\'s MAC', (t) => {
  const h = harness(t);
  for (const [vip, ifindex, mac] of [[VIP, net.front, net.frontMac], [DSR_VIP, net.front, net.frontMac], [VIP, net.back, backMac]] as const) {
    const r = h.run(request(vip), ifindex);
    t.is(r.verdict, 'TX', `${vip} on ${ifindex}`);
    t.is(r.out.toString('hex'), reply(vip, mac).toString('hex'), `${vip} on ${ifindex}`);
  }
  t.is(h.dp.outcomes().arp_reply.packets, 3n);
  t.is(h.dp.outcomes().arp_reply.bytes, 180n);
});

test('the reply keeps the request\'s length: padding as it came, a frame without padding without', (t) => {
  const h = harness(t);
  const padded = request(VIP, { padTo: 64 });
  padded.fill(0xee, ARP_FRAME_BYTES);
  const r = h.run(padded, net.front);
  t.is(r.verdict, 'TX');
  t.deepEqual(parseArp(r.out).padding, Buffer.alloc(64 - ARP_FRAME_BYTES, 0xee));
  const bare = h.run(request(VIP, { padTo: 0 }), net.front);
  t.is(bare.out.toString('hex'), reply(VIP, net.frontMac).subarray(0, ARP_FRAME_BYTES).toString('hex'));
});

test('a probe (sender address 0.0.0.0) for a VIP is answered to the prober, as Linux answers it', (t) => {
  const h = harness(t);
  const r = h.run(request(VIP, { senderIp: '0.0.0.0' }), net.front);
  t.is(r.verdict, 'TX');
  t.is(r.out.toString('hex'), reply(VIP, net.frontMac, '0.0.0.0').toString('hex'));
});

test('a floating address is answered on its own interface only; elsewhere ARP for it passes to the kernel', (t) => {
  const h = harness(t);
  const p = h.applyFloating([{ address: GATEWAY, ifindex: net.back }]);
  t.deepEqual(p.owned, [{ address: VIP, ifindex: 0 }, { address: DSR_VIP, ifindex: 0 }, { address: GATEWAY, ifindex: net.back }]
    .sort((a, b) => (a.address < b.address ? -1 : 1)));
  const r = h.run(request(GATEWAY), net.back);
  t.is(r.verdict, 'TX');
  t.is(r.out.toString('hex'), reply(GATEWAY, backMac).toString('hex'));
  const elsewhere = request(GATEWAY);
  const passed = h.run(elsewhere, net.front);
  t.is(passed.verdict, 'PASS');
  t.true(passed.out.equals(elsewhere));
  t.is(h.dp.outcomes().pass_not_vip.packets, 1n);

  h.applyFloating([]);
  t.is(h.run(request(GATEWAY), net.back).verdict, 'PASS', 'no longer floated: no longer answered for');
});

test('gratuitous ARP, replies and requests for addresses that are not owned pass untouched', (t) => {
  const h = harness(t);
  h.applyLocal(['198.18.0.254']);
  const stranger = '02:00:00:00:00:99';
  const frames: [string, Buffer][] = [
    ['a gratuitous request for a VIP', request(VIP, { senderIp: VIP, senderMac: stranger })],
    ['a gratuitous reply for a VIP', buildArp({ op: ARP_OP.reply, senderMac: stranger, senderIp: VIP, targetMac: stranger, targetIp: VIP })],
    ['a reply from a VIP', reply(VIP, stranger)],
    ['a request for an address nobody here owns', request('198.18.0.99')],
    ['a request for the node\'s own address (the kernel answers)', request('198.18.0.254')],
    ['a request for a backend', request('198.18.1.11')],
  ];
  for (const [what, frame] of frames) {
    const r = h.run(frame, net.front);
    t.is(r.verdict, 'PASS', what);
    t.true(r.out.equals(frame), what);
  }
  t.is(h.dp.outcomes().pass_not_vip.packets, BigInt(frames.length));
  t.is(h.dp.outcomes().arp_reply.packets, 0n);
});

test('ARP that is no whole request for IPv4 over Ethernet passes untouched: every truncation, other types and lengths', (t) => {
  const h = harness(t);
  const whole = request(VIP);
  // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
  for (let len = 14; len < ARP_FRAME_BYTES; len++) {
    const cut = whole.subarray(0, len);
    const r = h.run(cut, net.front);
    t.is(r.verdict, 'PASS', `cut to ${len}`);
    t.true(r.out.equals(cut), `cut to ${len}`);
  }
  const odd: [string, Partial<ArpSpec>][] = [
    ['hardware type IEEE 802', { htype: 6 }],
    ['protocol IPv6', { ptype: 0x86dd }],
    ['hardware address length 8', { hlen: 8 }],
    ['protocol address length 16', { plen: 16 }],
    ['operation RARP request', { op: 3 }],
    ['operation 0', { op: 0 }],
  ];
  for (const [what, change] of odd) {
    const frame = request(VIP, change);
    const r = h.run(frame, net.front);
    t.is(r.verdict, 'PASS', what);
    t.true(r.out.equals(frame), what);
  }
  t.is(h.dp.outcomes().arp_reply.packets, 0n);
});

test('without a MAC for the receiving interface, ARP passes to the kernel; the interfaces are replaced as a whole', (t) => {
  const h = harness(t);
  h.dp.setInterfaces([{ ifindex: net.back, mac: backMac }]);
  t.deepEqual(h.dp.interfaces(), [{ ifindex: net.back, mac: backMac }]);
  const frame = request(VIP);
  t.true(h.run(frame, net.front).out.equals(frame));
  t.is(h.run(frame, net.back).verdict, 'TX');
});

test('setInterfaces refuses a bad ifindex, a repeated one or a bad MAC, and writes nothing then', (t) => {
  const h = harness(t);
  const before = h.dp.interfaces();
  t.throws(() => h.dp.setInterfaces([{ ifindex: net.front, mac: net.frontMac }, { ifindex: 0, mac: backMac }]),
    { instanceOf: RangeError, message: 'ifindex 0 is not an interface\'s' });
  t.throws(() => h.dp.setInterfaces([{ ifindex: net.front, mac: net.frontMac }, { ifindex: net.front, mac: backMac }]),
    { instanceOf: RangeError, message: `ifindex ${net.front} is given twice` });
  t.throws(() => h.dp.setInterfaces([{ ifindex: net.back, mac: '02:00:00:00:00' }]), { message: '"02:00:00:00:00" is not a MAC address' });
  t.deepEqual(h.dp.interfaces(), before);
});

test('a VIP taken out of the pool is no longer answered for', (t) => {
  const h = harness(t);
  h.apply({ ...POOL, services: POOL.services.filter((s) => s.vip !== DSR_VIP) });
  const frame = request(DSR_VIP);
  t.true(h.run(frame, net.front).out.equals(frame));
  t.is(h.run(request(VIP), net.front).verdict, 'TX');
});

test('an HA node answers while now < arp_until_ns and drops the request after (drop_standby), whatever forwarding may do', (t) => {
  const h = harness(t);
  const frame = request(VIP);
  const now = monotonicNs();
  h.dp.setHa({ forwardUntilNs: now + 60n * SECOND, arpUntilNs: now - SECOND });
  const dropped = h.run(frame, net.front);
  t.is(dropped.verdict, 'DROP');
  t.true(dropped.out.equals(frame));
  h.applyFloating([{ address: GATEWAY, ifindex: net.back }]);
  t.is(h.run(request(GATEWAY), net.back).verdict, 'DROP', 'a floating address too: the kernel holding it does not answer either');
  t.is(h.run(request(GATEWAY), net.front).verdict, 'PASS', 'not owned on that interface: the kernel decides');
  t.is(h.run(request('198.18.0.99'), net.front).verdict, 'PASS', 'not owned: the kernel decides');
  t.is(h.dp.outcomes().drop_standby.packets, 2n);

  h.dp.setHa({ forwardUntilNs: 0n, arpUntilNs: monotonicNs() + 60n * SECOND });
  t.is(h.run(frame, net.front).out.toString('hex'), reply(VIP, net.frontMac).toString('hex'));
  h.dp.setHa(HA_OFF);
  t.is(h.run(frame, net.front).out.toString('hex'), reply(VIP, net.frontMac).toString('hex'));
  t.is(h.dp.outcomes().arp_reply.packets, 2n);
});
