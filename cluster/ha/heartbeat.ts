// HA heartbeats on the wire: what a node tells its peer every interval, sealed with a key both share, so a stranger
// on the segment can neither pose as the peer nor make a node resign, and a captured heartbeat cannot be replayed.
// Pure: encoding and verification; the socket is in ./wire.ts.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What the sender is doing: active holds the lease; leaving handed it over and only drains. */
export type HeartbeatRole = 'active' | 'standby' | 'leaving';

export interface Heartbeat {
  pair: string;
  nodeId: string;
  /** Random per daemon start: sequence numbers count within one boot. */
  boot: string;
  seq: number;
  /** The sender's wall clock, ms since the epoch: bounds how old a heartbeat may be. */
  time: number;
  role: HeartbeatRole;
  /** The lease epoch the sender knows (holds, when active). */
  epoch: number;
  /** Digest of the sender's tables (see lb/plan/digest.ts). */
  digest: string;
  /** Whether the sender reaches Redis now. */
  redis: boolean;
  /** Whether the sender could serve (interfaces up, program attached, a healthy backend). */
  serveable: boolean;
}

const MAGIC = Buffer.from('XLBH1');
const MAC_BYTES = 32;
/** Far above a heartbeat's size: anything larger is not one. */
export const MAX_HEARTBEAT_BYTES = 1024;

export function sealHeartbeat(h: Heartbeat, key: Buffer): Buffer {
  const body = Buffer.concat([MAGIC, Buffer.from(JSON.stringify(h))]);
  return Buffer.concat([body, mac(key, body)]);
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/** Why a datagram was not taken as the peer's heartbeat. */
export type Rejection = 'malformed' | 'forged' | 'other-pair' | 'self' | 'stale' | 'replayed';

export type Verdict = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: Rejection };

const ROLES: readonly HeartbeatRole[] = ['active', 'standby', 'leaving'];

function wellFormed(v: unknown): v is Heartbeat {
  if (v === null || typeof v !== 'object') return false;
  const h = v as Record<string, unknown>;
  const str = (k: string) => typeof h[k] === 'string' && (h[k] as string).length > 0 && (h[k] as string).length <= 128;
  const int = (k: string) => Number.isSafeInteger(h[k]) && (h[k] as number) >= 0;
  return str('pair') && str('nodeId') && str('boot') && str('digest') && int('seq') && int('time') && int('epoch') &&
    ROLES.includes(h.role as HeartbeatRole) && typeof h.redis === 'boolean' && typeof h.serveable === 'boolean';
}

/**
 * Accepts a peer's heartbeats once each and in order. A heartbeat counts only if it is sealed with the key, names
 * this pair and another node, is at most `windowMs` from this node's wall clock, and is newer than the last one taken
 * from that node: a higher sequence number within a boot, or a later time from a new boot (a restarted peer). A
 * replay of any earlier heartbeat fails one of these.
 */
export class HeartbeatVerifier {
  private readonly last = new Map<string, { boot: string; seq: number; time: number }>();
  readonly rejected: Record<Rejection, number> = {
    malformed: 0, forged: 0, 'other-pair': 0, self: 0, stale: 0, replayed: 0,
  };

  constructor(private readonly key: Buffer, private readonly pair: string, private readonly nodeId: string,
    private readonly windowMs: number) {}

  verify(datagram: Buffer, nowMs: number): Verdict {
    const verdict = this.judge(datagram, nowMs);
    if (!verdict.ok) this.rejected[verdict.reason]++;
    return verdict;
  }

  private judge(datagram: Buffer, nowMs: number): Verdict {
    if (datagram.length < MAGIC.length + MAC_BYTES + 2 || datagram.length > MAX_HEARTBEAT_BYTES ||
      !datagram.subarray(0, MAGIC.length).equals(MAGIC)) {
      return { ok: false, reason: 'malformed' };
    }
    const body = datagram.subarray(0, datagram.length - MAC_BYTES);
    if (!timingSafeEqual(mac(this.key, body), datagram.subarray(datagram.length - MAC_BYTES))) {
      return { ok: false, reason: 'forged' };
    }
    let h: unknown;
    try {
      h = JSON.parse(body.subarray(MAGIC.length).toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (!wellFormed(h)) return { ok: false, reason: 'malformed' };
    if (h.pair !== this.pair) return { ok: false, reason: 'other-pair' };
    if (h.nodeId === this.nodeId) return { ok: false, reason: 'self' };
    if (Math.abs(nowMs - h.time) > this.windowMs) return { ok: false, reason: 'stale' };
    const last = this.last.get(h.nodeId);
    if (last && (h.boot === last.boot ? h.seq <= last.seq : h.time <= last.time)) return { ok: false, reason: 'replayed' };
    this.last.set(h.nodeId, { boot: h.boot, seq: h.seq, time: h.time });
    return { ok: true, heartbeat: h };
  }
}
