// Independent packet toolkit for the test suite: builds and parses
// Ethernet/IPv4/ICMP/TCP/UDP frames, and ARP (RFC 826) for IPv4 over Ethernet. Every checksum here is a full RFC 1071
// one's-complement sum over the bytes, never an incremental update, because
// the data plane under test updates checksums incrementally and its output
// is judged against frames built here; sharing an algorithm would let a
// shared bug pass unnoticed.

export interface FrameSpec {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  proto: 'icmp' | 'tcp' | 'udp';
  /** L4 fields apply only to their protocol and are ignored elsewhere, and in non-first fragments. */
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  ttl?: number;
  ipId?: number;
  tos?: number;
  /** Fragment offset in 8-byte units, exactly as it sits in the header. */
  fragOffset?: number;
  moreFragments?: boolean;
  dontFragment?: boolean;
  /** Raw option bytes after the 20-byte header; length must be a multiple of 4. */
  ipOptions?: Buffer;
  payload?: Buffer;
  /** false sends UDP checksum 0, which RFC 768 defines as "not computed". */
  udpChecksum?: boolean;
  /** Zero-pad the frame up to this length (Ethernet minimum size); IP total length is unchanged. */
  padTo?: number;
}

export const TCP_FLAGS = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 } as const;

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO = { icmp: 1, tcp: 6, udp: 17 } as const;

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';
// Odd length on purpose, so the trailing-byte rule of RFC 1071 is exercised
// by every default frame.
export const DEFAULT_PAYLOAD: Buffer = Buffer.from('xlb-payload', 'ascii');

const IP_FLAG_DF = 0x4000;
const IP_FLAG_MF = 0x2000;
const IP_FRAG_MASK = 0x1fff;
const TCP_HLEN = 20;
const UDP_HLEN = 8;
const ICMP_HLEN = 8;

export interface ParsedFrame {
  srcMac: string;
  dstMac: string;
  etherType: number;
  src: string;
  dst: string;
  proto: number;
  /** In 32-bit words, as in the header. */
  ihl: number;
  ttl: number;
  ipChecksum: number;
  totalLength: number;
  tos: number;
  ipId: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In 8-byte units. */
  fragOffset: number;
  ipOptions: Buffer;
  sport?: number;
  dport?: number;
  /** The checksum field of the TCP, UDP or ICMP header, as stored. */
  l4Checksum?: number;
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpSeq?: number;
  /** Bytes after the L4 header up to the IP total length (Ethernet padding excluded); for a non-first fragment, the whole IP payload. */
  payload: Buffer;
}

/** RFC 1071 Internet checksum of `data` (odd length padded with a zero byte). */
export function internetChecksum(data: Buffer): number {
  return ~onesSum(data) & 0xffff;
}

// Folded 16-bit one's-complement sum. Deferring the carry fold to the end is
// safe: a 64 KiB packet sums to under 2^32, far inside a double's exact range.
function onesSum(data: Buffer): number {
  let sum = 0;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Checksum of an IPv4 header with its checksum field taken as 0. `header`
 * starts at the IP header and may run past it (e.g. a whole packet): the
 * length comes from its IHL.
 */
export function ipv4Checksum(header: Buffer): number {
  if (header.length < 20) throw new Error(`ipv4Checksum: need at least 20 bytes, got ${header.length}`);
  const hlen = (header[0]! & 0x0f) * 4;
  if (hlen < 20) throw new Error(`ipv4Checksum: IHL ${hlen / 4} is below the minimum of 5`);
  if (header.length < hlen) throw new Error(`ipv4Checksum: IHL says ${hlen} bytes, only ${header.length} given`);
  const copy = Buffer.from(header.subarray(0, hlen));
  copy.writeUInt16BE(0, 10);
  return internetChecksum(copy);
}

/**
 * From-scratch TCP/UDP checksum (pseudo header + segment, checksum field
 * taken as 0) of an Ethernet frame; for ICMP, the ICMP checksum (no pseudo
 * header). A UDP result of 0 is returned as 0xffff, since 0 on the wire means
 * "no checksum" (RFC 768).
 */
export function l4Checksum(frame: Buffer): number {
  const l = locate(frame, 'l4Checksum');
  if (l.nonFirstFragment) throw new Error('l4Checksum: a non-first fragment carries no L4 header');
  const seg = Buffer.from(frame.subarray(l.l4Off, l.l4End));
  if (l.proto === IPPROTO.icmp) {
    seg.writeUInt16BE(0, 2);
    return internetChecksum(seg);
  }
  if (l.proto === IPPROTO.tcp) {
    seg.writeUInt16BE(0, 16);
    return internetChecksum(Buffer.concat([pseudoHeader(frame, l), seg]));
  }
  if (l.proto === IPPROTO.udp) {
    seg.writeUInt16BE(0, 6);
    const c = internetChecksum(Buffer.concat([pseudoHeader(frame, l), seg]));
    return c === 0 ? 0xffff : c;
  }
  throw new Error(`l4Checksum: unsupported IP protocol ${l.proto}`);
}

/**
 * Receiver-style verification (the sum over the covered bytes, checksum
 * included, must be 0xffff), so both one's-complement zeros are accepted as
 * a real stack would. A byte-exact comparison against withFields()/
 * buildFrame() output is the stricter check. `l4` is true for a UDP checksum
 * of 0 and for a non-first fragment (no L4 header to check). For a first
 * fragment the sum covers only the bytes present, which is how buildFrame()
 * computes it.
 */
export function checksumsValid(frame: Buffer): { ip: boolean; l4: boolean } {
  const l = locate(frame, 'checksumsValid');
  const ip = onesSum(frame.subarray(l.ipOff, l.l4Off)) === 0xffff;
  let l4: boolean;
  if (l.nonFirstFragment) {
    l4 = true;
  } else {
    const seg = frame.subarray(l.l4Off, l.l4End);
    if (l.proto === IPPROTO.icmp) l4 = onesSum(seg) === 0xffff;
    else if (l.proto === IPPROTO.udp && seg.readUInt16BE(6) === 0) l4 = true;
    else if (l.proto === IPPROTO.tcp || l.proto === IPPROTO.udp)
      l4 = onesSum(Buffer.concat([pseudoHeader(frame, l), seg])) === 0xffff;
    else throw new Error(`checksumsValid: unsupported IP protocol ${l.proto}`);
  }
  return { ip, l4 };
}

export function buildFrame(spec: FrameSpec): Buffer {
  const proto = IPPROTO[spec.proto];
  if (proto === undefined) throw new Error(`buildFrame: unknown proto ${String(spec.proto)}`);
  const payload = spec.payload ?? DEFAULT_PAYLOAD;
  const options = spec.ipOptions ?? Buffer.alloc(0);
  if (options.length % 4 !== 0) throw new Error(`buildFrame: ipOptions length ${options.length} is not a multiple of 4`);
  if (options.length > 40) throw new Error(`buildFrame: ipOptions length ${options.length} exceeds 40`);
  const fragOffset = uint('fragOffset', spec.fragOffset ?? 0, IP_FRAG_MASK);
  const nonFirst = fragOffset > 0;

  // Fields of another protocol (or of the L4 header a non-first fragment
  // lacks) are ignored rather than refused, so tests can spread one base
  // spec, ports included, over every protocol.
  let seg: Buffer;
  if (nonFirst) {
    seg = Buffer.from(payload);
  } else if (spec.proto === 'tcp') {
    const h = Buffer.alloc(TCP_HLEN);
    h.writeUInt16BE(uint('sport', spec.sport ?? 40000, 0xffff), 0);
    h.writeUInt16BE(uint('dport', spec.dport ?? 80, 0xffff), 2);
    h.writeUInt32BE(uint('seq', spec.seq ?? 1000, 0xffffffff), 4);
    h.writeUInt32BE(uint('ack', spec.ack ?? 2000, 0xffffffff), 8);
    h[12] = (TCP_HLEN / 4) << 4;
    h[13] = uint('tcpFlags', spec.tcpFlags ?? TCP_FLAGS.ACK, 0xff);
    h.writeUInt16BE(0xffff, 14); // window
    seg = Buffer.concat([h, payload]);
  } else if (spec.proto === 'udp') {
    const h = Buffer.alloc(UDP_HLEN);
    h.writeUInt16BE(uint('sport', spec.sport ?? 40000, 0xffff), 0);
    h.writeUInt16BE(uint('dport', spec.dport ?? 53, 0xffff), 2);
    h.writeUInt16BE(uint('UDP length', UDP_HLEN + payload.length, 0xffff), 4);
    seg = Buffer.concat([h, payload]);
  } else {
    const h = Buffer.alloc(ICMP_HLEN);
    h[0] = uint('icmpType', spec.icmpType ?? 8, 0xff);
    h[1] = uint('icmpCode', spec.icmpCode ?? 0, 0xff);
    h.writeUInt16BE(uint('icmpId', spec.icmpId ?? 1, 0xffff), 4);
    h.writeUInt16BE(uint('icmpSeq', spec.icmpSeq ?? 1, 0xffff), 6);
    seg = Buffer.concat([h, payload]);
  }

  const ihl = 20 + options.length;
  const totalLength = uint('IP total length', ihl + seg.length, 0xffff);
  const ip = Buffer.alloc(ihl);
  ip[0] = 0x40 | (ihl / 4);
  ip[1] = uint('tos', spec.tos ?? 0, 0xff);
  ip.writeUInt16BE(totalLength, 2);
  ip.writeUInt16BE(uint('ipId', spec.ipId ?? 1, 0xffff), 4);
  ip.writeUInt16BE(
    (spec.dontFragment ? IP_FLAG_DF : 0) | (spec.moreFragments ? IP_FLAG_MF : 0) | fragOffset,
    6,
  );
  ip[8] = uint('ttl', spec.ttl ?? 64, 0xff);
  ip[9] = proto;
  ipToBytes(spec.src).copy(ip, 12);
  ipToBytes(spec.dst).copy(ip, 16);
  options.copy(ip, 20);

  const eth = Buffer.alloc(ETH_HLEN);
  macToBytes(spec.dstMac ?? DEFAULT_DST_MAC).copy(eth, 0);
  macToBytes(spec.srcMac ?? DEFAULT_SRC_MAC).copy(eth, 6);
  eth.writeUInt16BE(ETHERTYPE_IPV4, 12);

  const unpadded = ETH_HLEN + totalLength;
  const padTo = spec.padTo === undefined ? 0 : uint('padTo', spec.padTo, 0xffffffff);
  const frame = Buffer.concat([eth, ip, seg, Buffer.alloc(Math.max(0, padTo - unpadded))]);
  fillChecksums(frame, spec.proto !== 'udp' || spec.udpChecksum !== false);
  return frame;
}

export const ETHERTYPE_ARP = 0x0806;
export const ARP_OP = { request: 1, reply: 2 } as const;
/** Ethernet (14) + ARP for IPv4 over Ethernet (28). */
export const ARP_FRAME_BYTES = 42;
/** The minimum Ethernet frame without its FCS: ARP frames are padded to it on the wire. */
export const ETH_MIN_FRAME = 60;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';

export interface ArpSpec {
  op: number;
  senderMac: string;
  senderIp: string;
  /** Default 00:00:00:00:00:00, as a request leaves it. */
  targetMac?: string;
  targetIp: string;
  /** Ethernet destination; default broadcast. */
  dstMac?: string;
  /** Ethernet source; default the sender's hardware address. */
  srcMac?: string;
  /** The header as sent (defaults: Ethernet 1, IPv4 0x0800, lengths 6 and 4), to build ones that are not IPv4 over Ethernet. */
  htype?: number;
  ptype?: number;
  hlen?: number;
  plen?: number;
  /** Zero padding up to this length; default ETH_MIN_FRAME. */
  padTo?: number;
}

export interface ParsedArp {
  dstMac: string;
  srcMac: string;
  htype: number;
  ptype: number;
  hlen: number;
  plen: number;
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
  /** The bytes after the ARP packet. */
  padding: Buffer;
}

/** An ARP frame, field by field as RFC 826 lays them out for IPv4 over Ethernet. */
export function buildArp(spec: ArpSpec): Buffer {
  const eth = Buffer.alloc(ETH_HLEN);
  macToBytes(spec.dstMac ?? BROADCAST_MAC).copy(eth, 0);
  macToBytes(spec.srcMac ?? spec.senderMac).copy(eth, 6);
  eth.writeUInt16BE(ETHERTYPE_ARP, 12);
  const header = Buffer.alloc(8);
  header.writeUInt16BE(uint('htype', spec.htype ?? 1, 0xffff), 0);
  header.writeUInt16BE(uint('ptype', spec.ptype ?? ETHERTYPE_IPV4, 0xffff), 2);
  header[4] = uint('hlen', spec.hlen ?? 6, 0xff);
  header[5] = uint('plen', spec.plen ?? 4, 0xff);
  header.writeUInt16BE(uint('op', spec.op, 0xffff), 6);
  const body = Buffer.concat([
    macToBytes(spec.senderMac), ipToBytes(spec.senderIp), macToBytes(spec.targetMac ?? ZERO_MAC), ipToBytes(spec.targetIp),
  ]);
  const frame = Buffer.concat([eth, header, body]);
  const padTo = uint('padTo', spec.padTo ?? ETH_MIN_FRAME, 0xffff);
  return Buffer.concat([frame, Buffer.alloc(Math.max(0, padTo - frame.length))]);
}

export function parseArp(frame: Buffer): ParsedArp {
  if (frame.length < ARP_FRAME_BYTES) throw truncated('parseArp', 'ARP for IPv4 over Ethernet', ARP_FRAME_BYTES, frame.length);
  const etherType = frame.readUInt16BE(12);
  if (etherType !== ETHERTYPE_ARP) throw new Error(`parseArp: EtherType 0x${etherType.toString(16).padStart(4, '0')} is not ARP`);
  return {
    dstMac: macToString(frame.subarray(0, 6)),
    srcMac: macToString(frame.subarray(6, 12)),
    htype: frame.readUInt16BE(14),
    ptype: frame.readUInt16BE(16),
    hlen: frame[18]!,
    plen: frame[19]!,
    op: frame.readUInt16BE(20),
    senderMac: macToString(frame.subarray(22, 28)),
    senderIp: bytesToIp(frame.subarray(28, 32)),
    targetMac: macToString(frame.subarray(32, 38)),
    targetIp: bytesToIp(frame.subarray(38, 42)),
    padding: Buffer.from(frame.subarray(ARP_FRAME_BYTES)),
  };
}

export function parseFrame(frame: Buffer): ParsedFrame {
  const l = locate(frame, 'parseFrame');
  const ipOff = l.ipOff;
  const flagsFrag = frame.readUInt16BE(ipOff + 6);
  const out: ParsedFrame = {
    dstMac: macToString(frame.subarray(0, 6)),
    srcMac: macToString(frame.subarray(6, 12)),
    etherType: frame.readUInt16BE(12),
    src: bytesToIp(frame.subarray(ipOff + 12, ipOff + 16)),
    dst: bytesToIp(frame.subarray(ipOff + 16, ipOff + 20)),
    proto: l.proto,
    ihl: (l.l4Off - ipOff) / 4,
    ttl: frame[ipOff + 8]!,
    ipChecksum: frame.readUInt16BE(ipOff + 10),
    totalLength: l.l4End - ipOff,
    tos: frame[ipOff + 1]!,
    ipId: frame.readUInt16BE(ipOff + 4),
    dontFragment: (flagsFrag & IP_FLAG_DF) !== 0,
    moreFragments: (flagsFrag & IP_FLAG_MF) !== 0,
    fragOffset: flagsFrag & IP_FRAG_MASK,
    ipOptions: Buffer.from(frame.subarray(ipOff + 20, l.l4Off)),
    payload: Buffer.alloc(0),
  };
  const o = l.l4Off;
  if (l.nonFirstFragment) {
    out.payload = Buffer.from(frame.subarray(o, l.l4End));
  } else if (l.proto === IPPROTO.tcp) {
    out.sport = frame.readUInt16BE(o);
    out.dport = frame.readUInt16BE(o + 2);
    out.seq = frame.readUInt32BE(o + 4);
    out.ack = frame.readUInt32BE(o + 8);
    out.tcpFlags = frame[o + 13]!;
    out.l4Checksum = frame.readUInt16BE(o + 16);
    out.payload = Buffer.from(frame.subarray(o + l.l4HeaderLen, l.l4End));
  } else if (l.proto === IPPROTO.udp) {
    out.sport = frame.readUInt16BE(o);
    out.dport = frame.readUInt16BE(o + 2);
    out.l4Checksum = frame.readUInt16BE(o + 6);
    out.payload = Buffer.from(frame.subarray(o + UDP_HLEN, l.l4End));
  } else if (l.proto === IPPROTO.icmp) {
    out.icmpType = frame[o]!;
    out.icmpCode = frame[o + 1]!;
    out.l4Checksum = frame.readUInt16BE(o + 2);
    out.icmpId = frame.readUInt16BE(o + 4);
    out.icmpSeq = frame.readUInt16BE(o + 6);
    out.payload = Buffer.from(frame.subarray(o + ICMP_HLEN, l.l4End));
  } else {
    out.payload = Buffer.from(frame.subarray(o, l.l4End));
  }
  return out;
}

/**
 * A copy of `frame` with the named fields changed and every checksum
 * recomputed from scratch: the exact expected output of a NAT rewrite.
 * A UDP checksum of 0 stays 0, as RFC 768 requires of anything that
 * forwards a datagram whose sender did not compute one. Ethernet padding
 * is kept as it was.
 */
export function withFields(
  frame: Buffer,
  changes: { dst?: string; src?: string; dport?: number; sport?: number; dstMac?: string; srcMac?: string },
): Buffer {
  const out = Buffer.from(frame);
  const l = locate(out, 'withFields');
  if (changes.dstMac !== undefined) macToBytes(changes.dstMac).copy(out, 0);
  if (changes.srcMac !== undefined) macToBytes(changes.srcMac).copy(out, 6);
  if (changes.src !== undefined) ipToBytes(changes.src).copy(out, l.ipOff + 12);
  if (changes.dst !== undefined) ipToBytes(changes.dst).copy(out, l.ipOff + 16);
  if (changes.sport !== undefined || changes.dport !== undefined) {
    if (l.nonFirstFragment) throw new Error('withFields: a non-first fragment has no ports to change');
    if (l.proto !== IPPROTO.tcp && l.proto !== IPPROTO.udp)
      throw new Error(`withFields: IP protocol ${l.proto} has no ports to change`);
    if (changes.sport !== undefined) out.writeUInt16BE(uint('sport', changes.sport, 0xffff), l.l4Off);
    if (changes.dport !== undefined) out.writeUInt16BE(uint('dport', changes.dport, 0xffff), l.l4Off + 2);
  }
  const udpHadChecksum = l.proto !== IPPROTO.udp || l.nonFirstFragment || out.readUInt16BE(l.l4Off + 6) !== 0;
  fillChecksums(out, udpHadChecksum);
  return out;
}

export function ipToBytes(ip: string): Buffer {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) throw new Error(`not a dotted IPv4 address: ${JSON.stringify(ip)}`);
  return Buffer.from(parts);
}

export function bytesToIp(b: Buffer): string {
  if (b.length !== 4) throw new Error(`an IPv4 address is 4 bytes, got ${b.length}`);
  return Array.from(b).join('.');
}

export function macToBytes(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new Error(`not a MAC address of the form 02:00:00:00:00:01: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

export function macToString(b: Buffer): string {
  if (b.length !== 6) throw new Error(`a MAC address is 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

interface Layout {
  ipOff: number;
  l4Off: number;
  /** End of the IP packet (frame offset); anything after is Ethernet padding. */
  l4End: number;
  proto: number;
  nonFirstFragment: boolean;
  l4HeaderLen: number;
}

function truncated(who: string, what: string, need: number, have: number): Error {
  return new Error(`${who}: frame truncated: ${what} needs ${need} bytes, frame has ${have}`);
}

// Validates everything the callers index into, so they can read without
// bounds checks.
function locate(frame: Buffer, who: string): Layout {
  const n = frame.length;
  if (n < ETH_HLEN) throw truncated(who, 'Ethernet header', ETH_HLEN, n);
  const etherType = frame.readUInt16BE(12);
  if (etherType !== ETHERTYPE_IPV4)
    throw new Error(`${who}: EtherType 0x${etherType.toString(16).padStart(4, '0')} is not IPv4`);
  const ipOff = ETH_HLEN;
  if (n < ipOff + 20) throw truncated(who, 'IPv4 header', ipOff + 20, n);
  const version = frame[ipOff]! >> 4;
  if (version !== 4) throw new Error(`${who}: IP version ${version} is not 4`);
  const hlen = (frame[ipOff]! & 0x0f) * 4;
  if (hlen < 20) throw new Error(`${who}: IHL ${hlen / 4} is below the minimum of 5`);
  if (n < ipOff + hlen) throw truncated(who, `IPv4 header with IHL ${hlen / 4}`, ipOff + hlen, n);
  const totalLength = frame.readUInt16BE(ipOff + 2);
  if (totalLength < hlen) throw new Error(`${who}: IP total length ${totalLength} is shorter than the ${hlen}-byte header`);
  if (n < ipOff + totalLength) throw truncated(who, `IP total length ${totalLength}`, ipOff + totalLength, n);
  const proto = frame[ipOff + 9]!;
  const flagsFrag = frame.readUInt16BE(ipOff + 6);
  const nonFirstFragment = (flagsFrag & IP_FRAG_MASK) !== 0;
  const l4Off = ipOff + hlen;
  const l4End = ipOff + totalLength;
  const l4Len = totalLength - hlen;
  let l4HeaderLen = 0;
  if (!nonFirstFragment) {
    const name = proto === IPPROTO.tcp ? 'TCP' : proto === IPPROTO.udp ? 'UDP' : proto === IPPROTO.icmp ? 'ICMP' : '';
    const min = proto === IPPROTO.tcp ? TCP_HLEN : proto === IPPROTO.udp ? UDP_HLEN : proto === IPPROTO.icmp ? ICMP_HLEN : 0;
    if (l4Len < min) throw truncated(who, `${name} header`, l4Off + min, l4End);
    l4HeaderLen = min;
    if (proto === IPPROTO.tcp) {
      l4HeaderLen = (frame[l4Off + 12]! >> 4) * 4;
      if (l4HeaderLen < TCP_HLEN) throw new Error(`${who}: TCP data offset ${l4HeaderLen / 4} is below the minimum of 5`);
      if (l4Len < l4HeaderLen) throw truncated(who, `TCP header with data offset ${l4HeaderLen / 4}`, l4Off + l4HeaderLen, l4End);
    }
    // A first fragment's UDP length covers the whole datagram, so only an
    // unfragmented datagram can be checked against it.
    if (proto === IPPROTO.udp && (flagsFrag & IP_FLAG_MF) === 0) {
      const udpLen = frame.readUInt16BE(l4Off + 4);
      if (udpLen < UDP_HLEN) throw new Error(`${who}: UDP length ${udpLen} is below the 8-byte header`);
      if (udpLen > l4Len) throw truncated(who, `UDP length ${udpLen}`, l4Off + udpLen, l4End);
    }
  }
  return { ipOff, l4Off, l4End, proto, nonFirstFragment, l4HeaderLen };
}

function pseudoHeader(frame: Buffer, l: Layout): Buffer {
  const p = Buffer.alloc(12);
  frame.copy(p, 0, l.ipOff + 12, l.ipOff + 20);
  p[9] = l.proto;
  p.writeUInt16BE(l.l4End - l.l4Off, 10);
  return p;
}

function fillChecksums(frame: Buffer, udpChecksum: boolean): void {
  const l = locate(frame, 'checksum');
  frame.writeUInt16BE(ipv4Checksum(frame.subarray(l.ipOff)), l.ipOff + 10);
  if (l.nonFirstFragment) return;
  if (l.proto === IPPROTO.tcp) frame.writeUInt16BE(l4Checksum(frame), l.l4Off + 16);
  else if (l.proto === IPPROTO.udp) frame.writeUInt16BE(udpChecksum ? l4Checksum(frame) : 0, l.l4Off + 6);
  else if (l.proto === IPPROTO.icmp) frame.writeUInt16BE(l4Checksum(frame), l.l4Off + 2);
}

function uint(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${name} must be an integer in 0..${max}, got ${v}`);
  return v;
}
