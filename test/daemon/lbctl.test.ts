// lbctl's verbs against a real daemon in the lab: what they print (--json as api.ts defines it), what they change on
// the wire, and their exit codes.
import test from 'ava';
import { existsSync } from 'node:fs';
import type { DenyList, Event, Stats, Status } from '../../lb/control/api.js';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import { eventually, HttpClient, httpBurst, ping, sleep, VIP, webService, XlbNode } from '../support/daemon.js';

const isInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

test('status: the table and the --json Status object', async (t) => {
  const node = await XlbNode.create(t);
  const d = await node.start();

  const s = await node.status();
  t.is(s.role, 'standalone');
  t.is(s.pid, d.pid);
  t.true(isInt(s.uptime));
  t.false(s.adopted);
  t.is(s.pinPath, node.pinPath);
  t.deepEqual(s.interfaces.map((i) => i.name), ['front', 'back']);
  for (const i of s.interfaces) {
    t.true(isInt(i.ifindex) && i.ifindex > 0);
    t.true(i.mode === 'native' || i.mode === 'generic', i.mode);
  }
  t.deepEqual(s.deny, []);
  t.deepEqual(s.services.map((v) => v.name), ['ping', 'web']);
  const [pingSvc, web] = s.services as [Status['services'][0], Status['services'][0]];
  t.like(pingSvc, { vip: VIP, protocol: 'icmp', scheduler: 'rr', forwarding: 'nat', health: 'icmp', allow: [] });
  t.false('port' in pingSvc, 'an icmp service has no port');
  t.like(web, { vip: VIP, protocol: 'tcp', port: 80, scheduler: 'maglev', forwarding: 'nat', health: 'http', allow: [] });
  t.deepEqual(web.backends.map((b) => `${b.address}:${b.port}`), node.lab.addresses.backends.map((a) => `${a}:${BACKEND_HTTP_PORT}`));
  for (const [i, b] of web.backends.entries()) {
    // The probe's detail: the first probe may not have run yet.
    t.true(b.probe === 'HTTP 200' || b.probe === 'not probed yet', b.probe);
    t.deepEqual(b, {
      address: node.lab.addresses.backends[i], port: BACKEND_HTTP_PORT, weight: 1, drained: false, health: 'up',
      probe: b.probe, mac: node.lab.macs.backends[i],
    });
  }
  t.deepEqual(pingSvc.backends.map((b) => Object.keys(b).sort()), pingSvc.backends.map(() => ['address', 'drained', 'health', 'mac', 'probe', 'weight']));
  for (const i of s.interfaces) t.deepEqual(Object.keys(i).sort(), ['ifindex', 'mode', 'name', 'state']);
  t.true(s.interfaces.every((i) => i.state === 'attached'));
  // The whole object, as the contract lists its keys.
  t.deepEqual(Object.keys(s).sort(), ['adopted', 'deny', 'interfaces', 'pid', 'pinPath', 'role', 'services', 'uptime']);

  const table = await node.lbctl(['status']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^role\s+standalone$/m);
  t.regex(table.stdout, new RegExp(`^pid\\s+${d.pid}$`, 'm'));
  t.regex(table.stdout, new RegExp(`^maps\\s+${node.pinPath} \\(created by this daemon\\)$`, 'm'));
  t.regex(table.stdout, /^interfaces\s+front \(ifindex \d+, (native|generic)\), back \(ifindex \d+, (native|generic)\)$/m);
  t.regex(table.stdout, /^SERVICE\s+VIP\s+PROTOCOL\s+PORT\s+SCHEDULER\s+FORWARDING\s+CHECK\s+ALLOW\s+UP$/m);
  t.regex(table.stdout, /^ping\s+198\.18\.100\.10\s+icmp\s+-\s+rr\s+nat\s+icmp\s+any\s+3\/3$/m);
  t.regex(table.stdout, /^web\s+198\.18\.100\.10\s+tcp\s+80\s+maglev\s+nat\s+http\s+any\s+3\/3$/m);
  t.regex(table.stdout, /^web\s+198\.18\.1\.12:8080\s+1\s+up\s+no\s+02:be:c6:12:01:0c$/m);
  t.regex(table.stdout, /^ping\s+198\.18\.1\.13\s+1\s+up\s+no\s+02:be:c6:12:01:0d$/m);
  t.is(table.stderr, '');

  // Usage errors exit 2; no daemon at a socket exits 1.
  const usage = await node.lbctl(['status', '--bogus']);
  t.is(usage.code, 2, usage.stderr);
  const nobody = await node.lbctl(['status', '--socket', `/run/xlb/${node.prefix}-nobody.sock`], { socket: false });
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /no xlb daemon/);
});

test('stats --json counts packets after traffic; the table shows them', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const before = await node.lbctlJson<Stats>(['stats']);
  t.deepEqual(before.services.map((s) => s.name), ['ping', 'web']);

  const burst = await httpBurst(node.lab, 30);
  t.is(burst.ok, 30);
  const p = await ping(node.lab, ['-c', '6', '-i', '0.2', '-W', '5']);
  t.is(p.received, 6);

  const after = await node.lbctlJson<Stats>(['stats']);
  const web = after.services.find((s) => s.name === 'web')!;
  const pingStats = after.services.find((s) => s.name === 'ping')!;
  t.true(web.packets >= 30 * 3, `web packets ${web.packets} (3+ client packets per request)`);
  t.true(web.bytes > web.packets * 40);
  t.true(web.flowsNew >= 30, `web flowsNew ${web.flowsNew}`);
  t.is(web.backends.reduce((n, b) => n + b.packets, 0), web.packets, 'the backends add up to the service');
  t.deepEqual(web.backends.map((b) => `${b.address}:${b.port}`), node.lab.addresses.backends.map((a) => `${a}:${BACKEND_HTTP_PORT}`));
  for (const b of web.backends) t.true(b.packets > 0, `${b.address}: ${b.packets}`);
  t.is(pingStats.packets, 6);
  t.deepEqual(pingStats.backends.map((b) => b.packets), [2, 2, 2]);
  for (const o of ['pass_not_vip', 'tx', 'redirect', 'drop_no_backend', 'drop_denied']) t.true(o in after.outcomes, o);
  t.true(after.outcomes.redirect!.packets + after.outcomes.tx!.packets >= web.packets + pingStats.packets);

  const table = await node.lbctl(['stats']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^SERVICE\s+BACKEND\s+PACKETS\s+BYTES\s+NEW FLOWS$/m);
  t.regex(table.stdout, /^ping\s+all\s+6\s+\d+ B\s+\d+$/m);
  t.regex(table.stdout, /^ping\s+198\.18\.1\.11\s+2\s+\d+ B\s+\d+$/m);
  t.regex(table.stdout, /^web\s+all\s+[\d,]+\s+[\d.]+ k?B\s+[\d,]+$/m);
  t.regex(table.stdout, /^web\s+198\.18\.1\.11:8080\s+[\d,]+\s+[\d.]+ k?B\s+[\d,]+$/m);
  t.regex(table.stdout, /^OUTCOME\s+PACKETS\s+BYTES$/m);
  t.regex(table.stdout, /^drop_denied\s+0\s+0 B$/m);
});

test('backend add (with a weight) and remove; drain and undrain', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t, { backends: 4 });
  const lab = node.lab;
  const three = lab.addresses.backends.slice(0, 3);
  await node.start(node.config({ services: [webService(three, { scheduler: 'rr' })] }));
  const b4 = `${lab.addresses.backends[3]}:${BACKEND_HTTP_PORT}`;

  const none = await httpBurst(lab, 12);
  t.is(none.counts.b4 ?? 0, 0);

  const add = await node.lbctl(['backend', 'add', 'web', b4, '--weight', '3']);
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /added 198\.18\.1\.14:8080 to web with weight 3: \d+ map writes?/);
  const added = await eventually('b4 resolved', 10_000, async () => {
    const b = (await node.status()).services[0]!.backends.find((x) => x.address === lab.addresses.backends[3]);
    return b?.mac ? b : undefined;
  });
  t.like(added, { port: BACKEND_HTTP_PORT, weight: 3, drained: false, health: 'up', mac: lab.macs.backends[3] });
  // Status shows the resolved next hop before the plan that puts b4 in the table has run: wait for b4's traffic.
  await eventually('b4 in the table', 10_000, async () => ((await httpBurst(lab, 6)).counts.b4 ?? 0) > 0);
  // rr with weights 1, 1, 1, 3: b4 takes half of the new flows (24 is four turns of the ring, from wherever it stands).
  const withB4 = await httpBurst(lab, 24);
  t.deepEqual(withB4.errors, []);
  t.is(withB4.counts.b4, 12, JSON.stringify(withB4.counts));

  const twice = await node.lbctl(['backend', 'add', 'web', b4]);
  t.is(twice.code, 1, 'adding it again is refused');
  t.regex(twice.stderr, /already has backend/);
  const unknown = await node.lbctl(['backend', 'add', 'nosuch', b4]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no service "nosuch"/);
  const badArg = await node.lbctl(['backend', 'add', 'web', '198.18.1.300']);
  t.is(badArg.code, 2);
  const badWeight = await node.lbctl(['backend', 'add', 'web', b4, '--weight', '-1']);
  t.is(badWeight.code, 2);

  const remove = await node.lbctl(['backend', 'remove', 'web', b4]);
  t.is(remove.code, 0, remove.stderr);
  t.regex(remove.stdout, /removed 198\.18\.1\.14:8080 from web/);
  t.deepEqual((await node.status()).services[0]!.backends.map((b) => b.address), three);
  const without = await httpBurst(lab, 12);
  t.deepEqual(without.errors, []);
  t.is(without.counts.b4 ?? 0, 0, JSON.stringify(without.counts));
  const again = await node.lbctl(['backend', 'remove', 'web', b4]);
  t.is(again.code, 1);
  t.regex(again.stderr, /has no backend 198\.18\.1\.14:8080/);

  // drain b2: no new flows; undrain: new flows again.
  const b2 = `${lab.addresses.backends[1]}:${BACKEND_HTTP_PORT}`;
  const drain = await node.lbctl(['backend', 'drain', 'web', b2]);
  t.is(drain.code, 0, drain.stderr);
  t.regex(drain.stdout, /drained 198\.18\.1\.12:8080 in web/);
  t.true((await node.status()).services[0]!.backends[1]!.drained);
  const drained = await httpBurst(lab, 12);
  t.deepEqual(drained.errors, []);
  t.is(drained.counts.b2 ?? 0, 0, JSON.stringify(drained.counts));
  const table = await node.lbctl(['status']);
  t.regex(table.stdout, /^web\s+198\.18\.1\.12:8080\s+1\s+up\s+yes\s/m);
  const undrain = await node.lbctl(['backend', 'undrain', 'web', b2]);
  t.is(undrain.code, 0, undrain.stderr);
  t.false((await node.status()).services[0]!.backends[1]!.drained);
  const back = await httpBurst(lab, 12);
  t.is(back.counts.b2, 4, JSON.stringify(back.counts));
});

test('deny add/list/remove: a denied client\'s ping is dropped, and passes again once removed', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const lab = node.lab;

  const ok = await ping(lab, ['-c', '2', '-i', '0.2', '-W', '2']);
  t.is(ok.received, 2);

  const add = await node.lbctl(['deny', 'add', '198.18.0.1/32']);
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /denied 198\.18\.0\.1\/32; the deny list has 1 entry/);
  t.deepEqual(await node.lbctlJson<DenyList>(['deny', 'list']), { deny: ['198.18.0.1/32'] });
  const list = await node.lbctl(['deny', 'list']);
  t.is(list.stdout, '198.18.0.1/32\n');
  t.deepEqual((await node.status()).deny, ['198.18.0.1/32']);
  const dup = await node.lbctl(['deny', 'add', '198.18.0.1']);
  t.is(dup.code, 1, 'a bare address is the same /32, already there');

  const denied = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '1']);
  t.is(denied.received, 0, denied.stdout);
  t.not(denied.code, 0);
  // Denied for the TCP service too.
  const http = await httpBurst(lab, 2, undefined, 1000);
  t.is(http.ok, 0);
  const stats = await node.lbctlJson<Stats>(['stats']);
  t.true(stats.outcomes.drop_denied!.packets >= 3, JSON.stringify(stats.outcomes.drop_denied));
  // The drops show up as events.
  const events = await eventually('a drop_denied event', 5000, async () => {
    const r = await node.lbctl(['events', '--json']);
    const all = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
    return all.some((e) => e.verdict === 'drop_denied') ? all : undefined;
  });
  const drop = events.find((e) => e.verdict === 'drop_denied')!;
  t.like(drop, { kind: 'drop', source: '198.18.0.1', destination: VIP });

  const remove = await node.lbctl(['deny', 'remove', '198.18.0.1/32']);
  t.is(remove.code, 0, remove.stderr);
  t.deepEqual(await node.lbctlJson<DenyList>(['deny', 'list']), { deny: [] });
  const empty = await node.lbctl(['deny', 'list']);
  t.regex(empty.stdout, /the deny list is empty/);
  const gone = await node.lbctl(['deny', 'remove', '198.18.0.1/32']);
  t.is(gone.code, 1);
  const bad = await node.lbctl(['deny', 'add', '198.18.0.1/33']);
  t.is(bad.code, 2);

  const again = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '2']);
  t.is(again.received, 3, again.stdout);
});

test('events --json lists flow events with source, destination, service and backend', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const burst = await httpBurst(node.lab, 10);
  t.is(burst.ok, 10);

  const flows = await eventually('web flow events', 5000, async () => {
    const r = await node.lbctl(['events', '--json']);
    if (r.code !== 0) throw new Error(r.stderr);
    const all = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
    const web = all.filter((e) => e.kind === 'flow' && e.service === 'web');
    return web.length > 0 ? web : undefined;
  });
  const backends = node.lab.addresses.backends.map((a) => `${a}:${BACKEND_HTTP_PORT}`);
  for (const e of flows) {
    t.is(e.source, '198.18.0.1');
    t.is(e.destination, VIP);
    t.is(e.protocol, 'tcp');
    t.is(e.dport, 80);
    t.true(isInt(e.sport) && e.sport! > 0);
    t.true(backends.includes(e.backend!), e.backend);
    t.true(['tx', 'redirect'].includes(e.verdict), e.verdict);
    t.true(Math.abs(e.time - Date.now()) < 60_000, `event time ${new Date(e.time).toISOString()}`);
  }
  const plain = await node.lbctl(['events']);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stdout, /198\.18\.0\.1/);
  t.regex(plain.stdout, /web/);
});

test('detach takes the program off the interfaces, removes the pins, and the daemon exits', async (t) => {
  const node = await XlbNode.create(t);
  const d = await node.start();
  t.true((await node.xdpProgIds('front')).length > 0);
  t.true((await node.xdpProgIds('back')).length > 0);
  t.true(existsSync(node.pinDir));

  const r = await node.lbctl(['detach']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /detached from front, back/);
  const code = await Promise.race([d.exited, sleep(10_000).then(() => 'still running')]);
  t.is(code, 0, 'the daemon exits 0 after detach');
  t.deepEqual(await node.xdpProgIds('front'), []);
  t.deepEqual(await node.xdpProgIds('back'), []);
  t.false(existsSync(node.pinDir), 'the pin dir is gone');
  // The LB is a plain router again: the backends answer pings to their own addresses, the VIP is nobody's.
  const direct = await ping(node.lab, ['-c', '1', '-W', '2'], node.lab.addresses.backends[0]);
  t.is(direct.received, 1);
  const vip = await ping(node.lab, ['-c', '1', '-W', '1']);
  t.is(vip.received, 0);
  const after = await node.lbctl(['status']);
  t.is(after.code, 1);
});

test('an open connection stays on its backend when a backend is added', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const client = await HttpClient.open(node.lab);
  t.teardown(() => client.close());
  const first = await client.get('keep');
  t.is(first.status, 200);
  // Requests go on over the connection while lbctl runs (and keep it from the server's 5 s keep-alive timeout on a
  // slow machine).
  let added = false;
  const adding = node.lbctl(['backend', 'add', 'web', `${node.lab.addresses.backends[0]}:8081`]).finally(() => (added = true));
  while (!added) {
    const during = await client.get('keep');
    t.is(during.backend, first.backend);
    t.is(during.localPort, first.localPort);
    await sleep(500);
  }
  const add = await adding;
  t.is(add.code, 0, add.stderr);
  const next = await client.get('keep');
  t.is(next.backend, first.backend);
  t.is(next.localPort, first.localPort);
});
