// Pinned maps: a restarted daemon adopts them all (the devmap too, whatever flags the kernel added), and a set where
// any map no longer fits is replaced together, never half adopted. The pin directory has one owner, and xlb removes
// only its own pins from it.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { u32Key } from '../../lb/bpf/layout.js';
import { DataPlane, PIN_NAMES } from '../../lb/dataplane/dataplane.js';
import { makePinDirectory, PinLock, removePins } from '../../lb/dataplane/pindir.js';
import { privateBpffs } from '../../scripts/lab/mounts.js';

async function pinDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = `${await privateBpffs(t)}/xlb`;
  mkdirSync(dir);
  return dir;
}

test('a second load adopts every pinned map, state included', async (t) => {
  const dir = await pinDir(t);
  const first = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  const all = first.pins;
  first.map('tables').update(u32Key(3), u32Key(41));
  first.close();
  t.deepEqual(all, { adopted: [], replaced: [] });
  t.true(existsSync(`${dir}/xlb_egress`));

  const second = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  t.teardown(() => second.close());
  t.deepEqual(second.pins.replaced, []);
  t.true(second.pins.adopted.includes('xlb_egress'), 'the devmap too');
  t.true(second.pins.adopted.length >= 15, `adopted ${second.pins.adopted.length}`);
  t.is(second.map('tables').lookup(u32Key(3))!.readUInt32LE(0), 41);
});

test('when one pinned map does not fit, the whole set is replaced and says why', async (t) => {
  const dir = await pinDir(t);
  const first = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  first.map('tables').update(u32Key(3), u32Key(41));
  first.close();

  const second = DataPlane.load({ pinPath: dir, maxFlows: 8192 });
  t.teardown(() => second.close());
  t.deepEqual(second.pins.adopted, []);
  const flows = second.pins.replaced.find((r) => r.map === 'xlb_flows');
  t.regex(flows!.reason, /4096 entries.*wants.*8192 entries/);
  t.true(second.pins.replaced.some((r) => r.map === 'xlb_tables'));
  t.is(second.map('tables').lookup(u32Key(3))!.readUInt32LE(0), 0, 'state of the old set is gone');
});

test('removing the pins takes only xlb\'s, and the directory only when nothing else is left in it', async (t) => {
  const dir = await pinDir(t);
  DataPlane.load({ pinPath: dir, maxFlows: 4096 }).close();
  execFileSync('bpftool', ['map', 'create', `${dir}/other_tool`, 'type', 'array', 'key', '4', 'value', '4', 'entries', '1',
    'name', 'other_tool']);

  const removed = removePins(dir, PIN_NAMES);
  t.deepEqual(removed.sort(), [...PIN_NAMES].sort());
  t.deepEqual(readdirSync(dir), ['other_tool'], 'the other tool\'s pin stays, and so does the directory');

  execFileSync('rm', [`${dir}/other_tool`]);
  t.deepEqual(removePins(dir, PIN_NAMES), []);
  t.false(existsSync(dir), 'an empty directory goes');
});

test('a pin directory has one owner at a time; the next one is refused with a clear error until it is released', async (t) => {
  const dir = await pinDir(t);
  const first = PinLock.acquire(dir);
  const err = t.throws(() => PinLock.acquire(dir));
  t.is((err as { code?: string }).code, 'XLB_CONFLICT');
  t.is(err?.message, `node.pin_path ${dir} is in use by another xlb daemon (pid ${process.pid}); ` +
    'stop it first, or give this node its own node.pin_path');
  first.release();
  PinLock.acquire(dir).release();
});

test('a pin path that cannot be used is a clear error, never a hang', async (t) => {
  const root = await privateBpffs(t);
  makePinDirectory(`${root}/a/b/c`);
  t.true(existsSync(`${root}/a/b/c`), 'parents are made one by one');
  // procfs (like sysfs under an unmounted /sys/fs/bpf) answers ENOENT to mkdir: where Node's recursive mkdir spins,
  // this names the directory.
  const err = t.throws(() => makePinDirectory('/proc/xlb-nowhere/pins'));
  t.is((err as { code?: string }).code, 'XLB_SETUP');
  t.is(err!.message, 'cannot create /proc/xlb-nowhere for node.pin_path: ENOENT: no such file or directory');
  const notBpf = t.throws(() => makePinDirectory('/tmp'));
  t.is(notBpf?.message, 'node.pin_path /tmp is not on a BPF filesystem: maps can only be pinned on one');
});
