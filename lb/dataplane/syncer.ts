// Writes a plan into the data plane's maps: only the difference from what it wrote before, and in an order that never
// lets a packet see a half-built state (backends before the tables naming them; a changed table filled in the
// service's idle slot, then made live by one write of the service value).
import * as layout from '../bpf/layout.js';
import { serviceValue, type Allocation, type Plan, type PlannedService } from '../plan/planner.js';
import { serviceId } from '../../config/pool.js';

export interface WritableMap {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): boolean;
}

/** A per-CPU counters map whose entries can be zeroed on every CPU. */
export interface ResettableMap {
  zero(key: Buffer): void;
}

export interface SyncMaps {
  /** Counters of a service id or backend index start from zero when it is handed to someone new. */
  serviceStats: ResettableMap;
  backendStats: ResettableMap;
  services: WritableMap;
  vips: WritableMap;
  local: WritableMap;
  tables: WritableMap;
  backends: WritableMap;
  reverse: WritableMap;
  deny: WritableMap;
  allow: WritableMap;
}

interface LiveService {
  key: Buffer;
  value: Buffer;
  slot: number;
  table: number[];
  /** What the idle slot holds, when known: a change writes only the entries that differ from it. */
  idle?: number[];
}

export interface SyncResult {
  /** Map writes and deletes performed. */
  writes: number;
}

const ONE = layout.u32Key(1);
const ZERO_MAC = '00:00:00:00:00:00';

/** A freed backend slot: nothing, but the generation, so flows pinned to the old backend never follow a new one. */
function freed(gen: number): Buffer {
  return layout.backend.encode({ addr: '0.0.0.0', port: 0, flags: 0, gen, ifindex: 0, mac: ZERO_MAC, srcMac: ZERO_MAC, service: 0 });
}

export interface ReadableMap extends WritableMap {
  lookup(key: Buffer): Buffer | undefined;
  keys(): Buffer[];
}

export type AdoptMaps = { [K in Exclude<keyof SyncMaps, 'serviceStats' | 'backendStats'>]: ReadableMap } &
  Pick<SyncMaps, 'serviceStats' | 'backendStats'>;

export class Syncer {
  private readonly services = new Map<string, LiveService>();
  private readonly backends = new Map<number, Buffer>();
  private readonly reverse = new Map<string, Buffer>();
  private readonly vips = new Map<string, Buffer>();
  private readonly local = new Map<string, Buffer>();
  private readonly deny = new Map<string, Buffer>();
  private readonly allow = new Map<string, Buffer>();
  private writes = 0;

  constructor(private readonly maps: SyncMaps, private readonly tableSize: number) {}

  apply(plan: Plan): SyncResult {
    try {
      return this.writePlan(plan);
    } catch (err) {
      // A table may be half rewritten: what the idle slots hold is no longer known.
      for (const live of this.services.values()) live.idle = undefined;
      throw err;
    }
  }

  private writePlan(plan: Plan): SyncResult {
    this.writes = 0;

    const backends = new Map(plan.backends.map((b) => [b.index, layout.backend.encode(b.value)]));
    for (const [index, value] of backends) {
      const before = this.backends.get(index);
      if (before?.equals(value)) continue;
      if (!before || layout.backend.decode(before).gen !== layout.backend.decode(value).gen) {
        this.maps.backendStats.zero(layout.u32Key(index));
      }
      this.write(this.maps.backends, layout.u32Key(index), value);
      this.backends.set(index, value);
    }

    const vips = new Map(plan.vips.map((v) => [v, keyOf(layout.encodeAddr, v)]));
    for (const [vip, key] of vips) {
      if (!this.vips.has(vip)) this.write(this.maps.vips, key, ONE);
      this.vips.set(vip, key);
    }

    const reverse = new Map(plan.reverse.map((r) => {
      const key = layout.reverseKey.encode(r.key);
      return [key.toString('hex'), { key, value: layout.reverse.encode(r.value) }];
    }));
    for (const [hex, { key, value }] of reverse) {
      if (!this.reverse.get(hex)?.equals(value)) this.write(this.maps.reverse, key, value);
      this.reverse.set(hex, value);
    }

    const local = keyed(plan.local.map((a) => keyOf(layout.encodeAddr, a)));
    this.addKeys(this.maps.local, this.local, local);
    this.removeKeys(this.maps.local, this.local, local);

    // Prefixes go in before the service flags that make the data plane read them, and out after.
    const deny = keyed(plan.deny.map((p) => layout.denyKey.encode({ prefixlen: p.length, addr: p.addr })));
    const allow = keyed(plan.allow.map((a) =>
      layout.allowKey.encode({ prefixlen: 32 + a.prefix.length, service: a.service, addr: a.prefix.addr })));
    this.addKeys(this.maps.deny, this.deny, deny);
    this.addKeys(this.maps.allow, this.allow, allow);

    const services = new Map(plan.services.map((s) => [layout.serviceKey.encode(s.key).toString('hex'), s]));
    for (const [hex, s] of services) this.applyService(hex, s);

    for (const [hex, live] of this.services) {
      if (services.has(hex)) continue;
      this.remove(this.maps.services, live.key);
      this.services.delete(hex);
    }
    for (const [hex] of this.reverse) {
      if (reverse.has(hex)) continue;
      this.remove(this.maps.reverse, Buffer.from(hex, 'hex'));
      this.reverse.delete(hex);
    }
    for (const [vip, key] of this.vips) {
      if (vips.has(vip)) continue;
      this.remove(this.maps.vips, key);
      this.vips.delete(vip);
    }
    this.removeKeys(this.maps.deny, this.deny, deny);
    this.removeKeys(this.maps.allow, this.allow, allow);
    for (const [index, value] of this.backends) {
      if (backends.has(index)) continue;
      this.write(this.maps.backends, layout.u32Key(index), freed(layout.backend.decode(value).gen));
      this.backends.delete(index);
    }
    return { writes: this.writes };
  }

  /**
   * Takes over maps a previous control plane filled: learns what is live (each service's slot and table above all,
   * so the next change goes to the idle slot) and returns the allocation the planner must continue from, so
   * established flows keep their backend indexes.
   */
  adopt(maps: AdoptMaps, backendCount: number): Allocation {
    const serviceIds = new Map<number, string>();
    const services = new Map<string, number>();
    for (const key of maps.services.keys()) {
      const value = maps.services.lookup(key);
      if (!value) continue;
      const k = layout.serviceKey.decode(key);
      const v = layout.service.decode(value);
      const base = (v.id * 2 + v.slot) * this.tableSize;
      const table = Array.from({ length: v.tableLen }, (_, i) => maps.tables.lookup(layout.u32Key(base + i))!.readUInt32LE(0));
      this.services.set(key.toString('hex'), { key, value, slot: v.slot, table });
      const name = serviceId({ vip: k.vip, protocol: protocolName(k.proto), port: k.port });
      serviceIds.set(v.id, name);
      services.set(name, v.id);
    }
    const backends = new Map<string, number>();
    const gens = new Map<number, number>();
    for (let index = 0; index < backendCount; index++) {
      const value = maps.backends.lookup(layout.u32Key(index));
      if (!value) continue;
      const b = layout.backend.decode(value);
      if (b.gen) gens.set(index, b.gen);
      const service = serviceIds.get(b.service);
      if (b.addr === '0.0.0.0' || service === undefined) continue;
      this.backends.set(index, value);
      backends.set(`${service}>${b.port ? `${b.addr}:${b.port}` : b.addr}`, index);
    }
    for (const key of maps.reverse.keys()) {
      const value = maps.reverse.lookup(key);
      if (value) this.reverse.set(key.toString('hex'), value);
    }
    for (const key of maps.vips.keys()) this.vips.set(layout.decodeAddr(key, 0), key);
    for (const key of maps.local.keys()) this.local.set(key.toString('hex'), key);
    for (const key of maps.deny.keys()) this.deny.set(key.toString('hex'), key);
    for (const key of maps.allow.keys()) this.allow.set(key.toString('hex'), key);
    return { services, backends, gens };
  }

  private applyService(hex: string, s: PlannedService): void {
    const live = this.services.get(hex);
    if (!live) this.maps.serviceStats.zero(layout.u32Key(s.id));
    const tableChanged = !live || !sameTable(live.table, s.table);
    const slot = live ? (tableChanged ? live.slot ^ 1 : live.slot) : 0;
    if (tableChanged) {
      const base = (s.id * 2 + slot) * this.tableSize;
      const before = live?.idle;
      s.table.forEach((backendIndex, i) => {
        if (before?.[i] !== backendIndex) this.write(this.maps.tables, layout.u32Key(base + i), layout.u32Key(backendIndex));
      });
    }
    const key = layout.serviceKey.encode(s.key);
    const value = layout.service.encode(serviceValue(s, slot));
    if (!live?.value.equals(value)) this.write(this.maps.services, key, value);
    this.services.set(hex, { key, value, slot, table: s.table, idle: tableChanged ? live?.table : live?.idle });
  }

  private addKeys(map: WritableMap, live: Map<string, Buffer>, wanted: Map<string, Buffer>): void {
    for (const [hex, key] of wanted) {
      if (live.has(hex)) continue;
      this.write(map, key, ONE);
      live.set(hex, key);
    }
  }

  private removeKeys(map: WritableMap, live: Map<string, Buffer>, wanted: Map<string, Buffer>): void {
    for (const [hex, key] of live) {
      if (wanted.has(hex)) continue;
      this.remove(map, key);
      live.delete(hex);
    }
  }

  private write(map: WritableMap, key: Buffer, value: Buffer): void {
    map.update(key, value);
    this.writes++;
  }

  private remove(map: WritableMap, key: Buffer): void {
    map.delete(key);
    this.writes++;
  }
}

function keyOf(encode: (v: string, into: Buffer, offset: number) => void, v: string): Buffer {
  const b = Buffer.alloc(16);
  encode(v, b, 0);
  return b;
}

function protocolName(proto: number): layout.Protocol {
  const name = (Object.keys(layout.PROTO) as layout.Protocol[]).find((p) => layout.PROTO[p] === proto);
  if (!name) throw new Error(`xlb_services holds protocol ${proto}, which this xlb does not know`);
  return name;
}

function keyed(keys: Buffer[]): Map<string, Buffer> {
  return new Map(keys.map((k) => [k.toString('hex'), k]));
}

function sameTable(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
