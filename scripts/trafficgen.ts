// The throughput bench's traffic generator (scripts/throughput.ts starts it inside the lab's client namespace, with
// `ip netns exec`): sends one frame over and over, as fast as one CPU can, out of an interface, for a fixed time, each
// time as the next of a set of flows.
//
//   node dist/scripts/trafficgen.js --dev c0 --frame HEX --seconds 4 [--batch 64] [--ports 64512] [--addresses 1]
//
// dist/bpf/trafficgen.o runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: every run is a real frame, which
// the program makes the next flow (source port 1024 + n % ports, source address the frame's + n / ports % addresses,
// n counting the frames) and sends with XDP_TX, out of the context's ingress interface. The kernel
// resolves that ifindex in the caller's network namespace, hence running in the client namespace. The frame must be
// Ethernet/IPv4 (no options)/UDP with UDP checksum 0; its first 42 bytes (the headers) go into the program's
// `template` map, and the program copies them into every frame it sends (bpf/trafficgen.bpf.c says why).
// Prints "started" once the program is loaded, then, when done, one JSON line: { frames, seconds, calls } (frames:
// runs of the program, i.e. frames handed to XDP_TX).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BPF_F_TEST_XDP_LIVE_FRAMES } from '../lb/bpf/ffi.js';
import { BpfObject } from '../lb/bpf/object.js';
import { ifNameToIndex } from '../lb/bpf/system.js';
import { u32Key } from '../lb/bpf/layout.js';

const OBJ = fileURLToPath(new URL('../bpf/trafficgen.o', import.meta.url));
/** Each call should last about this long, so the run ends close to its deadline and a signal is seen soon. */
const CALL_MS = 50;

const { values } = parseArgs({
  options: {
    dev: { type: 'string' },
    frame: { type: 'string' },
    seconds: { type: 'string' },
    batch: { type: 'string', default: '64' },
    ports: { type: 'string', default: '64512' },
    addresses: { type: 'string', default: '1' },
  },
});
if (!values.dev || !values.frame || !values.seconds) {
  process.stderr.write('usage: trafficgen --dev IFNAME --frame HEX --seconds S [--batch N]\n');
  process.exit(2);
}
const frame = Buffer.from(values.frame, 'hex');
const seconds = Number(values.seconds);
const batchSize = Number(values.batch);
const flows = { ports: Number(values.ports), addresses: Number(values.addresses) };
if (!Number.isInteger(flows.ports) || flows.ports < 1 || flows.ports > 64512 || !Number.isInteger(flows.addresses) ||
  flows.addresses < 1) {
  process.stderr.write('trafficgen: --ports must be 1..64512 and --addresses >= 1\n');
  process.exit(2);
}

const obj = BpfObject.open(OBJ);
try {
  obj.load();
  const program = obj.program('xlb_trafficgen');
  const template = obj.map('template');
  if (frame.length < template.valueSize) throw new Error(`the frame is ${frame.length} bytes, shorter than its headers`);
  template.update(u32Key(0), frame.subarray(0, template.valueSize));
  // The address grows in its low 16 bits only (the program's checksum update counts on it).
  if (frame.readUInt16BE(28) + flows.addresses - 1 > 0xffff) throw new Error('--addresses would carry out of the source address\'s low 16 bits');
  const config = Buffer.alloc(8);
  config.writeUInt32LE(flows.ports, 0);
  config.writeUInt32LE(flows.addresses, 4);
  obj.map('flows').update(u32Key(0), config);
  // struct xdp_md: data 0, data_end = the frame's length, data_meta 0, ingress_ifindex, rx_queue_index 0.
  const ctxIn = Buffer.alloc(24);
  ctxIn.writeUInt32LE(frame.length, 4);
  ctxIn.writeUInt32LE(ifNameToIndex(values.dev), 12);

  process.stdout.write('started\n');
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let repeat = 1 << 14;
  let calls = 0;
  for (let now = start; now < deadline; ) {
    program.testRun({ data: frame, ctxIn, repeat, batchSize, flags: BPF_F_TEST_XDP_LIVE_FRAMES });
    calls++;
    const after = process.hrtime.bigint();
    // Adapt the repeat count so a call lasts about CALL_MS.
    const ms = Number(after - now) / 1e6;
    repeat = Math.max(batchSize, Math.min(1 << 24, Math.round((repeat * CALL_MS) / Math.max(ms, 1))));
    now = after;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const frames = obj.map('generated').lookupPerCpu(u32Key(0)).reduce((n, b) => n + b.readBigUInt64LE(0), 0n);
  process.stdout.write(`${JSON.stringify({ frames: Number(frames), seconds: elapsed, calls })}\n`);
} finally {
  obj.close();
}
