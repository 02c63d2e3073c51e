// The pair's lease in Redis: one key holding "NODE EPOCH", set with an expiry; the epoch (a fencing token) is counted
// in its own key and only ever grows. Every step is one Lua script, so no two nodes interleave:
//
//   <prefix>:ha:<pair>:lease      "lb-a 17", PX = the lease
//   <prefix>:ha:<pair>:epoch      17
//   <prefix>:ha:<pair>:handover   "lb-b", PX a few seconds: the lease was released to that node (switchover)
import type { Redis } from 'ioredis';

/**
 * Takes a free lease (unless handed over to another node) at the next epoch -> [1, epoch]; resumes this node's own
 * lease, left by its previous daemon, at its epoch -> [2, epoch]; else -> [0, holder].
 */
const ACQUIRE = `
local held = redis.call('GET', KEYS[1])
if held then
  local node, epoch = string.match(held, '^(%S+) (%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {2, tonumber(epoch)}
  end
  return {0, held}
end
local to = redis.call('GET', KEYS[3])
if to and to ~= ARGV[1] then return {0, 'handover to ' .. to} end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
return {1, epoch}`;

/** Extends the lease if it is still "NODE EPOCH". -> 1, or the holder now ('' when none). */
const RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return v or ''`;

/** Drops the lease if it is still "NODE EPOCH"; with a peer named, hands it over to that peer. -> 1 or 0. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1`;

/** How long a handover waits for the named peer before any node may take the lease. */
const HANDOVER_MS = 3000;

export interface Holder {
  nodeId: string;
  epoch: number;
}

/** `resumed`: the lease was already this node's (a restarted daemon), kept at its epoch. */
export type Acquired = { ok: true; epoch: number; resumed: boolean } | { ok: false; holder?: Holder; why: string };
export type Renewed = { ok: true } | { ok: false; holder?: Holder };

export function parseHolder(v: string): Holder | undefined {
  const m = /^(\S+) (\d+)$/.exec(v);
  return m ? { nodeId: m[1]!, epoch: Number(m[2]) } : undefined;
}

export class Lease {
  private readonly keys: { lease: string; epoch: string; handover: string };

  constructor(private readonly redis: Redis, prefix: string, pair: string, private readonly nodeId: string,
    private readonly leaseMs: number) {
    const base = `${prefix}:ha:${pair}`;
    this.keys = { lease: `${base}:lease`, epoch: `${base}:epoch`, handover: `${base}:handover` };
  }

  async acquire(): Promise<Acquired> {
    const [ok, v] = await this.redis.eval(ACQUIRE, 3, this.keys.lease, this.keys.epoch, this.keys.handover,
      this.nodeId, this.leaseMs) as [number, string | number];
    if (ok === 1 || ok === 2) return { ok: true, epoch: Number(v), resumed: ok === 2 };
    const holder = parseHolder(String(v));
    return holder ? { ok: false, holder, why: `held by ${holder.nodeId} at epoch ${holder.epoch}` } : { ok: false, why: String(v) };
  }

  async renew(epoch: number): Promise<Renewed> {
    const v = await this.redis.eval(RENEW, 1, this.keys.lease, `${this.nodeId} ${epoch}`, this.leaseMs) as number | string;
    if (v === 1) return { ok: true };
    const holder = parseHolder(String(v));
    return holder ? { ok: false, holder } : { ok: false };
  }

  /** Releases the lease held at `epoch`, to `peer` when given. False if it was not this node's any more. */
  async release(epoch: number, peer?: string): Promise<boolean> {
    const v = await this.redis.eval(RELEASE, 2, this.keys.lease, this.keys.handover, `${this.nodeId} ${epoch}`,
      peer ?? '', HANDOVER_MS);
    return v === 1;
  }

  /** Who holds the lease now, if anyone, and how long it has left (ms). */
  async holder(): Promise<(Holder & { ttlMs: number }) | undefined> {
    const [[, v], [, ttl]] = await this.redis.multi().get(this.keys.lease).pttl(this.keys.lease).exec() as
      [[unknown, string | null], [unknown, number]];
    const holder = v === null ? undefined : parseHolder(v);
    return holder && { ...holder, ttlMs: ttl };
  }
}
