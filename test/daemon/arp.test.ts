// A standalone daemon answers ARP for its VIPs from XDP: the data plane learns each attached interface's MAC at attach
// and again when an interface comes back, so a VIP inside the clients' own subnet works.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as layout from '../../lb/bpf/layout.js';
import type { Status } from '../../lb/control/api.js';
import { eventually, httpBurst, ping, pingService, webService, XlbNode } from '../support/daemon.js';

const run = promisify(execFile);
/** In the client's own subnet (198.18.0.0/24): reachable only if someone answers ARP for it. */
const VIP = '198.18.0.10';

/** A pinned map's entries as raw key and value bytes (bpftool -j). */
async function dump(path: string): Promise<{ key: Buffer; value: Buffer }[]> {
  const { stdout } = await run('bpftool', ['-j', 'map', 'dump', 'pinned', path]);
  const bytes = (hex: string[]) => Buffer.from(hex.map((h) => parseInt(h, 16)));
  return (JSON.parse(stdout) as { key: string[]; value: string[] }[]).map((e) => ({ key: bytes(e.key), value: bytes(e.value) }));
}

async function interfacesMap(node: XlbNode): Promise<Record<number, string>> {
  const entries = await dump(`${node.pinDir}/${layout.MAPS.ifaces}`);
  return Object.fromEntries(entries.map((e) => [e.key.readUInt32LE(0), layout.iface.decode(e.value).mac]));
}

const ifindex = (s: Status, name: string) => s.interfaces.find((i) => i.name === name)!.ifindex;

test('a VIP in the clients\' own subnet: the node answers ARP for it with its front MAC, and HTTP and ping go through', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const backends = lab.addresses.backends;
  await node.start(node.config({ services: [pingService(backends, { vip: VIP }), webService(backends, { vip: VIP })] }));

  const status = await node.status();
  t.deepEqual(await interfacesMap(node), {
    [ifindex(status, 'front')]: lab.macs.lbFront,
    [ifindex(status, 'back')]: lab.macs.lbBack,
  });
  const [ha] = await dump(`${node.pinDir}/${layout.MAPS.ha}`);
  t.is(layout.ha.decode(ha!.value).flags & layout.HA_ON, 0, 'standalone');

  const burst = await eventually('HTTP through the VIP, all backends up', 20_000, async () => {
    const r = await httpBurst(lab, 9, `http://${VIP}/`);
    return r.ok === 9 ? r : undefined;
  });
  t.deepEqual(burst.errors, []);
  const pings = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '2'], VIP);
  t.is(pings.received, 3, pings.stdout);
  const neigh = await lab.exec(lab.ns.client, ['ip', '-j', 'neigh', 'show', VIP]);
  t.is((JSON.parse(neigh.stdout) as { lladdr?: string }[])[0]?.lladdr, lab.macs.lbFront);
  const stats = await node.lbctlJson<{ outcomes: Record<string, { packets: number }> }>(['stats']);
  t.true(stats.outcomes.arp_reply!.packets >= 1, JSON.stringify(stats.outcomes.arp_reply));
});

test('an interface that comes back under another ifindex gets its MAC written again, the old entry removed', async (t) => {
  t.timeout(120_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  await node.start();
  const before = ifindex(await node.status(), 'back');
  await lab.unplugBack();
  await lab.plugBack();
  const returned = await eventually('back attached again', 30_000, async () => {
    const s = await node.status();
    const b = s.interfaces.find((i) => i.name === 'back')!;
    return b.state === 'attached' && b.ifindex !== before ? s : undefined;
  });
  t.deepEqual(await interfacesMap(node), {
    [ifindex(returned, 'front')]: lab.macs.lbFront,
    [ifindex(returned, 'back')]: lab.macs.lbBack,
  });
});
