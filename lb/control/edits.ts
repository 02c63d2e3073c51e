// Live edits of the pool from lbctl, as pure functions: each returns a new pool that passes the pool's rules (the
// same config check applies, config/poolrules.ts), or throws an XlbError that says what is wrong. The daemon applies
// the result whole or not at all.
import type { BackendChange, BackendRef } from './api.js';
import { XlbError } from '../errors.js';
import { backendPort, type BackendSpec, type Pool, type ServiceSpec } from '../../config/pool.js';
import { poolProblems } from '../../config/poolrules.js';
import { DEFAULTS } from '../../config/types.js';
import { formatEndpoint } from '../../config/values.js';

function findService(pool: Pool, name: string): ServiceSpec {
  const s = pool.services.find((x) => x.name === name);
  if (!s) {
    const known = pool.services.map((x) => x.name).join(', ') || 'none';
    throw new XlbError('XLB_NOT_FOUND', `no service "${name}" (services: ${known})`);
  }
  return s;
}

function matches(s: ServiceSpec, b: BackendSpec, ref: BackendRef): boolean {
  return b.address === ref.address && (ref.port === undefined || backendPort(s, b) === ref.port);
}

function withService(pool: Pool, name: string, change: (s: ServiceSpec) => ServiceSpec): Pool {
  return { ...pool, services: pool.services.map((s) => (s.name === name ? change(s) : s)) };
}

function findBackend(s: ServiceSpec, ref: BackendRef): BackendSpec {
  const found = s.backends.filter((b) => matches(s, b, ref));
  if (found.length === 0) {
    throw new XlbError('XLB_NOT_FOUND', `service "${s.name}" has no backend ${formatEndpoint(ref.address, ref.port)}`);
  }
  if (found.length > 1) {
    throw new XlbError('XLB_BAD_REQUEST', `service "${s.name}" has ${found.length} backends at ${ref.address}: give the port`);
  }
  return found[0];
}

/** `pool` if the pool's rules accept it; else XLB_CONFIG_INVALID naming the edit, with every problem. */
function checked(pool: Pool, edit: string): Pool {
  const problems = poolProblems(pool);
  if (problems.length === 0) return pool;
  throw new XlbError('XLB_CONFIG_INVALID', `cannot ${edit}; nothing changed`, { problems });
}

export function addBackend(pool: Pool, change: BackendChange): Pool {
  const s = findService(pool, change.service);
  const backend: BackendSpec = { address: change.address, weight: change.weight ?? DEFAULTS.weight, drained: false };
  if (change.port !== undefined) backend.port = change.port;
  const endpoint = formatEndpoint(change.address, change.port);
  if (s.backends.some((b) => backendPort(s, b) === backendPort(s, backend) && b.address === backend.address)) {
    throw new XlbError('XLB_CONFLICT', `service "${s.name}" already has backend ${endpoint}`);
  }
  return checked(withService(pool, s.name, (x) => ({ ...x, backends: [...x.backends, backend] })),
    `add backend ${endpoint} to "${s.name}"`);
}

export function removeBackend(pool: Pool, ref: BackendRef): Pool {
  const s = findService(pool, ref.service);
  const gone = findBackend(s, ref);
  return checked(withService(pool, s.name, (x) => ({ ...x, backends: x.backends.filter((b) => b !== gone) })),
    `remove backend ${formatEndpoint(ref.address, ref.port)} from "${s.name}"`);
}

export function setDrained(pool: Pool, ref: BackendRef, drained: boolean): Pool {
  const s = findService(pool, ref.service);
  const target = findBackend(s, ref);
  return checked(withService(pool, s.name, (x) => ({
    ...x,
    backends: x.backends.map((b) => (b === target ? { ...b, drained } : b)),
  })), `${drained ? 'drain' : 'undrain'} backend ${formatEndpoint(ref.address, ref.port)} of "${s.name}"`);
}

export function addDeny(pool: Pool, cidr: string): Pool {
  if (pool.deny.includes(cidr)) throw new XlbError('XLB_CONFLICT', `${cidr} is already denied`);
  return checked({ ...pool, deny: [...pool.deny, cidr] }, `deny ${cidr}`);
}

export function removeDeny(pool: Pool, cidr: string): Pool {
  if (!pool.deny.includes(cidr)) throw new XlbError('XLB_NOT_FOUND', `${cidr} is not in the deny list (${pool.deny.join(', ') || 'empty'})`);
  return checked({ ...pool, deny: pool.deny.filter((c) => c !== cidr) }, `stop denying ${cidr}`);
}
