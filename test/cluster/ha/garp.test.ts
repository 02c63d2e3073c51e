// Gratuitous ARP: the exact frames, and the schedule that outlasts Linux's neighbour locktime.
import test from 'ava';
import { gratuitousArp, nextAnnouncement } from '../../../cluster/ha/garp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('a gratuitous request and reply for 198.18.0.100 at 02:1b:00:00:00:01, byte for byte', (t) => {
  const common = 'ffffffffffff 021b00000001 0806 0001 0800 06 04';
  const tail = '00'.repeat(18);
  t.deepEqual(gratuitousArp('request', '198.18.0.100', '02:1b:00:00:00:01'),
    hex(`${common} 0001 021b00000001 c6120064 000000000000 c6120064 ${tail}`));
  t.deepEqual(gratuitousArp('reply', '198.18.0.100', '02:1b:00:00:00:01'),
    hex(`${common} 0002 021b00000001 c6120064 ffffffffffff c6120064 ${tail}`));
});

test('announcements at takeover, after 1.1 s, at 5 s, then every 30 s', (t) => {
  t.deepEqual([0, 1, 1100, 4999, 5000, 34_999, 35_000].map(nextAnnouncement), [1100, 1100, 5000, 5000, 35_000, 35_000, 65_000]);
});
