// The values xlb takes, wherever they come from (the config file, a pool in Redis, control-socket requests, lbctl's
// arguments, the health checker): each parser takes what was given and returns the typed value, or a message saying
// what is wrong with it. Messages quote the value as given; the caller adds where it was (a path, an option name).
import { Netmask } from 'netmask';
import { didYouMean } from './suggest.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

export const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
export const no = (problem: string): Checked<never> => ({ ok: false, problem });

/**
 * A number as the YAML wrote it, when no JavaScript number holds it exactly (`1e400`, `12345678901234567890`): kept
 * so that messages quote what the operator wrote rather than Infinity or a rounded value. No rule accepts it.
 */
export class NumberLiteral {
  constructor(readonly text: string) {}
}

/** How a value is quoted in a message: strings in double quotes, the rest as YAML would print them. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof NumberLiteral) return v.text;
  if (typeof v === 'number' && (v === Infinity || v === -Infinity)) return 'a number too large to hold';
  if (Array.isArray(v)) return 'a list';
  return v !== null && typeof v === 'object' ? 'a mapping' : String(v);
}

// ---- addresses -----------------------------------------------------------------------------------------------------

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A strict dotted quad: four decimal octets, no leading zeros. */
export function parseIPv4(v: unknown): Checked<string> {
  return typeof v === 'string' && IPV4.test(v) ? ok(v) : no(`${show(v)} is not an IPv4 address`);
}

/** Why `address` is not one a packet can be sent to (this-network, loopback, multicast, reserved or broadcast). */
function hostAddressProblem(address: string): string | undefined {
  const first = Number(address.split('.')[0]);
  const kind = first === 0 ? 'a "this network" address (0.0.0.0/8)' : first === 127 ? 'a loopback address'
    : first >= 224 && first < 240 ? 'a multicast address' : first >= 240 ? 'a reserved or broadcast address' : '';
  return kind ? `${address} is ${kind}, not a host's address` : undefined;
}

/** An IPv4 address of a host: what a VIP, a backend or a floating address must be. */
export function parseHostAddress(v: unknown): Checked<string> {
  const address = parseIPv4(v);
  if (!address.ok) return address;
  const problem = hostAddressProblem(address.value);
  return problem ? no(problem) : address;
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
  const { base } = new Netmask(p.address, p.prefix);
  if (base !== p.address) return no(`${v} has host bits set; did you mean ${base}/${p.prefix}?`);
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

/** `198.18.1.11:8080`, or the address alone without a port (ICMP). */
export function formatEndpoint(address: string, port?: number): string {
  return port ? `${address}:${port}` : address;
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
export function parseInterfaceName(v: unknown): Checked<string> {
  if (typeof v !== 'string') return no(`${show(v)} is not an interface name`);
  if (Buffer.byteLength(v) > 15) {
    return no(`"${v}" is longer than 15 characters, the kernel's limit for an interface name`);
  }
  if (v === '' || v === '.' || v === '..' || /[/:\s]/.test(v)) {
    return no(`"${v}" is not an interface name: 1 to 15 characters, no "/", ":" or spaces`);
  }
  return ok(v);
}

// ---- numbers -------------------------------------------------------------------------------------------------------

/** An integer from `min` to `max`. */
export function parseInteger(v: unknown, min: number, max: number): Checked<number> {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return ok(v);
  return no(`${show(v)} is not an integer from ${min} to ${max}`);
}

/** `host:port` with an IPv4 host, e.g. 127.0.0.1:9470. */
export function parseHostPort(v: unknown): Checked<{ host: string; port: number }> {
  const m = typeof v === 'string' ? /^(.*):([^:]*)$/.exec(v) : null;
  if (!m) return no(`${show(v)} is not host:port, e.g. 127.0.0.1:9470`);
  const host = parseIPv4(m[1]);
  if (!host.ok) return host;
  const port = /^[0-9]+$/.test(m[2]) ? parsePort(Number(m[2])) : no(`"${m[2]}" is not a port (1..65535)`);
  return port.ok ? ok({ host: host.value, port: port.value }) : port;
}

/** A TCP or UDP port. */
export function parsePort(v: unknown): Checked<number> {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) return ok(v);
  return no(`${show(v)} is not a port (1..65535)`);
}

/** A backend's share of new flows; 0 takes none, like drained. */
export const WEIGHT_RANGE = { min: 0, max: 10000 } as const;

export function parseWeight(v: unknown): Checked<number> {
  return parseInteger(v, WEIGHT_RANGE.min, WEIGHT_RANGE.max);
}

/** A health check's rise and fall: consecutive probes. */
const THRESHOLD_RANGE = { min: 1, max: 100 } as const;

export function parseThreshold(v: unknown): Checked<number> {
  return parseInteger(v, THRESHOLD_RANGE.min, THRESHOLD_RANGE.max);
}

// ---- durations -----------------------------------------------------------------------------------------------------

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
/** Longer timers make no sense here, and Node's overflow at ~24.8 days. */
const MAX_DURATION_MS = 24 * 3600_000;

/** `500ms`, `1s`, `1.5s`, `2m` -> milliseconds: a whole number, at most a day. */
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

/** Milliseconds as the shortest text parseDuration() reads back as the same value: 120000 -> 2m, 1500 -> 1.5s. */
export function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

// ---- words ---------------------------------------------------------------------------------------------------------

/** One of `choices`, with a "did you mean" for a near miss. */
export function parseChoice<T extends string>(v: unknown, choices: readonly T[]): Checked<T> {
  if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return ok(v as T);
  const guess = typeof v === 'string' ? didYouMean(v, choices) : '';
  return no(`${show(v)} is not one of ${choices.join(', ')}${guess}`);
}

const SERVICE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function parseServiceName(v: unknown): Checked<string> {
  if (typeof v === 'string' && SERVICE_NAME.test(v)) return ok(v);
  return no(`${show(v)} is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", ` +
    'starting with a letter or digit');
}

/**
 * The path an http health check requests: "/" and printable ASCII, sent as it is. Non-ASCII is refused with its
 * percent-encoded form, so what the file says is exactly what the backend receives.
 */
export function parseHttpPath(v: unknown): Checked<string> {
  if (typeof v === 'string' && /^\/[\x21-\x7e]*$/.test(v)) return ok(v);
  if (typeof v === 'string' && /^\/[^\s\x00-\x1f\x7f]*$/.test(v)) {
    const encoded = percentEncoded(v);
    if (encoded) return no(`${show(v)} is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. ${encoded}`);
  }
  return no(`${show(v)} is not an HTTP path: it starts with "/" and has no spaces`);
}

/** `/café` -> `/caf%C3%A9`; undefined for text that has no UTF-8 form (a lone surrogate). */
function percentEncoded(path: string): string | undefined {
  try {
    return path.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  } catch {
    return undefined;
  }
}
