// coalesced(): asks while a run waits for its turn join it; a run that has begun is not joined; a failure reaches
// every ask that joined it and does not stop the next. Pure: the queue is an array run by hand.
import test from 'ava';
import { coalesced } from '../../lb/daemon/coalesce.js';

/** A queue whose runs begin only when the test says so. */
function queue() {
  const turns: (() => void)[] = [];
  const enqueue = (run: () => void) => new Promise<void>((resolve, reject) => {
    turns.push(() => {
      try {
        run();
        resolve();
      } catch (err) {
        reject(err as Error);
      }
    });
  });
  return { enqueue, next: () => turns.shift()!(), get length() { return turns.length; } };
}

test('a burst of asks while a run waits is one run, and every ask gets its promise', async (t) => {
  const q = queue();
  let runs = 0;
  const ask = coalesced(q.enqueue, () => runs++);
  const asks = Array.from({ length: 50 }, () => ask());
  t.is(q.length, 1);
  t.true(asks.every((p) => p === asks[0]));
  q.next();
  await Promise.all(asks);
  t.is(runs, 1);
});

test('an ask once the run has begun queues a run of its own', async (t) => {
  const q = queue();
  const seen: number[] = [];
  let input = 1;
  let during: Promise<void> | undefined;
  const ask = coalesced(q.enqueue, () => {
    seen.push(input);
    // Asked for while the job runs (a health change during the plan): its inputs were read already.
    if (during === undefined) during = ask();
  });
  const first = ask();
  q.next();
  await first;
  input = 2;
  t.is(q.length, 1);
  t.not(during, first);
  q.next();
  await during;
  t.deepEqual(seen, [1, 2]);
});

test('a failed run rejects every ask that joined it; the next ask runs again', async (t) => {
  const q = queue();
  let fail = true;
  let runs = 0;
  const ask = coalesced(q.enqueue, () => {
    runs++;
    if (fail) throw new Error('plan failed');
  });
  const a = ask();
  const b = ask();
  q.next();
  await t.throwsAsync(a, { message: 'plan failed' });
  await t.throwsAsync(b, { message: 'plan failed' });
  fail = false;
  const c = ask();
  t.not(c, a);
  q.next();
  await c;
  t.is(runs, 2);
});
