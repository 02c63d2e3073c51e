// A digest of what a plan makes the data plane do with a new flow: each service's table as the backends it names (by
// address and port, not by index: indexes follow each node's history), its flags, and the ACLs. Two nodes whose
// digests match send every new flow to the same backend, which is what lets established flows survive a failover.
import { createHash } from 'node:crypto';
import type { Plan } from './planner.js';

export function planDigest(plan: Plan): string {
  const where = new Map(plan.backends.map((b) => [b.index, `${b.value.addr}:${b.value.port}`]));
  const services = plan.services
    .map((s) => [`${s.key.proto}/${s.key.vip}:${s.key.port}`, s.flags, s.table.map((i) => where.get(i) ?? `#${i}`)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const byId = new Map(plan.services.map((s) => [s.id, `${s.key.proto}/${s.key.vip}:${s.key.port}`]));
  const allow = plan.allow.map((a) => `${byId.get(a.service)} ${a.prefix.addr}/${a.prefix.length}`).sort();
  const deny = plan.deny.map((p) => `${p.addr}/${p.length}`).sort();
  return createHash('sha256').update(JSON.stringify({ services, allow, deny })).digest('hex').slice(0, 16);
}
