import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { HealthChecker, type Target } from '../../lb/health/checker.js';
import { HealthCheckError, type HealthCheckErrorCode, type Probe, type ProbeResult } from '../../lb/health/probes.js';
import type { HealthCheck } from '../../config/pool.js';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Timers on a fake clock; advance() fires them in time order (late, if `now` was moved past them) and lets promises
 * settle after each. */
class FakeClock {
  now = 1_000_000;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;

  setTimer = (fn: () => void, ms: number): unknown => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimer = (handle: unknown): void => {
    this.#timers.delete(handle as number);
  };

  get pending(): number {
    return this.#timers.size;
  }

  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await flush();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      // Never back: a test may move `now` on by hand, as a busy event loop that fires its timers late.
      this.now = Math.max(this.now, due[1].at);
      due[1].fn();
    }
    this.now = end;
    await flush();
  }
}

interface Call {
  address: string;
  start: number;
  end: number | undefined;
  signal: AbortSignal | undefined;
}

/**
 * Backends whose health the test sets; a probe answers after `latency(ok)` ms of fake time (0: at once). Records every
 * call and the most probes of one address ever in flight together.
 */
class FakeBackends {
  healthy = new Map<string, boolean>();
  calls: Call[] = [];
  latency: (ok: boolean) => number = () => 0;
  maxInFlight = 0;
  #inFlight = new Map<string, number>();

  constructor(readonly clock: FakeClock) {}

  probe = (_check: HealthCheck, address: string, _port: number | undefined, signal?: AbortSignal): Promise<ProbeResult> => {
    const call: Call = { address, start: this.clock.now, end: undefined, signal };
    this.calls.push(call);
    const n = (this.#inFlight.get(address) ?? 0) + 1;
    this.#inFlight.set(address, n);
    this.maxInFlight = Math.max(this.maxInFlight, n);
    const ok = this.healthy.get(address) ?? true;
    const result = { ok, detail: ok ? 'HTTP 200' : 'connect ECONNREFUSED' };
    const finish = (): ProbeResult => {
      call.end = this.clock.now;
      this.#inFlight.set(address, (this.#inFlight.get(address) ?? 1) - 1);
      return result;
    };
    const delay = this.latency(ok);
    if (delay === 0) return Promise.resolve(finish());
    return new Promise((resolve) => this.clock.setTimer(() => resolve(finish()), delay));
  };

  starts(address: string): number[] {
    return this.calls.filter((c) => c.address === address).map((c) => c.start);
  }
}

interface Change {
  id: string;
  up: boolean;
  detail: string;
  at: number;
}

function check(over: Partial<HealthCheck> = {}): HealthCheck {
  return { type: 'tcp', port: 8080, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, ...over };
}

function target(address: string, over: Partial<HealthCheck> = {}, service = 'web'): Target {
  return { id: `${service}>${address}:8080`, service, address, port: 8080, check: check(over) };
}

function setup(options: { logger?: pino.Logger; probe?: Probe } = {}) {
  const clock = new FakeClock();
  const backends = new FakeBackends(clock);
  const changes: Change[] = [];
  const checker = new HealthChecker({
    probe: options.probe ?? backends.probe,
    now: () => clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    logger: options.logger ?? pino({ level: 'silent' }),
    onChange: (id, up, detail) => changes.push({ id, up, detail, at: clock.now }),
  });
  return { clock, backends, changes, checker };
}

// Fall detection for several moments of death relative to the probe phase, with instant and with timing-out failures.
for (const [fall, intervalMs, diesAfter, failLatency] of [
  [3, 1000, 10_000, 0],
  [3, 1000, 10_001, 0],
  [3, 1000, 10_999, 500],
  [1, 1000, 5_432, 999],
  [2, 250, 3_210, 250],
  [5, 2000, 7_777, 1000],
] as const) {
  test(`fall ${fall}, interval ${intervalMs}ms, death at +${diesAfter}ms, failures taking ${failLatency}ms: out within (fall + 1) intervals`, async (t) => {
    const { clock, backends, changes, checker } = setup();
    backends.latency = (ok) => (ok ? 3 : failLatency);
    const tg = target('198.18.1.11', { fall, intervalMs, timeoutMs: Math.max(failLatency, 1) });
    checker.setTargets([tg]);
    await clock.advance(diesAfter);
    t.true(checker.isUp(tg.id));
    t.deepEqual(changes, []);

    const died = clock.now;
    backends.healthy.set(tg.address, false);
    await clock.advance((fall + 1) * intervalMs);
    t.is(changes.length, 1, 'one transition');
    t.like(changes[0], { id: tg.id, up: false, detail: 'connect ECONNREFUSED' });
    t.true(changes[0]!.at <= died + (fall + 1) * intervalMs, `down at +${changes[0]!.at - died}ms`);
    t.false(checker.isUp(tg.id));
    const failedBefore = backends.calls.filter((c) => c.start > died && c.end !== undefined && c.end <= changes[0]!.at);
    t.is(failedBefore.length, fall, 'exactly `fall` failed probes before the transition');
  });
}

test('comes back up after `rise` consecutive successes, within rise + 1 intervals', async (t) => {
  const { clock, backends, changes, checker } = setup();
  const tg = target('198.18.1.11', { rise: 3, fall: 2 });
  checker.setTargets([tg]);
  backends.healthy.set(tg.address, false);
  await clock.advance(5000);
  t.false(checker.isUp(tg.id));

  const revived = clock.now;
  backends.healthy.set(tg.address, true);
  for (let step = 1; step <= 4; step++) {
    await clock.advance(1000); // exactly one probe per step
    const successes = backends.calls.filter((c) => c.start > revived).length;
    t.is(successes, step);
    t.is(checker.isUp(tg.id), successes >= 3, `after ${successes} successes`);
  }
  t.deepEqual(changes.map((c) => c.up), [false, true]);
  const up = changes[1]!;
  t.is(up.detail, 'HTTP 200');
  t.true(up.at <= revived + 4 * 1000);
  t.is(backends.calls.filter((c) => c.start > revived && c.start <= up.at).length, 3);
});

test('onChange is called exactly on transitions, and transitions() counts them', async (t) => {
  // One probe per interval; the k-th probe (1-based) answers script[k - 1].
  const script = '++--+-++-+--+++';
  const expected = [
    { probe: 4, up: false },
    { probe: 8, up: true },
    { probe: 12, up: false },
    { probe: 14, up: true },
  ];
  const { clock, backends, changes, checker } = setup({
    probe: (c, address, port, signal) => {
      backends.healthy.set(address, script[backends.calls.length] === '+');
      return backends.probe(c, address, port, signal);
    },
  });
  const tg = target('198.18.1.11', { rise: 2, fall: 2 });
  checker.setTargets([tg]);
  const seen: { probe: number; up: boolean }[] = [];
  for (let i = 0; i < script.length; i++) {
    const before = changes.length;
    await clock.advance(1000);
    t.is(backends.calls.length, i + 1, 'one probe per interval');
    t.true(changes.length - before <= 1);
    if (changes.length > before) seen.push({ probe: backends.calls.length, up: changes.at(-1)!.up });
    t.is(checker.isUp(tg.id), seen.at(-1)?.up ?? true);
  }
  t.deepEqual(seen, expected);
  t.true(changes.every((c) => c.id === tg.id));
  t.is(checker.transitions(), expected.length);
  checker.stop();
});

test('setTargets with the same targets keeps verdict, counters and schedule', async (t) => {
  const { clock, backends, changes, checker } = setup();
  const a = target('198.18.1.11');
  const b = target('198.18.1.12');
  checker.setTargets([a, b]);
  backends.healthy.set(a.address, false);
  await clock.advance(2000); // two failures of a: fall 3 not reached
  t.is(backends.starts(a.address).length, 2);
  t.true(checker.isUp(a.id));

  checker.setTargets([structuredClone(b), structuredClone(a)]);
  await clock.advance(1000); // the third failure counts with the first two
  t.false(checker.isUp(a.id));
  t.deepEqual(changes.map((c) => [c.id, c.up]), [[a.id, false]]);
  const starts = backends.starts(a.address);
  t.is(starts.length, 3, 'no extra probe for the unchanged target');
  t.deepEqual(starts.slice(1).map((s, i) => s - starts[i]!), [1000, 1000], 'same phase');

  checker.setTargets([a, b]);
  t.false(checker.isUp(a.id), 'down stays down across setTargets');
  t.is(changes.length, 1);
  t.is(checker.status(a.id)?.detail, 'connect ECONNREFUSED');
});

test('a changed check keeps the verdict with fresh counters; a check of none brings it up', async (t) => {
  const { clock, backends, changes, checker } = setup();
  const a = target('198.18.1.11', { rise: 2, fall: 1 });
  checker.setTargets([a]);
  backends.healthy.set(a.address, false);
  await clock.advance(1000);
  t.false(checker.isUp(a.id));

  backends.healthy.set(a.address, true);
  await clock.advance(1000); // one success of rise 2
  t.false(checker.isUp(a.id));
  checker.setTargets([{ ...a, check: check({ rise: 2, fall: 1, intervalMs: 500 }) }]);
  t.false(checker.isUp(a.id), 'the verdict is carried over');
  await clock.advance(500);
  t.false(checker.isUp(a.id), 'the success before the change does not count');
  await clock.advance(500);
  t.true(checker.isUp(a.id));

  backends.healthy.set(a.address, false);
  await clock.advance(500);
  t.false(checker.isUp(a.id));
  const before = backends.calls.length;
  checker.setTargets([{ ...a, check: check({ type: 'none' }) }]);
  t.true(checker.isUp(a.id));
  t.deepEqual(changes.map((c) => c.up), [false, true, false, true]);
  t.is(changes.at(-1)!.detail, 'no health check');
  await clock.advance(10_000);
  t.is(backends.calls.length, before, 'none is never probed');
  t.is(checker.transitions(), 4);
});

test('removed targets stop being probed; a result in flight is dropped', async (t) => {
  const { clock, backends, changes, checker } = setup();
  backends.latency = () => 400;
  const a = target('198.18.1.11', { fall: 1 });
  const b = target('198.18.1.12');
  checker.setTargets([a, b]);
  await clock.advance(3000);
  backends.healthy.set(a.address, false);
  // Run until a probe of a is in flight, then remove a.
  while (!backends.calls.some((c) => c.address === a.address && c.end === undefined)) await clock.advance(1);
  const inFlight = backends.calls.find((c) => c.address === a.address && c.end === undefined)!;
  checker.setTargets([b]);
  t.true(inFlight.signal?.aborted, 'the probe in flight is aborted');
  const probesOfA = backends.starts(a.address).length;
  await clock.advance(10_000);
  t.is(backends.starts(a.address).length, probesOfA, 'no probe of a after its removal');
  t.true(backends.starts(b.address).length >= 12, 'b is still probed');
  t.deepEqual(changes, [], 'the failed result of the removed target is no transition');
  t.true(checker.isUp(a.id), 'unknown ids are up');
  t.is(checker.status(a.id), undefined);
});

for (const latency of [1500, 2500, 999]) {
  test(`probes of one target never overlap when a probe takes ${latency}ms of a 1000ms interval`, async (t) => {
    const { clock, backends, checker } = setup();
    backends.latency = () => latency;
    // The timeout stays within the interval, as config check requires; the fake probe takes `latency` regardless.
    const a = target('198.18.1.11', { timeoutMs: Math.min(latency, 1000) });
    checker.setTargets([a]);
    await clock.advance(20_000);
    t.is(backends.maxInFlight, 1);
    const calls = backends.calls;
    t.true(calls.length >= 5);
    for (let i = 1; i < calls.length; i++) {
      t.true(calls[i]!.start >= calls[i - 1]!.end!, `probe ${i} starts after probe ${i - 1} ended`);
      t.is(calls[i]!.start - calls[i - 1]!.start, Math.max(latency, 1000), 'next at one interval from the start, or at the end');
    }
  });
}

test('first probes are spread over the interval, deterministically', async (t) => {
  const firstProbes = async (): Promise<number[]> => {
    const { clock, backends, checker } = setup();
    const targets = Array.from({ length: 100 }, (_, i) => target(`198.18.${1 + (i >> 6)}.${10 + (i & 63)}`));
    const origin = clock.now;
    checker.setTargets(targets);
    await clock.advance(999);
    t.is(backends.calls.length, 100, 'every target probed once within the first interval');
    return targets.map((tg) => backends.starts(tg.address)[0]! - origin);
  };
  const offsets = await firstProbes();
  t.deepEqual(await firstProbes(), offsets, 'the same ids give the same spread');
  const buckets = new Array<number>(10).fill(0);
  for (const o of offsets) buckets[Math.floor(o / 100)]!++;
  t.true(Math.max(...buckets) <= 25, `per 100ms: ${buckets.join(' ')}`);
  t.true(new Set(offsets).size >= 80);
});

test('thousands of targets share one timer', async (t) => {
  const { clock, backends, checker } = setup();
  const targets = Array.from({ length: 2000 }, (_, i) => target(`198.18.${16 + (i >> 8)}.${i & 255}`));
  checker.setTargets(targets);
  t.is(clock.pending, 1);
  await clock.advance(4999); // first probes within [0, 1000): each target's fifth probe is due before 5000
  t.is(clock.pending, 1);
  t.is(backends.calls.length, 5 * 2000, 'every target probed once per interval');
  checker.setTargets(targets.slice(0, 10));
  await clock.advance(2000);
  t.is(clock.pending, 1);
  checker.stop();
  t.is(clock.pending, 0);
});

test('after the checker fell behind, overdue probes keep their turns instead of starting all at once', async (t) => {
  const { clock, backends, checker } = setup();
  const targets = Array.from({ length: 200 }, (_, i) => target(`198.18.${1 + (i >> 6)}.${10 + (i & 63)}`));
  checker.setTargets(targets);
  await clock.advance(2000);
  const before = backends.calls.length;
  // The event loop was busy for 3 s: no timer fired meanwhile.
  clock.now += 3000;
  const stalledAt = clock.now;
  await clock.advance(0);
  const burst = backends.calls.length - before;
  t.true(burst <= 200 / 10 + 10, `${burst} probes started at once`);
  await clock.advance(1000);
  const after = backends.calls.filter((c) => c.start > stalledAt);
  const perTarget = new Map<string, number>();
  for (const c of [...after, ...backends.calls.slice(before, before + burst)]) perTarget.set(c.address, (perTarget.get(c.address) ?? 0) + 1);
  t.is(perTarget.size, 200, 'every target probed again within one interval');
  t.true([...perTarget.values()].every((n) => n === 1), 'once each');
  checker.stop();
});

test('none targets are never probed and always up', async (t) => {
  const { clock, backends, checker } = setup();
  const n = target('198.18.1.11', { type: 'none', port: undefined });
  checker.setTargets([{ ...n, port: undefined }]);
  backends.healthy.set(n.address, false);
  await clock.advance(60_000);
  t.is(backends.calls.length, 0);
  t.true(checker.isUp(n.id));
  t.is(clock.pending, 0, 'no timer either');
  t.is(checker.status(n.id)?.detail, 'no health check');
});

test('stop clears timers and aborts probes in flight', async (t) => {
  const { clock, backends, changes, checker } = setup();
  backends.latency = () => 300;
  backends.healthy.set('198.18.1.11', false);
  checker.setTargets([target('198.18.1.11', { fall: 1 }), target('198.18.1.12')]);
  while (!backends.calls.some((c) => c.end === undefined)) await clock.advance(1);
  checker.stop();
  t.true(backends.calls.filter((c) => c.end === undefined).every((c) => c.signal?.aborted));
  const n = backends.calls.length;
  await clock.advance(10_000);
  t.is(backends.calls.length, n);
  t.deepEqual(changes, []);
  t.throws(() => checker.setTargets([]));
});

test('a probe that throws counts as a failure', async (t) => {
  const clock = new FakeClock();
  const changes: boolean[] = [];
  const checker = new HealthChecker({
    probe: () => Promise.reject(new Error('boom')),
    now: () => clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    logger: pino({ level: 'silent' }),
    onChange: (_id, up) => changes.push(up),
  });
  const a = target('198.18.1.11', { fall: 2 });
  checker.setTargets([a]);
  await clock.advance(3000);
  t.deepEqual(changes, [false]);
  t.is(checker.status(a.id)?.detail, 'probe error: boom');
  checker.stop();
});

test('invalid targets are refused with a code, and nothing changes', async (t) => {
  const { checker } = setup();
  const a = target('198.18.1.11');
  checker.setTargets([a]);
  const cases: [Target[], HealthCheckErrorCode][] = [
    [[a, target('198.18.1.12'), { ...a }], 'XLB_HEALTH_DUPLICATE_TARGET'],
    [[{ ...target('198.18.1.13', { port: undefined }), port: undefined }], 'XLB_HEALTH_NO_PORT'],
    [[target('198.18.1.14', { intervalMs: 0 })], 'XLB_HEALTH_BAD_CHECK'],
    [[target('198.18.1.15', { fall: 0 })], 'XLB_HEALTH_BAD_CHECK'],
    [[target('198.18.1.16', { type: 'http', path: 'healthz' })], 'XLB_HEALTH_BAD_CHECK'],
  ];
  for (const [targets, code] of cases) {
    const err = t.throws(() => checker.setTargets(targets), { instanceOf: HealthCheckError });
    t.is(err?.code, code);
  }
  t.truthy(checker.status(a.id), 'the previous targets are kept');
  t.is(checker.status('web>198.18.1.12:8080'), undefined);
  checker.stop();
});

test('every transition is logged with service, backend, from, to and detail', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const { clock, backends, checker } = setup({ logger: pino({ level: 'info' }, sink) });
  const a = target('198.18.1.11', { rise: 1, fall: 1 });
  checker.setTargets([a]);
  backends.healthy.set(a.address, false);
  await clock.advance(1000);
  backends.healthy.set(a.address, true);
  await clock.advance(1000);
  checker.stop();
  await flush();
  const transitions = lines.filter((l) => 'from' in l);
  t.is(transitions.length, 2);
  t.like(transitions[0], { level: 40, module: 'health', service: 'web', backend: a.id, from: 'up', to: 'down', detail: 'connect ECONNREFUSED' });
  t.like(transitions[1], { level: 30, module: 'health', service: 'web', backend: a.id, from: 'down', to: 'up', detail: 'HTTP 200' });
});
