// The loaded XDP object: its programs, its maps by role, its capacities and counters; what the control plane tells it
// besides the plan (the interfaces' MACs, the HA deadlines) and the frames it sends through it.
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BPF_F_RDONLY_PROG, BPF_F_TEST_XDP_LIVE_FRAMES } from '../bpf/ffi.js';
import { BpfError } from '../bpf/errors.js';
import { BpfObject, numPossibleCpus, type BpfMap, type BpfProgram } from '../bpf/object.js';
import { closeFd, ifNameToIndex, interfaceMac, mapInfo, objGet } from '../bpf/system.js';
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

/**
 * What an HA node's data plane may do, until when, in CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns(); monotonicNs()
 * reads the same clock): forward VIP traffic and NAT replies while now < forwardUntilNs, answer ARP for the VIPs and
 * floating addresses while now < arpUntilNs. 0n (or any time past): not at all. The program reads the coarse clock,
 * which is up to a tick (1-4 ms) behind: it stops that much after a deadline at most.
 */
export interface HaGrant {
  forwardUntilNs: bigint;
  arpUntilNs: bigint;
}

/** A standalone node: forwards VIP traffic and answers ARP for its owned addresses, always. */
export const HA_OFF = 'off';

/** An interface of the node, as the data plane answers ARP on it. */
export interface InterfaceMac {
  ifindex: number;
  mac: string;
}

const ETH_HLEN = 14;
const { EINVAL } = os.constants.errno;
const U64_MAX = (1n << 64n) - 1n;

export class DataPlane {
  readonly program: BpfProgram;
  /** xlb_send: see transmit(). */
  private readonly sender: BpfProgram;
  readonly capacity: Capacity;
  private readonly maps: Record<MapRole, BpfMap>;

  private constructor(private readonly object: BpfObject, readonly pins: PinReport) {
    this.maps = Object.fromEntries(
      Object.entries(layout.MAPS).map(([role, name]) => [role, object.map(name)]),
    ) as Record<MapRole, BpfMap>;
    this.program = object.program(layout.PROGRAM);
    this.sender = object.program(layout.SEND_PROGRAM);
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

  /**
   * Makes the node standalone (HA_OFF: forward and answer ARP always) or one of an HA pair that may forward and answer
   * ARP until the grant's deadlines (see HaGrant). One map write, seen by the next packet. An HA node renews the grant
   * ahead of its deadlines for as long as it holds its lease; when it stops writing, the data plane stops at the
   * deadlines by itself. Taken over with the pins by a restarted daemon, deadlines and all.
   * @throws RangeError for a deadline that is not a u64 of nanoseconds (nothing written).
   */
  setHa(grant: HaGrant | typeof HA_OFF): void {
    const value: layout.Ha = grant === HA_OFF ? { forwardUntilNs: 0n, arpUntilNs: 0n, flags: 0 } : {
      forwardUntilNs: nanoseconds('forwardUntilNs', grant.forwardUntilNs),
      arpUntilNs: nanoseconds('arpUntilNs', grant.arpUntilNs),
      flags: layout.HA_ON,
    };
    this.maps.ha.update(layout.u32Key(0), layout.ha.encode(value));
  }

  /** What setHa() last wrote (or a previous daemon, or HA_OFF for fresh maps). */
  ha(): HaGrant | typeof HA_OFF {
    const v = layout.ha.decode(this.maps.ha.lookup(layout.u32Key(0))!);
    return v.flags & layout.HA_ON ? { forwardUntilNs: v.forwardUntilNs, arpUntilNs: v.arpUntilNs } : HA_OFF;
  }

  /**
   * Makes `interfaces` the data plane's whole list of the node's interfaces and their MACs (ARP replies carry them):
   * writes each, removes every other entry (an interface gone, or come back under another ifindex). All are checked
   * before any is written. An interface without an entry gets no ARP answered by XDP.
   * @throws RangeError for an ifindex that is not a positive integer or a repeated one; Error for a malformed MAC.
   */
  setInterfaces(interfaces: readonly InterfaceMac[]): void {
    const wanted = new Map<number, Buffer>();
    for (const { ifindex, mac } of interfaces) {
      if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0xffffffff) {
        throw new RangeError(`ifindex ${ifindex} is not an interface's`);
      }
      if (wanted.has(ifindex)) throw new RangeError(`ifindex ${ifindex} is given twice`);
      wanted.set(ifindex, layout.iface.encode({ mac }));
    }
    const map = this.maps.ifaces;
    for (const [ifindex, value] of wanted) map.update(layout.u32Key(ifindex), value);
    for (const key of map.keys()) if (!wanted.has(key.readUInt32LE(0))) map.delete(key);
  }

  /** The interfaces the data plane knows, by ifindex. */
  interfaces(): InterfaceMac[] {
    const map = this.maps.ifaces;
    return map.keys().flatMap((key) => {
      const value = map.lookup(key);
      return value ? [{ ifindex: key.readUInt32LE(0), mac: layout.iface.decode(value).mac }] : [];
    }).sort((a, b) => a.ifindex - b.ifindex);
  }

  /**
   * Sends `frame` (a whole Ethernet frame, as it is to go on the wire) out of interface `ifindex` of this process's
   * network namespace, without a packet socket: the xlb_send program runs once on it as a live frame
   * (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES) and sends it with XDP_TX. Returns once the frame is handed to
   * the interface's driver; like any frame on a link it may still be lost (the link down; a veth whose peer runs no XDP
   * program drops it).
   * @throws BpfError ENODEV when there is no such interface; EINVAL for a frame shorter than an Ethernet header or
   * longer than a page holds.
   */
  transmit(ifindex: number, frame: Buffer): void {
    if (frame.length < ETH_HLEN) {
      throw new BpfError('bpf_prog_test_run_opts', EINVAL, {
        object: layout.SEND_PROGRAM, detail: `a ${frame.length}-byte frame: an Ethernet header alone is ${ETH_HLEN}`,
      });
    }
    // struct xdp_md: data 0, data_end the frame's length, data_meta 0, ingress_ifindex, rx_queue_index 0.
    const ctxIn = Buffer.alloc(24);
    ctxIn.writeUInt32LE(frame.length, 4);
    ctxIn.writeUInt32LE(ifindex, 12);
    // Live frames report no verdict: xlb_send's is always XDP_TX.
    this.sender.testRun({ data: frame, ctxIn, flags: BPF_F_TEST_XDP_LIVE_FRAMES });
  }

  close(): void {
    this.object.close();
  }
}

/** The named interfaces that exist now in this network namespace, with their ifindex and MAC (for setInterfaces). */
export function interfacesNamed(names: readonly string[]): InterfaceMac[] {
  return names.flatMap((name) => {
    try {
      return [{ ifindex: ifNameToIndex(name), mac: interfaceMac(name) }];
    } catch (err) {
      if (err instanceof BpfError && err.code === 'ENODEV') return [];
      throw err;
    }
  });
}

function nanoseconds(name: string, v: bigint): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`${name} ${String(v)} is not a u64 of nanoseconds`);
  return v;
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
