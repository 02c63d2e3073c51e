// Sends frames out of an interface of the network namespace it runs in, through the data plane's transmit path
// (DataPlane.transmit: the xlb_send program as a live frame, no packet socket), as an HA node sends gratuitous ARP.
// For tests, which run it in a lab namespace:
//
//   node dist/scripts/lab/send-frame.js --dev front --frame HEX [--frame HEX ...]
//   node dist/scripts/lab/send-frame.js --ifindex 3 --frame HEX
//
// Prints "sent N" once every frame is handed to the interface; exits 1 with the error otherwise.
import { parseArgs } from 'node:util';
import { ifNameToIndex } from '../../lb/bpf/system.js';
import { DataPlane } from '../../lb/dataplane/dataplane.js';

const { values } = parseArgs({
  options: { dev: { type: 'string' }, ifindex: { type: 'string' }, frame: { type: 'string', multiple: true } },
});
if (!values.dev === !values.ifindex || !values.frame?.length) {
  process.stderr.write('usage: send-frame --dev IFNAME | --ifindex N --frame HEX [--frame HEX ...]\n');
  process.exit(2);
}
const frames = values.frame.map((hex) => Buffer.from(hex, 'hex'));
const dp = DataPlane.load({ maxFlows: 1024 });
try {
  const ifindex = values.dev ? ifNameToIndex(values.dev) : Number(values.ifindex);
  for (const frame of frames) dp.transmit(ifindex, frame);
  process.stdout.write(`sent ${frames.length}\n`);
} catch (err) {
  process.stderr.write(`send-frame: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  dp.close();
}
