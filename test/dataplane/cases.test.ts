// The reference cases, frame in, verdict and exact frame out; the bench times the same cases.
import test from 'ava';
import { CASES, POOL } from '../../scripts/lab/cases.js';
import { checksumsValid } from '../../scripts/lab/frames.js';
import { Harness } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';

isolateNetwork();

for (const c of CASES) {
  test(`${c.name}: ${c.description}`, (t) => {
    const h = new Harness(POOL);
    t.teardown(() => h.close());
    for (const f of c.before) h.run(f);
    const r = h.run(c.input);
    t.is(r.verdict, c.verdict);
    t.is(r.out.toString('hex'), c.output.toString('hex'));
    t.deepEqual(checksumsValid(r.out), { ip: true, l4: true });
  });
}
