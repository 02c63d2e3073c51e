// How each backend is reached: the egress interface and next-hop MAC, from the kernel's routes and neighbour table,
// so an operator never types a MAC for a backend on a connected network.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { NextHop } from '../plan/planner.js';

const run = promisify(execFile);

/** Neighbour states whose MAC can be used (iproute2's names). */
const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

interface RouteJson { dev: string; gateway?: string; prefsrc?: string }
interface NeighJson { dst: string; dev: string; lladdr?: string; state?: string[] }
interface LinkJson { ifname: string; ifindex: number; address: string }
interface AddrJson { addr_info: { family: string; local: string }[] }

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run('ip', ['-j', ...args]);
  return JSON.parse(stdout || '[]') as T;
}

export interface Resolution {
  hop?: NextHop;
  /** Why there is no hop yet, for status and logs. */
  problem?: string;
}

/**
 * Resolves backends to next hops on the XDP interfaces. A backend whose neighbour is not known yet gets a datagram to
 * the discard port, which makes the kernel resolve it; the next refresh picks the MAC up.
 */
export class NextHops {
  private readonly hops = new Map<string, Resolution>();
  private ownAddresses: string[] = [];

  constructor(private readonly interfaces: string[], private readonly log: Logger) {}

  get(address: string): NextHop | undefined {
    return this.hops.get(address)?.hop;
  }

  /** The node's own IPv4 addresses, as of the last refresh. */
  get local(): readonly string[] {
    return this.ownAddresses;
  }

  /** Refreshes until every address has a next hop or `ms` have passed (new neighbours take an ARP round trip). */
  async settle(addresses: ReadonlySet<string>, configured: ReadonlyMap<string, string>, ms: number): Promise<void> {
    const until = Date.now() + ms;
    await this.refresh(addresses, configured);
    while ([...addresses].some((a) => !this.get(a)) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await this.refresh(addresses, configured);
    }
  }

  /** Refreshes every address; resolves true when any resolution changed. */
  async refresh(addresses: Iterable<string>, configured: ReadonlyMap<string, string>): Promise<boolean> {
    const links = new Map((await ipJson<LinkJson[]>(['link', 'show'])).map((l) => [l.ifname, l]));
    const neighbours = await ipJson<NeighJson[]>(['neigh', 'show']);
    const own = (await ipJson<AddrJson[]>(['-4', 'addr', 'show']))
      .flatMap((i) => i.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)).sort();
    let changed = own.join() !== this.ownAddresses.join();
    this.ownAddresses = own;
    const wanted = new Set(addresses);
    for (const address of wanted) {
      const next = await this.resolve(address, configured.get(address), links, neighbours);
      const before = this.hops.get(address);
      if (JSON.stringify(before) !== JSON.stringify(next)) {
        changed = true;
        if (next.hop) this.log.info({ backend: address, ...next.hop }, `next hop of ${address}: ${next.hop.mac}`);
        else this.log.warn({ backend: address, problem: next.problem }, `no next hop for ${address}: ${next.problem}`);
      }
      this.hops.set(address, next);
    }
    for (const address of [...this.hops.keys()]) {
      if (!wanted.has(address)) {
        this.hops.delete(address);
        changed = true;
      }
    }
    return changed;
  }

  private async resolve(address: string, mac: string | undefined, links: Map<string, LinkJson>,
    neighbours: NeighJson[]): Promise<Resolution> {
    let route: RouteJson | undefined;
    try {
      [route] = await ipJson<RouteJson[]>(['route', 'get', address]);
    } catch (err) {
      return { problem: `no route: ${(err as Error).message.split('\n')[0]}` };
    }
    if (!route) return { problem: 'no route' };
    const link = links.get(route.dev);
    if (!link) return { problem: `route through unknown interface ${route.dev}` };
    if (!this.interfaces.includes(route.dev)) {
      return { problem: `reached through ${route.dev}, which is not in node.interfaces` };
    }
    const via = route.gateway ?? address;
    const known = mac ?? neighbours.find((n) => n.dst === via && n.dev === route!.dev && n.lladdr &&
      (n.state ?? ['PERMANENT']).some((s) => USABLE.has(s)))?.lladdr;
    if (!known) {
      poke(via);
      return { problem: `resolving ${via} on ${route.dev}` };
    }
    return { hop: { ifindex: link.ifindex, mac: known.toLowerCase(), srcMac: link.address } };
  }
}

/** One empty datagram to the discard port: enough for the kernel to start ARP for `address`. */
function poke(address: string): void {
  const socket = createSocket('udp4');
  socket.on('error', () => socket.close());
  socket.send(Buffer.alloc(0), 9, address, () => socket.close());
}
