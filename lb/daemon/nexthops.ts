// How each backend is reached: the egress interface and next-hop MAC, so an operator never types a MAC for a backend
// on a connected network. One read of the kernel's tables per refresh (one `ip -batch` process, however many
// backends), worked out by ./routes.ts; a missing neighbour is asked for by the kernel.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import type { NextHop } from '../plan/planner.js';
import { resolve, type LinkJson, type NeighJson, type Resolution, type RouteJson, type RuleJson, type Tables } from './routes.js';

interface AddrJson { addr_info?: { family: string; local: string }[] }

/** What one refresh reads: the tables and the node's own IPv4 addresses. */
export interface Snapshot extends Tables {
  own: string[];
}

const BATCH = ['link show', 'addr show', 'rule show', 'route show table all', 'neigh show'];
const READ_TIMEOUT_MS = 10_000;

/** Reads links, addresses, rules, routes and neighbours (IPv4) with one `ip -4 -j -batch -`. */
export function readTables(): Promise<Snapshot> {
  return new Promise((done, fail) => {
    const child = execFile('ip', ['-4', '-j', '-batch', '-'], { timeout: READ_TIMEOUT_MS, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          fail(new Error(`ip -batch failed: ${(stderr || err.message).trim().split('\n')[0]}`));
          return;
        }
        const parts = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown[]);
        if (parts.length !== BATCH.length) {
          fail(new Error(`ip -batch printed ${parts.length} tables, not ${BATCH.length}`));
          return;
        }
        const [links, addrs, rules, routes, neighbours] = parts as [LinkJson[], AddrJson[], RuleJson[], RouteJson[], NeighJson[]];
        const own = addrs.flatMap((i) => (i.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local)).sort();
        done({ links, rules, routes, neighbours, own });
      });
    child.stdin!.end(`${BATCH.join('\n')}\n`);
  });
}

interface Entry {
  resolution: Resolution;
  /** The MAC the config gives, if any: a change of it makes the address new again. */
  configured: string | undefined;
}

/**
 * The next hop of every backend address. refresh() works everything out again from a fresh read; add() only the
 * addresses it does not know, so a backend added to a big pool does not wait for everyone else's.
 */
export class NextHops {
  private readonly entries = new Map<string, Entry>();
  private ownAddresses: string[] = [];

  constructor(
    private readonly interfaces: readonly string[],
    private readonly log: Logger,
    private readonly read: () => Promise<Snapshot> = readTables,
    private readonly ask: (address: string) => void = poke,
  ) {}

  get(address: string): NextHop | undefined {
    return this.entries.get(address)?.resolution.hop;
  }

  /** How `address` resolved: the hop, or why there is none; undefined for an address never asked for. */
  resolution(address: string): Resolution | undefined {
    return this.entries.get(address)?.resolution;
  }

  /** The node's own IPv4 addresses, as of the last read. */
  get local(): readonly string[] {
    return this.ownAddresses;
  }

  /** Refreshes until every address has a next hop or `ms` have passed (a new neighbour takes an ARP round trip). */
  async settle(addresses: ReadonlySet<string>, configured: ReadonlyMap<string, string>, ms: number): Promise<void> {
    const until = Date.now() + ms;
    await this.refresh(addresses, configured);
    while ([...addresses].some((a) => !this.get(a)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      await this.refresh(addresses, configured);
    }
  }

  /** Resolves every address from one fresh read and forgets the others; true when any resolution changed. */
  async refresh(addresses: Iterable<string>, configured: ReadonlyMap<string, string>): Promise<boolean> {
    return this.update(new Set(addresses), configured, true);
  }

  /**
   * Resolves the addresses not known yet (or whose configured MAC changed), from one read when there are any, and
   * forgets addresses no longer wanted; the others keep their resolution. True when anything changed.
   */
  async add(addresses: Iterable<string>, configured: ReadonlyMap<string, string>): Promise<boolean> {
    return this.update(new Set(addresses), configured, false);
  }

  private async update(wanted: Set<string>, configured: ReadonlyMap<string, string>, all: boolean): Promise<boolean> {
    let changed = false;
    for (const address of [...this.entries.keys()]) {
      if (!wanted.has(address)) {
        this.entries.delete(address);
        changed = true;
      }
    }
    const todo = [...wanted].filter((a) => all || !this.entries.has(a) || this.entries.get(a)!.configured !== configured.get(a));
    if (todo.length === 0 && !all) return changed;
    const tables = await this.read();
    if (tables.own.join() !== this.ownAddresses.join()) {
      this.ownAddresses = tables.own;
      changed = true;
    }
    for (const address of todo) {
      const mac = configured.get(address);
      const next = resolve(tables, this.interfaces, address, mac);
      if (next.resolve) this.ask(next.resolve);
      const before = this.entries.get(address)?.resolution;
      if (JSON.stringify(before) !== JSON.stringify(next)) {
        changed = true;
        if (next.hop) this.log.info({ backend: address, ...next.hop }, `next hop of ${address}: ${next.hop.mac}`);
        else if (before?.problem !== next.problem) {
          this.log.warn({ backend: address, problem: next.problem }, `no next hop for ${address}: ${next.problem}`);
        }
      }
      this.entries.set(address, { resolution: next, configured: mac });
    }
    return changed;
  }
}

/** One empty datagram to the discard port: enough for the kernel to start ARP for `address`. */
function poke(address: string): void {
  const socket = createSocket('udp4');
  socket.on('error', () => socket.close());
  socket.send(Buffer.alloc(0), 9, address, () => socket.close());
}
