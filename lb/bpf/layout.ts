// The TypeScript mirror of bpf/xlb_layout.h: every map key and value the control plane reads or writes, as a
// declared field list that one codec encodes and decodes. test/layout.test.ts checks each against the object's BTF.
import os from 'node:os';

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'be16' | 'addr' | 'v4' | 'mac';

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
}

export const FIELD_SIZE: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, be16: 2, addr: 16, v4: 4, mac: 6 };

export interface Layout<T> {
  /** The C struct (or union) this mirrors. */
  readonly cName: string;
  readonly size: number;
  readonly fields: readonly Field[];
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

/** An IPv4 address in the first word of a 16-byte `union xlb_addr`, as the data plane keys it. */
export function encodeAddr(address: string, into: Buffer, offset: number): void {
  encodeV4(address, into, offset);
  into.fill(0, offset + 4, offset + 16);
}

/** An IPv4 address as its four network-order bytes (a `__be32`). */
export function encodeV4(address: string, into: Buffer, offset: number): void {
  const parts = address.split('.');
  if (parts.length !== 4) throw new Error(`"${address}" is not an IPv4 address`);
  parts.forEach((part, i) => {
    const n = Number(part);
    if (!/^\d{1,3}$/.test(part) || n > 255) throw new Error(`"${address}" is not an IPv4 address`);
    into[offset + i] = n;
  });
}

export function decodeAddr(from: Buffer, offset: number): string {
  return [0, 1, 2, 3].map((i) => from[offset + i]).join('.');
}

export function encodeMac(mac: string, into: Buffer, offset: number): void {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`"${mac}" is not a MAC address`);
  }
  parts.forEach((p, i) => (into[offset + i] = parseInt(p, 16)));
}

export function decodeMac(from: Buffer, offset: number): string {
  return [...from.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function layout<T extends object>(cName: string, size: number, fields: Field[]): Layout<T> {
  return {
    cName,
    size,
    fields,
    encode(value: T): Buffer {
      const out = Buffer.alloc(size);
      const v = value as Record<string, unknown>;
      for (const f of fields) {
        const x = v[f.name];
        if (x === undefined) throw new Error(`${cName}.${f.name} is missing`);
        switch (f.type) {
          case 'u8': out.writeUInt8(x as number, f.offset); break;
          case 'u16': out.writeUInt16LE(x as number, f.offset); break;
          case 'u32': out.writeUInt32LE(x as number, f.offset); break;
          case 'u64': out.writeBigUInt64LE(BigInt(x as number | bigint), f.offset); break;
          case 'be16': out.writeUInt16BE(x as number, f.offset); break;
          case 'addr': encodeAddr(x as string, out, f.offset); break;
          case 'v4': encodeV4(x as string, out, f.offset); break;
          case 'mac': encodeMac(x as string, out, f.offset); break;
        }
      }
      return out;
    },
    decode(bytes: Buffer): T {
      if (bytes.length < size) throw new Error(`${cName}: ${bytes.length} bytes, need ${size}`);
      const v: Record<string, unknown> = {};
      for (const f of fields) {
        switch (f.type) {
          case 'u8': v[f.name] = bytes.readUInt8(f.offset); break;
          case 'u16': v[f.name] = bytes.readUInt16LE(f.offset); break;
          case 'u32': v[f.name] = bytes.readUInt32LE(f.offset); break;
          case 'u64': v[f.name] = bytes.readBigUInt64LE(f.offset); break;
          case 'be16': v[f.name] = bytes.readUInt16BE(f.offset); break;
          case 'addr': case 'v4': v[f.name] = decodeAddr(bytes, f.offset); break;
          case 'mac': v[f.name] = decodeMac(bytes, f.offset); break;
        }
      }
      return v as T;
    },
  };
}

/** Fields laid out back to back from offset 0; explicit padding is left out, the struct size covers it. */
function packed(spec: [string, FieldType, number?][]): Field[] {
  let offset = 0;
  return spec.map(([name, type, at]) => {
    if (at !== undefined) offset = at;
    const f = { name, type, offset };
    offset += FIELD_SIZE[type];
    return f;
  });
}

export const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
export type Protocol = keyof typeof PROTO;

/** struct xlb_service.flags */
export const SVC_MAGLEV = 1 << 0;
export const SVC_DSR = 1 << 1;
export const SVC_DENY = 1 << 2;
export const SVC_ALLOW = 1 << 3;
/** struct xlb_backend.flags */
export const BE_ALIVE = 1 << 0;
/** XLB_BE_SVC_SHIFT: the owning service's flags sit in the backend's flags from this bit on. */
export const BE_SVC_SHIFT = 8;

export interface ServiceKey { vip: string; port: number; proto: number }
export interface Service { id: number; flags: number; slot: number; tableLen: number }
export interface Backend {
  addr: string; port: number; flags: number; gen: number; ifindex: number; mac: string; srcMac: string; service: number;
}
export interface FlowKey { src: string; dst: string; sport: number; dport: number; proto: number }
export interface Flow { backend: number; gen: number }
export interface ReverseKey { addr: string; port: number; proto: number }
export interface Reverse { vip: string; port: number; backend: number }
export interface Counters { packets: bigint; bytes: bigint; flowsNew: bigint }
export interface DenyKey { prefixlen: number; addr: string }
export interface AllowKey { prefixlen: number; service: number; addr: string }
export interface Event {
  timeNs: bigint; src: string; dst: string; sport: number; dport: number; proto: number; outcome: number;
  service: number; backend: number;
}
export interface EventBudget { tokens: bigint; lastNs: bigint; sent: bigint; suppressed: bigint }
export interface Settings { events: number }
export interface Owned { ifindex: number }
export interface Iface { mac: string }
export interface Ha { forwardUntilNs: bigint; arpUntilNs: bigint; flags: number }

/** struct xlb_ha.flags */
export const HA_ON = 1 << 0;

/** XLB_NEW_FLOW_WAYS: 64-bit words in a set of xlb_new_flows. */
export const NEW_FLOW_WAYS = 4;

/** struct xlb_event.service / .backend when not known. */
export const NONE = 0xffffffff;

export const serviceKey = layout<ServiceKey>('xlb_service_key', 20, packed([['vip', 'addr'], ['port', 'be16'], ['proto', 'u8']]));
export const service = layout<Service>('xlb_service', 8,
  packed([['id', 'u16'], ['flags', 'u8'], ['slot', 'u8'], ['tableLen', 'u32']]));
export const backend = layout<Backend>('xlb_backend', 44, packed([
  ['addr', 'addr'], ['port', 'be16'], ['flags', 'u16'], ['gen', 'u32'], ['ifindex', 'u32'], ['mac', 'mac'], ['srcMac', 'mac'],
  ['service', 'u32'],
]));
export const flowKey = layout<FlowKey>('xlb_flow_key', 16,
  packed([['src', 'v4'], ['dst', 'v4'], ['sport', 'be16'], ['dport', 'be16'], ['proto', 'u8']]));
export const flow = layout<Flow>('xlb_flow', 8, packed([['backend', 'u32'], ['gen', 'u32']]));
export const reverseKey = layout<ReverseKey>('xlb_reverse_key', 20, packed([['addr', 'addr'], ['port', 'be16'], ['proto', 'u8']]));
export const reverse = layout<Reverse>('xlb_reverse', 24, packed([['vip', 'addr'], ['port', 'be16'], ['backend', 'u32', 20]]));
export const counters = layout<Counters>('xlb_counters', 24,
  packed([['packets', 'u64'], ['bytes', 'u64'], ['flowsNew', 'u64']]));

export const denyKey = layout<DenyKey>('xlb_deny_key', 20, packed([['prefixlen', 'u32'], ['addr', 'addr']]));
export const allowKey = layout<AllowKey>('xlb_allow_key', 24, packed([['prefixlen', 'u32'], ['service', 'u32'], ['addr', 'addr']]));
export const event = layout<Event>('xlb_event', 56, packed([
  ['timeNs', 'u64'], ['src', 'addr'], ['dst', 'addr'], ['sport', 'be16'], ['dport', 'be16'], ['proto', 'u8'], ['outcome', 'u8'],
  ['service', 'u32', 48], ['backend', 'u32'],
]));
export const eventBudget = layout<EventBudget>('xlb_event_budget', 32,
  packed([['tokens', 'u64'], ['lastNs', 'u64'], ['sent', 'u64'], ['suppressed', 'u64']]));
export const settings = layout<Settings>('xlb_settings', 8, packed([['events', 'u32']]));
export const owned = layout<Owned>('xlb_owned', 4, packed([['ifindex', 'u32']]));
export const iface = layout<Iface>('xlb_iface', 8, packed([['mac', 'mac']]));
export const ha = layout<Ha>('xlb_ha', 24, packed([['forwardUntilNs', 'u64'], ['arpUntilNs', 'u64'], ['flags', 'u32']]));

/** Every layout, for the test that holds them against the object's BTF. */
export const LAYOUTS: readonly Layout<object>[] = [
  serviceKey, service, backend, flowKey, flow, reverseKey, reverse, counters, denyKey, allowKey, event, eventBudget, settings,
  owned, iface, ha,
];

/** enum xlb_outcome, in order: the name is the metric's `reason` label. */
export const OUTCOMES = [
  'pass_not_vip', 'tx', 'redirect', 'pass_reverse', 'drop_malformed', 'drop_bad_checksum', 'drop_fragment',
  'drop_ip_options', 'drop_no_backend', 'drop_no_egress', 'drop_denied', 'drop_not_allowed', 'drop_stray_reply',
  'arp_reply', 'drop_standby',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The C enumerator for an outcome, e.g. 'drop_no_backend' -> 'XLB_DROP_NO_BACKEND'. */
export function outcomeEnumerator(outcome: Outcome): string {
  return `XLB_${outcome.toUpperCase()}`;
}

export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Map names, as in bpf/maps.h. */
export const MAPS = {
  services: 'xlb_services',
  vips: 'xlb_vips',
  local: 'xlb_local',
  tables: 'xlb_tables',
  backends: 'xlb_backends',
  rrCursor: 'xlb_rr_cursor',
  flows: 'xlb_flows',
  newFlows: 'xlb_new_flows',
  filter: 'xlb_filter',
  reverse: 'xlb_reverse',
  egress: 'xlb_egress',
  serviceStats: 'xlb_service_stats',
  backendStats: 'xlb_backend_stats',
  outcomes: 'xlb_outcomes',
  deny: 'xlb_deny',
  allow: 'xlb_allow',
  events: 'xlb_events',
  eventBudget: 'xlb_event_budget',
  settings: 'xlb_settings',
  owned: 'xlb_owned',
  ifaces: 'xlb_ifaces',
  ha: 'xlb_ha',
} as const;

/** The program attached to the interfaces. */
export const PROGRAM = 'xlb';
/** The program that sends a frame out of an interface (DataPlane.transmit); never attached. */
export const SEND_PROGRAM = 'xlb_send';

/** XLB_FILTER_MUL: see xlb_filter in bpf/xlb_layout.h. */
const FILTER_MUL = 0x9e3779b1;
const littleEndian = os.endianness() === 'LE';

/**
 * xlb_filter_bit(): the bit of `address` in a half of xlb_filter with 2^log2 bits. The data plane reads the address's
 * network-order bytes as a host-order u32, and so does this.
 */
export function filterBit(address: string, log2: number): number {
  const b = Buffer.alloc(4);
  encodeV4(address, b, 0);
  const word = littleEndian ? b.readUInt32LE(0) : b.readUInt32BE(0);
  return Math.imul(word, FILTER_MUL) >>> (32 - log2);
}
