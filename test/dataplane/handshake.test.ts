// TCP connections as a two-armed node's data plane sees them: the client's SYN on the front, the backend's SYN-ACK on
// the back (the reverse path, checked against the flow), the client's ACK and data, the backend's answer. Then a pool
// change that moves many new-flow picks (a backend added on another port of an existing one's address, as `lbctl
// backend add` does, and two more): every connection stays on the backend its SYN went to, whether the change came
// after its data, between the SYN-ACK and the ACK, or between the SYN and the SYN-ACK.
import test from 'ava';
import * as layout from '../../lb/bpf/layout.js';
import { BACKENDS, CLIENT, POOL, VIP } from '../../scripts/lab/cases.js';
import { buildFrame, parseFrame, TCP_FLAGS, type FrameSpec } from '../../scripts/lab/frames.js';
import { backendMac, CLIENT_MAC, Harness, LB_MAC } from '../../scripts/lab/harness.js';
import { routedNetwork } from '../../scripts/lab/routed.js';
import type { Pool } from '../../config/pool.js';

const net = routedNetwork();
const FLOWS = 300;
const SERVICES = [{ name: 'web', port: 80 }, { name: 'web-maglev', port: 443 }] as const;

/** POOL with three more backends for both web services: one on the first backend's address, another port. */
function grown(): Pool {
  return {
    ...POOL,
    services: POOL.services.map((s) => {
      if (!SERVICES.some((w) => w.name === s.name)) return s;
      const port = s.backends[0]!.port!;
      return {
        ...s,
        backends: [...s.backends, { ...s.backends[0]!, port: port + 1 },
          ...['198.18.1.14', '198.18.1.15'].map((address) => ({ ...s.backends[0]!, address }))],
      };
    }),
  };
}

function harness(pool: Pool): Harness {
  const h = new Harness(pool, { backendIfindex: net.back });
  // As the daemon has it: both arms in the devmap.
  for (const ifindex of [net.front, net.back]) {
    const value = Buffer.alloc(8);
    value.writeUInt32LE(ifindex);
    h.dp.map('egress').update(layout.u32Key(ifindex), value);
  }
  return h;
}

interface Conn {
  sport: number;
  vipPort: number;
  /** Where the SYN went: "address:port". */
  backend?: string;
}

const client = (c: Conn, flags: number, extra: Partial<FrameSpec> = {}) => buildFrame({
  srcMac: CLIENT_MAC, dstMac: LB_MAC, src: CLIENT, dst: VIP, proto: 'tcp', sport: c.sport, dport: c.vipPort, tcpFlags: flags,
  ...extra,
});

/** The client's packet through the LB: where it went, as "address:port". */
function fromClient(t: { is(a: unknown, b: unknown, m?: string): void }, h: Harness, frame: Buffer): string {
  const r = h.run(frame, net.front);
  t.is(r.verdict, 'REDIRECT', 'a client packet goes out of the back');
  const out = parseFrame(r.out);
  return `${out.dst}:${out.dport}`;
}

/** The backend's packet through the LB: it must come out translated to VIP:port, towards the client. */
function fromBackend(t: { is(a: unknown, b: unknown, m?: string): void }, h: Harness, c: Conn, flags: number, payload?: Buffer) {
  const [address, port] = c.backend!.split(':');
  const spec: FrameSpec = {
    srcMac: backendMac(address!), dstMac: LB_MAC, src: address!, dst: CLIENT, proto: 'tcp', sport: Number(port),
    dport: c.sport, tcpFlags: flags, seq: 5000, ack: 1001, ttl: 64, ...(payload ? { payload } : {}),
  };
  const r = h.run(buildFrame(spec), net.back);
  t.is(r.verdict, 'REDIRECT', `the reply of ${c.sport} from ${c.backend} is translated and forwarded`);
  t.is(r.out.toString('hex'), buildFrame({ ...spec, src: VIP, sport: c.vipPort, ttl: 63, srcMac: net.frontMac, dstMac: CLIENT_MAC })
    .toString('hex'));
}

const steps: ((t: Parameters<typeof fromClient>[0], h: Harness, c: Conn) => void)[] = [
  (t, h, c) => { c.backend = fromClient(t, h, client(c, TCP_FLAGS.SYN, { seq: 1000 })); },
  (t, h, c) => fromBackend(t, h, c, TCP_FLAGS.SYN | TCP_FLAGS.ACK),
  (t, h, c) => t.is(fromClient(t, h, client(c, TCP_FLAGS.ACK, { seq: 1001, ack: 5001 })), c.backend),
  (t, h, c) => t.is(fromClient(t, h, client(c, TCP_FLAGS.PSH | TCP_FLAGS.ACK, { seq: 1001, ack: 5001, payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') })), c.backend),
  (t, h, c) => fromBackend(t, h, c, TCP_FLAGS.PSH | TCP_FLAGS.ACK, Buffer.from('HTTP/1.1 200 OK\r\n\r\n')),
];

test('connections keep their backend through a pool change at any point of their handshake; replies are translated', (t) => {
  const h = harness(POOL);
  t.teardown(() => h.close());
  // Three groups of connections: the change comes after all their steps, after the SYN-ACK, or right after the SYN.
  const groups = [steps.length, 2, 1].map((before, g) => ({
    before,
    conns: SERVICES.flatMap((s) => Array.from({ length: FLOWS / 2 }, (_, i): Conn => ({ sport: 20000 + g * 1000 + i, vipPort: s.port }))),
  }));
  for (const { before, conns } of groups) for (const c of conns) for (const step of steps.slice(0, before)) step(t, h, c);
  const pinned = groups.flatMap((g) => g.conns.map((c) => c.backend));

  h.apply(grown());
  // The change would move many: the same SYNs on a data plane that has the grown pool from the start.
  const fresh = harness(grown());
  const wouldMove = groups.flatMap((g) => g.conns).filter((c) =>
    fromClient(t, fresh, client(c, TCP_FLAGS.SYN)) !== c.backend).length;
  fresh.close();
  t.true(wouldMove > (3 * FLOWS) / 4, `${wouldMove} of ${3 * FLOWS} connections would have moved`);

  for (const { before, conns } of groups) for (const c of conns) for (const step of steps.slice(before)) step(t, h, c);
  // Every connection once more, both ways.
  for (const { conns } of groups) for (const c of conns) for (const step of steps.slice(3)) step(t, h, c);
  t.deepEqual(groups.flatMap((g) => g.conns.map((c) => c.backend)), pinned);
  t.is(h.dp.outcomes().drop_stray_reply.packets, 0n);
});

test('a reply from the backend on the other port of the same address is not one', (t) => {
  const h = harness(grown());
  t.teardown(() => h.close());
  // A connection the first backend's 8443 took.
  const c: Conn = { sport: 30000, vipPort: 443 };
  for (steps[0]!(t, h, c); c.backend !== `${BACKENDS[0]}:8443`; steps[0]!(t, h, c)) c.sport++;
  const r = h.run(buildFrame({
    srcMac: backendMac(BACKENDS[0]), dstMac: LB_MAC, src: BACKENDS[0], dst: CLIENT, proto: 'tcp', sport: 8444, dport: c.sport,
    tcpFlags: TCP_FLAGS.SYN | TCP_FLAGS.ACK,
  }), net.back);
  t.is(r.verdict, 'DROP', `${BACKENDS[0]}:8444 answered a flow sent to ${c.backend}`);
  t.is(h.dp.outcomes().drop_stray_reply.packets, 1n);
  fromBackend(t, h, c, TCP_FLAGS.SYN | TCP_FLAGS.ACK);
});
