// Config files against the daemon: a bad one never gets to attach anything; `lbctl config apply` and SIGHUP make a
// changed file the pool, and a broken one leaves the running pool as it was.
import test from 'ava';
import { existsSync } from 'node:fs';
import { stringify } from 'yaml';
import type { Status } from '../../lb/control/api.js';
import { BACKEND_UDP_PORT, type Lab } from '../../scripts/lab/lab.js';
import { eventually, LBCTL, servicesOf, VIP, XlbNode, type ConfigObject } from '../support/daemon.js';

/** A UDP service on the VIP's port 53 over the lab's echo servers (port 5353). */
function dnsService(lab: Lab): ConfigObject {
  return {
    name: 'dns', vip: VIP, protocol: 'udp', port: 53,
    backends: lab.addresses.backends.map((address) => ({ address, port: BACKEND_UDP_PORT })),
  };
}

/** The config with mistakes in three places. */
function broken(node: XlbNode): ConfigObject {
  const good = node.config();
  const [pingSvc, web] = good.services as ConfigObject[];
  return {
    ...good,
    services: [
      { ...pingSvc, vip: '300.1.2.3' },
      { ...web, scheduler: 'roundrobin', backends: [{ address: '198.18.1.11', port: 70000 }] },
    ],
  };
}
const BROKEN_PROBLEMS = [
  'services[0].vip: "300.1.2.3" is not an IPv4 address',
  'services[1].scheduler: "roundrobin" is not one of rr, maglev',
  'services[1].backends[0].port: 70000 is not a port (1..65535)',
];

/** One UDP datagram from the client namespace to VIP:53; resolves with the answer's text ("" if none). */
async function udpAsk(lab: Lab, payload: string): Promise<string> {
  const js = `
    const s = require('node:dgram').createSocket('udp4');
    const timer = setTimeout(() => { s.close(); }, 2000);
    s.on('message', (m) => { process.stdout.write(m.toString()); clearTimeout(timer); s.close(); });
    s.send(process.argv[1], 53, '${VIP}');
  `;
  const r = await lab.exec(lab.ns.client, [process.execPath, '-e', js, payload]);
  return r.stdout;
}

test('a config with errors is rejected at start: exit 1, every problem on stderr, nothing attached or pinned', async (t) => {
  const node = await XlbNode.create(t);
  const bad = node.writeConfig(broken(node), 'bad.yaml');
  const r = await node.lab.exec(node.lab.ns.lb, [process.execPath, LBCTL, 'daemon', '-c', bad], { bare: true });
  t.is(r.code, 1, r.stderr);
  t.is(r.stdout, '');
  // The operator reads `path: message` lines (whatever else the log line carries).
  for (const p of BROKEN_PROBLEMS) {
    t.true(r.stderr.split('\n').some((line) => line.trim() === p || line.trim().endsWith(`: ${p}`)),
      `stderr has the line "${p}":\n${r.stderr}`);
  }
  t.deepEqual(await node.xdpProgIds('front'), []);
  t.deepEqual(await node.xdpProgIds('back'), []);
  t.false(existsSync(node.pinDir), 'no pin dir');
  t.false(existsSync(node.socket), 'no control socket');

  const check = await node.lbctl(['config', 'check', bad], { socket: false });
  t.is(check.code, 1);
  for (const p of BROKEN_PROBLEMS) t.true(check.stderr.includes(`${bad}: ${p}`), check.stderr);
});

test('config apply: a changed file becomes the pool; a broken one is refused and changes nothing', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  await node.start();
  t.is(await udpAsk(lab, 'hello'), '', 'no UDP service yet: the VIP is nobody\'s');

  const changed = node.config();
  (changed.services as ConfigObject[]).push(dnsService(lab));
  const file = node.writeConfig(changed, 'changed.yaml');
  const apply = await node.lbctl(['config', 'apply', file]);
  t.is(apply.code, 0, apply.stderr);
  t.regex(apply.stdout, new RegExp(`^applied ${file}: \\d+ map writes? \\(3 services, 9 backends\\)$`, 'm'));
  const s = await node.status();
  t.deepEqual(s.services.map((v) => v.name), ['ping', 'web', 'dns']);
  t.like(s.services[2], { protocol: 'udp', port: 53, health: 'none' });
  const answer = await eventually('a UDP answer', 5000, async () => (await udpAsk(lab, 'hello')) || undefined);
  t.regex(answer, /^b[123] hello$/);

  const same = await node.lbctl(['config', 'apply', file]);
  t.is(same.code, 0, same.stderr);
  t.regex(same.stdout, /: no change \(3 services, 9 backends\)/);

  const bad = node.writeConfig(broken(node), 'bad.yaml');
  const refused = await node.lbctl(['config', 'apply', bad]);
  t.is(refused.code, 1);
  for (const p of BROKEN_PROBLEMS) t.true(refused.stderr.includes(p), `${p}:\n${refused.stderr}`);
  const after = await node.status();
  t.deepEqual(servicesOf(after), servicesOf(s), 'the running pool is unchanged');
  t.deepEqual(after.deny, s.deny);
  t.regex(await udpAsk(lab, 'again'), /^b[123] again$/);

  const unreadable = await node.lbctl(['config', 'apply', `${node.dir}/missing.yaml`]);
  t.is(unreadable.code, 1);
});

test('SIGHUP reloads the edited file; a SIGHUP with a broken file keeps the running pool', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const d = await node.start();

  const changed = node.config({ deny: ['203.0.113.0/24'] });
  (changed.services as ConfigObject[]).push(dnsService(lab));
  node.writeConfig(changed); // the daemon's own file, xlb.yaml
  d.signal('SIGHUP');
  const s = await eventually('the reloaded pool', 10_000, async () => {
    const now = await node.status();
    return now.services.length === 3 ? now : undefined;
  });
  t.deepEqual(s.services.map((v) => v.name), ['ping', 'web', 'dns']);
  t.deepEqual(s.deny, ['203.0.113.0/24']);
  t.is(s.pid, d.pid, 'the same daemon: a reload, not a restart');
  t.regex(await eventually('a UDP answer', 5000, async () => (await udpAsk(lab, 'hup')) || undefined), /^b[123] hup$/);

  node.writeConfig(stringify(broken(node)));
  const logged = d.log.length;
  d.signal('SIGHUP');
  await eventually('the reload rejected in the log', 10_000, async () => d.log.slice(logged).includes('reload rejected'));
  const rejected = d.logEntries().find((e) => typeof e.msg === 'string' && e.msg.startsWith('reload rejected'))!;
  t.true(rejected.level as number >= 50, 'logged as an error');
  const problems = rejected.problems as string[];
  for (const p of BROKEN_PROBLEMS) t.true(problems.includes(p), `${p} in ${JSON.stringify(problems)}`);
  const after: Status = await node.status();
  t.deepEqual(servicesOf(after), servicesOf(s), 'the running pool stays');
  t.deepEqual(after.deny, s.deny);
  t.true(d.running);
  t.regex(await udpAsk(lab, 'still'), /^b[123] still$/);
});
