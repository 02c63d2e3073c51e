// A pool change is never visible half-written: probed between the syncer's map writes, each service sends either
// all to the old backend set or all to the new one.
import test from 'ava';
import { clientFrame } from '../../scripts/lab/cases.js';
import { parseFrame, TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness, pool, service } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import type { Pool, Scheduler } from '../../config/pool.js';

isolateNetwork();

const OLD = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
const NEW = ['198.18.1.21', '198.18.1.22', '198.18.1.23', '198.18.1.24'];

const twoServices = (backends: string[], scheduler: Scheduler): Pool => pool(
  service({ name: 'ping', protocol: 'icmp', scheduler }, backends),
  service({ name: 'web', protocol: 'tcp', port: 80, scheduler }, backends),
);

for (const scheduler of ['rr', 'maglev'] as const) {
  test(`${scheduler}: after every write of a pool swap, each service sends to one whole set`, (t) => {
    // Writes go in batches: an rr pool's tables are short, so one entry per call; Maglev's are long, 257 per call.
    const h = new Harness(twoServices(OLD, scheduler), { batchEntries: scheduler === 'rr' ? 1 : 257 });
    t.teardown(() => h.close());
    let sport = 1024;
    // Per service: the two services switch one after the other, each must switch at once.
    const phases: Record<string, string[]> = { ping: [], web: [] };
    const probe = () => {
      const seen: Record<string, Set<string>> = { ping: new Set(), web: new Set() };
      for (let i = 0; i < 24; i++) {
        const n = sport++;
        const flows: [string, Buffer][] = [
          ['ping', clientFrame({ proto: 'icmp', icmpSeq: i })],
          ['web', clientFrame({ proto: 'tcp', src: `198.18.2.${n >> 16}`, sport: n & 0xffff, dport: 80, tcpFlags: TCP_FLAGS.SYN })],
        ];
        for (const [name, frame] of flows) {
          const r = h.run(frame);
          seen[name].add(r.verdict === 'TX' ? parseFrame(r.out).dst : r.verdict);
        }
      }
      for (const name of ['ping', 'web']) {
        const all = [...seen[name]];
        const phase = all.every((d) => OLD.includes(d)) ? 'old' : all.every((d) => NEW.includes(d)) ? 'new' : 'mixed';
        if (phase === 'mixed') t.fail(`${name}: mixed destinations after a write: ${all.join(' ')}`);
        phases[name].push(phase);
      }
    };
    // Every write call is probed: enough to see a table half full.
    h.applyWatched(twoServices(NEW, scheduler), () => probe());
    for (const name of ['ping', 'web']) {
      t.true(phases[name].length > 10, `probed after ${phases[name].length} writes`);
      t.is(phases[name][0], 'old', name);
      t.is(phases[name].at(-1), 'new', name);
    }
  });
}

test('a change writes only the table entries that differ from what the idle slot holds', (t) => {
  const backends = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
  const web = (drained?: number) => pool(service({ name: 'web', protocol: 'tcp', port: 80, scheduler: 'maglev' },
    backends.map((address, i) => ({ address, drained: i === drained }))));
  const h = new Harness(web());
  t.teardown(() => h.close());
  const size = h.dp.capacity.tableSize;
  const writesFor = (p: ReturnType<typeof web>) => {
    let writes = 0;
    h.applyWatched(p, (_role, entries) => (writes += entries));
    return writes;
  };
  t.is(writesFor(web(2)), size + 1, 'the idle slot was never written: every entry, then the service entry');
  t.is(writesFor(web()), 1, 'undrain finds its table in the idle slot: only the service entry flips');
  const other = writesFor(web(1));
  t.true(other > 1 && other < size, `draining another backend rewrote ${other} entries, those that differ`);
});
