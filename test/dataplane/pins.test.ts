// Pinned maps: a restarted daemon adopts them all (the devmap too, whatever flags the kernel added), and a set where
// any map no longer fits is replaced together, never half adopted.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { u32Key } from '../../lb/bpf/layout.js';
import { DataPlane, removePins } from '../../lb/dataplane/dataplane.js';

function pinDir(t: { teardown(fn: () => void): void }): string {
  const dir = `/sys/fs/bpf/xlbt-pins-${randomBytes(4).toString('hex')}`;
  t.teardown(() => removePins(dir));
  return dir;
}

test('a second load adopts every pinned map, state included', (t) => {
  const dir = pinDir(t);
  const first = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  const all = first.pins;
  first.map('rrCursor').update(u32Key(3), u32Key(41));
  first.close();
  t.deepEqual(all, { adopted: [], replaced: [] });
  t.true(existsSync(`${dir}/xlb_egress`));

  const second = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  t.teardown(() => second.close());
  t.deepEqual(second.pins.replaced, []);
  t.true(second.pins.adopted.includes('xlb_egress'), 'the devmap too');
  t.true(second.pins.adopted.length >= 15, `adopted ${second.pins.adopted.length}`);
  t.is(second.map('rrCursor').lookup(u32Key(3))!.readUInt32LE(0), 41);
});

test('when one pinned map does not fit, the whole set is replaced and says why', (t) => {
  const dir = pinDir(t);
  const first = DataPlane.load({ pinPath: dir, maxFlows: 4096 });
  first.map('rrCursor').update(u32Key(3), u32Key(41));
  first.close();

  const second = DataPlane.load({ pinPath: dir, maxFlows: 8192 });
  t.teardown(() => second.close());
  t.deepEqual(second.pins.adopted, []);
  const flows = second.pins.replaced.find((r) => r.map === 'xlb_flows');
  t.regex(flows!.reason, /4096 entries.*wants.*8192 entries/);
  t.true(second.pins.replaced.some((r) => r.map === 'xlb_rr_cursor'));
  t.is(second.map('rrCursor').lookup(u32Key(3))!.readUInt32LE(0), 0, 'state of the old set is gone');
});
