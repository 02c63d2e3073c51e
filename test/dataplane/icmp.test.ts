// ICMP echo: per-packet weighted round robin over the usable backends.
import test from 'ava';
import { clientFrame, natted, BACKENDS, VIP } from '../../scripts/lab/cases.js';
import { parseFrame, withFields } from '../../scripts/lab/frames.js';
import { backendMac, Harness, LB_MAC, pool, service } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import { backend as layoutBackend, u32Key } from '../../lb/bpf/layout.js';

isolateNetwork();

const ping = (backends: Parameters<typeof service>[1], extra: Partial<Parameters<typeof service>[0]> = {}) =>
  pool(service({ name: 'ping', protocol: 'icmp', ...extra }, backends));

function destinations(h: Harness, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const r = h.run(clientFrame({ proto: 'icmp', icmpSeq: i }));
    return r.verdict === 'TX' ? parseFrame(r.out).dst : r.verdict;
  });
}

test('echo requests rotate over the backends in pool order, each rewritten exactly', (t) => {
  const h = new Harness(ping(BACKENDS));
  t.teardown(() => h.close());
  for (let i = 0; i < 6; i++) {
    const input = clientFrame({ proto: 'icmp', icmpSeq: i });
    const r = h.run(input);
    t.is(r.verdict, 'TX');
    t.is(r.out.toString('hex'), natted(input, BACKENDS[i % 3]).toString('hex'));
  }
});

test('weights 1:2:3 give every window of 6 requests 1, 2 and 3 of them, interleaved', (t) => {
  const h = new Harness(ping(BACKENDS.map((address, i) => ({ address, weight: i + 1 }))));
  t.teardown(() => h.close());
  const seen = destinations(h, 60);
  for (let w = 0; w < 60; w += 6) {
    const window = seen.slice(w, w + 6);
    t.deepEqual(BACKENDS.map((b) => window.filter((d) => d === b).length), [1, 2, 3]);
  }
  t.false(seen.some((d, i) => i > 0 && d === BACKENDS[0] && seen[i - 1] === BACKENDS[0]));
});

test('a drained or down backend gets no echo requests', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  h.apply(ping([BACKENDS[0], { address: BACKENDS[1], drained: true }, BACKENDS[2]]), { down: new Set([`ping>${BACKENDS[2]}`]) });
  t.deepEqual(destinations(h, 4), [BACKENDS[0], BACKENDS[0], BACKENDS[0], BACKENDS[0]]);
});

test('with no usable backend, echo requests are dropped and counted as drop_no_backend', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  h.apply(ping([BACKENDS[0]]), { down: new Set([`ping>${BACKENDS[0]}`]) });
  t.deepEqual(destinations(h, 3), ['DROP', 'DROP', 'DROP']);
  t.is(h.dp.outcomes().drop_no_backend.packets, 3n);
});

test('ICMP that is not an echo request passes untouched, even to the VIP', (t) => {
  const h = new Harness(ping(BACKENDS));
  t.teardown(() => h.close());
  for (const icmpType of [0, 3, 11, 13]) {
    const input = clientFrame({ proto: 'icmp', icmpType });
    const r = h.run(input);
    t.is(r.verdict, 'PASS', `type ${icmpType}`);
    t.true(r.out.equals(input));
  }
});

test('in dsr mode only the MACs change', (t) => {
  const h = new Harness(ping(BACKENDS, { forwarding: 'dsr' }));
  t.teardown(() => h.close());
  const input = clientFrame({ proto: 'icmp' });
  const r = h.run(input);
  t.is(r.verdict, 'TX');
  t.is(r.out.toString('hex'), withFields(input, { dstMac: backendMac(BACKENDS[0]), srcMac: LB_MAC }).toString('hex'));
});

test('service, backend and outcome counters count packets and bytes', (t) => {
  const h = new Harness(ping(BACKENDS));
  t.teardown(() => h.close());
  const p = h.apply(ping(BACKENDS));
  const frame = clientFrame({ proto: 'icmp' });
  for (let i = 0; i < 4; i++) h.run(frame);
  const svc = h.dp.counters('serviceStats', p.services[0].id);
  t.deepEqual(svc, { packets: 4n, bytes: BigInt(4 * frame.length), flowsNew: 0n });
  const first = p.backends.find((b) => b.value.addr === BACKENDS[0])!;
  t.is(h.dp.counters('backendStats', first.index).packets, 2n);
  t.is(h.dp.outcomes().tx.packets, 4n);
  t.is(VIP, parseFrame(frame).dst);
});

test('a backend marked not alive while a table still names it gets nothing: the pick is dropped, not sent', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  const p = h.apply(ping([BACKENDS[0]]));
  const b = p.backends[0];
  h.dp.map('backends').update(u32Key(b.index), layoutBackend.encode({ ...b.value, flags: 0 }));
  t.is(h.run(clientFrame({ proto: 'icmp' })).verdict, 'DROP');
  t.is(h.dp.outcomes().drop_no_backend.packets, 1n);
});
