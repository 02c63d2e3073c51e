// TCP and UDP services: NAT rewrites with checksums checked against from-scratch sums, and the edge cases of both.
import test from 'ava';
import { clientFrame, natted, BACKENDS, POOL } from '../../scripts/lab/cases.js';
import { buildFrame, ipv4Checksum, parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness, pool, service } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';

isolateNetwork();

test('UDP to a maglev service: NAT to port 5353 and every datagram of the flow to the same backend', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const input = clientFrame({ proto: 'udp', sport: 33333, dport: 53 });
  const first = h.run(input);
  t.is(first.verdict, 'TX');
  const backend = parseFrame(first.out).dst;
  t.true(BACKENDS.includes(backend));
  t.is(first.out.toString('hex'), natted(input, backend, 5353).toString('hex'));
  for (let i = 0; i < 5; i++) t.is(parseFrame(h.run(input).out).dst, backend);
});

test('a UDP datagram without a checksum (0) is forwarded without one', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const input = clientFrame({ proto: 'udp', dport: 53, udpChecksum: false });
  const r = h.run(input);
  t.is(r.verdict, 'TX');
  t.is(r.out.readUInt16BE(14 + 20 + 6), 0);
  t.is(r.out.toString('hex'), natted(input, parseFrame(r.out).dst, 5353).toString('hex'));
});

test('a UDP checksum that the rewrite makes 0 is sent as 0xffff', (t) => {
  const h = new Harness(pool(service({ name: 'u', protocol: 'udp', port: 53 }, [{ address: BACKENDS[0], port: 5353 }])));
  t.teardown(() => h.close());
  // Search for the source port whose rewritten datagram sums to zero.
  let hit = 0;
  for (let sport = 1; sport < 65536 && !hit; sport++) {
    if (natted(clientFrame({ proto: 'udp', sport, dport: 53 }), BACKENDS[0], 5353).readUInt16BE(40) === 0xffff) hit = sport;
  }
  t.not(hit, 0);
  const input = clientFrame({ proto: 'udp', sport: hit, dport: 53 });
  const r = h.run(input);
  t.is(r.out.readUInt16BE(40), 0xffff);
  t.is(r.out.toString('hex'), natted(input, BACKENDS[0], 5353).toString('hex'));
});

test('a backend without a port keeps the client destination port', (t) => {
  const h = new Harness(pool(service({ name: 'w', protocol: 'tcp', port: 443 }, [BACKENDS[1]])));
  t.teardown(() => h.close());
  const input = clientFrame({ proto: 'tcp', dport: 443, tcpFlags: TCP_FLAGS.SYN });
  const r = h.run(input);
  t.is(r.out.toString('hex'), natted(input, BACKENDS[1]).toString('hex'));
});

test('a SYN counts a new flow; later packets of the flow do not', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  const p = h.apply(POOL);
  const web = p.services.find((s) => s.name === 'web')!;
  h.run(clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN }));
  h.run(clientFrame({ proto: 'tcp', dport: 80 }));
  h.run(clientFrame({ proto: 'tcp', dport: 80 }));
  t.deepEqual(h.dp.counters('serviceStats', web.id).flowsNew, 1n);
  t.deepEqual(h.dp.counters('serviceStats', web.id).packets, 3n);
});

test('VIP traffic with a wrong IPv4 header checksum is dropped as drop_bad_checksum', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  for (const proto of ['tcp', 'udp', 'icmp'] as const) {
    const input = clientFrame({ proto, dport: proto === 'tcp' ? 80 : 53 });
    input.writeUInt16BE(input.readUInt16BE(24) ^ 0x0100, 24);
    t.is(h.run(input).verdict, 'DROP', proto);
  }
  t.is(h.dp.outcomes().drop_bad_checksum.packets, 3n);
});

test('TCP or UDP to a VIP port without a service, and other IP protocols, pass untouched', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const frames = [
    clientFrame({ proto: 'tcp', dport: 81 }),
    clientFrame({ proto: 'udp', dport: 80 }),
    clientFrame({ proto: 'tcp', dport: 53 }),
  ];
  const gre = buildFrame({ src: '198.18.0.1', dst: '198.18.0.10', proto: 'udp' });
  gre[14 + 9] = 47;
  gre.writeUInt16BE(0, 24);
  gre.writeUInt16BE(ipv4Checksum(gre.subarray(14)), 24);
  for (const f of [...frames, gre]) {
    const r = h.run(f);
    t.is(r.verdict, 'PASS');
    t.true(r.out.equals(f));
  }
  t.is(h.dp.outcomes().pass_not_vip.packets, 4n);
});

test('non-IPv4 frames pass untouched: ARP, IPv6', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const arp = Buffer.concat([Buffer.from('ffffffffffff02c100000001' + '0806', 'hex'), Buffer.alloc(28, 1)]);
  const ipv6 = Buffer.concat([Buffer.from('02c10000000102c100000002' + '86dd', 'hex'), Buffer.alloc(60, 0x60)]);
  for (const f of [arp, ipv6]) {
    const r = h.run(f);
    t.is(r.verdict, 'PASS');
    t.true(r.out.equals(f));
  }
});

test('a SYN always starts a new flow, and re-pins it; the packets after it follow the new pin', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const syn = clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN });
  const first = parseFrame(h.run(syn).out).dst;
  const again = parseFrame(h.run(syn).out).dst;
  t.not(again, first, 'rr: the retransmitted SYN took the next backend');
  t.is(parseFrame(h.run(clientFrame({ proto: 'tcp', dport: 80 })).out).dst, again);
});
