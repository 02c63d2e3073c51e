// Flow and drop events through the ring buffer: sent only while someone reads, and sampled per CPU so a flood costs
// the data plane a compare per packet rather than a ring buffer write.
import test from 'ava';
import { RingBuffer } from '../../lb/bpf/ringbuf.js';
import * as layout from '../../lb/bpf/layout.js';
import { clientFrame, BACKENDS, POOL } from '../../scripts/lab/cases.js';
import { TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';

isolateNetwork();

function listen(h: Harness): { events: layout.Event[]; ring: RingBuffer } {
  const events: layout.Event[] = [];
  const ring = new RingBuffer(h.dp.map('events'), (r) => events.push(layout.event.decode(r)));
  h.dp.map('settings').update(layout.u32Key(0), layout.settings.encode({ events: 1 }));
  return { events, ring };
}

test('no events are written while nobody listens', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const events: layout.Event[] = [];
  const ring = new RingBuffer(h.dp.map('events'), (r) => events.push(layout.event.decode(r)));
  t.teardown(() => ring.close());
  h.run(clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN }));
  ring.consume();
  t.deepEqual(events, []);
});

test('a new flow and a drop each give one event with addresses, ports, service, backend and verdict', (t) => {
  const h = new Harness();
  t.teardown(() => h.close());
  const p = h.apply(POOL);
  const { events, ring } = listen(h);
  t.teardown(() => ring.close());
  h.run(clientFrame({ proto: 'tcp', sport: 41000, dport: 80, tcpFlags: TCP_FLAGS.SYN }));
  h.run(clientFrame({ proto: 'tcp', sport: 41000, dport: 80 }));
  const bad = clientFrame({ proto: 'tcp', sport: 41001, dport: 80 });
  bad[24] ^= 0xff;
  h.run(bad);
  t.is(ring.consume(), 2);
  const web = p.services.find((s) => s.name === 'web')!;
  const backend = p.backends.find((b) => b.id === `tcp/198.18.0.10:80>${BACKENDS[0]}:8080`)!;
  t.like(events[0], {
    src: '198.18.0.1', dst: '198.18.0.10', sport: 41000, dport: 80, proto: 6, outcome: layout.OUTCOMES.indexOf('tx'),
    service: web.id, backend: backend.index,
  });
  t.like(events[1], { sport: 41001, outcome: layout.OUTCOMES.indexOf('drop_bad_checksum'), service: web.id, backend: layout.NONE });
  t.true(events[0].timeNs > 0n && events[1].timeNs >= events[0].timeNs);
});

test('a flood of drops is sampled: at most one second of budget in events, the rest counted as suppressed', (t) => {
  const h = new Harness({ ...POOL, deny: ['198.18.0.0/24'] });
  t.teardown(() => h.close());
  const { events, ring } = listen(h);
  t.teardown(() => ring.close());
  const flood = clientFrame({ proto: 'tcp', dport: 80, tcpFlags: TCP_FLAGS.SYN });
  const n = 5000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) h.run(flood);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  ring.consume();
  const budget = h.dp.map('eventBudget').lookupPerCpu(layout.u32Key(0)).map((b) => layout.eventBudget.decode(b));
  const sent = budget.reduce((a, b) => a + b.sent, 0n);
  const suppressed = budget.reduce((a, b) => a + b.suppressed, 0n);
  t.is(sent + suppressed, BigInt(n));
  t.is(BigInt(events.length), sent);
  // Each CPU starts with a full bucket of 1000 and refills at 1000/s.
  const cpus = budget.length;
  t.true(events.length <= Math.ceil(cpus * 1000 * (1 + seconds)), `${events.length} events in ${seconds.toFixed(2)} s`);
  t.true(suppressed > 0n);
});
