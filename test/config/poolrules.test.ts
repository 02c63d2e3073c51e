// The pool's rules, for every source of a pool: a pool document as plain data (what a Redis pool is checked with),
// and a typed pool (what a live edit makes), judged exactly as the config file's pool.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { CAPACITY } from '../../config/limits.js';
import { loadConfigFile } from '../../config/load.js';
import type { Pool, ServiceSpec } from '../../config/pool.js';
import { checkPool, poolDocument, poolProblems } from '../../config/poolrules.js';
import { formatProblem } from '../../config/problem.js';

const HEALTH = { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 } as const;

function web(backends: string[], extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, scheduler: 'rr', forwarding: 'nat', allow: [],
    health: { ...HEALTH }, backends: backends.map((address) => ({ address, port: 8080, weight: 1, drained: false })), ...extra,
  };
}

const lines = (data: unknown): string[] => checkPool(data).problems.map(formatProblem);

test('checkPool: a pool document as JSON gives the typed pool, defaults filled', (t) => {
  const json = JSON.parse(JSON.stringify({
    deny: ['203.0.113.7'],
    services: [{ name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, backends: [{ address: '198.18.1.11' }] }],
  }));
  const { pool, problems } = checkPool(json);
  t.deepEqual(problems, []);
  t.deepEqual(pool, {
    deny: ['203.0.113.7/32'],
    services: [{
      name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, scheduler: 'rr', forwarding: 'nat', allow: [],
      health: { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
      backends: [{ address: '198.18.1.11', weight: 1, drained: false }],
    }],
  });
  t.deepEqual(checkPool({}), { pool: { services: [], deny: [] }, problems: [] });
});

test('checkPool: every problem with its path, as config check words it', (t) => {
  t.deepEqual(lines({
    servces: [],
    deny: ['10.0.0.1/8'],
    services: [{ name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80,
      backends: [{ address: '0.0.0.0' }, { address: '198.18.1.11', weight: 1e400 }] }],
  }), [
    'servces: unknown key; did you mean "services"?',
    'deny[0]: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?',
    'services[0].backends[0].address: 0.0.0.0 is a "this network" address (0.0.0.0/8), not a host\'s address',
    'services[0].backends[1].weight: a number too large to hold is not an integer from 0 to 10000',
  ]);
  t.deepEqual(lines(null), ['must be a mapping of deny, services']);
  t.deepEqual(lines([]), ['must be a mapping of deny, services']);
});

test('no backend is the VIP of any service', (t) => {
  t.deepEqual(lines({
    services: [
      { name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, backends: [{ address: '198.18.0.20' }] },
      { name: 'dns', vip: '198.18.0.20', protocol: 'udp', port: 53, backends: [{ address: '198.18.0.10' }, { address: '198.18.0.20' }] },
    ],
  }), [
    'services[1].backends[1].address: 198.18.0.20 is the service\'s vip; a backend has its own address',
    'services[0].backends[0].address: 198.18.0.20 is the vip of "dns" (services[1]); a backend has its own address',
    'services[1].backends[0].address: 198.18.0.10 is the vip of "web" (services[0]); a backend has its own address',
  ]);
});

/** `n` icmp services on distinct VIPs with `each` backends apiece (distinct addresses). */
function many(n: number, each = 0): { services: unknown[] } {
  let next = 0;
  const address = (i: number) => `198.${18 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
  return {
    services: Array.from({ length: n }, (_, i) => ({
      name: `s${i}`, vip: `198.19.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`, protocol: 'icmp',
      backends: Array.from({ length: each }, () => ({ address: address(next++) })),
    })),
  };
}

test(`capacities: ${CAPACITY.services} services and ${CAPACITY.backends} backends fit; one more of either is refused, naming the limit`, (t) => {
  t.deepEqual(lines(many(256)), []);
  t.deepEqual(lines(many(257)), ['services: 257 services, more than the 256 the data plane holds']);
  t.deepEqual(lines(many(256, 16)), []);
  t.deepEqual(lines(many(250, 20)), ['services: 5000 backends over all services, more than the 4096 the data plane holds']);
});

test('capacities: 16384 deny and allow prefixes fit; one more is refused, naming the limit', (t) => {
  const prefixes = (n: number) => Array.from({ length: n }, (_, i) => `10.${Math.floor(i / 256)}.${i % 256}.0/24`);
  t.deepEqual(lines({ deny: prefixes(16384) }), []);
  t.deepEqual(lines({ deny: prefixes(16385) }), ['deny: 16385 entries, more than the 16384 the data plane holds']);
  const allow = (n: number) => ({ name: `s${n}`, vip: `198.18.0.${n}`, protocol: 'icmp', allow: prefixes(8192 + n) });
  t.deepEqual(lines({ services: [allow(0), allow(1)] }),
    ['services: 16385 allow entries over all services, more than the 16384 the data plane holds']);
});

test('poolDocument: checkPool reads a typed pool back as the same pool, through JSON too', (t) => {
  const pool = loadConfigFile(fileURLToPath(new URL('../../../config/demo.yaml', import.meta.url))).pool;
  const withExtras: Pool = {
    deny: ['203.0.113.0/24'],
    services: [...pool.services, web(['198.18.1.21'], {
      name: 'web2', port: 81, scheduler: 'maglev', forwarding: 'dsr', allow: ['198.18.0.0/16'],
      health: { type: 'http', port: 8080, path: '/caf%C3%A9', intervalMs: 1500, timeoutMs: 250, rise: 3, fall: 1 },
      backends: [{ address: '198.18.1.21', weight: 0, mac: '02:00:00:00:01:21', drained: true }],
    })],
  };
  t.deepEqual(checkPool(poolDocument(withExtras)).pool, withExtras);
  t.deepEqual(checkPool(JSON.parse(JSON.stringify(poolDocument(withExtras)))).pool, withExtras);
});

test('poolProblems: a typed pool judged by the config\'s rules', (t) => {
  t.deepEqual(poolProblems({ services: [web(['198.18.1.11'])], deny: [] }), []);
  t.deepEqual(poolProblems({ services: [web(['127.0.0.1', '198.18.0.10'])], deny: [] }).map(formatProblem), [
    'services[0].backends[0].address: 127.0.0.1 is a loopback address, not a host\'s address',
    'services[0].backends[1].address: 198.18.0.10 is the service\'s vip; a backend has its own address',
  ]);
  const cafe = web([], { health: { type: 'http', path: '/café', intervalMs: 1000, timeoutMs: 2000, rise: 2, fall: 2 } });
  t.deepEqual(poolProblems({ services: [cafe], deny: [] }).map(formatProblem), [
    'services[0].health.path: "/café" is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. /caf%C3%A9',
    'services[0].health.timeout: 2s is longer than the interval (1s)',
  ]);
});
