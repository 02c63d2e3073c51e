import test from 'ava';
import { DueQueue } from '../../lb/health/due-queue.js';

test('items come out earliest first, whatever order they went in', (t) => {
  const q = new DueQueue<string>();
  t.is(q.peekDue(), undefined);
  t.is(q.pop(), undefined);
  // A fixed shuffle, with ties.
  const dues = [50, 10, 40, 10, 90, 0, 70, 30, 30, 60, 20, 80];
  dues.forEach((due, i) => q.push(`i${i}@${due}`, due));
  t.is(q.size, dues.length);
  t.is(q.peekDue(), 0);
  const out: number[] = [];
  for (let item = q.pop(); item !== undefined; item = q.pop()) out.push(Number(item.split('@')[1]));
  t.deepEqual(out, [...dues].sort((a, b) => a - b));
  t.is(q.size, 0);
});

test('pushes between pops keep the order; clear empties it', (t) => {
  const q = new DueQueue<number>();
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 1000;
  const popped: number[] = [];
  for (let round = 0; round < 200; round++) {
    for (let k = 0; k < 5; k++) {
      const due = next();
      q.push(due, due);
    }
    const floor = q.peekDue()!;
    const got = q.pop()!;
    t.is(got, floor);
    popped.push(got);
  }
  t.is(q.size, 800);
  let last = -1;
  while (q.size > 0) {
    const due = q.pop()!;
    t.true(due >= last);
    last = due;
  }
  q.push(1, 1);
  q.clear();
  t.is(q.size, 0);
  t.is(q.peekDue(), undefined);
});
