// The loaded XDP object: its program, its maps by role, its capacities and counters.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject, closeFd, mapInfo, objGet, type BpfMap, type BpfProgram } from '../bpf/libbpf.js';
import * as layout from '../bpf/layout.js';
import type { Capacity } from '../plan/planner.js';
import type { AdoptMaps } from './syncer.js';

/** dist/bpf/xlb.o, built by scripts/build next to the compiled TypeScript. */
export const OBJECT_PATH = fileURLToPath(new URL('../../bpf/xlb.o', import.meta.url));

export interface LoadOptions {
  objectPath?: string;
  /** Flow table entries; the default is the object's (XLB_MAX_FLOWS). */
  maxFlows?: number;
  /** Pin every map under this bpffs directory, re-adopting the pins a previous daemon left when they fit. */
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
    const { services, vips, local, tables, backends, reverse, deny, allow } = this.maps;
    return { services, vips, local, tables, backends, reverse, deny, allow };
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
 * Points every map at its pin. libbpf reuses a pin whose type and sizes match and pins the rest at load; a pin that
 * does not match (an older layout, another size) is removed first, so it is replaced rather than trusted or fatal.
 */
function preparePins(object: BpfObject, pinPath: string, report: PinReport): void {
  mkdirSync(pinPath, { recursive: true });
  for (const map of object.maps()) {
    if (map.name.includes('.')) continue;
    const path = join(pinPath, map.name);
    if (existsSync(path)) {
      const reason = pinMismatch(map, path);
      if (reason === undefined) {
        report.adopted.push(map.name);
      } else {
        rmSync(path);
        report.replaced.push({ map: map.name, reason });
      }
    }
    map.setPinPath(path);
  }
}

function pinMismatch(map: BpfMap, path: string): string | undefined {
  let fd: number;
  try {
    fd = objGet(path);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  try {
    const info = mapInfo(fd);
    const want = [map.type, map.keySize, map.valueSize, map.maxEntries];
    const have = [info.type, info.keySize, info.valueSize, info.maxEntries];
    if (want.every((v, i) => v === have[i])) return undefined;
    return `pinned as type ${have[0]}, key ${have[1]} B, value ${have[2]} B, ${have[3]} entries; ` +
      `this object wants type ${want[0]}, key ${want[1]} B, value ${want[2]} B, ${want[3]} entries`;
  } finally {
    closeFd(fd);
  }
}

/** Removes every pin under `pinPath` and the directory itself. */
export function removePins(pinPath: string): void {
  rmSync(pinPath, { recursive: true, force: true });
}
