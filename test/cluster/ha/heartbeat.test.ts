// Heartbeats: sealed with the pair's key, taken once and in order; forgeries, replays and strays are counted.
import test from 'ava';
import { HeartbeatVerifier, sealHeartbeat, type Heartbeat } from '../../../cluster/ha/heartbeat.js';

const KEY = Buffer.from('a shared secret of the pair, 32+ bytes long....');
const NOW = 1_800_000_000_000;

function hb(extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    pair: 'edge-1', nodeId: 'lb-b', boot: 'b1', seq: 1, time: NOW, role: 'active', epoch: 3, digest: 'ab12',
    redis: true, serveable: true, ...extra,
  };
}

const verifier = () => new HeartbeatVerifier(KEY, 'edge-1', 'lb-a', 2000);

test('a sealed heartbeat of the peer is taken as sent', (t) => {
  const v = verifier();
  t.deepEqual(v.verify(sealHeartbeat(hb(), KEY), NOW), { ok: true, heartbeat: hb() });
});

test('forgeries and strays are refused and counted by reason', (t) => {
  const v = verifier();
  const cases: [Buffer, string][] = [
    [sealHeartbeat(hb(), Buffer.from('another key')), 'forged'],
    [Buffer.from('XLBH1{"pair":"edge-1"}0123456789012345678901234567890123'), 'forged'],
    [Buffer.from('hello'), 'malformed'],
    [Buffer.alloc(2000, 1), 'malformed'],
    [sealHeartbeat({ ...hb(), role: 'king' } as unknown as Heartbeat, KEY), 'malformed'],
    [sealHeartbeat({ ...hb(), seq: -1 }, KEY), 'malformed'],
    [sealHeartbeat(hb({ pair: 'edge-2' }), KEY), 'other-pair'],
    [sealHeartbeat(hb({ nodeId: 'lb-a' }), KEY), 'self'],
    [sealHeartbeat(hb({ time: NOW - 2001 }), KEY), 'stale'],
    [sealHeartbeat(hb({ time: NOW + 2001 }), KEY), 'stale'],
  ];
  for (const [datagram, reason] of cases) t.deepEqual(v.verify(datagram, NOW), { ok: false, reason }, reason);
  t.deepEqual(v.rejected, { forged: 2, malformed: 4, 'other-pair': 1, self: 1, stale: 2, replayed: 0 });
  // A tampered byte anywhere breaks the seal.
  const good = sealHeartbeat(hb(), KEY);
  good[10] ^= 1;
  t.deepEqual(v.verify(good, NOW), { ok: false, reason: 'forged' });
});

test('a replayed heartbeat is refused: an old sequence number, or an earlier boot after a restart', (t) => {
  const v = verifier();
  const first = sealHeartbeat(hb({ seq: 5 }), KEY);
  t.true(v.verify(first, NOW).ok);
  t.deepEqual(v.verify(first, NOW + 100), { ok: false, reason: 'replayed' });
  t.deepEqual(v.verify(sealHeartbeat(hb({ seq: 4, time: NOW + 50 }), KEY), NOW + 100), { ok: false, reason: 'replayed' });
  t.true(v.verify(sealHeartbeat(hb({ seq: 6, time: NOW + 100 }), KEY), NOW + 100).ok);
  // The peer restarts: a new boot, counting from 1 again, later in time.
  t.true(v.verify(sealHeartbeat(hb({ boot: 'b2', seq: 1, time: NOW + 200 }), KEY), NOW + 200).ok);
  // A heartbeat of the earlier boot, captured before the restart, replayed now.
  t.deepEqual(v.verify(sealHeartbeat(hb({ seq: 7, time: NOW + 150 }), KEY), NOW + 250), { ok: false, reason: 'replayed' });
  t.is(v.rejected.replayed, 3);
});
