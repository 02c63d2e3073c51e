// Malformed frames: every one has a defined outcome, and none is ever forwarded (XDP_TX / redirect) corrupt.
import test from 'ava';
import { clientFrame, BACKENDS, CASES, DSR_VIP, POOL, VIP } from '../../scripts/lab/cases.js';
import { buildFrame, checksumsValid, internetChecksum, parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';

isolateNetwork();

const FORWARDED = new Set(['TX', 'REDIRECT']);

function withIpHeader(frame: Buffer, edit: (ip: Buffer) => void): Buffer {
  const f = Buffer.from(frame);
  edit(f.subarray(14));
  f.writeUInt16BE(0, 24);
  // Summed over the first 20 bytes whatever the IHL says, so only the edited field is wrong.
  f.writeUInt16BE(internetChecksum(f.subarray(14, 34)), 24);
  return f;
}

// BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, as no driver delivers them.
test('every truncation of every reference frame is dropped or passed untouched, never forwarded', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  for (const c of CASES) {
    for (let len = 14; len < c.input.length; len++) {
      const cut = c.input.subarray(0, len);
      const r = h.run(cut);
      t.false(FORWARDED.has(r.verdict), `${c.name} cut to ${len}`);
      if (r.verdict === 'PASS') t.true(r.out.equals(cut), `${c.name} cut to ${len} passed changed`);
    }
  }
});

test('a frame longer than its IP packet (Ethernet padding) is forwarded with the padding kept', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const input = clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN, payload: Buffer.alloc(0), padTo: 60 });
  const r = h.run(input);
  t.is(r.verdict, 'TX');
  t.is(r.out.length, 60);
  t.deepEqual(checksumsValid(r.out), { ip: true, l4: true });
});

const broken: [string, (ip: Buffer) => void, string][] = [
  ['IHL 0', (ip) => { ip[0] = 0x40; }, 'drop_malformed'],
  ['IHL 4', (ip) => { ip[0] = 0x44; }, 'drop_malformed'],
  ['version 6 in an IPv4 frame', (ip) => { ip[0] = 0x65; }, 'drop_malformed'],
  ['total length beyond the frame', (ip) => { ip.writeUInt16BE(ip.readUInt16BE(2) + 1, 2); }, 'drop_malformed'],
  ['total length shorter than the header', (ip) => { ip.writeUInt16BE(19, 2); }, 'drop_malformed'],
  ['total length cutting the TCP header', (ip) => { ip.writeUInt16BE(30, 2); }, 'drop_malformed'],
  ['IHL 6 claiming an option the packet does not have', (ip) => { ip[0] = 0x46; }, 'drop_ip_options'],
  ['more-fragments set', (ip) => { ip.writeUInt16BE(0x2000, 6); }, 'drop_fragment'],
  ['fragment offset 8', (ip) => { ip.writeUInt16BE(0x0001, 6); }, 'drop_fragment'],
];

test('VIP TCP with a data offset below 5 or past the packet, and UDP with a wrong length, are drop_malformed', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const tcp = (doff: number) => {
    const f = clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN });
    f[14 + 20 + 12] = (doff << 4) | (f[14 + 20 + 12] & 0x0f);
    return f;
  };
  const udp = (len: number) => {
    const f = clientFrame({ proto: 'udp', dport: 53 });
    f.writeUInt16BE(len, 14 + 20 + 4);
    return f;
  };
  const udpLen = clientFrame({ proto: 'udp', dport: 53 }).length - 34;
  for (const f of [tcp(4), tcp(0), tcp(15), udp(7), udp(udpLen + 1)]) t.is(h.run(f).verdict, 'DROP');
  t.is(h.dp.outcomes().drop_malformed.packets, 5n);
});

for (const [what, edit, outcome] of broken) {
  test(`VIP traffic with ${what} is dropped as ${outcome}`, (t) => {
    const h = new Harness(POOL);
    t.teardown(() => h.close());
    const r = h.run(withIpHeader(clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN }), edit));
    t.is(r.verdict, 'DROP');
    t.is(h.dp.outcomes()[outcome as 'drop_malformed'].packets, 1n);
  });
}

test('fragments and IP options to other addresses pass untouched', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const frames = [
    buildFrame({ src: '198.18.0.1', dst: '198.18.0.99', proto: 'udp', moreFragments: true }),
    buildFrame({ src: '198.18.0.1', dst: '198.18.0.99', proto: 'udp', fragOffset: 3 }),
    buildFrame({ src: '198.18.0.1', dst: '198.18.0.99', proto: 'tcp', ipOptions: Buffer.from([1, 1, 1, 0]) }),
  ];
  for (const f of frames) {
    const r = h.run(f);
    t.is(r.verdict, 'PASS');
    t.true(r.out.equals(f));
  }
});

test('a real first fragment and option-carrying packet to the VIP are dropped as fragment and ip_options', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  t.is(h.run(buildFrame({ src: '198.18.0.1', dst: VIP, proto: 'udp', dport: 53, moreFragments: true })).verdict, 'DROP');
  t.is(h.run(buildFrame({ src: '198.18.0.1', dst: VIP, proto: 'tcp', dport: 80, ipOptions: Buffer.from([1, 1, 1, 0]) })).verdict, 'DROP');
  const o = h.dp.outcomes();
  t.deepEqual([o.drop_fragment.packets, o.drop_ip_options.packets], [1n, 1n]);
});

// A seeded corruption fuzz: flip bytes of valid frames. Whatever is forwarded must carry an intact IP header to a
// backend (or, in dsr mode, to the VIP the backend holds), and its L4 checksum must be exactly as valid as the input's.
test('2000 randomly corrupted frames: whatever is forwarded is intact and bound for a backend', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  let seed = 0x2545f491;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
  const allowed = new Set([...BACKENDS, DSR_VIP]);
  let forwarded = 0;
  for (let i = 0; i < 2000; i++) {
    const c = CASES[i % CASES.length];
    const f = Buffer.from(c.input);
    const flips = 1 + (rand() % 3);
    for (let k = 0; k < flips; k++) f[14 + (rand() % (f.length - 14))] ^= 1 << (rand() % 8);
    const r = h.run(f);
    if (!FORWARDED.has(r.verdict)) continue;
    forwarded++;
    const inputValid = checksumsValid(f);
    t.true(inputValid.ip, `case ${i}: a frame with a bad IP checksum was forwarded`);
    t.deepEqual(checksumsValid(r.out), inputValid, `case ${i}`);
    t.true(allowed.has(parseFrame(r.out).dst), `case ${i}`);
  }
  t.true(forwarded > 0, 'some corrupted frames (payload flips) are still forwardable');
});
