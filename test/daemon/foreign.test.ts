// Another tool's XDP program on a configured interface: the daemon refuses to start and names the interface and the
// program, touching nothing; with --force it replaces the program, and says so.
import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { httpBurst, LBCTL, sleep, XlbNode } from '../support/daemon.js';

const PASS_OBJ = fileURLToPath(new URL('../../bpf/pass.o', import.meta.url));

async function attachPass(node: XlbNode, dev: string): Promise<{ id: number; name: string }> {
  const r = await node.lab.exec(node.lab.ns.lb, ['ip', 'link', 'set', 'dev', dev, 'xdpgeneric', 'obj', PASS_OBJ, 'sec', 'xdp']);
  if (r.code !== 0) throw new Error(`attaching pass.o to ${dev}: ${r.stderr}`);
  const show = await node.lab.exec(node.lab.ns.lb, ['ip', '-j', '-d', 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(show.stdout) as { xdp: { prog: { id: number; name: string } } }[];
  return link!.xdp.prog;
}

test('a foreign XDP program on an interface: the daemon refuses, names it, and changes nothing', async (t) => {
  const node = await XlbNode.create(t);
  const foreign = await attachPass(node, 'front');
  t.is(foreign.name, 'xlb_pass');

  const d = node.spawnDaemon(node.writeConfig(node.config()));
  const code = await Promise.race([d.exited, sleep(30_000).then(() => 'still running')]);
  t.is(code, 1, d.log);
  const failed = d.logEntries().find((e) => typeof e.msg === 'string' && e.msg.startsWith('start failed'));
  t.truthy(failed, d.log);
  t.is(failed!.msg, `start failed: front runs XDP program ${foreign.id} "xlb_pass", which xlb did not put there: take it ` +
    'off (ip link set dev front xdp off) or start the daemon with --force to replace it');
  t.is((failed!.err as { code?: string }).code, 'XLB_FOREIGN_XDP');

  t.deepEqual(await node.xdpProgIds('front'), [foreign.id], 'the foreign program stays');
  t.deepEqual(await node.xdpProgIds('back'), [], 'nothing attached to back');
  t.false(existsSync(node.pinDir), 'nothing pinned');
  t.false(existsSync(node.socket), 'no control socket');
});

test('with --force the daemon replaces the foreign program, warns naming it, and forwards', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const foreign = await attachPass(node, 'front');

  const d = await node.start(node.config(), { args: ['--force'] });
  const warning = d.logEntries().find((e) => e.level === 40 && e.interface === 'front');
  t.truthy(warning, d.log);
  t.is(warning!.msg, `replacing XDP program ${foreign.id} "xlb_pass" on front, which xlb did not put there (--force); ` +
    'it will not come back when xlb stops');
  const ids = await node.xdpProgIds('front');
  t.is(ids.length, 1);
  t.not(ids[0], foreign.id);
  t.deepEqual(await node.xdpProgIds('back'), ids, 'xlb\'s program on both');
  const burst = await httpBurst(node.lab, 6);
  t.is(burst.ok, 6, JSON.stringify(burst));

  // A restart finds xlb's own program: no --force needed, and no warning.
  await d.stop();
  const again = await node.start();
  t.false(again.logEntries().some((e) => e.level === 40 && e.interface === 'front'), again.log);
  t.true((await node.status()).adopted);
});

test('lbctl detach without a daemon takes off xlb\'s program only; another tool\'s stays', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const d = await node.start();
  await d.stop();
  t.true((await node.xdpProgIds('front')).length > 0, 'a stopped daemon leaves its program forwarding');
  // Someone puts another program on back meanwhile.
  await node.lab.exec(node.lab.ns.lb, ['ip', 'link', 'set', 'dev', 'back', 'xdp', 'off']);
  const foreign = await attachPass(node, 'back');

  const r = await node.lab.exec(node.lab.ns.lb, [process.execPath, LBCTL, 'detach', '-c', d.configPath], { bare: true });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^no daemon running: detached from front; removed xlb's pins in /);
  t.deepEqual(await node.xdpProgIds('front'), []);
  t.deepEqual(await node.xdpProgIds('back'), [foreign.id], 'the foreign program stays');
  const logged = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
  t.true(logged.some((e) => e.msg === `left XDP program ${foreign.id} "xlb_pass" on back: xlb did not put it there`), r.stderr);
});
