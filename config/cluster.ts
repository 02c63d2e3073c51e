// The config's `redis:` and `ha:` sections: how a node reaches the pool's Redis, and how it pairs with another node.
import { at } from './problem.js';
import { given, type Mapping, type Reader } from './reader.js';
import { DEFAULTS, type HaConfig, type HostPort, type RedisConfig } from './types.js';
import { formatMs, parseHostPort, parseInteger, parseInterfaceAddress, parseInterfaceName, show } from './values.js';

const KEYS = {
  redis: ['url', 'sentinels', 'name', 'db', 'tls', 'username', 'key_prefix', 'password_file', 'ca_file',
    'sentinel_password_file'],
  ha: ['node_id', 'pair', 'lease', 'heartbeat', 'key_file', 'floating'],
  heartbeat: ['interface', 'interval', 'misses'],
  floating: ['address', 'interface'],
} as const;

/** Only with sentinels: they describe how to reach a master the Sentinels name. */
const SENTINEL_ONLY = ['name', 'db', 'tls', 'username', 'sentinel_password_file'] as const;
const MIN_LEASE_MS = 200;
const MIN_HEARTBEAT_MS = 10;
const EXAMPLE_URL = 'redis://127.0.0.1:6379/0';

export function readRedis(r: Reader, v: unknown): RedisConfig | undefined {
  return r.clean(() => {
    const m = r.mapping(v, 'redis', KEYS.redis);
    if (!m) return undefined;
    const keyPrefix = given(m, 'key_prefix') ? r.word(m.key_prefix, 'redis.key_prefix') : DEFAULTS.keyPrefix;
    const passwordFile = given(m, 'password_file') ? r.absolutePath(m.password_file, 'redis.password_file') : undefined;
    const caFile = given(m, 'ca_file') ? r.absolutePath(m.ca_file, 'redis.ca_file') : undefined;
    const common = { keyPrefix: keyPrefix!, ...(passwordFile && { passwordFile }), ...(caFile && { caFile }) };
    if (given(m, 'url') && given(m, 'sentinels')) {
      return r.add('redis', 'give url (one server) or sentinels (a Sentinel group), not both');
    }
    if (given(m, 'sentinels')) return readSentinel(r, m, common);
    if (!given(m, 'url')) return r.add('redis.url', `required (or sentinels and name), e.g. ${EXAMPLE_URL}`);
    for (const key of SENTINEL_ONLY) if (given(m, key)) r.add(at('redis', key), 'only with sentinels; a url says it itself');
    const url = readRedisUrl(r, m.url);
    if (url === undefined) return undefined;
    if (url.password && passwordFile) {
      r.add('redis.password_file', 'the url already has a password: give one or the other');
    }
    if (caFile && !url.tls) r.add('redis.ca_file', 'a CA is for TLS: use a rediss:// url');
    return { url: url.text, ...common };
  });
}

function readRedisUrl(r: Reader, v: unknown): { text: string; tls: boolean; password: boolean } | undefined {
  const path = 'redis.url';
  const s = r.string(v, path);
  if (s === undefined) return undefined;
  const notRedis = `${show(s)} is not a redis:// or rediss:// URL, e.g. ${EXAMPLE_URL}`;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return r.add(path, notRedis);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return r.add(path, notRedis);
  if (!/^(\/[0-9]*)?$/.test(url.pathname)) {
    return r.add(path, `the database "${url.pathname.slice(1)}" is not a number, e.g. ${EXAMPLE_URL}`);
  }
  return { text: s, tls: url.protocol === 'rediss:', password: url.password !== '' };
}

function readSentinel(r: Reader, m: Mapping, common: Pick<RedisConfig, 'keyPrefix' | 'passwordFile' | 'caFile'>):
  RedisConfig | undefined {
  const items = r.list(m.sentinels, 'redis.sentinels');
  const sentinels = items?.map((item, i) => r.check(parseHostPort(item), at('redis.sentinels', i)));
  if (items && items.length === 0) r.add('redis.sentinels', 'needs at least one Sentinel, e.g. [198.18.9.1:26379]');
  const name = given(m, 'name') ? r.word(m.name, 'redis.name') : r.add('redis.name', 'required with sentinels: the master group\'s name');
  const db = given(m, 'db') ? r.check(parseInteger(m.db, 0, 15), 'redis.db') : 0;
  const tls = given(m, 'tls') ? r.boolean(m.tls, 'redis.tls') : false;
  const username = given(m, 'username') ? r.word(m.username, 'redis.username') : undefined;
  const sentinelPasswordFile = given(m, 'sentinel_password_file')
    ? r.absolutePath(m.sentinel_password_file, 'redis.sentinel_password_file') : undefined;
  if (common.caFile && tls === false) r.add('redis.ca_file', 'a CA is for TLS: set tls: true');
  if (!sentinels || sentinels.some((s) => s === undefined) || name === undefined) return undefined;
  return {
    ...common, sentinels: sentinels as HostPort[], name, db: db!, tls: tls!, ...(username && { username }),
    ...(sentinelPasswordFile && { sentinelPasswordFile }),
  };
}

export function readHa(r: Reader, v: unknown): HaConfig | undefined {
  return r.clean(() => {
    const m = r.mapping(v, 'ha', KEYS.ha);
    if (!m) return undefined;
    const nodeId = given(m, 'node_id') ? r.word(m.node_id, 'ha.node_id') : r.add('ha.node_id', 'required');
    const pair = given(m, 'pair') ? r.word(m.pair, 'ha.pair') : r.add('ha.pair', 'required: nodes with the same pair share one lease');
    const leaseMs = given(m, 'lease') ? r.duration(m.lease, 'ha.lease', MIN_LEASE_MS) : DEFAULTS.leaseMs;
    const heartbeat = given(m, 'heartbeat') ? readHeartbeat(r, m.heartbeat)
      : r.add('ha.heartbeat', 'required, e.g. { interface: front, interval: 100ms, misses: 3 }');
    const keyFile = given(m, 'key_file') ? r.absolutePath(m.key_file, 'ha.key_file')
      : r.add('ha.key_file', 'required: the pair\'s shared secret that authenticates heartbeats');
    const floating = given(m, 'floating') ? readFloating(r, m.floating) : [];
    if (heartbeat && leaseMs !== undefined && heartbeat.intervalMs * heartbeat.misses >= leaseMs) {
      r.add('ha.heartbeat', `${heartbeat.misses} missed heartbeats of ${formatMs(heartbeat.intervalMs)} take as long as ` +
        `the lease (${formatMs(leaseMs)}): a dead peer must be noticed before its lease lapses`);
    }
    return { nodeId: nodeId!, pair: pair!, leaseMs: leaseMs!, heartbeat: heartbeat!, keyFile: keyFile!, floating: floating! };
  });
}

function readHeartbeat(r: Reader, v: unknown): HaConfig['heartbeat'] | undefined {
  return r.clean(() => {
    const path = 'ha.heartbeat';
    const m = r.mapping(v, path, KEYS.heartbeat);
    if (!m) return undefined;
    const iface = given(m, 'interface') ? r.check(parseInterfaceName(m.interface), at(path, 'interface'))
      : r.add(at(path, 'interface'), 'required: where the pair\'s heartbeats go');
    const intervalMs = given(m, 'interval') ? r.duration(m.interval, at(path, 'interval'), MIN_HEARTBEAT_MS)
      : DEFAULTS.heartbeat.intervalMs;
    const misses = given(m, 'misses') ? r.check(parseInteger(m.misses, 1, 100), at(path, 'misses')) : DEFAULTS.heartbeat.misses;
    return { interface: iface!, intervalMs: intervalMs!, misses: misses! };
  });
}

function readFloating(r: Reader, v: unknown): HaConfig['floating'] | undefined {
  const path = 'ha.floating';
  const items = r.list(v, path);
  if (!items) return undefined;
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    const m = r.mapping(item, at(path, i), KEYS.floating);
    if (!m) return undefined!;
    const address = given(m, 'address') ? r.check(parseInterfaceAddress(m.address), at(at(path, i), 'address'))
      : r.add(at(at(path, i), 'address'), 'required, e.g. 198.18.1.1/24');
    const iface = given(m, 'interface') ? r.check(parseInterfaceName(m.interface), at(at(path, i), 'interface'))
      : r.add(at(at(path, i), 'interface'), 'required');
    if (address === undefined || iface === undefined) return undefined!;
    const first = seen.get(address.address);
    if (first !== undefined) {
      r.add(at(at(path, i), 'address'), `${address.address} is already listed (${at(path, first)})`);
    } else seen.set(address.address, i);
    return { ...address, interface: iface };
  });
}
