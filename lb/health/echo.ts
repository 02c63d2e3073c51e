// ICMP echo as bytes, for the ICMP health probe: the request it sends, and what a packet read from a raw ICMP socket
// (IPv4 header first) says about one: an echo reply, or an error (unreachable, time exceeded) quoting the request.
// Pure: no sockets.

export const ICMP = { ECHO_REPLY: 0, DEST_UNREACH: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAMETER_PROBLEM: 12 } as const;

/** The ICMP types the probe's socket needs to see; the kernel filters out the others. */
export const PROBE_TYPES: readonly number[] = [ICMP.ECHO_REPLY, ICMP.DEST_UNREACH, ICMP.TIME_EXCEEDED, ICMP.PARAMETER_PROBLEM];

/** Bytes of the request's payload: a cookie of the socket that sent it, so a stranger's echo is never taken for ours. */
export const COOKIE_BYTES = 8;
export const REQUEST_BYTES = 8 + COOKIE_BYTES;

/** An IPv4 address as an unsigned 32-bit number (network order, as read from a header). */
export function ipv4Number(address: string): number {
  let n = 0;
  for (const part of address.split('.')) n = n * 256 + Number(part);
  return n;
}

export function ipv4String(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The Internet checksum (RFC 1071) of buf[start, end). */
export function internetChecksum(buf: Buffer, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += buf.readUInt16BE(i);
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Writes an echo request (identifier `id`, sequence `seq`, payload `cookie`) at the start of `buf`; its length. */
export function writeEchoRequest(buf: Buffer, id: number, seq: number, cookie: Buffer): number {
  buf[0] = ICMP.ECHO_REQUEST;
  buf[1] = 0;
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(id, 4);
  buf.writeUInt16BE(seq, 6);
  cookie.copy(buf, 8, 0, COOKIE_BYTES);
  buf.writeUInt16BE(internetChecksum(buf, 0, REQUEST_BYTES), 2);
  return REQUEST_BYTES;
}

/**
 * What a received packet says about an echo request of identifier `id`: `reply` (an echo reply from `from`),
 * `error` (an ICMP error from `from` about the request sent to `to`, `what` in words), or undefined: not about ours
 * (another identifier or cookie, a bad checksum, a truncated or malformed packet).
 */
export type Received =
  | { kind: 'reply'; seq: number; from: number }
  | { kind: 'error'; seq: number; from: number; to: number; what: string };

export function readReceived(packet: Buffer, length: number, id: number, cookie: Buffer): Received | undefined {
  if (length < 20 || packet[0]! >> 4 !== 4 || packet[9] !== 1) return undefined;
  const ihl = (packet[0]! & 15) * 4;
  const icmp = ihl;
  if (ihl < 20 || length < icmp + 8) return undefined;
  if (internetChecksum(packet, icmp, length) !== 0) return undefined;
  const from = packet.readUInt32BE(12);
  const type = packet[icmp]!;
  if (type === ICMP.ECHO_REPLY) {
    if (packet.readUInt16BE(icmp + 4) !== id || length < icmp + REQUEST_BYTES) return undefined;
    if (packet.compare(cookie, 0, COOKIE_BYTES, icmp + 8, icmp + REQUEST_BYTES) !== 0) return undefined;
    return { kind: 'reply', seq: packet.readUInt16BE(icmp + 6), from };
  }
  if (type !== ICMP.DEST_UNREACH && type !== ICMP.TIME_EXCEEDED && type !== ICMP.PARAMETER_PROBLEM) return undefined;
  // The error quotes our request: its IPv4 header, then (at least) the first 8 bytes of the echo request.
  const inner = icmp + 8;
  if (length < inner + 20 || packet[inner]! >> 4 !== 4 || packet[inner + 9] !== 1) return undefined;
  const quoted = inner + (packet[inner]! & 15) * 4;
  if (length < quoted + 8 || packet[quoted] !== ICMP.ECHO_REQUEST || packet.readUInt16BE(quoted + 4) !== id) {
    return undefined;
  }
  return {
    kind: 'error', seq: packet.readUInt16BE(quoted + 6), from, to: packet.readUInt32BE(inner + 16),
    what: describeError(type, packet[icmp + 1]!),
  };
}

const UNREACHABLE: Record<number, string> = {
  0: 'network unreachable',
  1: 'host unreachable',
  2: 'protocol unreachable',
  3: 'port unreachable',
  4: 'fragmentation needed',
  5: 'source route failed',
  6: 'destination network unknown',
  7: 'destination host unknown',
  9: 'network administratively prohibited',
  10: 'host administratively prohibited',
  11: 'network unreachable for TOS',
  12: 'host unreachable for TOS',
  13: 'communication administratively prohibited',
  14: 'host precedence violation',
  15: 'precedence cutoff in effect',
};

/** An ICMP error in words, as ping names them ("host unreachable", "time to live exceeded"). */
export function describeError(type: number, code: number): string {
  if (type === ICMP.DEST_UNREACH) return UNREACHABLE[code] ?? `destination unreachable (code ${code})`;
  if (type === ICMP.TIME_EXCEEDED) return code === 0 ? 'time to live exceeded' : 'fragment reassembly time exceeded';
  if (type === ICMP.PARAMETER_PROBLEM) return 'parameter problem';
  return `ICMP type ${type} code ${code}`;
}
