// The loaded XDP object: its program, its maps by role, its capacities and counters.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BPF_F_RDONLY_PROG } from '../bpf/ffi.js';
import { BpfObject, numPossibleCpus, type BpfMap, type BpfProgram } from '../bpf/object.js';
import { closeFd, mapInfo, objGet } from '../bpf/system.js';
import * as layout from '../bpf/layout.js';
import type { Capacity } from '../plan/planner.js';
import type { AdoptMaps } from './syncer.js';

/** dist/bpf/xlb.o, built by scripts/build next to the compiled TypeScript. */
export const OBJECT_PATH = fileURLToPath(new URL('../../bpf/xlb.o', import.meta.url));

export interface LoadOptions {
  objectPath?: string;
  /** Flow table entries; the default is the object's (XLB_MAX_FLOWS). */
  maxFlows?: number;
  /**
   * Pin every map under this existing bpffs directory (see pindir.ts), re-adopting the pins a previous daemon left
   * when they fit.
   */
  pinPath?: string;
}

/** What loading did with the pins it found. */
export interface PinReport {
  /** Maps taken over from pins, state and all. */
  adopted: string[];
  /** Pins that did not fit this object (another layout or size), removed and made anew: their state is lost. */
  replaced: { map: string; reason: string }[];
}

export type MapRole = keyof typeof layout.MAPS;

export class DataPlane {
  readonly program: BpfProgram;
  readonly capacity: Capacity;
  private readonly maps: Record<MapRole, BpfMap>;

  private constructor(private readonly object: BpfObject, readonly pins: PinReport) {
    this.maps = Object.fromEntries(
      Object.entries(layout.MAPS).map(([role, name]) => [role, object.map(name)]),
    ) as Record<MapRole, BpfMap>;
    this.program = object.program(layout.PROGRAM);
    const services = this.maps.services.maxEntries;
    this.capacity = {
      services,
      backends: this.maps.backends.maxEntries,
      tableSize: this.maps.tables.maxEntries / (2 * services),
      prefixes: Math.min(this.maps.deny.maxEntries, this.maps.allow.maxEntries),
      owned: this.maps.owned.maxEntries,
    };
  }

  static load(options: LoadOptions = {}): DataPlane {
    const object = BpfObject.open(options.objectPath ?? OBJECT_PATH);
    try {
      if (options.maxFlows !== undefined) object.map(layout.MAPS.flows).setMaxEntries(options.maxFlows);
      const pins: PinReport = { adopted: [], replaced: [] };
      if (options.pinPath !== undefined) preparePins(object, options.pinPath, pins);
      object.load();
      return new DataPlane(object, pins);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  map(role: MapRole): BpfMap {
    return this.maps[role];
  }

  syncMaps(): AdoptMaps {
    const { services, vips, local, tables, backends, reverse, owned, filter, deny, allow } = this.maps;
    // Zeroed on every CPU, many entries in one call.
    const zeroable = (map: BpfMap) => ({
      zero: (keys: Buffer[]) => map.updateBatch(Buffer.concat(keys),
        Buffer.alloc(keys.length * Math.ceil(map.valueSize / 8) * 8 * numPossibleCpus())),
    });
    return {
      services, vips, local, tables, backends, reverse, owned, filter, deny, allow,
      serviceStats: zeroable(this.maps.serviceStats), backendStats: zeroable(this.maps.backendStats),
    };
  }

  /** A per-CPU counters entry summed over CPUs. */
  counters(role: 'serviceStats' | 'backendStats' | 'outcomes', index: number): layout.Counters {
    const total: layout.Counters = { packets: 0n, bytes: 0n, flowsNew: 0n };
    for (const cpu of this.maps[role].lookupPerCpu(layout.u32Key(index))) {
      const c = layout.counters.decode(cpu);
      total.packets += c.packets;
      total.bytes += c.bytes;
      total.flowsNew += c.flowsNew;
    }
    return total;
  }

  outcomes(): Record<layout.Outcome, layout.Counters> {
    return Object.fromEntries(layout.OUTCOMES.map((o, i) => [o, this.counters('outcomes', i)])) as Record<
      layout.Outcome,
      layout.Counters
    >;
  }

  close(): void {
    this.object.close();
  }
}

/**
 * Adopts every pin that fits its map (by fd: libbpf 1.1's own check trips over flags the kernel adds to devmaps) and
 * has libbpf pin the rest at load. A pin that does not fit (an older layout, another size) is removed first, so it is
 * replaced rather than trusted or fatal.
 */
function preparePins(object: BpfObject, pinPath: string, report: PinReport): void {
  const maps = object.maps().filter((m) => !m.name.includes('.'));
  const fds = new Map<BpfMap, number>();
  for (const map of maps) {
    const path = join(pinPath, map.name);
    if (!existsSync(path)) continue;
    const fd = adoptable(map, path, report);
    if (fd !== undefined) fds.set(map, fd);
  }
  // The maps refer to each other (flows to backend indexes, tables to backends): adopted together or not at all.
  const whole = report.replaced.length === 0 && fds.size === maps.length;
  for (const map of maps) {
    const fd = fds.get(map);
    if (whole && fd !== undefined) {
      map.reuseFd(fd);
      report.adopted.push(map.name);
    } else {
      rmSync(join(pinPath, map.name), { force: true });
      if (fd !== undefined && fds.size > 0 && !whole) report.replaced.push({ map: map.name, reason: 'replaced with the maps that did not fit' });
      map.setPinPath(join(pinPath, map.name));
    }
    if (fd !== undefined) closeFd(fd);
  }
}

/** The pin's fd when it fits `map`; otherwise records why not and returns undefined. */
function adoptable(map: BpfMap, path: string, report: PinReport): number | undefined {
  let fd: number;
  try {
    fd = objGet(path);
  } catch (err) {
    report.replaced.push({ map: map.name, reason: `unreadable: ${(err as Error).message}` });
    return undefined;
  }
  const info = mapInfo(fd);
  const want = [map.type, map.keySize, map.valueSize, map.maxEntries, map.flags];
  const have = [info.type, info.keySize, info.valueSize, info.maxEntries, info.flags & ~BPF_F_RDONLY_PROG];
  if (want.every((v, i) => v === have[i])) return fd;
  closeFd(fd);
  const describe = (v: number[]) => `type ${v[0]}, key ${v[1]} B, value ${v[2]} B, ${v[3]} entries, flags ${v[4]}`;
  report.replaced.push({ map: map.name, reason: `pinned as ${describe(have)}; this object wants ${describe(want)}` });
  return undefined;
}

/** The names xlb pins under its pin path: the only ones it ever removes. */
export const PIN_NAMES: readonly string[] = Object.values(layout.MAPS);
