// Edits by request id: queued, begun, settled; cancelled only before they begin; ids remembered for a while.
import test from 'ava';
import { REMEMBERED, REMEMBERED_MS, RequestLog } from '../../lb/control/requests.js';

const RESULT = { writes: 2, services: 1, backends: 3 };

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('an edit goes queued -> applying -> applied, and its outcome is remembered by id', (t) => {
  const log = new RequestLog();
  const edit = log.open('a-1');
  t.like(log.get('a-1'), { id: 'a-1', state: 'queued' });
  edit.begin();
  t.like(log.get('a-1'), { state: 'applying' });
  t.false(edit.cancel(), 'a begun edit cannot be cancelled');
  t.like(log.cancel('a-1'), { state: 'applying' });
  edit.succeed(RESULT);
  t.deepEqual(log.get('a-1'), { id: 'a-1', state: 'applied', result: RESULT });
});

test('a failed edit keeps its error', (t) => {
  const log = new RequestLog();
  const edit = log.open('b');
  edit.begin();
  edit.fail({ error: 'no service "x"', code: 'XLB_NOT_FOUND' });
  t.deepEqual(log.get('b'), { id: 'b', state: 'failed', error: { error: 'no service "x"', code: 'XLB_NOT_FOUND' } });
});

test('a queued edit cancelled (by id, or its client gone) never begins', (t) => {
  const log = new RequestLog();
  const byId = log.open('c');
  t.like(log.cancel('c'), { state: 'cancelled' });
  t.throws(() => byId.begin(), { code: 'XLB_CANCELLED', message: /cancelled before its turn; nothing changed/ });
  t.like(log.get('c'), { state: 'cancelled' });
  // The failure that follows does not overwrite it.
  byId.fail({ error: 'x', code: 'XLB_CANCELLED' });
  t.deepEqual(log.get('c'), { id: 'c', state: 'cancelled' });

  const anonymous = log.open(undefined);
  t.true(anonymous.cancel());
  t.throws(() => anonymous.begin(), { code: 'XLB_CANCELLED' });
});

test('an id cancelled before its edit arrives refuses that edit', (t) => {
  const log = new RequestLog();
  t.deepEqual(log.cancel('late'), { id: 'late', state: 'cancelled' });
  t.throws(() => log.open('late'), { code: 'XLB_CANCELLED', message: 'request late was cancelled before it arrived; nothing changed' });
});

test('ids: used once, well-formed, unknown ones are 404s', (t) => {
  const log = new RequestLog();
  log.open('d');
  t.throws(() => log.open('d'), { code: 'XLB_CONFLICT', message: 'request id d was used already (it is queued)' });
  for (const bad of ['', 'a b', 'x'.repeat(65), 'é', '../x']) {
    t.throws(() => log.open(bad), { code: 'XLB_BAD_REQUEST' }, bad);
    t.throws(() => log.cancel(bad), { code: 'XLB_BAD_REQUEST' }, bad);
  }
  t.notThrows(() => log.open('x'.repeat(64)));
  t.throws(() => log.get('nobody'), { code: 'XLB_NOT_FOUND' });
});

test('settled outcomes are forgotten after REMEMBERED_MS, or beyond the last REMEMBERED; unsettled ones are kept', (t) => {
  const c = clock();
  const log = new RequestLog(c.now);
  const waiting = log.open('waiting');
  const done = log.open('done');
  done.begin();
  done.succeed(RESULT);
  c.advance(REMEMBERED_MS + 1);
  t.throws(() => log.get('done'), { code: 'XLB_NOT_FOUND' });
  t.like(log.get('waiting'), { state: 'queued' });
  waiting.begin();

  for (let i = 0; i < REMEMBERED + 10; i++) {
    const e = log.open(`n${i}`);
    e.begin();
    e.succeed(RESULT);
  }
  t.throws(() => log.get('n0'), { code: 'XLB_NOT_FOUND' });
  t.like(log.get(`n${REMEMBERED + 9}`), { state: 'applied' });
  t.like(log.get('waiting'), { state: 'applying' });
});
