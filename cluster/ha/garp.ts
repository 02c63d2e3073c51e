// Gratuitous ARP on takeover: the frames (a request and a reply per address, as Linux and keepalived send them) and
// when to send them again. Pure; the node sends each frame out of its interface with the data plane's transmit path.
//
// Again after ~1.1 s, because Linux ignores a second update of a neighbour within its 1 s locktime (a first one may
// have raced a reply from the old owner); again at ~5 s for hosts that missed both; then a slow refresh.

/** Offsets from the takeover, then the refresh period, in ms. */
export const GARP_SCHEDULE = { afterMs: [0, 1100, 5000], refreshMs: 30_000 } as const;

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const ETH_P_ARP = 0x0806;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;
/** Ethernet (14) + ARP for IPv4 over Ethernet (28), padded to the 60-byte minimum frame. */
const FRAME_BYTES = 60;

function mac(text: string): Buffer {
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

function ipv4(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

/**
 * A gratuitous ARP frame announcing that `address` is at `ownMac`: sender and target address are both `address`; a
 * request asks nobody in particular (target MAC zero), a reply is sent to all.
 */
export function gratuitousArp(kind: 'request' | 'reply', address: string, ownMac: string): Buffer {
  const f = Buffer.alloc(FRAME_BYTES);
  mac(BROADCAST).copy(f, 0);
  mac(ownMac).copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // hardware: Ethernet
  f.writeUInt16BE(0x0800, 16); // protocol: IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(kind === 'request' ? ARP_REQUEST : ARP_REPLY, 20);
  mac(ownMac).copy(f, 22);
  ipv4(address).copy(f, 28);
  (kind === 'reply' ? mac(BROADCAST) : Buffer.alloc(6)).copy(f, 32);
  ipv4(address).copy(f, 38);
  return f;
}

/** When (ms after the takeover) the announcement that follows `elapsedMs` is due. */
export function nextAnnouncement(elapsedMs: number): number {
  for (const at of GARP_SCHEDULE.afterMs) if (at > elapsedMs) return at;
  const last = GARP_SCHEDULE.afterMs.at(-1)!;
  return last + (Math.floor((elapsedMs - last) / GARP_SCHEDULE.refreshMs) + 1) * GARP_SCHEDULE.refreshMs;
}
