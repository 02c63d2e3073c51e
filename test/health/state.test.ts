import test from 'ava';
import { HealthStateMachine, type HealthState } from '../../lb/health/state.js';

/** "+" a success, "-" a failure; `changes` lists the 1-based results that change the state, and to what. */
const cases: { name: string; rise: number; fall: number; results: string; changes: [number, HealthState][] }[] = [
  { name: 'fall 3: a success in between resets the count', rise: 2, fall: 3, results: '+--+---', changes: [[7, 'down']] },
  { name: 'fall 1: the first failure takes it down', rise: 1, fall: 1, results: '-', changes: [[1, 'down']] },
  { name: 'successes keep it up', rise: 2, fall: 2, results: '++++++', changes: [] },
  { name: 'fall 2 then rise 2', rise: 2, fall: 2, results: '--++', changes: [[2, 'down'], [4, 'up']] },
  { name: 'rise 3: a failure while down resets the count', rise: 3, fall: 1, results: '-++-+++', changes: [[1, 'down'], [7, 'up']] },
  { name: 'failures while down change nothing', rise: 2, fall: 2, results: '--------', changes: [[2, 'down']] },
  { name: 'flapping never reaches fall 2', rise: 1, fall: 2, results: '-+-+-+-+', changes: [] },
  {
    name: 'rise 1, fall 1 follows every change',
    rise: 1, fall: 1, results: '-+-++--+',
    changes: [[1, 'down'], [2, 'up'], [3, 'down'], [4, 'up'], [6, 'down'], [8, 'up']],
  },
  { name: 'counts restart after a transition', rise: 2, fall: 2, results: '--+-++', changes: [[2, 'down'], [6, 'up']] },
];

for (const c of cases) {
  test(`rise ${c.rise} fall ${c.fall} ${c.results}: ${c.name}`, (t) => {
    const m = new HealthStateMachine({ rise: c.rise, fall: c.fall });
    const seen: [number, HealthState][] = [];
    let state: HealthState = 'up';
    [...c.results].forEach((r, i) => {
      const tr = m.record(r === '+');
      if (tr !== undefined) {
        t.is(tr.from, state, `transition at result ${i + 1} starts from the previous state`);
        t.is(tr.after, tr.to === 'down' ? c.fall : c.rise);
        state = tr.to;
        seen.push([i + 1, tr.to]);
      }
      t.is(m.state, state);
      t.is(m.up, state === 'up');
    });
    t.deepEqual(seen, c.changes);
  });
}

test('starts up, so a restart does not take healthy backends out', (t) => {
  const m = new HealthStateMachine({ rise: 5, fall: 5 });
  t.is(m.state, 'up');
  t.true(m.up);
  t.is(m.record(true), undefined, 'a success while up is no transition');
});

test('can start down (a verdict carried over a changed check)', (t) => {
  const m = new HealthStateMachine({ rise: 2, fall: 2 }, 'down');
  t.false(m.up);
  t.is(m.record(true), undefined);
  t.deepEqual(m.record(true), { from: 'down', to: 'up', after: 2 });
});

test('streak counts results against the current state', (t) => {
  const m = new HealthStateMachine({ rise: 3, fall: 3 });
  m.record(false);
  m.record(false);
  t.is(m.streak, 2);
  m.record(true);
  t.is(m.streak, 0);
});

for (const [rise, fall] of [[0, 1], [1, 0], [1.5, 2], [2, -1], [Number.NaN, 1]] as const) {
  test(`rise ${rise} fall ${fall} is refused`, (t) => {
    t.throws(() => new HealthStateMachine({ rise, fall }), { instanceOf: RangeError });
  });
}
