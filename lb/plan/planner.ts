// Pool + health + next hops (+ floating addresses) -> the exact contents of the data plane's maps. Pure and
// deterministic: the same inputs give byte-identical tables on every node.
import { isIPv4 } from 'node:net';
import {
  BE_ALIVE, BE_SVC_SHIFT, PROTO, SVC_ALLOW, SVC_DENY, SVC_DSR, SVC_MAGLEV,
  type Backend, type Reverse, type ReverseKey, type Service, type ServiceKey,
} from '../bpf/layout.js';
import { backendId, backendPort, serviceId, type BackendSpec, type Pool, type ServiceSpec } from '../../config/pool.js';
import { XlbError } from '../errors.js';
import { maglevTable } from './maglev.js';
import { weightedRing } from './ring.js';

/** How a backend is reached: resolved by the control plane, or from the config. */
export interface NextHop {
  ifindex: number;
  mac: string;
  srcMac: string;
}

export interface Capacity {
  services: number;
  backends: number;
  tableSize: number;
  /** Entries of the deny trie, and of the allow trie (all services' lists together). */
  prefixes: number;
  /** Addresses the node answers ARP for: VIPs and floating addresses together. */
  owned: number;
}

/** Which ids and backend indexes are taken, carried from one plan to the next so flows keep their backend. */
export interface Allocation {
  services: ReadonlyMap<string, number>;
  backends: ReadonlyMap<string, number>;
  /** Last generation handed out at each backend index. */
  gens: ReadonlyMap<number, number>;
}

export const EMPTY_ALLOCATION: Allocation = { services: new Map(), backends: new Map(), gens: new Map() };

export interface PlanInput {
  pool: Pool;
  capacity: Capacity;
  previous: Allocation;
  /** Health: false takes the backend out, flows and all. */
  isUp(service: ServiceSpec, backend: BackendSpec): boolean;
  /** undefined: not reachable yet, so not usable. */
  nextHop(service: ServiceSpec, backend: BackendSpec): NextHop | undefined;
  /** The node's own addresses: backends' packets to them are not replies to translate. */
  local?: readonly string[];
  /**
   * Addresses the node answers ARP for on one interface besides its VIPs: an HA pair's floating addresses (ha.floating,
   * each interface resolved to its ifindex). Planned on a standby too: the HA deadlines (DataPlane.setHa) decide
   * whether ARP for them, and for the VIPs, is answered now.
   */
  floating?: readonly OwnedAddress[];
  /**
   * The plan this one follows (the daemon's current one): a service whose table would come out the same (same
   * scheduler, table size and usable backends) keeps that plan's table, so a health change rebuilds one table, not all.
   */
  reuse?: Plan;
}

/** An address the data plane answers ARP for, and on which interface (ifindex; 0: any). */
export interface OwnedAddress {
  address: string;
  ifindex: number;
}

export interface PlannedService {
  name: string;
  key: ServiceKey;
  id: number;
  flags: number;
  /** Backend indexes, the rr ring or the Maglev table; empty when no backend is usable. */
  table: number[];
}

export interface PlannedBackend {
  index: number;
  id: string;
  value: Backend;
}

export interface Plan {
  services: PlannedService[];
  backends: PlannedBackend[];
  reverse: { key: ReverseKey; value: Reverse }[];
  vips: string[];
  local: string[];
  /** What ARP is answered for, by address: every VIP on any interface, every floating address on its own. */
  owned: OwnedAddress[];
  /** Source prefixes dropped for every VIP. */
  deny: Prefix[];
  /** Per-service allow-lists, by service id. */
  allow: { service: number; prefix: Prefix }[];
  allocation: Allocation;
  /**
   * When the plan reuses ids or indexes that the running pool still uses for something it removes (a full pool
   * replaced by another): the plan of what stays, to be written first, so those ids are free when the plan reuses them.
   */
  prelude?: Plan;
}

/** An IPv4 prefix: its address and length in bits. */
export interface Prefix {
  addr: string;
  length: number;
}

/** "198.18.0.0/16" -> { addr, length }; a bare address is a /32. Input is validated config. */
export function prefix(cidr: string): Prefix {
  const [addr, length] = cidr.split('/');
  return { addr, length: length === undefined ? 32 : Number(length) };
}

/** A pool the data plane cannot hold as it stands (XLB_PLAN in the catalog, config/errors.ts). */
export class PlanError extends XlbError {
  constructor(message: string) {
    super('XLB_PLAN', message);
    this.name = 'PlanError';
  }
}

/** The pool fits the data plane, but only with ids the running pool frees in the same change. */
class ReuseNeeded extends Error {}

const NO_HOP: NextHop = { ifindex: 0, mac: '00:00:00:00:00:00', srcMac: '00:00:00:00:00:00' };

/**
 * Keeps the ids in `previous` that are still wanted; gives the rest free ones, lowest first. An id freed by this plan
 * is not handed out again until the next one: the old user's entries are still live until the plan is written.
 */
function allocate(wanted: string[], previous: ReadonlyMap<string, number>, limit: number, what: string): Map<string, number> {
  if (wanted.length > limit) throw new PlanError(`too many ${what}: the data plane holds ${limit}, the pool has ${wanted.length}`);
  const out = new Map<string, number>();
  const taken = new Set(previous.values());
  for (const id of wanted) {
    const was = previous.get(id);
    if (was !== undefined) out.set(id, was);
  }
  let next = 0;
  for (const id of wanted) {
    if (out.has(id)) continue;
    while (taken.has(next)) next++;
    if (next >= limit) throw new ReuseNeeded();
    out.set(id, next);
    taken.add(next);
  }
  return out;
}

/**
 * The plan of `input.pool`. If it fits only by reusing ids that the running pool frees in this change, the plan gets a
 * prelude: the pool of what stays (the services and backends the previous allocation already has), which frees them.
 */
export function plan(input: PlanInput): Plan {
  try {
    return planOnce(input);
  } catch (err) {
    if (!(err instanceof ReuseNeeded)) throw err;
  }
  const { services, backends } = input.previous;
  const staying: Pool = {
    ...input.pool,
    services: input.pool.services.filter((s) => services.has(serviceId(s)))
      .map((s) => ({ ...s, backends: s.backends.filter((b) => backends.has(backendId(s, b))) })),
  };
  const prelude = planOnce({ ...input, pool: staying });
  return { ...planOnce({ ...input, previous: prelude.allocation }), prelude };
}

function planOnce(input: PlanInput): Plan {
  const { pool, capacity, previous } = input;
  const services = [...pool.services].sort((a, b) => compare(serviceId(a), serviceId(b)));

  const serviceIds = allocate(services.map(serviceId), previous.services, capacity.services, 'services');
  const backendIds = allocate(
    services.flatMap((s) => s.backends.map((b) => backendId(s, b))), previous.backends, capacity.backends, 'backends');

  const allowCount = services.reduce((n, s) => n + s.allow.length, 0);
  if (pool.deny.length > capacity.prefixes) {
    throw new PlanError(`too many deny entries: ${pool.deny.length}, the data plane holds ${capacity.prefixes}`);
  }
  if (allowCount > capacity.prefixes) {
    throw new PlanError(`too many allow entries over all services: ${allowCount}, the data plane holds ${capacity.prefixes}`);
  }
  const reusable = new Map(input.reuse?.services.map((p) => [p.name, p.table]));
  const gens = new Map(previous.gens);
  const backends: PlannedBackend[] = [];
  const planned: PlannedService[] = [];
  const reverse = new Map<string, { key: ReverseKey; value: Reverse; service: string }>();

  for (const s of services) {
    const sid = serviceIds.get(serviceId(s))!;
    const flags = (s.scheduler === 'maglev' ? SVC_MAGLEV : 0) | (s.forwarding === 'dsr' ? SVC_DSR : 0) |
      (pool.deny.length ? SVC_DENY : 0) | (s.allow.length ? SVC_ALLOW : 0);
    const usable: { index: number; key: string; weight: number }[] = [];
    for (const b of s.backends) {
      const id = backendId(s, b);
      const index = backendIds.get(id)!;
      if (previous.backends.get(id) !== index) gens.set(index, (gens.get(index) ?? 0) + 1);
      const hop = input.nextHop(s, b);
      const alive = hop !== undefined && input.isUp(s, b);
      const port = backendPort(s, b);
      backends.push({
        index,
        id,
        value: {
          addr: b.address,
          port,
          // The service's flags too: a packet of an established flow reads them here (bpf/xlb_layout.h).
          flags: (alive ? BE_ALIVE : 0) | (flags << BE_SVC_SHIFT),
          gen: gens.get(index)!,
          ...(hop ?? NO_HOP),
          service: sid,
        },
      });
      if (alive && !b.drained && b.weight > 0) usable.push({ index, key: `${b.address}:${port}`, weight: b.weight });
      if (s.forwarding === 'nat' && s.protocol !== 'icmp') {
        const key = { addr: b.address, port, proto: PROTO[s.protocol] };
        const k = `${s.protocol}/${b.address}:${port}`;
        const other = reverse.get(k);
        if (other && other.service !== s.name) {
          throw new PlanError(
            `backend ${b.address}:${port}/${s.protocol} is in nat services "${other.service}" and "${s.name}": ` +
            'its replies could not be told apart; give it one service, or another port');
        }
        reverse.set(k, { key, value: { vip: s.vip, port: s.port!, backend: index }, service: s.name });
      }
    }
    planned.push({
      name: s.name,
      key: { vip: s.vip, port: s.protocol === 'icmp' ? 0 : s.port!, proto: PROTO[s.protocol] },
      id: sid,
      flags,
      table: schedule(s, usable, capacity.tableSize, reusable.get(s.name)),
    });
  }

  const vips = [...new Set(services.map((s) => s.vip))].sort(compare);
  return {
    services: planned,
    backends: backends.sort((a, b) => a.index - b.index),
    reverse: [...reverse.values()].map(({ key, value }) => ({ key, value })),
    vips,
    local: [...new Set(input.local ?? [])].sort(compare),
    owned: owned(vips, input.floating ?? [], capacity.owned),
    deny: pool.deny.map(prefix),
    allow: services.flatMap((s) => s.allow.map((cidr) => ({ service: serviceIds.get(serviceId(s))!, prefix: prefix(cidr) }))),
    allocation: { services: serviceIds, backends: backendIds, gens },
  };
}

/** VIPs (any interface) and floating addresses (their own), by address; one interface per address. */
function owned(vips: readonly string[], floating: readonly OwnedAddress[], capacity: number): OwnedAddress[] {
  const byAddress = new Map<string, OwnedAddress>(vips.map((address) => [address, { address, ifindex: 0 }]));
  for (const f of floating) {
    if (!isIPv4(f.address)) throw new PlanError(`floating address "${f.address}" is not an IPv4 address`);
    if (!Number.isInteger(f.ifindex) || f.ifindex <= 0) {
      throw new PlanError(`floating address ${f.address}: ifindex ${f.ifindex} is not an interface's (a positive integer)`);
    }
    const other = byAddress.get(f.address);
    if (other?.ifindex === 0) {
      throw new PlanError(`floating address ${f.address} is also a VIP: a VIP is answered for on every interface already`);
    }
    if (other && other.ifindex !== f.ifindex) {
      throw new PlanError(`floating address ${f.address} is given on two interfaces (ifindex ${other.ifindex} and ${f.ifindex})`);
    }
    byAddress.set(f.address, { address: f.address, ifindex: f.ifindex });
  }
  if (byAddress.size > capacity) {
    throw new PlanError(`too many VIPs and floating addresses: ${byAddress.size}, the data plane answers ARP for ${capacity}`);
  }
  return [...byAddress.values()].sort((a, b) => compare(a.address, b.address));
}

/** What a table is made from, by table: a table made from the same is the same (see PlanInput.reuse). */
const madeFrom = new WeakMap<number[], string>();

function schedule(
  s: ServiceSpec, usable: { index: number; key: string; weight: number }[], tableSize: number, before?: number[],
): number[] {
  const from = `${s.scheduler} ${tableSize} ${usable.map((u) => `${u.index} ${u.key} ${u.weight}`).join(',')}`;
  if (before !== undefined && madeFrom.get(before) === from) return before;
  // Maglev orders by key, not by pool order, so two nodes agree however their pools are listed.
  const picks = usable.length === 0 ? [] : s.scheduler === 'maglev'
    ? maglevTable(usable, tableSize)
    : weightedRing(usable.map((u) => u.weight), tableSize);
  const table = picks.map((i) => usable[i].index);
  madeFrom.set(table, from);
  return table;
}

/** Code-point order: the same on every node, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The service value the data plane reads, for a planned service whose table sits in `slot`. */
export function serviceValue(s: PlannedService, slot: number): Service {
  return { id: s.id, flags: s.flags, slot, tableLen: s.table.length };
}
