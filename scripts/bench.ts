// npm run bench [-- --json] [--per-packet] [--lab]: the data plane's cost per packet (scripts/perpacket.ts), on one
// CPU and on all, and UDP throughput through the namespace lab against nftables (scripts/throughput.ts). Without
// --per-packet or --lab both parts run; --json prints every figure as one JSON object.
import { formatPerPacket, perPacket, type PerPacketRun } from './perpacket.js';
import { formatThroughput, labThroughput, throughputEntries, type ThroughputResult } from './throughput.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = { perPacket: args.includes('--per-packet'), lab: args.includes('--lab') };
const all = !only.perPacket && !only.lab;

const out: { perPacket?: PerPacketRun; lab?: object[] } = {};
let lab: ThroughputResult | undefined;
if (all || only.perPacket) {
  out.perPacket = await perPacket();
  if (!json) process.stdout.write(formatPerPacket(out.perPacket));
}
if (all || only.lab) {
  lab = await labThroughput();
  out.lab = throughputEntries(lab);
  if (!json) process.stdout.write(`\n${formatThroughput(lab)}`);
}
if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
