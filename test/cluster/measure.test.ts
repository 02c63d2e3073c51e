import test from 'ava';
import { measureFollowLatency, spread } from '../../cluster/measure.js';
import { connectorTo, LogCapture, startRedis } from './support.js';

test('percentiles by nearest rank', (t) => {
  t.deepEqual(spread([5]), { p50Ms: 5, p99Ms: 5, maxMs: 5 });
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  t.deepEqual(spread(hundred), { p50Ms: 50, p99Ms: 99, maxMs: 100 });
  t.deepEqual(spread(Array.from({ length: 200 }, (_, i) => i + 1)), { p50Ms: 100, p99Ms: 198, maxMs: 200 });
  t.throws(() => spread([]), { instanceOf: RangeError });
});

test('the bench\'s change-to-callback measurement times every edit on a second node', async (t) => {
  const server = await startRedis(t);
  const logs = new LogCapture();
  const result = await measureFollowLatency({ writer: connectorTo(server, 'a'), follower: connectorTo(server, 'b'),
    keyPrefix: 'bench', logger: logs.logger, edits: 20 });
  t.log(result);
  t.is(result.edits, 20);
  for (const s of [result.changeToCallback, result.write]) t.true(s.p50Ms > 0 && s.p50Ms <= s.p99Ms && s.p99Ms <= s.maxMs);
  t.is(await server.must('GET', 'bench:pool:version'), '21');
  t.is(JSON.parse(await server.must('GET', 'bench:pool')).services[0].backends.length, 20);
});
