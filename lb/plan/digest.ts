// A digest of what a plan makes the data plane do with a new flow: each service's table as the backends it names (by
// address and port, not by index: indexes follow each node's history), its flags, and the ACLs. Two nodes whose
// digests match send every new flow to the same backend, which is what lets established flows survive a failover.
// Tables are hashed as arrays of backend ranks, not as text: a pool at the data plane's limit holds millions of entries.
import { createHash } from 'node:crypto';
import type { Plan } from './planner.js';

export function planDigest(plan: Plan): string {
  const where = new Map(plan.backends.map((b) => [b.index, `${b.value.addr}:${b.value.port}`]));
  const rank = new Map([...new Set(where.values())].sort().map((id, i) => [id, i]));
  const rankOf = new Map([...where].map(([index, id]) => [index, rank.get(id)!]));
  const named = (s: Plan['services'][number]) => `${s.key.proto}/${s.key.vip}:${s.key.port}`;
  const byId = new Map(plan.services.map((s) => [s.id, named(s)]));
  const h = createHash('sha256');
  h.update(JSON.stringify([...rank.keys()]));
  for (const s of [...plan.services].sort((a, b) => (named(a) < named(b) ? -1 : named(a) > named(b) ? 1 : 0))) {
    h.update(`\n${named(s)} ${s.flags} ${s.table.length}\n`);
    h.update(Uint32Array.from(s.table, (i) => rankOf.get(i) ?? 0xffffffff));
  }
  h.update(JSON.stringify({
    allow: plan.allow.map((a) => `${byId.get(a.service)} ${a.prefix.addr}/${a.prefix.length}`).sort(),
    deny: plan.deny.map((p) => `${p.addr}/${p.length}`).sort(),
  }));
  return h.digest('hex').slice(0, 16);
}
