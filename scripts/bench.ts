// npm run bench [-- --json] [--per-packet] [--lab] [--cluster] [--control]: the data plane's cost per packet
// (scripts/perpacket.ts), on one CPU and on all, UDP throughput through the namespace lab against nftables
// (scripts/throughput.ts), how fast two nodes on one Redis follow a change (scripts/cluster-bench.ts) and how long an
// HA pair's client goes unanswered in a failover or a switchover (scripts/ha-bench.ts), and the control plane at 4,096
// health-checked backends (scripts/control-bench.ts). Without a part flag every part runs; --json prints every figure
// as one JSON object.
import { controlEntries, controlPlane, formatControl } from './control-bench.js';
import { formatPerPacket, perPacket, type PerPacketRun } from './perpacket.js';
import { clusterBench, formatCluster, type ClusterResult } from './cluster-bench.js';
import { formatHa, haBench, type HaResult } from './ha-bench.js';
import { formatThroughput, labThroughput, throughputEntries, type ThroughputResult } from './throughput.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = {
  perPacket: args.includes('--per-packet'), lab: args.includes('--lab'), cluster: args.includes('--cluster'),
  control: args.includes('--control'),
};
const all = !only.perPacket && !only.lab && !only.cluster && !only.control;

const out: {
  perPacket?: PerPacketRun; lab?: object[]; cluster?: { redis: ClusterResult; ha: HaResult }; control?: object;
} = {};
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
if (all || only.cluster) {
  const redis = await clusterBench();
  if (!json) process.stdout.write(`\n${formatCluster(redis)}`);
  const ha = await haBench();
  if (!json) process.stdout.write(`\n${formatHa(ha)}`);
  out.cluster = { redis, ha };
}
if (all || only.control) {
  const control = await controlPlane();
  out.control = controlEntries(control);
  if (!json) process.stdout.write(`\n${formatControl(control)}`);
}
if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
