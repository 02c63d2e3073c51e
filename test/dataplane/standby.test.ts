// The dead-man switch: an HA node forwards VIP traffic and NAT replies only while now < forward_until_ns
// (CLOCK_MONOTONIC, as monotonicNs() reads it), drops it untouched after (drop_standby), and a standalone node forwards
// always.
import test from 'ava';
import { BACKENDS, CASES, CLIENT, clientFrame, DSR_VIP, natted, POOL, VIP } from '../../scripts/lab/cases.js';
import { buildFrame, parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { backendMac, Harness, LB_MAC } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import { monotonicNs } from '../../lb/bpf/system.js';
import { HA_OFF, type HaGrant } from '../../lb/dataplane/dataplane.js';

isolateNetwork();

const SECOND = 1_000_000_000n;
const ahead = (): HaGrant => ({ forwardUntilNs: monotonicNs() + 60n * SECOND, arpUntilNs: monotonicNs() + 60n * SECOND });
const past = (): HaGrant => ({ forwardUntilNs: monotonicNs() - SECOND, arpUntilNs: monotonicNs() + 60n * SECOND });

function harness(t: { teardown(fn: () => void): void }): Harness {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  return h;
}

const syn = (sport: number, dport = 80, dst = VIP) => clientFrame({ proto: 'tcp', dst, sport, dport, tcpFlags: TCP_FLAGS.SYN });
const ack = (sport: number, dport = 80) => clientFrame({ proto: 'tcp', sport, dport, tcpFlags: TCP_FLAGS.ACK, seq: 1001 });
const echo = (seq: number) => clientFrame({ proto: 'icmp', icmpSeq: seq });

test('fresh maps are standalone; setHa and ha() read back what was written', (t) => {
  const h = harness(t);
  t.is(h.dp.ha(), HA_OFF);
  const grant = { forwardUntilNs: 123n * SECOND, arpUntilNs: 45n };
  h.dp.setHa(grant);
  t.deepEqual(h.dp.ha(), grant);
  h.dp.setHa(HA_OFF);
  t.is(h.dp.ha(), HA_OFF);
});

test('setHa refuses a deadline that is not a u64 of nanoseconds, and writes nothing then', (t) => {
  const h = harness(t);
  const grant = ahead();
  h.dp.setHa(grant);
  t.throws(() => h.dp.setHa({ forwardUntilNs: -1n, arpUntilNs: 0n }), { instanceOf: RangeError, message: 'forwardUntilNs -1 is not a u64 of nanoseconds' });
  t.throws(() => h.dp.setHa({ forwardUntilNs: 0n, arpUntilNs: 1n << 64n }), { instanceOf: RangeError, message: /^arpUntilNs 18446744073709551616 is not/ });
  t.throws(() => h.dp.setHa({ forwardUntilNs: 5 as unknown as bigint, arpUntilNs: 0n }), { instanceOf: RangeError });
  t.deepEqual(h.dp.ha(), grant);
});

for (const c of CASES) {
  test(`an HA node before its deadline gives the standalone verdict and bytes: ${c.name}`, (t) => {
    const h = harness(t);
    h.dp.setHa(ahead());
    for (const f of c.before) h.run(f);
    const r = h.run(c.input);
    t.is(r.verdict, c.verdict);
    t.is(r.out.toString('hex'), c.output.toString('hex'));
    t.is(h.dp.outcomes().drop_standby.packets, 0n);
  });
}

test('past forward_until_ns, VIP traffic of every kind is dropped untouched as drop_standby; other traffic passes', (t) => {
  const h = harness(t);
  h.dp.setHa(ahead());
  t.is(h.run(syn(40001)).verdict, 'TX');
  t.is(h.run(ack(40001)).verdict, 'TX', 'established');
  h.dp.setHa(past());
  const dropped: [string, Buffer][] = [
    ['ICMP echo', echo(1)],
    ['TCP SYN, rr', syn(40002)],
    ['TCP SYN, maglev', syn(40003, 443)],
    ['an established flow\'s packet', ack(40001)],
    ['UDP, maglev', clientFrame({ proto: 'udp', dport: 53 })],
    ['TCP SYN, dsr', syn(40004, 80, DSR_VIP)],
  ];
  for (const [what, frame] of dropped) {
    const r = h.run(frame);
    t.is(r.verdict, 'DROP', what);
    t.true(r.out.equals(frame), what);
  }
  t.is(h.dp.outcomes().drop_standby.packets, BigInt(dropped.length));
  const other = clientFrame({ proto: 'tcp', dst: '198.18.0.99', tcpFlags: TCP_FLAGS.SYN });
  t.true(h.run(other).out.equals(other), 'not a VIP: the kernel\'s');
  t.is(h.run(clientFrame({ proto: 'icmp', icmpType: 0 })).verdict, 'PASS', 'ICMP other than echo: the kernel\'s');

  h.dp.setHa({ forwardUntilNs: 0n, arpUntilNs: 0n });
  t.is(h.run(echo(2)).verdict, 'DROP', 'a zero deadline: not at all');
  h.dp.setHa(HA_OFF);
  t.is(h.run(ack(40001)).out.toString('hex'), natted(ack(40001), BACKENDS[0], 8080).toString('hex'), 'standalone again: forwarded, to its backend');
});

test('past forward_until_ns, a NAT reply is dropped as drop_standby; a backend\'s answer to the node itself passes', (t) => {
  const h = harness(t);
  h.applyLocal(['198.18.1.254']);
  h.dp.setHa(ahead());
  const backend = parseFrame(h.run(syn(40000)).out).dst;
  const replyTo = (dst: string) => buildFrame({
    srcMac: backendMac(backend), dstMac: LB_MAC, src: backend, dst, proto: 'tcp', sport: 8080, dport: 40000,
    tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  });
  h.dp.setHa(past());
  const reply = replyTo(CLIENT);
  const r = h.run(reply);
  t.is(r.verdict, 'DROP');
  t.true(r.out.equals(reply));
  t.is(h.dp.outcomes().drop_standby.packets, 1n);
  const toNode = replyTo('198.18.1.254');
  t.true(h.run(toNode).out.equals(toNode));
  h.dp.setHa(ahead());
  t.is(parseFrame(h.run(reply).out).src, VIP, 'before the deadline again: translated');
});

test('a standby\'s drops leave rr rotations and new flows as they were; its established flows carry on after', (t) => {
  const h = harness(t);
  h.dp.setHa(ahead());
  h.run(syn(41000));
  t.is(parseFrame(h.run(ack(41000)).out).dst, BACKENDS[0]);
  h.dp.setHa(past());
  for (let i = 0; i < 5; i++) {
    h.run(echo(i));
    h.run(syn(41001 + i));
  }
  h.dp.setHa(ahead());
  t.is(parseFrame(h.run(echo(9)).out).dst, BACKENDS[0], 'the ring had not moved');
  t.is(parseFrame(h.run(syn(41100)).out).dst, BACKENDS[1], 'the SYNs dropped took no turn');
  t.is(parseFrame(h.run(ack(41000)).out).dst, BACKENDS[0], 'the flow from before is where it was');
});
