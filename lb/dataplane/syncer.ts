// Writes a plan into the data plane's maps: only the difference from what it wrote before, and in an order that never
// lets a packet see a half-built state (backends before the tables naming them; a changed table filled in the
// service's idle slot, then made live by one write of the service value).
import * as layout from '../bpf/layout.js';
import { serviceValue, type Plan, type PlannedService } from '../plan/planner.js';

export interface WritableMap {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): boolean;
}

export interface SyncMaps {
  services: WritableMap;
  vips: WritableMap;
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
}

export interface SyncResult {
  /** Map writes and deletes performed. */
  writes: number;
}

const ONE = layout.u32Key(1);
const NO_BACKEND = layout.backend.encode({
  addr: '0.0.0.0', port: 0, flags: 0, gen: 0, ifindex: 0, mac: '00:00:00:00:00:00', srcMac: '00:00:00:00:00:00',
});

export class Syncer {
  private readonly services = new Map<string, LiveService>();
  private readonly backends = new Map<number, Buffer>();
  private readonly reverse = new Map<string, Buffer>();
  private readonly vips = new Map<string, Buffer>();
  private readonly deny = new Map<string, Buffer>();
  private readonly allow = new Map<string, Buffer>();
  private writes = 0;

  constructor(private readonly maps: SyncMaps, private readonly tableSize: number) {}

  apply(plan: Plan): SyncResult {
    this.writes = 0;

    const backends = new Map(plan.backends.map((b) => [b.index, layout.backend.encode(b.value)]));
    for (const [index, value] of backends) {
      if (!this.backends.get(index)?.equals(value)) this.write(this.maps.backends, layout.u32Key(index), value);
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
    for (const [index] of this.backends) {
      if (backends.has(index)) continue;
      this.write(this.maps.backends, layout.u32Key(index), NO_BACKEND);
      this.backends.delete(index);
    }
    return { writes: this.writes };
  }

  private applyService(hex: string, s: PlannedService): void {
    const live = this.services.get(hex);
    const tableChanged = !live || !sameTable(live.table, s.table);
    const slot = live ? (tableChanged ? live.slot ^ 1 : live.slot) : 0;
    if (tableChanged) {
      const base = (s.id * 2 + slot) * this.tableSize;
      s.table.forEach((backendIndex, i) => this.write(this.maps.tables, layout.u32Key(base + i), layout.u32Key(backendIndex)));
    }
    const key = layout.serviceKey.encode(s.key);
    const value = layout.service.encode(serviceValue(s, slot));
    if (!live?.value.equals(value)) this.write(this.maps.services, key, value);
    this.services.set(hex, { key, value, slot, table: s.table });
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

function keyed(keys: Buffer[]): Map<string, Buffer> {
  return new Map(keys.map((k) => [k.toString('hex'), k]));
}

function sameTable(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
