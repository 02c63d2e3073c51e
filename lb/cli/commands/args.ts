// Coercers for lbctl's positional arguments and option values. Each returns the typed value or throws a UsageError
// (exit 2) saying what is wrong; the values are judged by the rules the config file's are (config/values.ts).
import {
  parseCidr, parseHostAddress, parseIPv4, parsePort, parseServiceName, parseWeight as weightRule, WEIGHT_RANGE,
} from '../../../config/values.js';
import { UsageError } from '../errors.js';

export interface Endpoint {
  address: string;
  port?: number;
}

/** A service's name, as the config names services. */
export function parseServiceArg(text: unknown): string {
  const r = parseServiceName(String(text));
  if (!r.ok) throw new UsageError(r.problem);
  return r.value;
}

/** `ADDRESS[:PORT]`: a host's IPv4 address (as a backend's must be) and an optional port 1..65535. */
export function parseEndpoint(text: unknown): Endpoint {
  const s = String(text);
  const m = /^([^:]*)(?::([^:]*))?$/.exec(s);
  if (!m || !parseIPv4(m[1]).ok) {
    throw new UsageError(`"${s}" is not ADDRESS[:PORT] with an IPv4 address, e.g. 198.18.1.11:8080`);
  }
  const address = parseHostAddress(m[1]);
  if (!address.ok) throw new UsageError(address.problem);
  if (m[2] === undefined) return { address: address.value };
  const port = /^[0-9]{1,5}$/.test(m[2]) ? parsePort(Number(m[2])) : undefined;
  if (!port?.ok) throw new UsageError(`"${m[2]}" in "${s}" is not a port (1..65535)`);
  return { address: address.value, port: port.value };
}

/** An IPv4 CIDR (`203.0.113.0/24`; a bare address means /32), normalised to `a.b.c.d/n`. */
export function parseCidrArg(text: unknown): string {
  const r = parseCidr(String(text));
  if (!r.ok) throw new UsageError(r.problem);
  return r.value;
}

/** --weight N: a backend's weight, as the config takes it (0: the backend gets no new flows). */
export function parseWeight(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!weightRule(n).ok) {
    const given = Number.isNaN(n) ? '' : ` (got ${String(value)})`;
    throw new UsageError(`--weight must be an integer from ${WEIGHT_RANGE.min} to ${WEIGHT_RANGE.max}${given}`);
  }
  return n;
}

/** --watch [SECONDS]: alone it means every second; else a number of seconds from 0.1 to 3600. */
export function parseWatch(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (value === '' || value === true) return 1;
  const s = String(value);
  const n = /^[0-9]+(\.[0-9]+)?$/.test(s) ? Number(s) : NaN;
  if (!(n >= 0.1 && n <= 3600)) throw new UsageError(`--watch ${s} is not a number of seconds from 0.1 to 3600`);
  return n;
}
