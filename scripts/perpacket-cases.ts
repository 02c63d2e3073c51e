// The per-packet bench's cases: which program, which frame for sample i on worker w, and what goes before it. Shared
// by the bench's coordinator (names, descriptions) and its per-CPU workers (frames), so every worker times the same
// thing with flows of its own.
import { BACKENDS, caseNamed, CLIENT, clientFrame, VIP } from './lab/cases.js';
import { ARP_OP, buildArp, buildFrame, TCP_FLAGS } from './lab/frames.js';
import { backendMac, CLIENT_MAC, LB_MAC } from './lab/harness.js';

/** What a worker can run in a case's setup. */
export interface Runner {
  /** Runs a frame (untimed) on the case's xlb program, standalone or HA, and returns the output frame. */
  xlb(frame: Buffer, ingress?: 'front' | 'back'): Buffer;
}

/**
 * The programs a case can time: xlb on a standalone node, xlb on an HA node (its own maps, the same pool, deadlines
 * far ahead: every packet of its reads the clock), and the floor.
 */
export type Program = 'xlb' | 'xlb-ha' | 'floor';

export interface PerPacketCase {
  name: string;
  description: string;
  program: Program;
  /** The interface the frame arrives on, when it matters. */
  ingress?: 'front' | 'back';
  /** Once per worker, before any sample: returns the worker's state for frame(). */
  setup?(worker: number, run: Runner): unknown;
  /** Untimed frames before sample i. */
  prepare?(worker: number, i: number): Buffer[];
  /** The timed frame of sample i. */
  frame(worker: number, i: number, state: unknown): Buffer;
}

/** A source address and port of its own for every (worker, sample) of a case: 512 Ki per worker, then they repeat. */
function source(base: number, worker: number, i: number): { src: string; sport: number } {
  return { src: `198.19.${base + worker * 8 + ((i >> 16) & 7)}.${(i >> 8) & 0xff}`, sport: 1024 + (i & 0xff) };
}

const syn = (worker: number, i: number, base: number, dport: number) =>
  clientFrame({ proto: 'tcp', ...source(base, worker, i), dport, tcpFlags: TCP_FLAGS.SYN });
const ack = (worker: number, i: number, base: number, dport: number) =>
  clientFrame({ proto: 'tcp', ...source(base, worker, i), dport, tcpFlags: TCP_FLAGS.ACK });

const fixed = (name: string) => ({ frame: () => caseNamed(name).input });

/** A packet of an established flow of worker `w`, from its own port range `base`; the setup opens the flow. */
const established = (base: number) => ({
  setup: (w: number, run: Runner) => {
    const f = { proto: 'tcp' as const, sport: base + w, dport: 80 };
    run.xlb(clientFrame({ ...f, tcpFlags: TCP_FLAGS.SYN }));
    run.xlb(clientFrame({ ...f, tcpFlags: TCP_FLAGS.ACK }));
    return clientFrame({ ...f, tcpFlags: TCP_FLAGS.ACK, seq: 2000, ack: 3000 });
  },
  frame: (_w: number, _i: number, state: unknown) => state as Buffer,
});

export const PER_PACKET_CASES: PerPacketCase[] = [
  { name: 'floor', description: 'a program that only returns XDP_TX', program: 'floor', ...fixed('pass') },
  { name: 'pass', description: caseNamed('pass').description, program: 'xlb', ...fixed('pass') },
  { name: 'icmp-echo', description: 'an ICMP echo request to an rr service: ring pick, NAT', program: 'xlb', ...fixed('icmp-echo') },
  {
    name: 'tcp-syn',
    description: 'a TCP SYN of a new flow, rr: ring pick, remembered among new flows (a new source each sample)',
    program: 'xlb',
    frame: (w, i) => syn(w, i, 0, 80),
  },
  {
    name: 'tcp-syn-maglev',
    description: 'a TCP SYN of a new flow, maglev: table pick, remembered among new flows',
    program: 'xlb',
    frame: (w, i) => syn(w, i, 64, 443),
  },
  {
    name: 'tcp-first-ack',
    description: "the packet after a flow's SYN, rr: the flow moves into the flow table",
    program: 'xlb',
    prepare: (w, i) => [syn(w, i, 128, 80)],
    frame: (w, i) => ack(w, i, 128, 80),
  },
  {
    name: 'tcp-established',
    description: 'a packet of an established flow: flow-table hit, NAT',
    program: 'xlb',
    ...established(40100),
  },
  {
    name: 'tcp-established-ha',
    description: 'the same on an HA node before its deadline: the deadline checked, one clock read',
    program: 'xlb-ha',
    ...established(40100),
  },
  {
    name: 'reverse',
    description: "a NAT reply of an established flow: checked against the flow, translated, fib lookup, redirected",
    program: 'xlb',
    ingress: 'back',
    setup: (w, run) => {
      const f = { proto: 'tcp' as const, sport: 40200 + w, dport: 80 };
      const backend = run.xlb(clientFrame({ ...f, tcpFlags: TCP_FLAGS.SYN }));
      run.xlb(clientFrame({ ...f, tcpFlags: TCP_FLAGS.ACK }));
      const addr = [...backend.subarray(30, 34)].join('.');
      return buildFrame({
        srcMac: backendMac(addr), dstMac: LB_MAC, src: addr, dst: CLIENT, proto: 'tcp', sport: 8080, dport: f.sport,
        tcpFlags: TCP_FLAGS.ACK, seq: 5000, ack: 1001,
      });
    },
    frame: (_w, _i, state) => state as Buffer,
  },
  {
    name: 'reverse-stray',
    description: "a frame with a nat backend's address:port as its source that answers no flow: dropped",
    program: 'xlb',
    frame: () => buildFrame({
      srcMac: backendMac(BACKENDS[0]), dstMac: LB_MAC, src: BACKENDS[0], dst: '198.18.0.77', proto: 'tcp', sport: 8080,
      dport: 40000, tcpFlags: TCP_FLAGS.ACK,
    }),
  },
  {
    name: 'arp-reply',
    description: 'an ARP request for a VIP: answered in place, XDP_TX',
    program: 'xlb',
    ingress: 'front',
    frame: () => buildArp({ op: ARP_OP.request, senderMac: CLIENT_MAC, senderIp: CLIENT, targetIp: VIP }),
  },
];
