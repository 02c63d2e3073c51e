// Reads the YAML config (DESIGN.md "Config (YAML)") into a typed Config, checking everything and listing every
// problem with its path (`services[1].backends[0].address: "300.1.2.3" is not an IPv4 address`), never just the first.
//
// Pure apart from loadConfigFile(), which only adds reading the file. The value checkers (parseIPv4, parseCidr,
// parseDuration, parseMac) are exported for the other places that take the same values (lbctl, the control socket).
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Netmask } from 'netmask';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { Problem } from '../lb/control/api.js';
import { XlbError, type ErrorCode } from '../lb/errors.js';
import type { Protocol } from '../lb/bpf/layout.js';
import type { BackendSpec, Forwarding, HealthCheck, HealthType, Scheduler, ServiceSpec } from '../lb/pool.js';
import { DEFAULTS, type Config, type HaConfig, type NodeConfig, type RedisConfig, type XdpMode } from './types.js';

/**
 * Stable error codes (README "Errors", lb/errors.ts):
 * - XLB_CONFIG_INVALID: the file was read but has problems; `problems` lists every one.
 * - XLB_CONFIG_UNREADABLE: the file could not be read; `cause` is the OS error.
 */
export type ConfigErrorCode = Extract<ErrorCode, 'XLB_CONFIG_INVALID' | 'XLB_CONFIG_UNREADABLE'>;

export class ConfigError extends XlbError {
  constructor(
    override readonly code: ConfigErrorCode,
    message: string,
    readonly problems: Problem[] = [],
    options?: ErrorOptions,
  ) {
    super(code, message);
    this.name = 'ConfigError';
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** One line per problem, as an operator reads them: `path: message`. */
export function formatProblems(problems: readonly Problem[]): string[] {
  return problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
}

/** Reads and checks a config file; throws ConfigError listing every problem. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('XLB_CONFIG_UNREADABLE', `${path}: cannot read the config: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  const { config, problems } = parseConfig(text);
  if (config) return config;
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  throw new ConfigError(
    'XLB_CONFIG_INVALID', [`${path}: ${count}`, ...formatProblems(problems).map((l) => `  ${l}`)].join('\n'), problems);
}

/** Parses and checks config text. `config` is set only when there is no problem. */
export function parseConfig(text: string): { config?: Config; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
  const where = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => ({
        path: where(e.pos[0]),
        message: e.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document ("---"); keep one'
          : e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, ''),
      })),
    };
  }
  const unresolved: Problem[] = [];
  visit(doc, {
    Alias(_, alias) {
      if (!alias.resolve(doc)) {
        const name = alias.source;
        const message = `*${name} names no anchor (&${name}) above it`;
        unresolved.push({ path: where(alias.range?.[0] ?? 0), message });
      }
    },
  });
  if (unresolved.length > 0) return { problems: unresolved };
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // Aliases nested too deep (a "billion laughs" file) and the like.
    return { problems: [{ path: '', message: `the YAML cannot be read: ${(err as Error).message}` }] };
  }
  const checker = new Checker();
  const config = checker.config(data);
  return checker.problems.length === 0 ? { config, problems: [] } : { problems: checker.problems };
}

// ---- values ------------------------------------------------------------------------------------------------------

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = (problem: string): Checked<never> => ({ ok: false, problem });

/** How a value is quoted in a message: strings in double quotes, the rest as YAML would print them. */
function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'a list' : v !== null && typeof v === 'object'
    ? 'a mapping' : String(v);
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A strict dotted quad: four decimal octets, no leading zeros. */
export function parseIPv4(v: unknown): Checked<string> {
  return typeof v === 'string' && IPV4.test(v) ? ok(v) : no(`${show(v)} is not an IPv4 address`);
}

/** An address a packet can be sent to: not this-network, loopback, multicast or reserved (broadcast included). */
function hostAddressProblem(address: string): string | undefined {
  const first = Number(address.split('.')[0]);
  const kind = first === 0 ? 'a "this network" address (0.0.0.0/8)' : first === 127 ? 'a loopback address'
    : first >= 224 && first < 240 ? 'a multicast address' : first >= 240 ? 'a reserved or broadcast address' : '';
  return kind ? `${address} is ${kind}, not a host's address` : undefined;
}

function splitPrefix(v: unknown): { address: string; prefix: number } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^([^/]+)(?:\/(3[0-2]|[12]?[0-9]))?$/.exec(v);
  if (!m || !IPV4.test(m[1])) return undefined;
  return { address: m[1], prefix: m[2] === undefined ? 32 : Number(m[2]) };
}

/** An IPv4 network: `a.b.c.d/n`, or a bare address meaning /32. Returns it as `a.b.c.d/n`. */
export function parseCidr(v: unknown): Checked<string> {
  const p = splitPrefix(v);
  if (!p) return no(`${show(v)} is not an IPv4 CIDR, e.g. 203.0.113.0/24`);
  const net = new Netmask(p.address, p.prefix);
  if (net.base !== p.address) return no(`${v} has host bits set; did you mean ${net.base}/${p.prefix}?`);
  return ok(`${p.address}/${p.prefix}`);
}

/** An interface address with its prefix (`198.18.1.1/24`; a bare address means /32). */
export function parseInterfaceAddress(v: unknown): Checked<{ address: string; prefixLength: number }> {
  const p = splitPrefix(v);
  if (!p) return no(`${show(v)} is not an IPv4 address with a prefix length, e.g. 198.18.1.1/24`);
  const host = hostAddressProblem(p.address);
  if (host) return no(host);
  if (p.prefix <= 30) {
    const net = new Netmask(p.address, p.prefix);
    const hint = `give a host's, e.g. ${net.first}/${p.prefix}`;
    if (p.address === net.base) return no(`${v} is the network's own address; ${hint}`);
    if (p.address === net.broadcast) return no(`${v} is the network's broadcast address; ${hint}`);
  }
  return ok({ address: p.address, prefixLength: p.prefix });
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const MAX_DURATION_MS = 24 * 3600_000; // longer timers make no sense here, and Node's overflow at ~24.8 days

/** `500ms`, `1s`, `1.5s`, `2m` -> milliseconds. */
export function parseDuration(v: unknown): Checked<number> {
  if (typeof v === 'number') return no('needs a unit, e.g. 500ms or 2s');
  const m = typeof v === 'string' ? /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(v) : null;
  if (!m) return no(`${show(v)} is not a duration, e.g. 500ms, 1s or 2m`);
  const exact = Number(m[1]) * UNITS[m[2]];
  const ms = Math.round(exact);
  if (Math.abs(exact - ms) > 1e-6) return no(`${v} is not a whole number of milliseconds`);
  if (ms > MAX_DURATION_MS) return no(`${v} is longer than a day`);
  return ok(ms);
}

/** A unicast MAC, `02:00:00:00:01:12`, any case; returned in lower case. */
export function parseMac(v: unknown): Checked<string> {
  if (typeof v !== 'string' || !/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(v)) {
    return no(`${show(v)} is not a MAC address, e.g. "02:00:00:00:01:12"`);
  }
  const mac = v.toLowerCase();
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') {
    return no(`${v} is not a unicast MAC address; a next hop needs one`);
  }
  return ok(mac);
}

/** Linux's rule (dev_valid_name): 1 to 15 bytes, not "." or "..", no "/", ":" or whitespace. */
function parseInterfaceName(v: unknown): Checked<string> {
  if (typeof v !== 'string') return no(`${show(v)} is not an interface name`);
  if (Buffer.byteLength(v) > 15) {
    return no(`"${v}" is longer than 15 characters, the kernel's limit for an interface name`);
  }
  if (v === '' || v === '.' || v === '..' || /[/:\s]/.test(v)) {
    return no(`"${v}" is not an interface name: 1 to 15 characters, no "/", ":" or spaces`);
  }
  return ok(v);
}

function levenshtein(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The known word closest to `word`, when close enough to be a likely typo (`backend` -> `backends`). */
function closest(word: string, known: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = fold(word) === fold(k) ? 0 : levenshtein(word.toLowerCase(), k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  const allowed = word.length <= 1 ? 0 : word.length <= 4 ? 1 : 2;
  return bestDistance <= allowed ? best : undefined;
}

const didYouMean = (word: string, known: readonly string[]): string => {
  const guess = closest(word, known);
  return guess === undefined ? '' : `; did you mean "${guess}"?`;
};

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

// ---- the document -------------------------------------------------------------------------------------------------

type Mapping = Record<string, unknown>;

/** What the backends' checks need of their service; each undefined when it is wrong. */
interface ServiceFacts {
  name?: string;
  index: number;
  vip?: string;
  protocol?: Protocol;
  /** undefined for icmp; null when the service's port is missing or wrong. */
  port?: number | null;
  forwarding?: Forwarding;
}

const KEYS = {
  top: ['node', 'redis', 'ha', 'deny', 'services'],
  node: ['interfaces', 'xdp_mode', 'control_socket', 'pin_path', 'metrics'],
  redis: ['url', 'key_prefix'],
  ha: ['node_id', 'lease', 'floating'],
  floating: ['address', 'interface'],
  service: ['name', 'vip', 'protocol', 'port', 'scheduler', 'forwarding', 'allow', 'health', 'backends'],
  health: ['type', 'port', 'path', 'interval', 'timeout', 'rise', 'fall'],
  backend: ['address', 'port', 'weight', 'mac', 'drained'],
} as const;

const XDP_MODES: readonly XdpMode[] = ['auto', 'native', 'generic'];
const PROTOCOLS: readonly Protocol[] = ['icmp', 'tcp', 'udp'];
const SCHEDULERS: readonly Scheduler[] = ['rr', 'maglev'];
const FORWARDINGS: readonly Forwarding[] = ['nat', 'dsr'];
const HEALTH_TYPES: readonly HealthType[] = ['icmp', 'tcp', 'http', 'none'];
const DEFAULT_HEALTH: Record<Protocol, HealthType> = { icmp: 'icmp', tcp: 'tcp', udp: 'none' };

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const BPF_FS = '/sys/fs/bpf';
/** sizeof(sockaddr_un.sun_path) - 1 */
const MAX_SOCKET_PATH = 107;
const MIN_LEASE_MS = 200;

const at = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** A value given in the file; YAML's empty value (`key:`) counts as not given. */
const given = (m: Mapping, key: string): boolean => m[key] !== undefined && m[key] !== null;

/**
 * Walks the parsed YAML, collecting problems. Each reader returns the value, or undefined when it is absent or wrong
 * (a wrong one is recorded); a section returns its typed object only when it added no problem.
 */
class Checker {
  readonly problems: Problem[] = [];

  private add(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  private check<T>(result: Checked<T>, path: string): T | undefined {
    return result.ok ? result.value : this.add(path, result.problem);
  }

  /** Runs `section` and returns its result only if it recorded no problem. */
  private clean<T>(section: () => T): T | undefined {
    const before = this.problems.length;
    const value = section();
    return this.problems.length === before ? value : undefined;
  }

  private mapping(v: unknown, path: string, known: readonly string[]): Mapping | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      return this.add(path, `must be a mapping of ${known.join(', ')}`);
    }
    for (const key of Object.keys(v)) {
      if (!known.includes(key)) {
        const guess = closest(key, known);
        this.add(at(path, key), guess === undefined ? `unknown key; expected one of ${known.join(', ')}`
          : `unknown key; did you mean "${guess}"?`);
      }
    }
    return v as Mapping;
  }

  private list(v: unknown, path: string): unknown[] | undefined {
    return Array.isArray(v) ? v : this.add(path, 'must be a list');
  }

  private string(v: unknown, path: string): string | undefined {
    if (typeof v === 'string') return v;
    return this.add(path, typeof v === 'number' || typeof v === 'boolean'
      ? `must be a string; quote it: "${v}"` : 'must be a string');
  }

  private oneOf<T extends string>(v: unknown, path: string, choices: readonly T[]): T | undefined {
    if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
    const guess = typeof v === 'string' ? didYouMean(v, choices) : '';
    return this.add(path, `${show(v)} is not one of ${choices.join(', ')}${guess}`);
  }

  private integer(v: unknown, path: string, min: number, max: number): number | undefined {
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    return this.add(path, `${show(v)} is not an integer from ${min} to ${max}`);
  }

  private port(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) return v;
    return this.add(path, `${show(v)} is not a port (1..65535)`);
  }

  private boolean(v: unknown, path: string): boolean | undefined {
    return typeof v === 'boolean' ? v : this.add(path, `${show(v)} is not true or false`);
  }

  private duration(v: unknown, path: string, minMs: number): number | undefined {
    const ms = this.check(parseDuration(v), path);
    if (ms === undefined || ms >= minMs) return ms;
    return this.add(path, minMs <= 1 ? 'must be more than 0' : `must be at least ${formatMs(minMs)}`);
  }

  private hostAddress(v: unknown, path: string): string | undefined {
    const address = this.check(parseIPv4(v), path);
    const problem = address && hostAddressProblem(address);
    return problem ? this.add(path, problem) : address;
  }

  private absolutePath(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    return posix.isAbsolute(s) && !s.includes('\0') ? s : this.add(path, `${show(s)} is not an absolute path`);
  }

  /** A list of CIDRs, normalised, without repeats. */
  private cidrs(v: unknown, path: string): string[] | undefined {
    const items = this.list(v, path);
    if (!items) return undefined;
    const seen = new Map<string, number>();
    const out: string[] = [];
    items.forEach((item, i) => {
      const cidr = this.check(parseCidr(item), at(path, i));
      if (cidr === undefined) return;
      const first = seen.get(cidr);
      if (first !== undefined) this.add(at(path, i), `${cidr} is already listed (${at(path, first)})`);
      else seen.set(cidr, i);
      out.push(cidr);
    });
    return out;
  }

  config(data: unknown): Config | undefined {
    if (data === null || data === undefined) return this.add('node', 'required');
    const top = this.mapping(data, '', KEYS.top);
    if (!top) return undefined;
    const node = given(top, 'node') ? this.node(top.node) : this.add('node', 'required');
    const redis = given(top, 'redis') ? this.redis(top.redis) : undefined;
    let ha: HaConfig | undefined;
    if (given(top, 'ha')) {
      if (!given(top, 'redis')) this.add('ha', 'ha needs redis: the lease lives there');
      ha = this.ha(top.ha);
    }
    const deny = given(top, 'deny') ? this.cidrs(top.deny, 'deny') : [];
    const services = given(top, 'services') ? this.services(top.services) : [];
    if (this.problems.length > 0) return undefined;
    return { node: node!, ...(redis && { redis }), ...(ha && { ha }), pool: { services: services!, deny: deny! } };
  }

  private node(v: unknown): NodeConfig | undefined {
    return this.clean(() => {
      const m = this.mapping(v, 'node', KEYS.node);
      if (!m) return undefined;
      const interfaces = given(m, 'interfaces') ? this.interfaces(m.interfaces)
        : this.add('node.interfaces', 'required');
      const xdpMode = given(m, 'xdp_mode') ? this.oneOf(m.xdp_mode, 'node.xdp_mode', XDP_MODES) : DEFAULTS.xdpMode;
      const controlSocket = given(m, 'control_socket') ? this.controlSocket(m.control_socket) : DEFAULTS.controlSocket;
      const pinPath = given(m, 'pin_path') ? this.pinPath(m.pin_path) : DEFAULTS.pinPath;
      const metrics = given(m, 'metrics') ? this.hostPort(m.metrics, 'node.metrics') : undefined;
      return { interfaces: interfaces!, xdpMode: xdpMode!, controlSocket: controlSocket!, pinPath: pinPath!,
        ...(metrics && { metrics }) };
    });
  }

  private interfaces(v: unknown): string[] | undefined {
    const path = 'node.interfaces';
    const items = this.list(v, path);
    if (!items) return undefined;
    if (items.length === 0) return this.add(path, 'needs at least one interface to attach to');
    const seen = new Map<string, number>();
    return items.map((item, i) => {
      const name = this.check(parseInterfaceName(item), at(path, i));
      if (name === undefined) return '';
      const first = seen.get(name);
      if (first !== undefined) this.add(at(path, i), `"${name}" is already listed (${at(path, first)})`);
      seen.set(name, i);
      return name;
    });
  }

  private controlSocket(v: unknown): string | undefined {
    const path = 'node.control_socket';
    const s = this.absolutePath(v, path);
    if (s !== undefined && Buffer.byteLength(s) > MAX_SOCKET_PATH) {
      return this.add(path, `is longer than ${MAX_SOCKET_PATH} bytes, the limit for a unix socket's path`);
    }
    return s;
  }

  private pinPath(v: unknown): string | undefined {
    const path = 'node.pin_path';
    const s = this.absolutePath(v, path);
    if (s === undefined) return undefined;
    const normal = posix.normalize(s).replace(/\/+$/, '');
    if (!normal.startsWith(`${BPF_FS}/`)) {
      return this.add(path, `${show(s)} is not under ${BPF_FS}, where the BPF filesystem is, e.g. ${BPF_FS}/xlb`);
    }
    return normal;
  }

  private hostPort(v: unknown, path: string): { host: string; port: number } | undefined {
    const m = typeof v === 'string' ? /^(.*):([^:]*)$/.exec(v) : null;
    if (!m) return this.add(path, `${show(v)} is not host:port, e.g. 127.0.0.1:9470`);
    const host = this.check(parseIPv4(m[1]), path);
    const port = /^[0-9]+$/.test(m[2]) ? this.port(Number(m[2]), path)
      : this.add(path, `"${m[2]}" is not a port (1..65535)`);
    return host !== undefined && port !== undefined ? { host, port } : undefined;
  }

  private redis(v: unknown): RedisConfig | undefined {
    return this.clean(() => {
      const m = this.mapping(v, 'redis', KEYS.redis);
      if (!m) return undefined;
      const url = given(m, 'url') ? this.redisUrl(m.url)
        : this.add('redis.url', 'required, e.g. redis://127.0.0.1:6379/0');
      const keyPrefix = given(m, 'key_prefix') ? this.word(m.key_prefix, 'redis.key_prefix') : DEFAULTS.keyPrefix;
      return { url: url!, keyPrefix: keyPrefix! };
    });
  }

  private redisUrl(v: unknown): string | undefined {
    const path = 'redis.url';
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return this.add(path, `${show(s)} is not a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      return this.add(path, `${show(s)} is not a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0`);
    }
    if (!/^(\/[0-9]*)?$/.test(url.pathname)) {
      return this.add(path, `the database "${url.pathname.slice(1)}" is not a number, e.g. redis://127.0.0.1:6379/0`);
    }
    return s;
  }

  /** A non-empty string without whitespace: a key prefix, a node id. */
  private word(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined) return undefined;
    return s !== '' && !/\s/.test(s) ? s : this.add(path, `${show(s)} must not be empty or contain spaces`);
  }

  private ha(v: unknown): HaConfig | undefined {
    return this.clean(() => {
      const m = this.mapping(v, 'ha', KEYS.ha);
      if (!m) return undefined;
      const nodeId = given(m, 'node_id') ? this.word(m.node_id, 'ha.node_id') : this.add('ha.node_id', 'required');
      const leaseMs = given(m, 'lease') ? this.duration(m.lease, 'ha.lease', MIN_LEASE_MS) : DEFAULTS.leaseMs;
      const floating = given(m, 'floating') ? this.floating(m.floating) : [];
      return { nodeId: nodeId!, leaseMs: leaseMs!, floating: floating! };
    });
  }

  private floating(v: unknown): HaConfig['floating'] | undefined {
    const path = 'ha.floating';
    const items = this.list(v, path);
    if (!items) return undefined;
    const seen = new Map<string, number>();
    return items.map((item, i) => {
      const m = this.mapping(item, at(path, i), KEYS.floating);
      if (!m) return undefined!;
      const address = given(m, 'address') ? this.check(parseInterfaceAddress(m.address), at(at(path, i), 'address'))
        : this.add(at(at(path, i), 'address'), 'required, e.g. 198.18.1.1/24');
      const iface = given(m, 'interface') ? this.check(parseInterfaceName(m.interface), at(at(path, i), 'interface'))
        : this.add(at(at(path, i), 'interface'), 'required');
      if (address === undefined || iface === undefined) return undefined!;
      const first = seen.get(address.address);
      if (first !== undefined) {
        this.add(at(at(path, i), 'address'), `${address.address} is already listed (${at(path, first)})`);
      }
      else seen.set(address.address, i);
      return { ...address, interface: iface };
    });
  }

  private services(v: unknown): ServiceSpec[] | undefined {
    const items = this.list(v, 'services');
    if (!items) return undefined;
    const names = new Map<string, number>();
    const ids = new Map<string, { index: number; name?: string }>();
    /** nat backends by `proto/address:port`: whose replies the data plane translates back. */
    const natBackends = new Map<string, { index: number; name?: string }>();
    return items.map((item, i) => {
      const path = at('services', i);
      return this.clean(() => {
        const m = this.mapping(item, path, KEYS.service);
        if (!m) return undefined;
        const name = given(m, 'name') ? this.serviceName(m.name, at(path, 'name'))
          : this.add(at(path, 'name'), 'required');
        if (name !== undefined) {
          const first = names.get(name);
          if (first === undefined) names.set(name, i);
          else this.add(at(path, 'name'), `"${name}" is already the name of ${at('services', first)}`);
        }
        const vip = given(m, 'vip') ? this.hostAddress(m.vip, at(path, 'vip')) : this.add(at(path, 'vip'), 'required');
        const protocol = given(m, 'protocol') ? this.oneOf(m.protocol, at(path, 'protocol'), PROTOCOLS)
          : this.add(at(path, 'protocol'), `required: ${PROTOCOLS.join(', ')}`);
        let port: number | undefined;
        if (protocol === 'icmp') {
          if (given(m, 'port')) this.add(at(path, 'port'), 'icmp services have no port');
        } else if (protocol !== undefined) {
          port = given(m, 'port') ? this.port(m.port, at(path, 'port'))
            : this.add(at(path, 'port'), `required for ${protocol} services`);
        }
        const scheduler = given(m, 'scheduler') ? this.oneOf(m.scheduler, at(path, 'scheduler'), SCHEDULERS)
          : DEFAULTS.scheduler;
        const forwarding = given(m, 'forwarding') ? this.oneOf(m.forwarding, at(path, 'forwarding'), FORWARDINGS)
          : DEFAULTS.forwarding;
        const allow = given(m, 'allow') ? this.cidrs(m.allow, at(path, 'allow')) : [];

        if (vip !== undefined && protocol !== undefined && (protocol === 'icmp' || port !== undefined)) {
          const id = protocol === 'icmp' ? `icmp ${vip}` : `${protocol} ${vip}:${port}`;
          const other = ids.get(id);
          if (other) this.add(path, `${id} is already served by "${other.name}" (${at('services', other.index)})`);
          else ids.set(id, { index: i, name });
        }

        const health = this.health(m.health, at(path, 'health'), protocol);
        const portKnown = protocol === 'icmp' || port !== undefined;
        const backends = given(m, 'backends') ? this.backends(m.backends, path,
          { name, index: i, vip, protocol, port: portKnown ? port : null, forwarding }, natBackends) : [];

        return {
          name: name!, vip: vip!, protocol: protocol!, ...(port !== undefined && { port }), scheduler: scheduler!,
          forwarding: forwarding!, allow: allow!, health: health!, backends: backends!,
        };
      })!;
    });
  }

  private serviceName(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined || NAME.test(s)) return s;
    return this.add(path, `${show(s)} is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", ` +
      'starting with a letter or digit');
  }

  private health(v: unknown, path: string, protocol: Protocol | undefined): HealthCheck | undefined {
    return this.clean(() => {
      const m = v === undefined || v === null ? {} : this.mapping(v, path, KEYS.health);
      if (!m) return undefined;
      const type = given(m, 'type') ? this.oneOf(m.type, at(path, 'type'), HEALTH_TYPES)
        : protocol && DEFAULT_HEALTH[protocol];
      if (type === undefined) return undefined;
      let port: number | undefined;
      if (type === 'tcp' || type === 'http') {
        if (given(m, 'port')) port = this.port(m.port, at(path, 'port'));
        else if (protocol === 'udp' || protocol === 'icmp') {
          this.add(at(path, 'port'),
            `required for ${type} checks on ${protocol} services: their backends have no TCP port`);
        }
      } else if (given(m, 'port')) {
        this.add(at(path, 'port'), `type ${type} has no port`);
      }
      let httpPath: string | undefined;
      if (type === 'http') httpPath = given(m, 'path') ? this.httpPath(m.path, at(path, 'path')) : '/';
      else if (given(m, 'path')) this.add(at(path, 'path'), 'only http checks have a path');
      const intervalMs = given(m, 'interval') ? this.duration(m.interval, at(path, 'interval'), 1)
        : DEFAULTS.health.intervalMs;
      let timeoutMs: number | undefined;
      if (given(m, 'timeout')) {
        timeoutMs = this.duration(m.timeout, at(path, 'timeout'), 1);
        if (timeoutMs !== undefined && intervalMs !== undefined && timeoutMs > intervalMs) {
          this.add(at(path, 'timeout'), `${formatMs(timeoutMs)} is longer than the interval (${formatMs(intervalMs)})`);
        }
      } else {
        // The default, but never longer than an interval the operator shortened.
        timeoutMs = Math.min(DEFAULTS.health.timeoutMs, intervalMs ?? Infinity);
      }
      const rise = given(m, 'rise') ? this.integer(m.rise, at(path, 'rise'), 1, 100) : DEFAULTS.health.rise;
      const fall = given(m, 'fall') ? this.integer(m.fall, at(path, 'fall'), 1, 100) : DEFAULTS.health.fall;
      return {
        type, ...(port !== undefined && { port }), ...(httpPath !== undefined && { path: httpPath }),
        intervalMs: intervalMs!, timeoutMs: timeoutMs!, rise: rise!, fall: fall!,
      };
    });
  }

  private httpPath(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === undefined || /^\/[^\s\x00-\x1f\x7f]*$/.test(s)) return s;
    return this.add(path, `${show(s)} is not an HTTP path: it starts with "/" and has no spaces`);
  }

  private backends(
    v: unknown,
    servicePath: string,
    service: ServiceFacts,
    natBackends: Map<string, { index: number; name?: string }>,
  ): BackendSpec[] | undefined {
    const path = at(servicePath, 'backends');
    const items = this.list(v, path);
    if (!items) return undefined;
    const seen = new Map<string, number>();
    return items.map((item, j) => {
      const bpath = at(path, j);
      const m = this.mapping(item, bpath, KEYS.backend);
      if (!m) return undefined!;
      let address = given(m, 'address') ? this.hostAddress(m.address, at(bpath, 'address'))
        : this.add(at(bpath, 'address'), 'required');
      if (address !== undefined && address === service.vip) {
        address = this.add(at(bpath, 'address'), `${address} is the service's vip; a backend has its own address`);
      }
      let port: number | undefined;
      let portOk = true;
      if (given(m, 'port')) {
        if (service.protocol === 'icmp') {
          this.add(at(bpath, 'port'), 'icmp services have no port');
          portOk = false;
        } else {
          port = this.port(m.port, at(bpath, 'port'));
          portOk = port !== undefined;
          const servicePort = service.port;
          const moved = typeof servicePort === 'number' && port !== undefined && port !== servicePort;
          if (moved && service.forwarding === 'dsr') {
            this.add(at(bpath, 'port'), `dsr cannot change the port: leave it out, or make it ${servicePort}`);
            portOk = false;
          }
        }
      }
      const weight = given(m, 'weight') ? this.integer(m.weight, at(bpath, 'weight'), 0, 10000) : DEFAULTS.weight;
      const mac = given(m, 'mac') ? this.check(parseMac(m.mac), at(bpath, 'mac')) : undefined;
      const drained = given(m, 'drained') ? this.boolean(m.drained, at(bpath, 'drained')) : false;

      // The port it receives on: its own, else the service's; none for icmp. Unknown when either is wrong.
      const effective = service.protocol === 'icmp' ? 0 : portOk ? port ?? service.port : undefined;
      if (address !== undefined && typeof effective === 'number' && service.protocol !== undefined) {
        const where = effective ? `${address}:${effective}` : address;
        const first = seen.get(where);
        if (first !== undefined) this.add(bpath, `${where} is already a backend of this service (${at(path, first)})`);
        else seen.set(where, j);
        if (service.forwarding === 'nat' && service.protocol !== 'icmp') {
          const key = `${where}/${service.protocol}`;
          const other = natBackends.get(key);
          if (other && other.index !== service.index) {
            this.add(bpath, `${key} already serves nat service "${other.name}" (${at('services', other.index)}): ` +
              'its replies could not be told apart; give it one service, or another port');
          } else if (!other) natBackends.set(key, { index: service.index, name: service.name });
        }
      }
      return {
        address: address!, ...(port !== undefined && { port }), weight: weight!, ...(mac !== undefined && { mac }),
        drained: drained!,
      };
    });
  }
}
