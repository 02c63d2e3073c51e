// The config file's document (DESIGN.md "Config (YAML)") as plain data -> a typed Config: how this node runs (node,
// redis, ha) and its pool (poolrules.ts), with every problem and its path, never just the first.
import { posix } from 'node:path';
import { readPool, POOL_KEYS } from './poolrules.js';
import { at, type Problem } from './problem.js';
import { given, Reader } from './reader.js';
import { DEFAULTS, type Config, type HaConfig, type NodeConfig, type RedisConfig, type XdpMode } from './types.js';
import {
  parseInterfaceAddress, parseInterfaceName, parseIPv4, parsePort, show,
} from './values.js';

const KEYS = {
  top: ['node', 'redis', 'ha', ...POOL_KEYS],
  node: ['interfaces', 'xdp_mode', 'control_socket', 'pin_path', 'metrics'],
  redis: ['url', 'key_prefix'],
  ha: ['node_id', 'lease', 'floating'],
  floating: ['address', 'interface'],
} as const;

const XDP_MODES: readonly XdpMode[] = ['auto', 'native', 'generic'];
const BPF_FS = '/sys/fs/bpf';
/** sizeof(sockaddr_un.sun_path) - 1 */
const MAX_SOCKET_PATH = 107;
const MIN_LEASE_MS = 200;

/** Checks a parsed config document. `config` is set only when there is no problem. */
export function checkConfig(data: unknown): { config?: Config; problems: Problem[] } {
  const r = new Reader();
  const config = readConfig(r, data);
  return r.problems.length === 0 ? { config, problems: [] } : { problems: r.problems };
}

function readConfig(r: Reader, data: unknown): Config | undefined {
  if (data === null || data === undefined) return r.add('', 'the config is empty: it needs at least node.interfaces');
  const top = r.mapping(data, '', KEYS.top);
  if (!top) return undefined;
  const node = given(top, 'node') ? readNode(r, top.node) : r.add('node', 'required');
  const redis = given(top, 'redis') ? readRedis(r, top.redis) : undefined;
  let ha: HaConfig | undefined;
  if (given(top, 'ha')) {
    if (!given(top, 'redis')) r.add('ha', 'ha needs redis: the lease lives there');
    ha = readHa(r, top.ha);
  }
  const pool = readPool(r, top);
  if (r.problems.length > 0) return undefined;
  return { node: node!, ...(redis && { redis }), ...(ha && { ha }), pool: pool! };
}

function readNode(r: Reader, v: unknown): NodeConfig | undefined {
  return r.clean(() => {
    const m = r.mapping(v, 'node', KEYS.node);
    if (!m) return undefined;
    const interfaces = given(m, 'interfaces') ? readInterfaces(r, m.interfaces) : r.add('node.interfaces', 'required');
    const xdpMode = given(m, 'xdp_mode') ? r.oneOf(m.xdp_mode, 'node.xdp_mode', XDP_MODES) : DEFAULTS.xdpMode;
    const controlSocket = given(m, 'control_socket') ? readControlSocket(r, m.control_socket) : DEFAULTS.controlSocket;
    const pinPath = given(m, 'pin_path') ? readPinPath(r, m.pin_path) : DEFAULTS.pinPath;
    const metrics = given(m, 'metrics') ? readHostPort(r, m.metrics, 'node.metrics') : undefined;
    return { interfaces: interfaces!, xdpMode: xdpMode!, controlSocket: controlSocket!, pinPath: pinPath!,
      ...(metrics && { metrics }) };
  });
}

function readInterfaces(r: Reader, v: unknown): string[] | undefined {
  const path = 'node.interfaces';
  const items = r.list(v, path);
  if (!items) return undefined;
  if (items.length === 0) return r.add(path, 'needs at least one interface to attach to');
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    const name = r.check(parseInterfaceName(item), at(path, i));
    if (name === undefined) return '';
    const first = seen.get(name);
    if (first !== undefined) r.add(at(path, i), `"${name}" is already listed (${at(path, first)})`);
    seen.set(name, i);
    return name;
  });
}

function readControlSocket(r: Reader, v: unknown): string | undefined {
  const path = 'node.control_socket';
  const s = r.absolutePath(v, path);
  if (s !== undefined && Buffer.byteLength(s) > MAX_SOCKET_PATH) {
    return r.add(path, `is longer than ${MAX_SOCKET_PATH} bytes, the limit for a unix socket's path`);
  }
  return s;
}

function readPinPath(r: Reader, v: unknown): string | undefined {
  const path = 'node.pin_path';
  const s = r.absolutePath(v, path);
  if (s === undefined) return undefined;
  const normal = posix.normalize(s).replace(/\/+$/, '');
  if (!normal.startsWith(`${BPF_FS}/`)) {
    return r.add(path, `${show(s)} is not under ${BPF_FS}, where the BPF filesystem is, e.g. ${BPF_FS}/xlb`);
  }
  return normal;
}

function readHostPort(r: Reader, v: unknown, path: string): { host: string; port: number } | undefined {
  const m = typeof v === 'string' ? /^(.*):([^:]*)$/.exec(v) : null;
  if (!m) return r.add(path, `${show(v)} is not host:port, e.g. 127.0.0.1:9470`);
  const host = r.check(parseIPv4(m[1]), path);
  const port = /^[0-9]+$/.test(m[2]) ? r.check(parsePort(Number(m[2])), path)
    : r.add(path, `"${m[2]}" is not a port (1..65535)`);
  return host !== undefined && port !== undefined ? { host, port } : undefined;
}

function readRedis(r: Reader, v: unknown): RedisConfig | undefined {
  return r.clean(() => {
    const m = r.mapping(v, 'redis', KEYS.redis);
    if (!m) return undefined;
    const url = given(m, 'url') ? readRedisUrl(r, m.url) : r.add('redis.url', 'required, e.g. redis://127.0.0.1:6379/0');
    const keyPrefix = given(m, 'key_prefix') ? r.word(m.key_prefix, 'redis.key_prefix') : DEFAULTS.keyPrefix;
    return { url: url!, keyPrefix: keyPrefix! };
  });
}

function readRedisUrl(r: Reader, v: unknown): string | undefined {
  const path = 'redis.url';
  const s = r.string(v, path);
  if (s === undefined) return undefined;
  const notRedis = `${show(s)} is not a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0`;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return r.add(path, notRedis);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return r.add(path, notRedis);
  if (!/^(\/[0-9]*)?$/.test(url.pathname)) {
    return r.add(path, `the database "${url.pathname.slice(1)}" is not a number, e.g. redis://127.0.0.1:6379/0`);
  }
  return s;
}

function readHa(r: Reader, v: unknown): HaConfig | undefined {
  return r.clean(() => {
    const m = r.mapping(v, 'ha', KEYS.ha);
    if (!m) return undefined;
    const nodeId = given(m, 'node_id') ? r.word(m.node_id, 'ha.node_id') : r.add('ha.node_id', 'required');
    const leaseMs = given(m, 'lease') ? r.duration(m.lease, 'ha.lease', MIN_LEASE_MS) : DEFAULTS.leaseMs;
    const floating = given(m, 'floating') ? readFloating(r, m.floating) : [];
    return { nodeId: nodeId!, leaseMs: leaseMs!, floating: floating! };
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
