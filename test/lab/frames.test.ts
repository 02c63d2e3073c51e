import test from 'ava';
import {
  ARP_OP,
  buildArp,
  buildFrame,
  checksumsValid,
  internetChecksum,
  ipToBytes,
  ipv4Checksum,
  l4Checksum,
  macToBytes,
  macToString,
  parseArp,
  parseFrame,
  TCP_FLAGS,
  withFields,
  type FrameSpec,
} from '../../scripts/lab/frames.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Byte offsets in a frame with a 20-byte IP header.
const IP_CSUM = [24, 25];
const IP_SRC = [26, 27, 28, 29];
const IP_DST = [30, 31, 32, 33];
const L4_SPORT = [34, 35];
const L4_DPORT = [36, 37];
const UDP_CSUM = [40, 41];
const TCP_CSUM = [50, 51];

function diffOffsets(a: Buffer, b: Buffer): number[] {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

// Reference frames below were produced by scapy 2.5.0 (Debian python3-scapy),
// which computes its checksums with its own code, e.g.
//   raw(Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')
//       /IP(src='10.0.0.1', dst='10.0.0.2', id=0x1c46, ttl=64)
//       /TCP(sport=40000, dport=80, seq=1000, ack=2000, flags='S', window=65535)/b'hello, xlb').hex()
const SCAPY_TCP =
  '020000000002020000000001080045000032' +
  '1c46000040064a7e0a0000010a000002' +
  '9c400050000003e8000007d05002ffff22b50000' +
  '68656c6c6f2c20786c62';
// IP(src='192.168.1.10', dst='10.1.2.3', id=7, ttl=33, flags='DF')/UDP(sport=5353, dport=53)/b'query?!'
const SCAPY_UDP =
  '020000000002020000000001080045000023' +
  '0007400021118c0dc0a8010a0a010203' +
  '14e90035000fabd4' +
  '71756572793f21';
// IP(src='10.0.0.1', dst='10.0.0.9', id=1, ttl=64)/ICMP(type=8, code=0, id=0x1234, seq=5)/b'ping'
const SCAPY_ICMP =
  '020000000002020000000001080045000020' +
  '00010000400166d30a0000010a000009' +
  '080006f612340005' +
  '70696e67';
// IP(src='10.0.0.1', dst='10.0.0.2', id=1, ttl=64, options=[IPOption(b'\x94\x04\x00\x00')])
//   /UDP(sport=40000, dport=53)/b'xlb-payload'
const SCAPY_UDP_OPTS =
  '02000000000202000000000108004600002b' +
  '00010000' + '4011d1ba0a0000010a000002' + '94040000' +
  '9c4000350013b786' +
  '786c622d7061796c6f6164';
// IP(src='10.0.0.1', dst='10.0.0.2', id=1, ttl=64)/UDP(sport=1, dport=2)/b'\xeb\xd4':
// the sum works out to zero, so the wire carries 0xffff.
const SCAPY_UDP_ZERO_SUM =
  '02000000000202000000000108004500001e' +
  '00010000401166cc0a0000010a000002' +
  '00010002000affff' +
  'ebd4';

test('ipv4Checksum matches the published Wikipedia header example', (t) => {
  const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  t.is(ipv4Checksum(header), 0xb861);
  // The field is taken as 0, so a stale value there must not leak into the result.
  const stale = Buffer.from(header);
  stale.writeUInt16BE(0x1234, 10);
  t.is(ipv4Checksum(stale), 0xb861);
  stale.writeUInt16BE(0xb861, 10);
  t.is(internetChecksum(stale), 0, 'a header carrying its checksum sums to zero');
});

test('internetChecksum matches RFC 1071 section 3 and pads an odd byte with zero', (t) => {
  // RFC 1071: 0001 f203 f4f5 f6f7 sums to ddf2, so the checksum is 220d.
  t.is(internetChecksum(hex('0001f203f4f5f6f7')), 0x220d);
  // scapy's checksum() of the same bytes plus a trailing 0xab.
  t.is(internetChecksum(hex('0001f203f4f5f6f7ab')), 0x770c);
});

test('buildFrame TCP matches the scapy reference byte for byte', (t) => {
  const f = buildFrame({
    src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', sport: 40000, dport: 80,
    seq: 1000, ack: 2000, tcpFlags: TCP_FLAGS.SYN, ipId: 0x1c46, payload: Buffer.from('hello, xlb'),
  });
  t.is(f.toString('hex'), SCAPY_TCP);
  t.is(l4Checksum(hex(SCAPY_TCP)), 0x22b5);
  t.is(ipv4Checksum(hex(SCAPY_TCP).subarray(14)), 0x4a7e);
});

test('buildFrame UDP matches the scapy reference byte for byte', (t) => {
  const f = buildFrame({
    src: '192.168.1.10', dst: '10.1.2.3', proto: 'udp', sport: 5353, dport: 53,
    ipId: 7, ttl: 33, dontFragment: true, payload: Buffer.from('query?!'),
  });
  t.is(f.toString('hex'), SCAPY_UDP);
  t.is(l4Checksum(hex(SCAPY_UDP)), 0xabd4);
});

test('buildFrame ICMP echo matches the scapy reference byte for byte', (t) => {
  const f = buildFrame({
    src: '10.0.0.1', dst: '10.0.0.9', proto: 'icmp', icmpId: 0x1234, icmpSeq: 5, payload: Buffer.from('ping'),
  });
  t.is(f.toString('hex'), SCAPY_ICMP);
  t.is(l4Checksum(hex(SCAPY_ICMP)), 0x06f6);
});

test('a UDP sum of zero goes on the wire as 0xffff', (t) => {
  const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', sport: 1, dport: 2, payload: hex('ebd4') });
  t.is(f.toString('hex'), SCAPY_UDP_ZERO_SUM);
  t.is(l4Checksum(f), 0xffff);
  t.deepEqual(checksumsValid(f), { ip: true, l4: true });
});

test('ipOptions set the IHL and shift the L4 header (scapy reference)', (t) => {
  const f = buildFrame({
    src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', sport: 40000, dport: 53, ipOptions: hex('94040000'),
  });
  t.is(f.toString('hex'), SCAPY_UDP_OPTS);
  const p = parseFrame(f);
  t.is(p.ihl, 6);
  t.is(p.sport, 40000);
  t.is(p.dport, 53);
  t.deepEqual(p.ipOptions, hex('94040000'));
  t.deepEqual(p.payload, Buffer.from('xlb-payload'));
  t.throws(() => buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', ipOptions: hex('940400') }), {
    message: /multiple of 4/,
  });
});

test('withFields on a frame with IP options moves the right bytes', (t) => {
  const base: FrameSpec = { src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', ipOptions: hex('01010101 01010100') };
  const f = buildFrame(base);
  const g = withFields(f, { dport: 8080 });
  // IHL 7: TCP starts at 14 + 28 = 42, dport at 44..45, checksum at 58..59.
  t.deepEqual(diffOffsets(f, g), [44, 45, 58, 59].filter((i) => f[i] !== g[i]));
  t.is(g.readUInt16BE(44), 8080);
  t.deepEqual(g, buildFrame({ ...base, dport: 8080 }));
  t.deepEqual(checksumsValid(g), { ip: true, l4: true });
});

for (const proto of ['tcp', 'udp', 'icmp'] as const) {
  test(`build -> parse round trip (${proto})`, (t) => {
    const payload = Buffer.from(`round trip ${proto}`);
    const spec: FrameSpec = {
      srcMac: '0a:1b:2c:3d:4e:5f', dstMac: 'fe:dc:ba:98:76:54',
      src: '172.16.5.4', dst: '198.51.100.7', proto, ttl: 17, ipId: 0xbeef, tos: 0x10, payload,
      ...(proto === 'icmp' ? { icmpType: 0, icmpCode: 0, icmpId: 77, icmpSeq: 9 } : { sport: 1234, dport: 4321 }),
      ...(proto === 'tcp' ? { tcpFlags: TCP_FLAGS.PSH | TCP_FLAGS.ACK, seq: 0xfffffff0, ack: 42 } : {}),
    };
    const f = buildFrame(spec);
    const p = parseFrame(f);
    t.is(p.srcMac, '0a:1b:2c:3d:4e:5f');
    t.is(p.dstMac, 'fe:dc:ba:98:76:54');
    t.is(p.etherType, 0x0800);
    t.is(p.src, '172.16.5.4');
    t.is(p.dst, '198.51.100.7');
    t.is(p.proto, { tcp: 6, udp: 17, icmp: 1 }[proto]);
    t.is(p.ihl, 5);
    t.is(p.ttl, 17);
    t.is(p.tos, 0x10);
    t.is(p.ipId, 0xbeef);
    t.is(p.ipChecksum, ipv4Checksum(f.subarray(14)));
    t.is(p.l4Checksum, l4Checksum(f));
    t.is(p.totalLength, 20 + { tcp: 20, udp: 8, icmp: 8 }[proto] + payload.length);
    t.is(f.length, 14 + p.totalLength);
    t.deepEqual(p.payload, payload);
    if (proto === 'icmp') {
      t.is(p.icmpType, 0);
      t.is(p.icmpId, 77);
      t.is(p.icmpSeq, 9);
      t.is(p.sport, undefined);
    } else {
      t.is(p.sport, 1234);
      t.is(p.dport, 4321);
      t.is(p.icmpType, undefined);
    }
    if (proto === 'tcp') {
      t.is(p.tcpFlags, TCP_FLAGS.PSH | TCP_FLAGS.ACK);
      t.is(p.seq, 0xfffffff0);
      t.is(p.ack, 42);
    }
    t.deepEqual(checksumsValid(f), { ip: true, l4: true });
  });
}

test('fields of another protocol are ignored, so one base spec serves all', (t) => {
  const base = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, tcpFlags: TCP_FLAGS.SYN };
  t.deepEqual(
    buildFrame({ ...base, proto: 'icmp', icmpId: 7 }),
    buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp', icmpId: 7 }),
  );
  t.deepEqual(
    buildFrame({ ...base, proto: 'udp', icmpType: 0 }),
    buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', sport: 40000, dport: 80 }),
  );
});

test('defaults: fixed MACs, ACK, echo request, non-empty payload', (t) => {
  const tcp = parseFrame(buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp' }));
  t.is(tcp.srcMac, '02:00:00:00:00:01');
  t.is(tcp.dstMac, '02:00:00:00:00:02');
  t.is(tcp.tcpFlags, TCP_FLAGS.ACK);
  t.true(tcp.payload.length > 0);
  const icmp = parseFrame(buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp' }));
  t.is(icmp.icmpType, 8);
  t.is(icmp.icmpCode, 0);
});

test('checksumsValid catches corruption in the IP header, L4 header and payload', (t) => {
  const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp' });
  t.deepEqual(checksumsValid(f), { ip: true, l4: true });
  const ipBad = Buffer.from(f);
  ipBad[22] ^= 1; // TTL
  t.deepEqual(checksumsValid(ipBad), { ip: false, l4: true });
  const dstBad = Buffer.from(f);
  dstBad[33] ^= 1; // in both the IP header and the pseudo header
  t.deepEqual(checksumsValid(dstBad), { ip: false, l4: false });
  const portBad = Buffer.from(f);
  portBad[37] ^= 1;
  t.deepEqual(checksumsValid(portBad), { ip: true, l4: false });
  const payloadBad = Buffer.from(f);
  payloadBad[payloadBad.length - 1] ^= 0x80;
  t.deepEqual(checksumsValid(payloadBad), { ip: true, l4: false });

  const icmp = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp' });
  t.deepEqual(checksumsValid(icmp), { ip: true, l4: true });
  icmp[icmp.length - 1] ^= 1;
  t.deepEqual(checksumsValid(icmp), { ip: true, l4: false });
});

test('UDP without a checksum is valid, and withFields leaves it at 0', (t) => {
  const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', udpChecksum: false });
  t.is(f.readUInt16BE(40), 0);
  f[f.length - 1] ^= 1; // nothing covers the payload now
  t.deepEqual(checksumsValid(f), { ip: true, l4: true });
  const g = withFields(f, { dst: '10.9.9.9', dport: 5000 });
  t.is(g.readUInt16BE(40), 0);
  t.deepEqual(diffOffsets(f, g).sort((a, b) => a - b), [...IP_CSUM, ...IP_DST, ...L4_DPORT].filter((i) => f[i] !== g[i]).sort((a, b) => a - b));
  t.deepEqual(checksumsValid(g), { ip: true, l4: true });
});

for (const proto of ['tcp', 'udp'] as const) {
  test(`withFields DNAT changes exactly dst, dport and the checksums (${proto})`, (t) => {
    const spec: FrameSpec = { src: '203.0.113.5', dst: '10.0.0.100', proto, sport: 51000, dport: 80 };
    const f = buildFrame(spec);
    const g = withFields(f, { dst: '10.0.1.7', dport: 8080 });
    const allowed = new Set([...IP_CSUM, ...IP_DST, ...L4_DPORT, ...(proto === 'tcp' ? TCP_CSUM : UDP_CSUM)]);
    const changed = diffOffsets(f, g);
    t.true(changed.every((i) => allowed.has(i)), `unexpected bytes changed: ${changed.filter((i) => !allowed.has(i))}`);
    t.true(changed.some((i) => IP_DST.includes(i)));
    t.true(changed.some((i) => L4_DPORT.includes(i)));
    t.true(changed.some((i) => IP_CSUM.includes(i)));
    t.true(changed.some((i) => (proto === 'tcp' ? TCP_CSUM : UDP_CSUM).includes(i)));
    t.deepEqual(checksumsValid(g), { ip: true, l4: true });
    // Same result as building the rewritten frame from nothing.
    t.deepEqual(g, buildFrame({ ...spec, dst: '10.0.1.7', dport: 8080 }));
    t.deepEqual(f, buildFrame(spec), 'the input frame is not modified');
  });
}

test('withFields SNAT and MAC rewrites touch only their bytes', (t) => {
  const spec: FrameSpec = { src: '10.0.1.7', dst: '203.0.113.5', proto: 'tcp', sport: 8080, dport: 51000 };
  const f = buildFrame(spec);
  const g = withFields(f, { src: '198.51.100.1', sport: 80 });
  const allowed = new Set([...IP_CSUM, ...IP_SRC, ...L4_SPORT, ...TCP_CSUM]);
  t.true(diffOffsets(f, g).every((i) => allowed.has(i)));
  t.deepEqual(g, buildFrame({ ...spec, src: '198.51.100.1', sport: 80 }));

  const m = withFields(f, { dstMac: 'aa:bb:cc:dd:ee:ff', srcMac: '02:00:00:00:00:09' });
  t.deepEqual(diffOffsets(f, m), [0, 1, 2, 3, 4, 5, 11]);
  t.is(macToString(m.subarray(0, 6)), 'aa:bb:cc:dd:ee:ff');
});

test('withFields repairs checksums that were wrong in its input', (t) => {
  const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp' });
  const broken = Buffer.from(f);
  broken.writeUInt16BE(0xdead, 24);
  broken.writeUInt16BE(0xbeef, 50);
  t.deepEqual(checksumsValid(broken), { ip: false, l4: false });
  t.deepEqual(withFields(broken, {}), f);
});

test('withFields refuses ports where there are none', (t) => {
  const icmp = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp' });
  t.throws(() => withFields(icmp, { dport: 1 }), { message: /no ports/ });
  const frag = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 3 });
  t.throws(() => withFields(frag, { sport: 1 }), { message: /non-first fragment/ });
});

test('padTo pads with zeros without touching the IP packet', (t) => {
  const spec: FrameSpec = { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', payload: Buffer.from('x') };
  const plain = buildFrame(spec);
  t.is(plain.length, 14 + 20 + 8 + 1);
  const padded = buildFrame({ ...spec, padTo: 60 });
  t.is(padded.length, 60);
  t.deepEqual(padded.subarray(0, plain.length), plain);
  t.deepEqual(padded.subarray(plain.length), Buffer.alloc(60 - plain.length));
  const p = parseFrame(padded);
  t.is(p.totalLength, 29);
  t.deepEqual(p.payload, Buffer.from('x'), 'padding is not payload');
  t.deepEqual(checksumsValid(padded), { ip: true, l4: true });
  // Rewrites keep the padding and ignore it in the checksums.
  const g = withFields(padded, { dport: 9 });
  t.is(g.length, 60);
  t.deepEqual(g, buildFrame({ ...spec, dport: 9, padTo: 60 }));
  // A frame already past padTo is left alone.
  t.deepEqual(buildFrame({ ...spec, padTo: 20 }), plain);
});

test('fragment flags and offset land in the header', (t) => {
  const df = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', dontFragment: true });
  t.is(df.readUInt16BE(20), 0x4000);
  t.true(parseFrame(df).dontFragment);
  t.false(parseFrame(df).moreFragments);

  const first = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', moreFragments: true, sport: 7, dport: 8 });
  t.is(first.readUInt16BE(20), 0x2000);
  const pf = parseFrame(first);
  t.true(pf.moreFragments);
  t.is(pf.fragOffset, 0);
  t.is(pf.dport, 8, 'a first fragment carries the L4 header');
  t.deepEqual(checksumsValid(first), { ip: true, l4: true });

  const payload = Buffer.from('0123456789abcdef');
  const later = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', fragOffset: 185, moreFragments: true, payload });
  t.is(later.readUInt16BE(20), 0x2000 | 185);
  t.deepEqual(later.subarray(34), payload, 'a non-first fragment is IP header + raw payload');
  const pl = parseFrame(later);
  t.is(pl.fragOffset, 185);
  t.is(pl.sport, undefined);
  t.deepEqual(pl.payload, payload);
  t.deepEqual(checksumsValid(later), { ip: true, l4: true });
  t.throws(() => l4Checksum(later), { message: /non-first fragment/ });
  // IP-only rewrites of a later fragment still work and fix the IP checksum.
  const moved = withFields(later, { dst: '10.0.0.3' });
  t.deepEqual(diffOffsets(later, moved).filter((i) => !IP_CSUM.includes(i)), [33]);
  t.deepEqual(checksumsValid(moved), { ip: true, l4: true });

  t.throws(() => buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', fragOffset: 0x2000 }), { message: /fragOffset/ });
  // Ports have nowhere to go in a later fragment, so a shared base spec's ports are dropped.
  t.deepEqual(
    buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', fragOffset: 185, moreFragments: true, payload, sport: 1, dport: 2, tcpFlags: 2 }),
    later,
  );
});

test('parseFrame throws on every truncation of a valid frame', (t) => {
  for (const spec of [
    { src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp' },
    { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', ipOptions: hex('01010101') },
    { src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp', payload: Buffer.alloc(0) },
  ] as FrameSpec[]) {
    const f = buildFrame(spec);
    t.notThrows(() => parseFrame(f));
    for (let n = 0; n < f.length; n++) {
      t.throws(() => parseFrame(f.subarray(0, n)), { message: /truncated/ }, `${spec.proto} cut to ${n} bytes`);
    }
  }
});

test('parseFrame rejects headers that cannot be right, even when untruncated', (t) => {
  const f = buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp' });
  const arp = Buffer.from(f);
  arp.writeUInt16BE(0x0806, 12);
  t.throws(() => parseFrame(arp), { message: /not IPv4/ });
  const v6 = Buffer.from(f);
  v6[14] = 0x65;
  t.throws(() => parseFrame(v6), { message: /version 6/ });
  const shortIhl = Buffer.from(f);
  shortIhl[14] = 0x44;
  t.throws(() => parseFrame(shortIhl), { message: /IHL/ });
  const shortTotal = Buffer.from(f);
  shortTotal.writeUInt16BE(19, 16);
  t.throws(() => parseFrame(shortTotal), { message: /total length/ });
  // A TCP data offset pointing past the segment is a truncated header.
  const bigDoff = Buffer.from(f);
  bigDoff[46] = 0xf0;
  t.throws(() => parseFrame(bigDoff), { message: /truncated/ });
});

test('address helpers convert both ways and reject malformed input', (t) => {
  t.deepEqual(ipToBytes('192.168.0.199'), hex('c0a800c7'));
  t.deepEqual(macToBytes('02:0A:ff:00:10:01'), hex('020aff001001'));
  t.is(macToString(hex('020aff001001')), '02:0a:ff:00:10:01');
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.x', '']) {
    t.throws(() => ipToBytes(bad), undefined, bad);
  }
  for (const bad of ['02:00:00:00:00', '02-00-00-00-00-01', '02:00:00:00:00:0g', '020000000001']) {
    t.throws(() => macToBytes(bad), undefined, bad);
  }
  t.throws(() => buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', dport: 65536 }), { message: /dport/ });
  t.throws(() => buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', sport: -1 }), { message: /sport/ });
  t.throws(() => buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'tcp', ttl: 256 }), { message: /ttl/ });
});

// RFC 826's fields in order, written out by hand: Ethernet header, hardware and protocol type and lengths, operation,
// sender hardware and protocol address, target hardware and protocol address, then zero padding to 60 bytes.
const ARP_WHO_HAS =
  'ffffffffffff 02c100000001 0806' +
  '0001 0800 06 04 0001' +
  '02c100000001 c6120001' +
  '000000000000 c612000a' +
  '00'.repeat(18);

test('buildArp lays out an ARP request field by field, padded to 60 bytes', (t) => {
  const f = buildArp({ op: ARP_OP.request, senderMac: '02:c1:00:00:00:01', senderIp: '198.18.0.1', targetIp: '198.18.0.10' });
  t.is(f.toString('hex'), hex(ARP_WHO_HAS).toString('hex'));
});

test('parseArp reads back every field of a reply, and refuses what is no ARP for IPv4 over Ethernet', (t) => {
  const spec = {
    op: ARP_OP.reply, dstMac: '02:c1:00:00:00:01', srcMac: '02:1b:00:00:00:01', senderMac: '02:1b:00:00:00:01',
    senderIp: '198.18.0.10', targetMac: '02:c1:00:00:00:01', targetIp: '198.18.0.1',
  };
  const f = buildArp({ ...spec, padTo: 42 });
  t.deepEqual(parseArp(f), { ...spec, htype: 1, ptype: 0x0800, hlen: 6, plen: 4, padding: Buffer.alloc(0) });
  t.is(f.length, 42);
  for (let len = 0; len < 42; len++) t.throws(() => parseArp(f.subarray(0, len)), { message: /truncated/ });
  t.throws(() => parseArp(buildFrame({ src: '198.18.0.1', dst: '198.18.0.2', proto: 'udp', padTo: 60 })), { message: /is not ARP/ });
});
