// The config file's document (DESIGN.md "Config (YAML)") as plain data -> a typed Config: how this node runs (node,
// redis, ha) and its pool (poolrules.ts), with every problem and its path, never just the first.
import { posix } from 'node:path';
import { readPool, POOL_KEYS } from './poolrules.js';
import { at, type Problem } from './problem.js';
import { given, Reader } from './reader.js';
import { readHa, readRedis } from './cluster.js';
import { DEFAULTS, type Config, type HaConfig, type NodeConfig, type XdpMode } from './types.js';
import { parseHostPort, parseInterfaceName, show } from './values.js';

const KEYS = {
  top: ['node', 'redis', 'ha', ...POOL_KEYS],
  node: ['interfaces', 'xdp_mode', 'control_socket', 'pin_path', 'metrics'],
} as const;

const XDP_MODES: readonly XdpMode[] = ['auto', 'native', 'generic'];
const BPF_FS = '/sys/fs/bpf';
/** sizeof(sockaddr_un.sun_path) - 1 */
const MAX_SOCKET_PATH = 107;

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
    const metrics = given(m, 'metrics') ? r.check(parseHostPort(m.metrics), 'node.metrics') : undefined;
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
