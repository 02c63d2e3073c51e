// The daemon on a bare machine: no BPF filesystem mounted (the lab's mount namespace starts without one), a pin path
// another daemon owns, another tool's pins beside xlb's.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { LBCTL, servicesOf, sleep, XlbNode } from '../support/daemon.js';

test('with no BPF filesystem mounted, the daemon mounts one, says so, and serves', async (t) => {
  const node = await XlbNode.create(t);
  const fsType = async () => (await node.lab.exec(node.lab.ns.lb, ['stat', '-f', '-c', '%T', '/sys/fs/bpf'], { bare: true }))
    .stdout.trim();
  t.not(await fsType(), 'bpf_fs', 'the lab starts as a fresh machine does');

  const first = await node.start();
  t.true(first.logEntries().some((e) => e.msg === 'mounted a BPF filesystem at /sys/fs/bpf: none was mounted'), first.log);
  t.is(await fsType(), 'bpf_fs');
  t.true(existsSync(`${node.pinDir}/xlb_services`), 'the maps are pinned there');
  await first.stop();

  const second = await node.start();
  t.false(second.log.includes('mounted a BPF filesystem'), 'mounted once, then found');
  t.true((await node.status()).adopted);
});

test('a second daemon on the same pin_path (its own socket and metrics) is refused and changes nothing', async (t) => {
  const node = await XlbNode.create(t);
  const first = await node.start();
  const before = await node.status();
  const progs = await node.xdpProgIds('front');

  const other = node.config({ node: { control_socket: `${node.socket}-2`, metrics: '127.0.0.1:9471' } });
  const second = node.spawnDaemon(node.writeConfig(other, 'second.yaml'));
  const code = await Promise.race([second.exited, sleep(20_000).then(() => 'still running')]);
  t.is(code, 1, second.log);
  t.regex(second.log, new RegExp(`node\\.pin_path ${node.pinPath} is in use by another xlb daemon \\(pid ${first.pid}\\)`));

  t.true(first.running);
  t.deepEqual(await node.xdpProgIds('front'), progs, 'the program was not swapped');
  t.deepEqual(servicesOf(await node.status()), servicesOf(before));
  t.false(existsSync(`${node.socket}-2`), 'the second socket was never made');
});

test('a failed first start and lbctl detach remove only xlb\'s pins, never another tool\'s', async (t) => {
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const bare = (cmd: string[]) => lab.exec(lab.ns.lb, cmd, { bare: true });
  t.is((await bare(['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf'])).code, 0);
  t.is((await bare(['mkdir', '-p', node.pinPath])).code, 0);
  const foreign = await bare(['bpftool', 'map', 'create', `${node.pinPath}/other_tool`, 'type', 'array', 'key', '4', 'value', '4',
    'entries', '1', 'name', 'other_tool']);
  t.is(foreign.code, 0, foreign.stderr);

  const missing = node.writeConfig(node.config({ node: { interfaces: ['front', 'nosuch0'] } }), 'missing.yaml');
  const failed = await bare([process.execPath, LBCTL, 'daemon', '-c', missing]);
  t.is(failed.code, 1, failed.stderr);
  t.regex(failed.stderr, /nosuch0/);
  t.deepEqual(readdirSync(node.pinDir), ['other_tool'], 'xlb\'s own pins went, the other tool\'s stayed');
  t.deepEqual(await node.xdpProgIds('front'), [], 'nothing left attached');

  const d = await node.start();
  t.true(readdirSync(node.pinDir).length > 1);
  const r = await node.lbctl(['detach']);
  t.is(r.code, 0, r.stderr);
  t.is(await d.exited, 0);
  t.deepEqual(readdirSync(node.pinDir), ['other_tool']);
  execFileSync('rm', [`${node.pinDir}/other_tool`]);
});

test('a control socket where no directory can be made, or on a read-only filesystem: one clear line, exit 1, nothing left', async (t) => {
  t.timeout(90_000);
  const node = await XlbNode.create(t);
  const bare = (cmd: string[]) => node.lab.exec(node.lab.ns.lb, cmd, { bare: true, timeoutMs: 30_000 });
  const start = async (socket: string) => {
    const file = node.writeConfig(node.config({ node: { control_socket: socket } }), 'socket.yaml');
    return bare([process.execPath, LBCTL, 'daemon', '-c', file]);
  };

  // procfs answers ENOENT to mkdir, where Node's recursive mkdir spins forever.
  const proc = await start('/proc/xlb-nowhere/xlb.sock');
  t.is(proc.code, 1, proc.stderr);
  t.regex(proc.stderr, /start failed: cannot create \/proc\/xlb-nowhere for node\.control_socket: ENOENT: no such file or directory/);

  // A read-only directory (in the lab's own mount namespace).
  t.is((await bare(['sh', '-c', 'mkdir -p /run/xlb-ro && mount -t tmpfs -o ro tmpfs /run/xlb-ro'])).code, 0);
  const ro = await start('/run/xlb-ro/sub/xlb.sock');
  t.is(ro.code, 1, ro.stderr);
  t.regex(ro.stderr, /start failed: cannot create \/run\/xlb-ro\/sub for node\.control_socket: EROFS: read-only file system/);
  t.deepEqual(await node.xdpProgIds('front'), [], 'nothing left attached');
  t.false(existsSync(`${node.pinDir}/xlb_services`), 'nothing left pinned');
});
