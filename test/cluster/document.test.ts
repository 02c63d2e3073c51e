import test from 'ava';
import { parseConfig } from '../../config/load.js';
import { describeBad, parseVersion, readStored, renderPool, type Snapshot } from '../../cluster/document.js';
import { poolKeys } from '../../cluster/keys.js';
import type { Pool } from '../../lb/pool.js';
import { standInCheck, webPool } from './support.js';

const keys = poolKeys('xlb');

const FULL: Pool = {
  deny: ['203.0.113.0/24', '192.0.2.7/32'],
  services: [
    { name: 'ping', vip: '198.18.100.10', protocol: 'icmp', scheduler: 'rr', forwarding: 'nat', allow: [],
      health: { type: 'icmp', intervalMs: 1500, timeoutMs: 500, rise: 1, fall: 3 },
      backends: [{ address: '198.18.1.11', weight: 1, drained: false }] },
    { name: 'web', vip: '198.18.100.10', protocol: 'tcp', port: 80, scheduler: 'maglev', forwarding: 'nat',
      allow: ['198.18.0.0/16'], health: { type: 'http', port: 8081, path: '/healthz', intervalMs: 60_000, timeoutMs: 2000,
        rise: 2, fall: 2 },
      backends: [
        { address: '198.18.1.11', port: 8080, weight: 1, drained: false },
        { address: '198.18.1.12', port: 8080, weight: 2, mac: '02:00:00:00:01:12', drained: true },
      ] },
    { name: 'dns', vip: '198.18.100.11', protocol: 'udp', port: 53, scheduler: 'rr', forwarding: 'dsr', allow: [],
      health: { type: 'none', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
      backends: [{ address: '198.18.1.13', weight: 0, drained: false }] },
  ],
};

test('a rendered pool is read back as the same pool by the config rules of today and by the stand-in', (t) => {
  const document = renderPool(FULL);
  const { config, problems } = parseConfig(JSON.stringify({ node: { interfaces: ['eth0'] }, ...document }));
  t.deepEqual(problems, []);
  t.deepEqual(config?.pool, FULL);
  const standIn = standInCheck(JSON.parse(JSON.stringify(renderPool(webPool(11, 12)))));
  t.deepEqual(standIn, { pool: webPool(11, 12), problems: [] });
});

test('the document is the YAML shape: durations as the YAML writes them, only the keys a value needs', (t) => {
  const d = renderPool(FULL);
  t.deepEqual(d.services[0], { name: 'ping', vip: '198.18.100.10', protocol: 'icmp', scheduler: 'rr', forwarding: 'nat',
    allow: [], health: { type: 'icmp', interval: '1500ms', timeout: '500ms', rise: 1, fall: 3 },
    backends: [{ address: '198.18.1.11', weight: 1, drained: false }] });
  t.deepEqual(d.services[1]!.health, { type: 'http', port: 8081, path: '/healthz', interval: '60s', timeout: '2s', rise: 2,
    fall: 2 });
  t.deepEqual(d.deny, FULL.deny);
});

function snap(over: Partial<Snapshot>): Snapshot {
  return { poolType: 'string', pool: JSON.stringify(renderPool(webPool(11))), versionType: 'string', version: '4',
    changesType: 'stream', lastId: '1-0', lastVersion: '4', ...over };
}

test('a snapshot is a pool, no pool, or bad data with the key and the path inside it named', (t) => {
  t.deepEqual(readStored(snap({}), keys, standInCheck), { kind: 'pool', version: 4, pool: webPool(11) });
  t.deepEqual(readStored(snap({ poolType: 'none', pool: null, versionType: 'none', version: null, changesType: 'none',
    lastId: null, lastVersion: null }), keys, standInCheck), { kind: 'empty' });
  const cases: [Partial<Snapshot>, string, string, string, number?][] = [
    [{ pool: '{"services": [' }, 'xlb:pool', '', 'is not JSON', 4],
    [{ pool: '{"services":[{"name":"web","vip":"198.18.100.10","protocol":"tcp","port":80,' +
      '"backends":[{"address":"198.18.1.300"}]}],"deny":[]}' }, 'xlb:pool', 'services[0].backends[0].address',
    '"198.18.1.300" is not an IPv4 address', 4],
    [{ pool: '{"services":[],"deny":[],"pool":{}}' }, 'xlb:pool', 'pool', 'unknown key', 4],
    [{ poolType: 'hash', pool: null }, 'xlb:pool', '', 'holds a hash, not a JSON document', 4],
    [{ poolType: 'none', pool: null }, 'xlb:pool', '', 'missing, while xlb:pool:version says 4', 4],
    [{ version: '4.5' }, 'xlb:pool:version', '', '"4.5" is not an integer from 1'],
    [{ version: '0' }, 'xlb:pool:version', '', '"0" is not an integer from 1'],
    [{ versionType: 'none', version: null }, 'xlb:pool:version', '', 'missing, while xlb:pool holds a pool'],
    [{ versionType: 'list', version: null }, 'xlb:pool:version', '', 'holds a list, not an integer'],
    [{ changesType: 'string', lastId: null }, 'xlb:pool:changes', '', 'holds a string, not a stream of change records'],
  ];
  for (const [over, key, path, message, version] of cases) {
    const stored = readStored(snap(over), keys, standInCheck);
    if (stored.kind !== 'bad') {
      t.fail(`${JSON.stringify(over)} was read as ${stored.kind}`);
      continue;
    }
    t.is(stored.key, key, JSON.stringify(over));
    t.is(stored.version, version);
    t.is(stored.problems[0]!.path, path);
    t.true(stored.problems[0]!.message.startsWith(message), stored.problems[0]!.message);
  }
});

test('versions are decimal integers from 1, exact in a double', (t) => {
  t.is(parseVersion('1'), 1);
  t.is(parseVersion('99999999999999'), 99999999999999);
  for (const bad of [null, '', '0', '-1', '01', '1e3', ' 1', '1.0', '999999999999999999']) {
    t.is(parseVersion(bad), undefined, String(bad));
  }
});

test('a refusal reads as the key, the version and one line per problem', (t) => {
  t.is(describeBad({ key: 'xlb:pool', version: 7, problems: [{ path: 'services[0].vip', message: 'bad' },
    { path: '', message: 'also' }] }), 'xlb:pool (version 7): 2 problems\n  services[0].vip: bad\n  also');
});
