// The health-check rules as the checker and the probes apply them to typed checks: the same verdicts as config check.
import test from 'ava';
import { healthCheckProblems, healthDocument, probePort, probeTimeout, readHealth } from '../../config/health.js';
import type { HealthCheck } from '../../config/pool.js';
import { formatProblem } from '../../config/problem.js';
import { Reader } from '../../config/reader.js';

const check = (over: Partial<HealthCheck> = {}): HealthCheck =>
  ({ type: 'http', port: 8080, path: '/healthz', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2, ...over });

test('healthDocument: readHealth reads a typed check back as the same check', (t) => {
  for (const c of [check(), check({ type: 'icmp', port: undefined, path: undefined, intervalMs: 90_000, timeoutMs: 1500 }),
    check({ type: 'tcp', path: undefined, port: undefined, intervalMs: 1, timeoutMs: 1 })]) {
    const r = new Reader();
    const copy = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
    t.deepEqual(readHealth(r, healthDocument(c), 'health', 'tcp'), copy);
    t.deepEqual(r.problems, []);
  }
});

test('healthCheckProblems: what config check says of the same values', (t) => {
  t.deepEqual(healthCheckProblems(check()), []);
  t.deepEqual(healthCheckProblems(check({ path: '/café' })).map(formatProblem),
    ['path: "/café" is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. /caf%C3%A9']);
  t.deepEqual(healthCheckProblems(check({ intervalMs: 0, timeoutMs: 0.5, rise: 0, fall: 101 })).map(formatProblem), [
    'interval: must be more than 0',
    'timeout: 0.5ms is not a whole number of milliseconds',
    'rise: 0 is not an integer from 1 to 100',
    'fall: 101 is not an integer from 1 to 100',
  ]);
  t.deepEqual(healthCheckProblems(check({ type: 'icmp' })).map(formatProblem),
    ['port: type icmp has no port', 'path: only http checks have a path']);
});

test('probePort: the check\'s port, else the backend\'s; none is a problem that says what to set', (t) => {
  t.deepEqual(probePort(check(), 80), { ok: true, value: 8080 });
  t.deepEqual(probePort(check({ port: undefined }), 80), { ok: true, value: 80 });
  t.deepEqual(probePort(check({ port: undefined }), undefined),
    { ok: false, problem: 'http checks need a port: set health.port, or give the backend one' });
  t.deepEqual(probePort(check({ port: 70000 }), 80), { ok: false, problem: '70000 is not a port (1..65535)' });
});

test('probeTimeout: a whole number of milliseconds above 0', (t) => {
  t.deepEqual(probeTimeout(check({ timeoutMs: 250 })), { ok: true, value: 250 });
  t.false(probeTimeout(check({ timeoutMs: 0 })).ok);
  t.false(probeTimeout(check({ timeoutMs: Number.NaN })).ok);
  t.false(probeTimeout(check({ timeoutMs: -5 })).ok);
});
