// Where the kernel would send a packet to a backend, worked out from one read of its tables: policy rules, routes
// of every table (longest prefix first), neighbours. Pure: the tables come in as iproute2 prints them (`ip -j`).
import type { NextHop } from '../plan/planner.js';

/** `ip -j rule show`: the fields a rule is judged by. */
export interface RuleJson {
  priority: number;
  not?: boolean;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  iif?: string;
  oif?: string;
  fwmark?: string;
  fwmask?: string;
  tos?: string;
  dsfield?: string;
  uidrange?: string;
  ipproto?: string;
  sport?: string;
  dport?: string;
  l3mdev?: boolean;
  table?: string;
  /** Set instead of `table` for unreachable, blackhole, prohibit and goto rules. */
  action?: string;
  suppress_prefixlength?: number;
  suppress_ifgroup?: string;
}

export interface NexthopJson { gateway?: string; dev?: string }

/** `ip -j route show table all` (IPv4): one entry. */
export interface RouteJson extends NexthopJson {
  /** "default", "a.b.c.d/len" or a host address "a.b.c.d". */
  dst: string;
  /** unicast when absent. */
  type?: string;
  /** main when absent. */
  table?: string;
  metric?: number;
  nexthops?: NexthopJson[];
  nhid?: number;
}

export interface NeighJson { dst: string; dev: string; lladdr?: string; state?: string[] }
export interface LinkJson { ifname: string; ifindex: number; address?: string }

/** One read of the kernel's tables. */
export interface Tables {
  links: LinkJson[];
  rules: RuleJson[];
  routes: RouteJson[];
  neighbours: NeighJson[];
}

export interface Resolution {
  hop?: NextHop;
  /** The interface the route leaves by, when there is one. */
  dev?: string;
  /** Why there is no hop (yet), as status shows it, e.g. "resolving 198.18.1.11 on back". */
  problem?: string;
  /** The address whose MAC is missing: the kernel is made to resolve it (see nexthops.ts). */
  resolve?: string;
}

/** Neighbour states whose MAC can be used (iproute2's names). */
const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

/** An IPv4 address as an unsigned 32-bit number; NaN when it is not one. */
export function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return NaN;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Whether `address` is inside `prefix`/`len`. */
export function inPrefix(address: number, prefix: number, len: number): boolean {
  return ((address & mask(len)) >>> 0) === ((prefix & mask(len)) >>> 0);
}

/** A route's destination as prefix and length; undefined when it is not IPv4. */
export function routePrefix(dst: string): { prefix: number; len: number } | undefined {
  if (dst === 'default') return { prefix: 0, len: 0 };
  const [address, len] = dst.split('/') as [string, string | undefined];
  const prefix = ipv4ToNumber(address);
  const length = len === undefined ? 32 : Number(len);
  if (Number.isNaN(prefix) || !Number.isInteger(length) || length < 0 || length > 32) return undefined;
  return { prefix, len: length };
}

/**
 * Whether a rule applies to a packet this node sends to a backend: no source address chosen yet (0.0.0.0), from
 * lo, no mark, uid 0, tos 0, no output interface bound. Selectors on protocol or ports, and l3mdev, depend on the
 * packet: such rules are passed over, so the answer is that of the tables an unmarked, unbound packet uses.
 */
function ruleApplies(rule: RuleJson, address: number): boolean {
  let matches = true;
  if (rule.src !== undefined && rule.src !== 'all' && (rule.srclen ?? 32) > 0) matches = false;
  if (rule.dst !== undefined && rule.dst !== 'all') {
    const dst = ipv4ToNumber(rule.dst);
    if (Number.isNaN(dst) || !inPrefix(address, dst, rule.dstlen ?? 32)) matches = false;
  }
  if (rule.iif !== undefined && rule.iif !== 'lo') matches = false;
  if (rule.oif !== undefined) matches = false;
  if (rule.fwmark !== undefined) {
    const mark = Number(rule.fwmark);
    const m = rule.fwmask === undefined ? 0xffffffff : Number(rule.fwmask);
    if ((mark & m) !== 0) matches = false;
  }
  for (const tos of [rule.tos, rule.dsfield]) if (tos !== undefined && Number(tos) !== 0) matches = false;
  // uid 0 is in a range only when the range starts at 0.
  if (rule.uidrange !== undefined && Number(rule.uidrange.split('-')[0]) !== 0) matches = false;
  if (rule.ipproto !== undefined || rule.sport !== undefined || rule.dport !== undefined || rule.l3mdev) return false;
  return rule.not ? !matches : matches;
}

/** The kernel's default rules, for a system where `ip rule` cannot be read. */
const DEFAULT_RULES: RuleJson[] = [
  { priority: 0, table: 'local' }, { priority: 32766, table: 'main' }, { priority: 32767, table: 'default' },
];

/** The longest-prefix match for `address` in `table` (lowest metric among equals); undefined when none. */
export function lookup(routes: readonly RouteJson[], table: string, address: number):
  { route: RouteJson; len: number } | undefined {
  let best: { route: RouteJson; len: number } | undefined;
  for (const route of routes) {
    if ((route.table ?? 'main') !== table) continue;
    const p = routePrefix(route.dst);
    if (!p || !inPrefix(address, p.prefix, p.len)) continue;
    if (!best || p.len > best.len || (p.len === best.len && (route.metric ?? 0) < (best.route.metric ?? 0))) {
      best = { route, len: p.len };
    }
  }
  return best;
}

/** The route the kernel picks for `address`: rules in priority order, each table's longest prefix. */
export function routeFor(tables: Pick<Tables, 'rules' | 'routes'>, address: string):
  { route: RouteJson } | { problem: string } {
  const a = ipv4ToNumber(address);
  if (Number.isNaN(a)) return { problem: `${address} is not an IPv4 address` };
  const rules = [...(tables.rules.length ? tables.rules : DEFAULT_RULES)].sort((x, y) => x.priority - y.priority);
  for (const rule of rules) {
    if (!ruleApplies(rule, a)) continue;
    if (rule.action !== undefined && rule.table === undefined) {
      if (['unreachable', 'blackhole', 'prohibit'].includes(rule.action)) {
        return { problem: `policy rule ${rule.priority} makes ${address} ${rule.action}` };
      }
      continue; // goto and the like: the next rules decide
    }
    const found = lookup(tables.routes, rule.table ?? 'main', a);
    if (!found) continue;
    if (rule.suppress_prefixlength !== undefined && found.len <= rule.suppress_prefixlength) continue;
    const type = found.route.type ?? 'unicast';
    if (type === 'throw') continue;
    if (type === 'unicast') return found;
    if (type === 'local') return { problem: `${address} is an address of this node` };
    if (type === 'broadcast' || type === 'multicast') return { problem: `${address} is a ${type} address` };
    return { problem: `the route to ${address} is ${type} (${found.route.dst}, table ${rule.table ?? 'main'})` };
  }
  return { problem: `no route to ${address}` };
}

/**
 * How `address` is reached: its route must leave by one of `interfaces` (the ones xlb runs on), and the next hop's
 * MAC is `configured` (from the config) or a usable neighbour entry. A multipath route uses its first path.
 */
export function resolve(tables: Tables, interfaces: readonly string[], address: string, configured?: string):
  Resolution {
  const found = routeFor(tables, address);
  if ('problem' in found) return { problem: found.problem };
  const { route } = found;
  if (route.nhid !== undefined && route.dev === undefined) {
    return { problem: `the route to ${address} uses nexthop object ${route.nhid}, which xlb does not read: give the backend's mac` };
  }
  const path: NexthopJson = route.nexthops?.find((n) => n.dev !== undefined) ?? route;
  const dev = path.dev;
  if (dev === undefined) return { problem: `the route to ${address} (${route.dst}) names no interface` };
  const link = tables.links.find((l) => l.ifname === dev);
  if (!link) return { dev, problem: `the route to ${address} leaves by ${dev}, which does not exist` };
  if (!interfaces.includes(dev)) return { dev, problem: `reached through ${dev}, which is not in node.interfaces` };
  if (!link.address) return { dev, problem: `${dev} has no MAC address` };
  const via = path.gateway ?? address;
  if (configured) return { dev, hop: { ifindex: link.ifindex, mac: configured.toLowerCase(), srcMac: link.address } };
  const entry = tables.neighbours.find((n) => n.dst === via && n.dev === dev);
  const states = entry?.state ?? (entry?.lladdr ? ['PERMANENT'] : []);
  if (entry?.lladdr && states.some((s) => USABLE.has(s))) {
    return { dev, hop: { ifindex: link.ifindex, mac: entry.lladdr.toLowerCase(), srcMac: link.address } };
  }
  if (states.includes('FAILED')) return { dev, problem: `${via} does not answer ARP on ${dev}`, resolve: via };
  return { dev, problem: `resolving ${via} on ${dev}`, resolve: via };
}
