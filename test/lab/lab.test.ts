// The namespace lab on its own, without xlb: the LB namespace forwards as a plain router.
import test from 'ava';
import { existsSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  addressesIn, BACKEND_HTTP_PORT, BACKEND_UDP_PORT, Lab, labCleanupOnExit, listNamespaces, removeStaleLabs,
} from '../../scripts/lab/lab.js';

const FLOOR_OBJ = fileURLToPath(new URL('../../bpf/floor.o', import.meta.url)); // returns XDP_TX for every frame

async function createLab(t: { teardown(fn: () => Promise<void>): void }, options: Parameters<typeof Lab.create>[0] = {}) {
  const lab = await Lab.create(options);
  labCleanupOnExit(lab);
  t.teardown(() => lab.destroy());
  return lab;
}

function allNamespaces(lab: Lab): string[] {
  return [lab.ns.client, ...lab.lbs.map((l) => l.ns), lab.ns.sw, ...lab.ns.backends];
}

async function withPrefix(prefix: string): Promise<string[]> {
  return (await listNamespaces()).filter((ns) => ns.startsWith(`${prefix}-`)).sort();
}

interface HttpResult {
  code: number;
  status?: number;
  headers: Record<string, string>;
  body: string;
  stderr: string;
}

/** GET from the client namespace with curl. */
async function get(lab: Lab, url: string): Promise<HttpResult> {
  const res = await lab.exec(lab.ns.client, ['curl', '-sS', '-i', '--max-time', '10', url]);
  const [head = '', ...rest] = res.stdout.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(headerLines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  }));
  return { code: res.code, status: Number(statusLine.split(' ')[1]) || undefined, headers, body: rest.join('\r\n\r\n'), stderr: res.stderr };
}

/** Sums the `ethtool -S` counters of dev whose names match re (over all queues). */
async function counter(lab: Lab, ns: string, dev: string, re: RegExp): Promise<number> {
  const res = await lab.exec(ns, ['ethtool', '-S', dev]);
  let sum = 0;
  for (const line of res.stdout.split('\n')) {
    const m = /^\s*(\S+):\s*(\d+)\s*$/.exec(line);
    if (m && re.test(m[1]!)) sum += Number(m[2]);
  }
  return sum;
}

test('the client reaches the backends through the LB: ping, HTTP, UDP echo', async (t) => {
  const lab = await createLab(t);
  const present = await listNamespaces();
  for (const ns of allNamespaces(lab)) t.true(present.includes(ns), ns);
  t.deepEqual(lab.backendNames, ['b1', 'b2', 'b3']);
  t.deepEqual(lab.addresses.backends, ['198.18.1.11', '198.18.1.12', '198.18.1.13']);

  const ping = await lab.exec(lab.ns.client, ['ping', '-c', '3', '-i', '0.2', '-W', '5', lab.addresses.backends[0]!]);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  t.regex(ping.stdout, /ttl=63/); // one hop: the LB forwarded it

  const root = await get(lab, `http://198.18.1.12:${BACKEND_HTTP_PORT}/`);
  t.is(root.code, 0, root.stderr);
  t.is(root.status, 200);
  t.is(root.body, 'b2\n');
  t.is(root.headers['x-backend'], 'b2');
  t.regex(root.headers['content-type'] ?? '', /^text\/plain/);

  const health = await get(lab, `http://198.18.1.11:${BACKEND_HTTP_PORT}/healthz`);
  t.is(health.status, 200);
  t.is(health.body, 'ok');
  const slow = await get(lab, `http://198.18.1.13:${BACKEND_HTTP_PORT}/slow?ms=100`);
  t.is(slow.status, 200);
  t.is(slow.body, 'b3\n');

  const script = `const s = require('dgram').createSocket('udp4');
    s.on('message', (m) => { process.stdout.write(m.toString()); process.exit(0); });
    s.send('hello', ${BACKEND_UDP_PORT}, '198.18.1.13');
    setTimeout(() => process.exit(1), 5000);`;
  const udp = await lab.exec(lab.ns.client, [process.execPath, '-e', script]);
  t.is(udp.code, 0, udp.stderr);
  t.is(udp.stdout, 'b3 hello');
});

test('frames sent with XDP_TX reach c0 and the switch port, which carry native XDP_PASS programs', async (t) => {
  const lab = await createLab(t, { backends: 1, servers: false });
  for (const [ns, dev] of [[lab.ns.client, 'c0'], [lab.ns.sw, 'plb']] as const) {
    const res = await lab.exec(ns, ['ip', '-j', 'link', 'show', 'dev', dev]);
    const [link] = JSON.parse(res.stdout) as { xdp?: { mode: number; prog?: { name: string } } }[];
    t.is(link?.xdp?.mode, 1, `${dev}: native (driver) mode`);
    t.is(link?.xdp?.prog?.name, 'xlb_pass');
  }

  // front bounces the client's frames (ARP requests, as the gateway never answers) back to c0.
  const attachFront = await lab.exec(lab.ns.lb, ['ip', 'link', 'set', 'dev', 'front', 'xdpdrv', 'obj', FLOOR_OBJ, 'sec', 'xdp']);
  t.is(attachFront.code, 0, attachFront.stderr);
  await lab.exec(lab.ns.client, ['ping', '-c', '2', '-i', '0.2', '-W', '1', lab.addresses.backends[0]!]);
  t.true(await counter(lab, lab.ns.lb, 'front', /_xdp_tx$/) > 0, 'front sent with XDP_TX');
  t.is(await counter(lab, lab.ns.lb, 'front', /_xdp_tx_errors$/), 0);
  t.true(await counter(lab, lab.ns.client, 'c0', /_xdp_packets$/) > 0, 'c0 received them');

  // back bounces the backend's frames back to the switch port.
  const attachBack = await lab.exec(lab.ns.lb, ['ip', 'link', 'set', 'dev', 'back', 'xdpdrv', 'obj', FLOOR_OBJ, 'sec', 'xdp']);
  t.is(attachBack.code, 0, attachBack.stderr);
  await lab.exec(lab.ns.backends[0]!, ['ping', '-c', '2', '-i', '0.2', '-W', '1', lab.addresses.lbBack]);
  t.true(await counter(lab, lab.ns.lb, 'back', /_xdp_tx$/) > 0, 'back sent with XDP_TX');
  t.is(await counter(lab, lab.ns.lb, 'back', /_xdp_tx_errors$/), 0);
  t.true(await counter(lab, lab.ns.sw, 'plb', /_xdp_packets$/) > 0, 'plb received them');

  // TX checksum offload is off on every sender.
  for (const [ns, dev] of [[lab.ns.client, 'c0'], [lab.ns.lb, 'front'], [lab.ns.lb, 'back'], [lab.ns.backends[0]!, 'eth0']] as const) {
    const res = await lab.exec(ns, ['ethtool', '-k', dev]);
    t.regex(res.stdout, /^tx-checksumming: off/m, `${dev} in ${ns}`);
  }
});

test('stopServer and startServer; destroy kills spawned processes and deletes every namespace', async (t) => {
  const lab = await createLab(t, { backends: 2 });
  const url = `http://198.18.1.12:${BACKEND_HTTP_PORT}/`;
  t.is((await get(lab, url)).body, 'b2\n');

  await lab.stopServer(1);
  const refused = await get(lab, url);
  t.not(refused.code, 0, 'connection refused while stopped');
  t.is((await get(lab, `http://198.18.1.11:${BACKEND_HTTP_PORT}/`)).body, 'b1\n', 'b1 unaffected');
  await lab.stopServer(1); // stopping a stopped server is fine
  await lab.startServer(1);
  t.is((await get(lab, url)).body, 'b2\n');

  const sleeper = lab.spawn(lab.ns.lb, ['sleep', '600'], { stdio: 'ignore' });
  const bare = lab.spawnBare(lab.ns.lb, ['sleep', '600'], { stdio: 'ignore' });
  const exits = [sleeper, bare].map((child) => new Promise((resolve) => child.once('exit', resolve)));

  await lab.destroy();
  await Promise.all(exits);
  const present = await listNamespaces();
  for (const ns of allNamespaces(lab)) t.false(present.includes(ns), ns);
  await lab.destroy(); // idempotent
  t.throws(() => lab.spawn(lab.ns.lb, ['true']));
});

test('the bare side: the LB\'s network and a mount namespace of the lab\'s own, where /sys/fs/bpf starts unmounted', async (t) => {
  const lab = await createLab(t, { backends: 1, servers: false });
  const fsType = async () => (await lab.exec(lab.ns.lb, ['stat', '-f', '-c', '%T', '/sys/fs/bpf'], { bare: true })).stdout.trim();
  t.not(await fsType(), 'bpf_fs', 'nothing mounted, as on a fresh machine');
  const links = await lab.exec(lab.ns.lb, ['ip', '-o', 'link', 'show', 'front'], { bare: true });
  t.is(links.code, 0, 'the LB\'s interfaces are there');
  const mount = await lab.exec(lab.ns.lb, ['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf'], { bare: true });
  t.is(mount.code, 0, mount.stderr);
  t.is(await fsType(), 'bpf_fs');
  await lab.exec(lab.ns.lb, ['mkdir', '/sys/fs/bpf/xlbt-probe'], { bare: true });
  t.true(existsSync(lab.inMounts('/sys/fs/bpf/xlbt-probe')), 'reachable from here');
  t.false(existsSync('/sys/fs/bpf/xlbt-probe'), 'not on the host');
});

test('a pair: two LBs on the client bridge and the backend bridge; the backends\' gateway is whoever floats it', async (t) => {
  const lab = await createLab(t, { pair: true, backends: 2 });
  t.is(lab.lbs.length, 2);
  const [a, b] = lab.lbs;
  for (const lb of [a!, b!]) {
    const ping = await lab.exec(lab.ns.client, ['ping', '-n', '-c', '1', '-W', '2', lb.front]);
    t.is(ping.code, 0, `the client reaches ${lb.ns}'s front on its own subnet: ${ping.stdout}`);
    const neigh = await lab.exec(lab.ns.client, ['ip', '-j', 'neigh', 'show', lb.front]);
    t.is((JSON.parse(neigh.stdout) as { lladdr: string }[])[0]!.lladdr, lb.frontMac);
    const back = await lab.exec(lb.ns, ['ping', '-n', '-c', '1', '-W', '2', lab.addresses.backends[0]!]);
    t.is(back.code, 0, `${lb.ns} reaches a backend: ${back.stdout}`);
  }
  // Nobody holds the gateway yet; once b floats it, the backends' replies to the client go through b.
  const none = await lab.exec(lab.ns.backends[0]!, ['ping', '-n', '-c', '1', '-W', '1', lab.addresses.client]);
  t.not(none.code, 0);
  await lab.exec(b!.ns, ['ip', 'addr', 'add', `${lab.gateway}/24`, 'dev', 'back']);
  // (Through xlb the client never sees a backend's address; here it needs a way back.)
  await lab.exec(lab.ns.client, ['ip', 'route', 'add', '198.18.1.0/24', 'via', b!.front]);
  const via = await lab.exec(lab.ns.backends[0]!, ['ping', '-n', '-c', '1', '-W', '2', lab.addresses.client]);
  t.is(via.code, 0, via.stdout + via.stderr);
  const route = await lab.exec(lab.ns.backends[0]!, ['ip', '-j', 'neigh', 'show', lab.gateway]);
  t.is((JSON.parse(route.stdout) as { lladdr: string }[])[0]!.lladdr, b!.backMac);
});

test('dsrVips: backends hold the VIPs on lo and do not answer ARP for them', async (t) => {
  const lab = await createLab(t, { backends: 2, servers: false, dsrVips: ['198.18.100.10', '198.18.100.11'] });
  for (const ns of lab.ns.backends) {
    const addrs = await lab.exec(ns, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo']);
    t.regex(addrs.stdout, /inet 198\.18\.100\.10\/32/);
    t.regex(addrs.stdout, /inet 198\.18\.100\.11\/32/);
    const sysctl = await lab.exec(ns, ['sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce']);
    t.deepEqual(sysctl.stdout.trim().split('\n'), ['1', '2']);
  }
});

test('backendNet: b1 answers for every address of the net (ICMP, HTTP), reached through the LB', async (t) => {
  const lab = await createLab(t, { backends: 2, backendNet: '198.18.16.0/22' });
  const all = addressesIn('198.18.16.0/22', 1024);
  const last = all.at(-1)!;
  for (const address of [all[0]!, last]) {
    const ping = await lab.exec(lab.ns.client, ['ping', '-n', '-c', '1', '-W', '5', address]);
    t.is(ping.code, 0, `ping ${address}: ${ping.stdout}${ping.stderr}`);
    t.is((await get(lab, `http://${address}:${BACKEND_HTTP_PORT}/`)).body, 'b1\n');
  }
  const route = await lab.exec(lab.ns.lb, ['ip', '-o', 'route', 'get', last]);
  t.regex(route.stdout, new RegExp(`via ${lab.addresses.backends[0]!.replace(/\./g, '\\.')} dev back`));
  t.deepEqual(addressesIn('198.18.16.0/30', 4), ['198.18.16.0', '198.18.16.1', '198.18.16.2', '198.18.16.3']);
  t.throws(() => addressesIn('198.18.16.0/30', 5), { instanceOf: RangeError });
});

test('a failure in the middle of create removes what was built', async (t) => {
  const prefix = `xlbf${randomBytes(2).toString('hex')}`;
  const squatter = `${prefix}-b2`; // makes `ip netns add` fail for the second backend
  execFileSync('ip', ['netns', 'add', squatter]);
  t.teardown(() => {
    execFileSync('ip', ['netns', 'del', squatter]);
  });
  await t.throwsAsync(Lab.create({ prefix, backends: 3 }), { message: /b2/ });
  t.deepEqual(await withPrefix(prefix), [squatter]);
});

test('bad options are refused before anything is built', async (t) => {
  const prefix = `xlbf${randomBytes(2).toString('hex')}`;
  await t.throwsAsync(Lab.create({ prefix, backends: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(Lab.create({ prefix, dsrVips: ['nope'] }), { instanceOf: RangeError });
  await t.throwsAsync(Lab.create({ prefix: 'bad-prefix' }), { instanceOf: RangeError });
  for (const [backendNet, why] of [
    ['198.18.16.0', /bad prefix/], ['198.18.16.1/24', /host bits/], ['10.0.0.0/8', /not inside 198\.18\.0\.0\/15/],
    ['198.18.0.0/16', /overlaps/], ['198.18.100.128/25', /overlaps/], ['198.18.16.0/33', /bad prefix/],
  ] as const) {
    await t.throwsAsync(Lab.create({ prefix, backendNet }), { instanceOf: RangeError, message: why }, backendNet);
  }
  t.deepEqual(await withPrefix(prefix), []);
});

test('removeStaleLabs deletes a crashed run\'s namespaces and processes, and only those', async (t) => {
  const prefix = `xlbs${randomBytes(2).toString('hex')}`;
  const stale = [`${prefix}-client`, `${prefix}-b1`];
  const other = `${prefix}x-client`; // another prefix that merely starts the same
  for (const ns of [...stale, other]) execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => {
    for (const ns of [...stale, other]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  });
  const orphan = spawn('ip', ['netns', 'exec', stale[1]!, 'sleep', '600'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => orphan.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 300));

  await removeStaleLabs(prefix);
  await exited;
  t.deepEqual(await withPrefix(prefix), []);
  t.true((await listNamespaces()).includes(other));
});
