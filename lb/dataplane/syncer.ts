// Writes a plan into the data plane's maps: only the difference from what it wrote before, in batches (one system
// call for many entries), and in an order that never lets a packet see a half-built state: backends before the tables
// naming them; a changed table filled in the service's idle slot, then made live by one write of the service value;
// an id or index freed by a plan's prelude handed to someone new only after every packet that could still hold it
// has left the program.
import * as layout from '../bpf/layout.js';
import { rcuGracePeriod } from '../bpf/system.js';
import { serviceValue, type Allocation, type Plan } from '../plan/planner.js';
import { serviceId } from '../../config/pool.js';

export interface WritableMap {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): boolean;
}

/** A map that takes many entries in one call: keys and values back to back, written in order (BpfMap.updateBatch). */
export interface BatchMap extends WritableMap {
  updateBatch(keys: Buffer, values: Buffer): void;
}

/** A per-CPU counters map whose entries can be zeroed on every CPU, many in one call. */
export interface ResettableMap {
  zero(keys: Buffer[]): void;
}

export interface SyncMaps {
  /** Counters of a service id or backend index start from zero when it is handed to someone new. */
  serviceStats: ResettableMap;
  backendStats: ResettableMap;
  services: BatchMap;
  vips: BatchMap;
  local: BatchMap;
  tables: BatchMap;
  backends: BatchMap;
  reverse: BatchMap;
  /** What ARP is answered for (plan.owned). */
  owned: BatchMap;
  /** Two halves of maxEntries / 2 words each: VIP bits, then nat backend bits (bpf/xlb_layout.h). */
  filter: BatchMap & { readonly maxEntries: number };
  /** LPM tries: the kernel has no batch writes for them. */
  deny: WritableMap;
  allow: WritableMap;
}

export interface SyncOptions {
  /** Entries per batch call at most; default 65536. Smaller batches only mean more calls. */
  batchEntries?: number;
  /** Returns once no packet can still hold a value read before the call; default: an RCU grace period. */
  gracePeriod?: () => void;
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
  /** Map entries written and deleted. */
  writes: number;
  /** System calls that wrote them. */
  calls: number;
}

/** A backend entry that names a service id no service has: left by a control plane stopped mid-apply. */
export interface Orphan {
  index: number;
  service: number;
  addr: string;
  port: number;
}

export interface AdoptResult {
  /** What the planner must continue from, so established flows keep their backend indexes. */
  allocation: Allocation;
  /** Freed by the next apply. */
  orphans: Orphan[];
}

const ONE = layout.u32Key(1);
const ZERO_MAC = '00:00:00:00:00:00';
const DEFAULT_BATCH = 65536;

/** A freed backend slot: nothing, but the generation, so flows pinned to the old backend never follow a new one. */
function freed(gen: number): Buffer {
  return layout.backend.encode({ addr: '0.0.0.0', port: 0, flags: 0, gen, ifindex: 0, mac: ZERO_MAC, srcMac: ZERO_MAC, service: 0 });
}

export interface ReadableMap extends BatchMap {
  lookup(key: Buffer): Buffer | undefined;
  keys(): Buffer[];
}

export type AdoptMaps = {
  [K in Exclude<keyof SyncMaps, 'serviceStats' | 'backendStats' | 'deny' | 'allow' | 'filter'>]: ReadableMap
} & Pick<SyncMaps, 'serviceStats' | 'backendStats'> & {
  filter: ReadableMap & { readonly maxEntries: number };
  deny: WritableMap & Pick<ReadableMap, 'keys'>;
  allow: WritableMap & Pick<ReadableMap, 'keys'>;
};

export class Syncer {
  private readonly services = new Map<string, LiveService>();
  private readonly backends = new Map<number, Buffer>();
  private readonly reverse = new Map<string, Buffer>();
  private readonly vips = new Map<string, Buffer>();
  private readonly local = new Map<string, Buffer>();
  /** Owned address -> its value as written. */
  private readonly owned = new Map<string, Buffer>();
  private readonly deny = new Map<string, Buffer>();
  private readonly allow = new Map<string, Buffer>();
  /** The filter's words as written, undefined until first written (or adopted). */
  private filter?: BigUint64Array;
  private readonly filterLog2: number;
  private readonly batchEntries: number;
  private readonly gracePeriod: () => void;
  private result: SyncResult = { writes: 0, calls: 0 };

  constructor(private readonly maps: SyncMaps, private readonly tableSize: number, options: SyncOptions = {}) {
    this.batchEntries = options.batchEntries ?? DEFAULT_BATCH;
    this.gracePeriod = options.gracePeriod ?? rcuGracePeriod;
    this.filterLog2 = Math.log2((maps.filter.maxEntries / 2) * 64);
  }

  apply(plan: Plan): SyncResult {
    this.result = { writes: 0, calls: 0 };
    try {
      if (plan.prelude) {
        // The prelude removes what goes; only then may what comes reuse its ids and indexes.
        this.writePlan(plan.prelude);
        this.gracePeriod();
      }
      this.writePlan(plan);
      return this.result;
    } catch (err) {
      // A table may be half rewritten: what the idle slots hold is no longer known.
      for (const live of this.services.values()) live.idle = undefined;
      throw err;
    }
  }

  private writePlan(plan: Plan): void {
    // Prefixes go in before any flag that makes the data plane read them (service values and backend entries both
    // carry the flags), and out after (at the end).
    const deny = keyed(plan.deny.map((p) => layout.denyKey.encode({ prefixlen: p.length, addr: p.addr })));
    const allow = keyed(plan.allow.map((a) =>
      layout.allowKey.encode({ prefixlen: 32 + a.prefix.length, service: a.service, addr: a.prefix.addr })));
    this.addKeys(this.maps.deny, this.deny, deny);
    this.addKeys(this.maps.allow, this.allow, allow);

    const backends = new Map(plan.backends.map((b) => [b.index, layout.backend.encode(b.value)]));
    const backendBatch = this.batch(this.maps.backends);
    const reused: Buffer[] = [];
    for (const [index, value] of backends) {
      const before = this.backends.get(index);
      if (before?.equals(value)) continue;
      if (!before || layout.backend.decode(before).gen !== layout.backend.decode(value).gen) reused.push(layout.u32Key(index));
      backendBatch.add(layout.u32Key(index), value);
      this.backends.set(index, value);
    }
    this.zero(this.maps.backendStats, reused);
    backendBatch.flush();

    // Filter bits go on before the entries they lead to, and off after them (below).
    const filter = this.filterFor(plan);
    this.writeFilter(filter.map((w, i) => w | (this.filter?.[i] ?? 0n)));

    const vips = new Map(plan.vips.map((v) => [v, keyOf(v)]));
    const vipBatch = this.batch(this.maps.vips);
    for (const [vip, key] of vips) {
      if (!this.vips.has(vip)) vipBatch.add(key, ONE);
      this.vips.set(vip, key);
    }
    vipBatch.flush();

    const reverse = new Map(plan.reverse.map((r) => {
      const key = layout.reverseKey.encode(r.key);
      return [key.toString('hex'), { key, value: layout.reverse.encode(r.value) }];
    }));
    const reverseBatch = this.batch(this.maps.reverse);
    for (const [hex, { key, value }] of reverse) {
      if (!this.reverse.get(hex)?.equals(value)) reverseBatch.add(key, value);
      this.reverse.set(hex, value);
    }
    reverseBatch.flush();

    const local = keyed(plan.local.map(keyOf));
    const localBatch = this.batch(this.maps.local);
    for (const [hex, key] of local) {
      if (!this.local.has(hex)) localBatch.add(key, ONE);
      this.local.set(hex, key);
    }
    localBatch.flush();
    this.removeKeys(this.maps.local, this.local, local);

    // Every changed table into its idle slot, then every service value: no service switches before its table is whole.
    const services = new Map(plan.services.map((s) => [layout.serviceKey.encode(s.key).toString('hex'), s]));
    const tables = this.tableBatch();
    const values = this.batch(this.maps.services);
    const fresh: Buffer[] = [];
    for (const [hex, s] of services) {
      const live = this.services.get(hex);
      if (!live) fresh.push(layout.u32Key(s.id));
      const tableChanged = !live || !sameTable(live.table, s.table);
      const slot = live ? (tableChanged ? live.slot ^ 1 : live.slot) : 0;
      if (tableChanged) {
        const base = (s.id * 2 + slot) * this.tableSize;
        const before = live?.idle;
        s.table.forEach((backendIndex, i) => {
          if (before?.[i] !== backendIndex) tables.add(base + i, backendIndex);
        });
      }
      const key = layout.serviceKey.encode(s.key);
      const value = layout.service.encode(serviceValue(s, slot));
      if (!live?.value.equals(value)) values.add(key, value);
      this.services.set(hex, { key, value, slot, table: s.table, idle: tableChanged ? live?.table : live?.idle });
    }
    this.zero(this.maps.serviceStats, fresh);
    tables.flush();
    values.flush();

    // Answered for once what comes to it is forwarded; no longer answered for before it stops being forwarded.
    const owned = new Map(plan.owned.map((o) => [o.address, layout.owned.encode({ ifindex: o.ifindex })]));
    const ownedBatch = this.batch(this.maps.owned);
    for (const [address, value] of owned) {
      if (!this.owned.get(address)?.equals(value)) ownedBatch.add(keyOf(address), value);
      this.owned.set(address, value);
    }
    ownedBatch.flush();
    for (const address of [...this.owned.keys()]) {
      if (owned.has(address)) continue;
      this.remove(this.maps.owned, keyOf(address));
      this.owned.delete(address);
    }

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
    const freedBatch = this.batch(this.maps.backends);
    for (const [index, value] of this.backends) {
      if (backends.has(index)) continue;
      freedBatch.add(layout.u32Key(index), freed(layout.backend.decode(value).gen));
      this.backends.delete(index);
    }
    freedBatch.flush();
    this.writeFilter(filter);
  }

  /**
   * Takes over maps a previous control plane filled: learns what is live (each service's slot and table above all,
   * so the next change goes to the idle slot) and returns the allocation the planner must continue from, so
   * established flows keep their backend indexes. Backend entries of services that are gone (a control plane killed
   * mid-apply) are returned as orphans, and freed by the next apply.
   */
  adopt(maps: AdoptMaps, backendCount: number): AdoptResult {
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
    const orphans: Orphan[] = [];
    for (let index = 0; index < backendCount; index++) {
      const value = maps.backends.lookup(layout.u32Key(index));
      if (!value) continue;
      const b = layout.backend.decode(value);
      if (b.gen) gens.set(index, b.gen);
      if (b.addr === '0.0.0.0') continue;
      this.backends.set(index, value);
      const service = serviceIds.get(b.service);
      if (service === undefined) orphans.push({ index, service: b.service, addr: b.addr, port: b.port });
      else backends.set(`${service}>${b.port ? `${b.addr}:${b.port}` : b.addr}`, index);
    }
    for (const key of maps.reverse.keys()) {
      const value = maps.reverse.lookup(key);
      if (value) this.reverse.set(key.toString('hex'), value);
    }
    for (const key of maps.vips.keys()) this.vips.set(layout.decodeAddr(key, 0), key);
    for (const key of maps.local.keys()) this.local.set(key.toString('hex'), key);
    for (const key of maps.owned.keys()) {
      const value = maps.owned.lookup(key);
      if (value) this.owned.set(layout.decodeAddr(key, 0), value);
    }
    for (const key of maps.deny.keys()) this.deny.set(key.toString('hex'), key);
    for (const key of maps.allow.keys()) this.allow.set(key.toString('hex'), key);
    this.filter = BigUint64Array.from({ length: maps.filter.maxEntries },
      (_, i) => maps.filter.lookup(layout.u32Key(i))!.readBigUInt64LE(0));
    return { allocation: { services, backends, gens }, orphans };
  }

  /** The filter's words for the plan: VIP bits, then nat backend bits. */
  private filterFor(plan: Plan): BigUint64Array {
    const words = this.maps.filter.maxEntries / 2;
    const filter = new BigUint64Array(2 * words);
    const set = (half: number, address: string) => {
      const bit = layout.filterBit(address, this.filterLog2);
      filter[half * words + (bit >> 6)] |= 1n << BigInt(bit & 63);
    };
    for (const vip of plan.vips) set(0, vip);
    for (const r of plan.reverse) set(1, r.key.addr);
    return filter;
  }

  /** Writes the words of `filter` that differ from what the map holds (all of them the first time). */
  private writeFilter(filter: BigUint64Array): void {
    const batch = this.batch(this.maps.filter);
    filter.forEach((word, i) => {
      if (this.filter?.[i] === word) return;
      const value = Buffer.alloc(8);
      value.writeBigUInt64LE(word);
      batch.add(layout.u32Key(i), value);
    });
    batch.flush();
    this.filter = filter;
  }

  /** Entries for one map, written in calls of at most batchEntries when flushed. */
  private batch(map: BatchMap): { add(key: Buffer, value: Buffer): void; flush(): void } {
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    return {
      add: (key, value) => {
        keys.push(key);
        values.push(value);
      },
      flush: () => {
        for (let i = 0; i < keys.length; i += this.batchEntries) {
          const end = Math.min(keys.length, i + this.batchEntries);
          map.updateBatch(Buffer.concat(keys.slice(i, end)), Buffer.concat(values.slice(i, end)));
          this.result.writes += end - i;
          this.result.calls++;
        }
        keys.length = 0;
        values.length = 0;
      },
    };
  }

  /**
   * Table entries (u32 slot -> u32 backend index) packed as they come, written a full batch at a time: a full pool is
   * millions of entries, which as a Buffer for each key and value would hold hundreds of MB at once.
   */
  private tableBatch(): { add(slot: number, backendIndex: number): void; flush(): void } {
    const keys = Buffer.alloc(this.batchEntries * 4);
    const values = Buffer.alloc(this.batchEntries * 4);
    let n = 0;
    const flush = (): void => {
      if (n === 0) return;
      this.maps.tables.updateBatch(keys.subarray(0, n * 4), values.subarray(0, n * 4));
      this.result.writes += n;
      this.result.calls++;
      n = 0;
    };
    return {
      add: (slot, backendIndex) => {
        keys.writeUInt32LE(slot, n * 4);
        values.writeUInt32LE(backendIndex, n * 4);
        if (++n === this.batchEntries) flush();
      },
      flush,
    };
  }

  private zero(map: ResettableMap, keys: Buffer[]): void {
    for (let i = 0; i < keys.length; i += this.batchEntries) {
      map.zero(keys.slice(i, i + this.batchEntries));
      this.result.calls++;
    }
  }

  private addKeys(map: WritableMap, live: Map<string, Buffer>, wanted: Map<string, Buffer>): void {
    for (const [hex, key] of wanted) {
      if (live.has(hex)) continue;
      map.update(key, ONE);
      this.result.writes++;
      this.result.calls++;
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

  private remove(map: WritableMap, key: Buffer): void {
    map.delete(key);
    this.result.writes++;
    this.result.calls++;
  }
}

function keyOf(address: string): Buffer {
  const b = Buffer.alloc(16);
  layout.encodeAddr(address, b, 0);
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
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}
