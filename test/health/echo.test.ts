// The ICMP probe's bytes, against packets built by the lab's independent frame builder (scripts/lab/frames.ts).
import test from 'ava';
import { buildFrame, ETH_HLEN, internetChecksum, type FrameSpec } from '../../scripts/lab/frames.js';
import {
  describeError, ipv4Number, ipv4String, readReceived, REQUEST_BYTES, writeEchoRequest,
} from '../../lb/health/echo.js';

const ID = 0x4242;
const COOKIE = Buffer.from('0123456789abcdef', 'hex');
const LB = '198.18.1.1';
const BACKEND = '198.18.1.11';

/** A packet as a raw ICMP socket reads it: the IPv4 header, then ICMP. */
function packet(spec: Omit<FrameSpec, 'proto'>): Buffer {
  return buildFrame({ proto: 'icmp', ...spec }).subarray(ETH_HLEN);
}

function reply(over: Partial<FrameSpec> = {}): Buffer {
  return packet({ src: BACKEND, dst: LB, icmpType: 0, icmpId: ID, icmpSeq: 7, payload: COOKIE, ...over });
}

/** An ICMP error from `from` quoting our echo request (seq 9) to `to`, as routers do: its header and 8 bytes. */
function error(type: number, code: number, from: string, to: string, id = ID): Buffer {
  const request = packet({ src: LB, dst: to, icmpType: 8, icmpId: id, icmpSeq: 9, payload: COOKIE });
  return packet({ src: from, dst: LB, icmpType: type, icmpCode: code, icmpId: 0, icmpSeq: 0, payload: request.subarray(0, 28) });
}

const read = (p: Buffer) => readReceived(p, p.length, ID, COOKIE);

test('an echo request carries the identifier, sequence and cookie, with a valid checksum', (t) => {
  const buf = Buffer.alloc(64, 0xee);
  const n = writeEchoRequest(buf, ID, 0xbeef, COOKIE);
  t.is(n, REQUEST_BYTES);
  const req = buf.subarray(0, n);
  t.deepEqual([req[0], req[1], req.readUInt16BE(4), req.readUInt16BE(6)], [8, 0, ID, 0xbeef]);
  t.deepEqual(req.subarray(8), COOKIE);
  t.is(internetChecksum(req), 0);
});

test('an echo reply with our identifier and cookie is ours, with its sequence and source', (t) => {
  t.deepEqual(read(reply()), { kind: 'reply', seq: 7, from: ipv4Number(BACKEND) });
});

test('an echo reply behind IP options is read past them', (t) => {
  t.deepEqual(read(reply({ ipOptions: Buffer.from([1, 1, 1, 0]) })), { kind: 'reply', seq: 7, from: ipv4Number(BACKEND) });
});

test('replies not ours, broken or cut short are passed over', (t) => {
  const good = reply();
  const badSum = Buffer.from(good);
  badSum[badSum.length - 1]! ^= 1;
  for (const [what, p] of [
    ['another identifier', reply({ icmpId: ID + 1 })],
    ['another cookie', reply({ payload: Buffer.from('fedcba9876543210', 'hex') })],
    ['no cookie', reply({ payload: Buffer.alloc(0) })],
    ['a bad checksum', badSum],
    ['cut short', good.subarray(0, 24)],
    ['an echo request', reply({ icmpType: 8 })],
    ['not ICMP', buildFrame({ proto: 'udp', src: BACKEND, dst: LB }).subarray(ETH_HLEN)],
    ['not IPv4', Buffer.concat([Buffer.from([0x60]), good.subarray(1)])],
  ] as const) {
    t.is(read(p), undefined, what);
  }
});

test('ICMP errors quoting our request say what, from whom, and about which address', (t) => {
  t.deepEqual(read(error(3, 1, '198.18.1.11', '198.18.16.5')), {
    kind: 'error', seq: 9, from: ipv4Number('198.18.1.11'), to: ipv4Number('198.18.16.5'), what: 'host unreachable',
  });
  t.like(read(error(3, 3, '198.18.16.5', '198.18.16.5')), { kind: 'error', what: 'port unreachable' });
  t.like(read(error(3, 13, '198.18.1.11', '198.18.16.5')), { what: 'communication administratively prohibited' });
  t.like(read(error(11, 0, '198.18.1.11', '198.18.16.5')), { what: 'time to live exceeded' });
  t.like(read(error(12, 0, '198.18.1.11', '198.18.16.5')), { what: 'parameter problem' });
});

test('ICMP errors about another identifier, or that quote too little, are passed over', (t) => {
  t.is(read(error(3, 1, BACKEND, '198.18.16.5', ID + 1)), undefined);
  const short = packet({ src: BACKEND, dst: LB, icmpType: 3, icmpCode: 1, icmpId: 0, icmpSeq: 0, payload: Buffer.alloc(12) });
  t.is(read(short), undefined);
});

test('errors in words, as ping names them, and addresses both ways', (t) => {
  t.is(describeError(3, 0), 'network unreachable');
  t.is(describeError(3, 8), 'destination unreachable (code 8)');
  t.is(describeError(11, 1), 'fragment reassembly time exceeded');
  t.is(describeError(5, 1), 'ICMP type 5 code 1');
  for (const a of ['0.0.0.0', '198.18.16.255', '255.255.255.255']) t.is(ipv4String(ipv4Number(a)), a);
  t.is(ipv4Number('198.18.1.11'), 0xc612010b);
});
