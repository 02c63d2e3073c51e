// npm run bench: nanoseconds per packet of the XDP program, case by case, beside a floor program that only returns
// XDP_TX, all in one run. The program rewrites frames in place, so BPF_PROG_TEST_RUN's own repeat would time its
// rewritten output from the second run on: every sample is one call with repeat = 1 and a fresh copy of the frame, and
// the kernel's duration for that call is the sample. Medians, so a scheduling hiccup does not move the figure.
import { fileURLToPath } from 'node:url';
import { BpfObject, type BpfProgram } from '../lb/bpf/object.js';
import { u32Key } from '../lb/bpf/layout.js';
import { caseNamed, clientFrame, POOL } from './lab/cases.js';
import { TCP_FLAGS } from './lab/frames.js';
import { Harness, xdpContext } from './lab/harness.js';
import { routedNetwork } from './lab/routed.js';
import { formatThroughput, labThroughput, throughputEntries } from './throughput.js';

const SAMPLES = Number(process.env.XLB_BENCH_SAMPLES ?? 20000);
const ROUNDS = 5;
const json = process.argv.includes('--json');

interface BenchCase {
  name: string;
  description: string;
  /** The frame for sample i. */
  frame(i: number): Buffer;
  program: BpfProgram;
  /** Receiving interface, when it matters. */
  ingress?: number;
}

interface Result {
  case: string;
  nsPerPacket: number;
  floorNsPerPacket: number;
  nsAboveFloor: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main(): Result[] {
  // A namespace of the bench's own, with the route and neighbour a NAT reply needs, so the reverse case times the
  // path real replies take: fib lookup, rewrite, redirect.
  const net = routedNetwork();
  const h = new Harness(POOL, { maxFlows: 1 << 20 });
  const floor = BpfObject.open(fileURLToPath(new URL('../bpf/floor.o', import.meta.url)));
  try {
    floor.load();
    const egress = Buffer.alloc(8);
    egress.writeUInt32LE(net.front);
    h.dp.map('egress').update(u32Key(net.front), egress);
    for (const f of caseNamed('tcp-established').before) h.run(f);

    const xlb = h.dp.program;
    const fixed = (name: string) => ({ name, description: caseNamed(name).description, frame: () => caseNamed(name).input, program: xlb });
    const cases: BenchCase[] = [
      { name: 'floor', description: 'a program that only returns XDP_TX', frame: () => caseNamed('pass').input, program: floor.program('xlb_floor') },
      fixed('pass'),
      fixed('icmp-echo'),
      {
        name: 'tcp-syn',
        description: 'a TCP SYN of a new flow: ring pick and flow-table insert (a new source each sample)',
        frame: (i) => clientFrame({ proto: 'tcp', src: `198.18.${2 + ((i >> 16) & 0xff)}.${(i >> 8) & 0xff}`, sport: 1024 + (i & 0xff), dport: 80, tcpFlags: TCP_FLAGS.SYN }),
        program: xlb,
      },
      fixed('tcp-established'),
      { ...fixed('reverse'), description: 'a NAT reply: translated back, fib lookup, redirected to the client side', ingress: net.back },
    ];

    const samples = new Map(cases.map((c) => [c.name, [] as number[]]));
    let serial = 0;
    // Rounds interleave the cases, so a slow phase of the machine touches all of them alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        const out = samples.get(c.name)!;
        for (let i = 0; i < SAMPLES / ROUNDS; i++) {
          const data = c.frame(serial++);
          const ctxIn = c.ingress === undefined ? undefined : xdpContext(data, c.ingress);
          out.push(c.program.testRun({ data, ctxIn }).duration);
        }
      }
    }

    const floorNs = median(samples.get('floor')!);
    const results: Result[] = cases.map((c) => {
      const ns = median(samples.get(c.name)!);
      return { case: c.name, nsPerPacket: ns, floorNsPerPacket: floorNs, nsAboveFloor: ns - floorNs };
    });

    if (json) return results;
    const rows = [['case', 'ns/packet', 'floor', 'above floor', 'what'], ...results.map((r) => [
      r.case, String(r.nsPerPacket), String(r.floorNsPerPacket), String(r.nsAboveFloor),
      cases.find((c) => c.name === r.case)!.description,
    ])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) process.stdout.write(`${r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]))).join('  ')}\n`);
    process.stdout.write(`\nmedians of ${SAMPLES} single runs per case (BPF_PROG_TEST_RUN, repeat = 1, kernel duration)\n`);
    return results;
  } finally {
    floor.close();
    h.close();
  }
}

const perPacket = main();
// Then the throughput case through the namespace lab (scripts/throughput.ts): xlb against an nftables DNAT rule.
const lab = await labThroughput();
if (json) process.stdout.write(`${JSON.stringify([...perPacket, ...throughputEntries(lab)], null, 2)}\n`);
else process.stdout.write(`\n${formatThroughput(lab)}`);
