// The loaded XDP object: its program, its maps by role, its capacities and counters.
import { fileURLToPath } from 'node:url';
import { BpfObject, type BpfMap, type BpfProgram } from '../bpf/libbpf.js';
import * as layout from '../bpf/layout.js';
import type { Capacity } from '../plan/planner.js';
import type { SyncMaps } from './syncer.js';

/** dist/bpf/xlb.o, built by scripts/build next to the compiled TypeScript. */
export const OBJECT_PATH = fileURLToPath(new URL('../../bpf/xlb.o', import.meta.url));

export interface LoadOptions {
  objectPath?: string;
  /** Flow table entries; the default is the object's (XLB_MAX_FLOWS). */
  maxFlows?: number;
}

export type MapRole = keyof typeof layout.MAPS;

export class DataPlane {
  readonly program: BpfProgram;
  readonly capacity: Capacity;
  private readonly maps: Record<MapRole, BpfMap>;

  private constructor(private readonly object: BpfObject) {
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
      object.load();
      return new DataPlane(object);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  map(role: MapRole): BpfMap {
    return this.maps[role];
  }

  syncMaps(): SyncMaps {
    const { services, vips, tables, backends, reverse, deny, allow } = this.maps;
    return { services, vips, tables, backends, reverse, deny, allow };
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
