// Live edits as pure functions: the pool they make is held to the config's rules, or the edit is refused whole.
import test, { type ExecutionContext } from 'ava';
import { type ErrorCode, XlbError } from '../../lb/errors.js';
import { addBackend, addDeny, removeBackend, removeDeny, setDrained } from '../../lb/control/edits.js';
import type { Pool, ServiceSpec } from '../../config/pool.js';
import { formatProblem } from '../../config/problem.js';

const HEALTH = { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 } as const;

function service(name: string, vip: string, addresses: string[], extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name, vip, protocol: 'tcp', port: 80, scheduler: 'rr', forwarding: 'nat', allow: [], health: { ...HEALTH },
    backends: addresses.map((address) => ({ address, port: 8080, weight: 1, drained: false })), ...extra,
  };
}

const POOL: Pool = {
  services: [
    service('web', '198.18.0.10', ['198.18.1.11', '198.18.1.12']),
    service('api', '198.18.0.20', ['198.18.1.21']),
    service('ping', '198.18.0.30', [], { protocol: 'icmp', port: undefined, health: { ...HEALTH, type: 'icmp' } }),
    service('direct', '198.18.0.40', [], { forwarding: 'dsr' }),
  ],
  deny: [],
};

function refused(t: ExecutionContext, edit: () => Pool, code: ErrorCode, message: string, problems: string[] = []): void {
  const err = t.throws(edit, { instanceOf: XlbError });
  t.is(err?.code, code);
  t.is(err?.message, message);
  t.deepEqual(err?.problems.map(formatProblem), problems);
}

test('a backend at a VIP, this service\'s or another\'s, is refused naming the value; the pool is untouched', (t) => {
  const before = structuredClone(POOL);
  refused(t, () => addBackend(POOL, { service: 'web', address: '198.18.0.10', port: 8080 }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.0.10:8080 to "web"; nothing changed',
    ['services[0].backends[2].address: 198.18.0.10 is the service\'s vip; a backend has its own address']);
  refused(t, () => addBackend(POOL, { service: 'web', address: '198.18.0.20' }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.0.20 to "web"; nothing changed',
    ['services[0].backends[2].address: 198.18.0.20 is the vip of "api" (services[1]); a backend has its own address']);
  t.deepEqual(POOL, before);
});

for (const address of ['0.0.0.0', '255.255.255.255', '127.0.0.1', '224.0.0.1', '240.0.0.1']) {
  test(`a backend at ${address} is refused by the pool's rules`, (t) => {
    const err = t.throws(() => addBackend(POOL, { service: 'web', address }), { instanceOf: XlbError });
    t.is(err?.code, 'XLB_CONFIG_INVALID');
    t.regex(err?.problems[0]?.message ?? '', new RegExp(`^${address.replace(/\./g, '\\.')} is .*, not a host's address$`));
  });
}

test('the other rules of a backend hold for edits too: one nat service per address:port, dsr and icmp ports', (t) => {
  refused(t, () => addBackend(POOL, { service: 'api', address: '198.18.1.11', port: 8080 }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.1.11:8080 to "api"; nothing changed',
    ['services[1].backends[1]: 198.18.1.11:8080/tcp already serves nat service "web" (services[0]): ' +
      'its replies could not be told apart; give it one service, or another port']);
  refused(t, () => addBackend(POOL, { service: 'ping', address: '198.18.1.31', port: 7 }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.1.31:7 to "ping"; nothing changed', ['services[2].backends[0].port: icmp services have no port']);
  refused(t, () => addBackend(POOL, { service: 'direct', address: '198.18.1.41', port: 8080 }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.1.41:8080 to "direct"; nothing changed',
    ['services[3].backends[0].port: dsr cannot change the port: leave it out, or make it 80']);
});

test('the data plane\'s capacities hold for edits: the 4097th backend and the 16385th deny entry are refused', (t) => {
  const full: Pool = {
    services: [service('big', '198.19.0.1', Array.from({ length: 4096 }, (_, i) => `198.18.${Math.floor(i / 256)}.${i % 256}`))],
    deny: Array.from({ length: 16384 }, (_, i) => `10.${Math.floor(i / 256)}.${i % 256}.0/24`),
  };
  refused(t, () => addBackend(full, { service: 'big', address: '198.18.16.1' }), 'XLB_CONFIG_INVALID',
    'cannot add backend 198.18.16.1 to "big"; nothing changed',
    ['services: 4097 backends over all services, more than the 4096 the data plane holds']);
  refused(t, () => addDeny(full, '203.0.113.0/24'), 'XLB_CONFIG_INVALID', 'cannot deny 203.0.113.0/24; nothing changed',
    ['deny: 16385 entries, more than the 16384 the data plane holds']);
});

test('an edit the rules accept gives the new pool', (t) => {
  const added = addBackend(POOL, { service: 'web', address: '198.18.1.13', weight: 3 });
  t.deepEqual(added.services[0].backends.at(-1), { address: '198.18.1.13', weight: 3, drained: false });
  t.deepEqual(removeBackend(added, { service: 'web', address: '198.18.1.13' }).services[0], POOL.services[0]);
  t.true(setDrained(POOL, { service: 'web', address: '198.18.1.11', port: 8080 }, true).services[0].backends[0].drained);
  t.deepEqual(removeDeny(addDeny(POOL, '203.0.113.0/24'), '203.0.113.0/24'), POOL);
});

test('unknown services and backends are XLB_NOT_FOUND, repeats XLB_CONFLICT', (t) => {
  refused(t, () => addBackend(POOL, { service: 'nope', address: '198.18.1.13' }), 'XLB_NOT_FOUND',
    'no service "nope" (services: web, api, ping, direct)');
  refused(t, () => removeBackend(POOL, { service: 'web', address: '198.18.1.99' }), 'XLB_NOT_FOUND',
    'service "web" has no backend 198.18.1.99');
  refused(t, () => addBackend(POOL, { service: 'web', address: '198.18.1.11', port: 8080 }), 'XLB_CONFLICT',
    'service "web" already has backend 198.18.1.11:8080');
  refused(t, () => addDeny(addDeny(POOL, '203.0.113.0/24'), '203.0.113.0/24'), 'XLB_CONFLICT', '203.0.113.0/24 is already denied');
  refused(t, () => removeDeny(POOL, '203.0.113.0/24'), 'XLB_NOT_FOUND', '203.0.113.0/24 is not in the deny list (empty)');
});
