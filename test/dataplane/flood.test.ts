// A SYN flood cannot wash out established flows: they live in the flow table, which only a flow's second packet
// enters; SYNs from spoofed sources only churn the new-flow sets. Proven the hard way: 1,000 established flows, 2
// million SYNs from random sources, then a pool change that would move the flows if they were forgotten.
import test from 'ava';
import { BACKENDS, clientFrame, POOL } from '../../scripts/lab/cases.js';
import { parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import type { Pool } from '../../config/pool.js';

isolateNetwork();

const FLOWS = 1000;
const SYNS = 2_000_000;
const PORTS = { rr: 80, maglev: 443 } as const;

/** The pool with two more backends for both web services: every rr pick and 2/5 of Maglev's table move. */
function grown(): Pool {
  const more = ['198.18.1.14', '198.18.1.15'];
  return {
    ...POOL,
    services: POOL.services.map((s) => s.name === 'web' || s.name === 'web-maglev'
      ? { ...s, backends: [...s.backends, ...more.map((address) => ({ ...s.backends[0]!, address }))] }
      : s),
  };
}

const flow = (i: number, flags: number) =>
  clientFrame({ proto: 'tcp', src: `198.18.0.${1 + (i % 200)}`, sport: 20000 + i, dport: i % 2 ? PORTS.rr : PORTS.maglev, tcpFlags: flags });

const backendOf = (h: Harness, frame: Buffer) => {
  const r = h.run(frame);
  return r.verdict === 'TX' ? parseFrame(r.out).dst : r.verdict;
};

test('1,000 established flows keep their backends through 2 million spoofed SYNs and a pool change', (t) => {
  const h = new Harness(POOL);
  t.teardown(() => h.close());
  const pinned = Array.from({ length: FLOWS }, (_, i) => {
    const backend = backendOf(h, flow(i, TCP_FLAGS.SYN));
    backendOf(h, flow(i, TCP_FLAGS.ACK));
    return backend;
  });
  t.deepEqual([...new Set(pinned)].sort(), BACKENDS);

  // One frame rewritten in place: a random source address in 198.18.0.0/15 and port, its IPv4 checksum redone.
  const syn = clientFrame({ proto: 'tcp', sport: 1024, dport: PORTS.rr, tcpFlags: TCP_FLAGS.SYN });
  const random = new Uint32Array(1);
  let forwarded = 0;
  for (let i = 0; i < SYNS; i++) {
    random[0] = (Math.random() * 0x100000000) >>> 0;
    syn.writeUInt32BE((0xc6120000 | (random[0] & 0x1ffff)) >>> 0, 26);
    syn.writeUInt16BE(1024 + (random[0] >>> 17) % 60000, 34);
    syn.writeUInt16BE(i % 2 ? PORTS.rr : PORTS.maglev, 36);
    syn.writeUInt16BE(0, 24);
    let sum = 0;
    for (let o = 14; o < 34; o += 2) sum += syn.readUInt16BE(o);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    syn.writeUInt16BE(~sum & 0xffff, 24);
    if (h.run(syn).verdict === 'TX') forwarded++;
  }
  t.is(forwarded, SYNS, 'every SYN was forwarded, so each was a new flow picked and remembered');

  h.apply(grown());
  // Without the flow table, this many would have moved: new flows of the same 5-tuples on the grown pool.
  const fresh = new Harness(grown());
  const wouldMove = pinned.filter((was, i) => backendOf(fresh, flow(i, TCP_FLAGS.SYN)) !== was).length;
  fresh.close();
  t.true(wouldMove > FLOWS / 4, `${wouldMove} of the flows would have moved`);

  const now = Array.from({ length: FLOWS }, (_, i) => backendOf(h, flow(i, TCP_FLAGS.ACK)));
  t.deepEqual(now, pinned);
});
