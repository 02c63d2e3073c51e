// The pool's rules: what a service, a backend, the deny list and the pool as a whole must be (unique names and
// services, a nat backend in one service only, no VIP as a backend, the data plane's capacities). Every source of a
// pool is judged by them: the config file (document.ts), a pool document from Redis (checkPool), and the pool a live
// edit would make (poolProblems).
import { healthDocument, readHealth } from './health.js';
import { CAPACITY } from './limits.js';
import {
  FORWARDINGS, PROTOCOLS, SCHEDULERS,
  type BackendSpec, type Forwarding, type Pool, type Protocol, type ServiceSpec,
} from './pool.js';
import { at, type Problem } from './problem.js';
import { given, Reader, type Mapping } from './reader.js';
import { DEFAULTS } from './types.js';
import { formatEndpoint, parseHostAddress, parseMac, parsePort, parseServiceName, parseWeight } from './values.js';

export const POOL_KEYS = ['deny', 'services'] as const;
const SERVICE_KEYS = ['name', 'vip', 'protocol', 'port', 'scheduler', 'forwarding', 'allow', 'health', 'backends'] as const;
const BACKEND_KEYS = ['address', 'port', 'weight', 'mac', 'drained'] as const;

/**
 * Checks a pool given as plain data (e.g. parsed JSON): a mapping of `services` and `deny`, written as the config file
 * writes them. Returns the typed Pool, or every problem with its path (`services[0].backends[1].address: ...`).
 */
export function checkPool(data: unknown): { pool?: Pool; problems: Problem[] } {
  const r = new Reader();
  const m = r.mapping(data, '', POOL_KEYS);
  const pool = m && readPool(r, m);
  return r.problems.length === 0 ? { pool, problems: [] } : { problems: r.problems };
}

/** Every problem of a typed pool (e.g. the result of a live edit), judged exactly as the config file's pool is. */
export function poolProblems(pool: Pool): Problem[] {
  return checkPool(poolDocument(pool)).problems;
}

/** A Pool as the config writes it: checkPool() reads it back as the same pool. */
export function poolDocument(pool: Pool): Mapping {
  return {
    deny: pool.deny,
    services: pool.services.map((s) => ({
      name: s.name, vip: s.vip, protocol: s.protocol, port: s.port, scheduler: s.scheduler, forwarding: s.forwarding,
      allow: s.allow, health: healthDocument(s.health),
      backends: s.backends.map((b) => ({ address: b.address, port: b.port, weight: b.weight, mac: b.mac, drained: b.drained })),
    })),
  };
}

/** The `deny` and `services` of a mapping whose keys were already checked (the pool document, or the config file). */
export function readPool(r: Reader, m: Mapping): Pool | undefined {
  const deny = given(m, 'deny') ? r.cidrs(m.deny, 'deny') : [];
  const services = given(m, 'services') ? readServices(r, m.services) : [];
  if (deny && deny.length > CAPACITY.denyPrefixes) {
    r.add('deny', `${deny.length} entries, more than the ${CAPACITY.denyPrefixes} the data plane holds`);
  }
  return r.problems.length === 0 ? { services: services!, deny: deny! } : undefined;
}

/** What the backends' checks need of their service; each undefined when it is wrong. */
interface ServiceFacts {
  name?: string;
  index: number;
  vip?: string;
  protocol?: Protocol;
  /** undefined for icmp; null when the service's port is missing or wrong. */
  port?: number | null;
  forwarding?: Forwarding;
}

/** What the rules across services remember while the list is read. */
interface Seen {
  names: Map<string, number>;
  /** `tcp 198.18.0.10:80` -> the service serving it. */
  ids: Map<string, { index: number; name?: string }>;
  /** nat backends by `address:port/proto`: whose replies the data plane translates back. */
  natBackends: Map<string, { index: number; name?: string }>;
  /** VIP -> the first service on it. */
  vips: Map<string, { index: number; name?: string }>;
  /** Every well-formed backend address, to hold against the VIPs once all are known. */
  backendAddresses: { address: string; path: string; service: number }[];
  backends: number;
  allow: number;
}

function readServices(r: Reader, v: unknown): ServiceSpec[] | undefined {
  const items = r.list(v, 'services');
  if (!items) return undefined;
  const seen: Seen = {
    names: new Map(), ids: new Map(), natBackends: new Map(), vips: new Map(), backendAddresses: [], backends: 0, allow: 0,
  };
  const services = items.map((item, i) => r.clean(() => readService(r, item, i, seen))!);
  for (const b of seen.backendAddresses) {
    const owner = seen.vips.get(b.address);
    if (owner && owner.index !== b.service) {
      r.add(b.path, `${b.address} is the vip of "${owner.name}" (${at('services', owner.index)}); a backend has its own address`);
    }
  }
  if (items.length > CAPACITY.services) {
    r.add('services', `${items.length} services, more than the ${CAPACITY.services} the data plane holds`);
  }
  if (seen.backends > CAPACITY.backends) {
    r.add('services', `${seen.backends} backends over all services, more than the ${CAPACITY.backends} the data plane holds`);
  }
  if (seen.allow > CAPACITY.allowPrefixes) {
    r.add('services', `${seen.allow} allow entries over all services, more than the ${CAPACITY.allowPrefixes} the data plane holds`);
  }
  return services;
}

function readService(r: Reader, item: unknown, i: number, seen: Seen): ServiceSpec | undefined {
  const path = at('services', i);
  const m = r.mapping(item, path, SERVICE_KEYS);
  if (!m) return undefined;
  const name = given(m, 'name') ? readServiceName(r, m.name, at(path, 'name')) : r.add(at(path, 'name'), 'required');
  if (name !== undefined) {
    const first = seen.names.get(name);
    if (first === undefined) seen.names.set(name, i);
    else r.add(at(path, 'name'), `"${name}" is already the name of ${at('services', first)}`);
  }
  const vip = given(m, 'vip') ? r.check(parseHostAddress(m.vip), at(path, 'vip')) : r.add(at(path, 'vip'), 'required');
  if (vip !== undefined && !seen.vips.has(vip)) seen.vips.set(vip, { index: i, name });
  const protocol = given(m, 'protocol') ? r.oneOf(m.protocol, at(path, 'protocol'), PROTOCOLS)
    : r.add(at(path, 'protocol'), `required: ${PROTOCOLS.join(', ')}`);
  let port: number | undefined;
  if (protocol === 'icmp') {
    if (given(m, 'port')) r.add(at(path, 'port'), 'icmp services have no port');
  } else if (protocol !== undefined) {
    port = given(m, 'port') ? r.check(parsePort(m.port), at(path, 'port'))
      : r.add(at(path, 'port'), `required for ${protocol} services`);
  }
  const scheduler = given(m, 'scheduler') ? r.oneOf(m.scheduler, at(path, 'scheduler'), SCHEDULERS) : DEFAULTS.scheduler;
  const forwarding = given(m, 'forwarding') ? r.oneOf(m.forwarding, at(path, 'forwarding'), FORWARDINGS)
    : DEFAULTS.forwarding;
  const allow = given(m, 'allow') ? r.cidrs(m.allow, at(path, 'allow')) : [];
  seen.allow += allow?.length ?? 0;

  if (vip !== undefined && protocol !== undefined && (protocol === 'icmp' || port !== undefined)) {
    const id = protocol === 'icmp' ? `icmp ${vip}` : `${protocol} ${formatEndpoint(vip, port)}`;
    const other = seen.ids.get(id);
    if (other) r.add(path, `${id} is already served by "${other.name}" (${at('services', other.index)})`);
    else seen.ids.set(id, { index: i, name });
  }

  const health = readHealth(r, m.health, at(path, 'health'), protocol);
  const portKnown = protocol === 'icmp' || port !== undefined;
  const backends = given(m, 'backends') ? readBackends(r, m.backends, path,
    { name, index: i, vip, protocol, port: portKnown ? port : null, forwarding }, seen) : [];

  return {
    name: name!, vip: vip!, protocol: protocol!, ...(port !== undefined && { port }), scheduler: scheduler!,
    forwarding: forwarding!, allow: allow!, health: health!, backends: backends!,
  };
}

function readServiceName(r: Reader, v: unknown, path: string): string | undefined {
  const s = r.string(v, path);
  return s === undefined ? undefined : r.check(parseServiceName(s), path);
}

function readBackends(r: Reader, v: unknown, servicePath: string, service: ServiceFacts, seen: Seen): BackendSpec[] | undefined {
  const path = at(servicePath, 'backends');
  const items = r.list(v, path);
  if (!items) return undefined;
  seen.backends += items.length;
  const here = new Map<string, number>();
  return items.map((item, j) => {
    const bpath = at(path, j);
    const m = r.mapping(item, bpath, BACKEND_KEYS);
    if (!m) return undefined!;
    let address = given(m, 'address') ? r.check(parseHostAddress(m.address), at(bpath, 'address'))
      : r.add(at(bpath, 'address'), 'required');
    if (address !== undefined && address === service.vip) {
      address = r.add(at(bpath, 'address'), `${address} is the service's vip; a backend has its own address`);
    }
    if (address !== undefined) seen.backendAddresses.push({ address, path: at(bpath, 'address'), service: service.index });
    let port: number | undefined;
    let portOk = true;
    if (given(m, 'port')) {
      if (service.protocol === 'icmp') {
        r.add(at(bpath, 'port'), 'icmp services have no port');
        portOk = false;
      } else {
        port = r.check(parsePort(m.port), at(bpath, 'port'));
        portOk = port !== undefined;
        const servicePort = service.port;
        const moved = typeof servicePort === 'number' && port !== undefined && port !== servicePort;
        if (moved && service.forwarding === 'dsr') {
          r.add(at(bpath, 'port'), `dsr cannot change the port: leave it out, or make it ${servicePort}`);
          portOk = false;
        }
      }
    }
    const weight = given(m, 'weight') ? r.check(parseWeight(m.weight), at(bpath, 'weight')) : DEFAULTS.weight;
    const mac = given(m, 'mac') ? r.check(parseMac(m.mac), at(bpath, 'mac')) : undefined;
    const drained = given(m, 'drained') ? r.boolean(m.drained, at(bpath, 'drained')) : false;

    // The port it receives on: its own, else the service's; none for icmp. Unknown when either is wrong.
    const effective = service.protocol === 'icmp' ? 0 : portOk ? port ?? service.port : undefined;
    if (address !== undefined && typeof effective === 'number' && service.protocol !== undefined) {
      const where = formatEndpoint(address, effective);
      const first = here.get(where);
      if (first !== undefined) r.add(bpath, `${where} is already a backend of this service (${at(path, first)})`);
      else here.set(where, j);
      if (service.forwarding === 'nat' && service.protocol !== 'icmp') {
        const key = `${where}/${service.protocol}`;
        const other = seen.natBackends.get(key);
        if (other && other.index !== service.index) {
          r.add(bpath, `${key} already serves nat service "${other.name}" (${at('services', other.index)}): ` +
            'its replies could not be told apart; give it one service, or another port');
        } else if (!other) seen.natBackends.set(key, { index: service.index, name: service.name });
      }
    }
    return {
      address: address!, ...(port !== undefined && { port }), weight: weight!, ...(mac !== undefined && { mac }),
      drained: drained!,
    };
  });
}
