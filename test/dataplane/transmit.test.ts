// DataPlane.transmit: frames sent out of an interface without a packet socket. In a namespace lab, a gratuitous ARP
// sent this way (as cluster/ha/garp.ts builds it) moves the client's neighbour entry to the sender's MAC.
import anyTest, { type TestFn } from 'ava';
import { fileURLToPath } from 'node:url';
import { gratuitousArp } from '../../cluster/ha/garp.js';
import { IFACES, Lab, labCleanupOnExit } from '../../scripts/lab/lab.js';

const test = anyTest as TestFn<{ lab: Lab }>;
const SEND_FRAME = fileURLToPath(new URL('../../scripts/lab/send-frame.js', import.meta.url));
const NEIGH_MS = 10_000;

test.before(async (t) => {
  t.context.lab = await Lab.create({ backends: 1, servers: false });
  labCleanupOnExit(t.context.lab);
});

test.after.always(async (t) => {
  await t.context.lab?.destroy();
});

test('a gratuitous ARP sent out of the LB\'s front updates the client\'s neighbour entry for the address', async (t) => {
  t.timeout(90_000);
  const { lab } = t.context;
  const address = '198.18.0.10';
  const old = '02:00:00:00:00:aa';
  const neigh = async () => {
    const r = await lab.exec(lab.ns.client, ['ip', '-j', 'neigh', 'show', address, 'dev', IFACES.client]);
    return (JSON.parse(r.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
  };
  const set = await lab.exec(lab.ns.client, ['ip', 'neigh', 'replace', address, 'lladdr', old, 'dev', IFACES.client, 'nud', 'stale']);
  t.is(set.code, 0, set.stderr);
  t.is(await neigh(), old);

  const frame = gratuitousArp('request', address, lab.macs.lbFront);
  const sent = await lab.exec(lab.ns.lb, [process.execPath, SEND_FRAME, '--dev', IFACES.lbFront, '--frame', frame.toString('hex')]);
  t.is(sent.code, 0, sent.stderr);
  t.is(sent.stdout.trim(), 'sent 1');

  const deadline = Date.now() + NEIGH_MS;
  let now = await neigh();
  while (now !== lab.macs.lbFront && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    now = await neigh();
  }
  t.is(now, lab.macs.lbFront);
});

test('transmit refuses a frame shorter than an Ethernet header or longer than a page, and an interface that does not exist', async (t) => {
  const { lab } = t.context;
  const garp = gratuitousArp('request', '198.18.0.10', lab.macs.lbFront).toString('hex');
  const short = await lab.exec(lab.ns.lb, [process.execPath, SEND_FRAME, '--dev', IFACES.lbFront, '--frame', garp.slice(0, 26)]);
  t.is(short.code, 1);
  t.regex(short.stderr, /EINVAL.*a 13-byte frame: an Ethernet header alone is 14/);
  const jumbo = await lab.exec(lab.ns.lb, [process.execPath, SEND_FRAME, '--dev', IFACES.lbFront, '--frame', garp.padEnd(2 * 5000, '0')]);
  t.is(jumbo.code, 1);
  t.regex(jumbo.stderr, /bpf_prog_test_run_opts\(xlb_send\): .*EINVAL/);
  const missing = await lab.exec(lab.ns.lb, [process.execPath, SEND_FRAME, '--ifindex', '99999', '--frame', garp]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /ENODEV/);
});
