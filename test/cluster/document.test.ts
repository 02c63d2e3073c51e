import test from 'ava';
import { describeBad, parseVersion, readStored, type Snapshot } from '../../cluster/document.js';
import { poolKeys } from '../../cluster/keys.js';
import { webPool, poolDoc } from './support.js';

const keys = poolKeys('xlb');

function snap(over: Partial<Snapshot>): Snapshot {
  return { poolType: 'string', pool: JSON.stringify(poolDoc(webPool(11))), versionType: 'string', version: '4',
    changesType: 'stream', lastId: '1-0', lastVersion: '4', ...over };
}

test('a snapshot is a pool, no pool, or bad data with the key and the path inside it named', (t) => {
  t.deepEqual(readStored(snap({}), keys), { kind: 'pool', version: 4, pool: webPool(11) });
  t.deepEqual(readStored(snap({ poolType: 'none', pool: null, versionType: 'none', version: null, changesType: 'none',
    lastId: null, lastVersion: null }), keys), { kind: 'empty' });
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
    const stored = readStored(snap(over), keys);
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
