// An HA pair in a pair lab, for end-to-end tests: two daemons (lb-a in the lab's first LB, lb-b in its second) sharing
// a private redis-server, heartbeats on `front`, the backends' gateway 198.18.1.1 floated on `back`, services on a VIP
// inside the client's own subnet (so the client finds it by ARP, which only the active node answers).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HaStatus } from '../../lb/control/api.js';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import type { RedisServer } from '../../scripts/lab/redis.js';
import {
  eventually, labRedis, sleep, XlbNode, type ConfigObject, type DaemonProcess, type TestContext,
} from './daemon.js';

/** In the client's subnet (198.18.0.0/24): reached by ARP. */
export const PAIR_VIP = '198.18.0.100';

export interface Pair {
  a: XlbNode;
  b: XlbNode;
  redis: RedisServer;
  config(node: XlbNode): ConfigObject;
  /** Starts node's daemon and waits until its pair status says `role`. */
  start(node: XlbNode, role: 'active' | 'standby'): Promise<DaemonProcess>;
  ha(node: XlbNode): Promise<HaStatus>;
  /** Waits until node's pair status says `role`; returns it. */
  until(node: XlbNode, role: HaStatus['role'], ms?: number): Promise<HaStatus>;
}

export async function startPair(t: TestContext, options: { lease?: string } = {}): Promise<Pair> {
  const [a, b] = await XlbNode.pair(t);
  const redis = await labRedis(t, a.lab);
  const keyFile = join(a.dir, 'ha.key');
  writeFileSync(keyFile, 'a shared secret for this lab pair, 32+ bytes\n');
  const backends = a.lab.addresses.backends;
  const config = (node: XlbNode): ConfigObject => node.config({
    redis: { url: redis.url },
    ha: {
      node_id: node === a ? 'lb-a' : 'lb-b', pair: 'edge-1', lease: options.lease ?? '800ms',
      heartbeat: { interface: 'front', interval: '100ms', misses: 3 }, key_file: keyFile,
      floating: [{ address: `${a.lab.gateway}/24`, interface: 'back' }],
    },
    services: [
      { name: 'ping', vip: PAIR_VIP, protocol: 'icmp', backends: backends.map((address) => ({ address })) },
      {
        name: 'web', vip: PAIR_VIP, protocol: 'tcp', port: 80, scheduler: 'maglev', forwarding: 'nat',
        health: { type: 'http', port: BACKEND_HTTP_PORT, path: '/healthz', interval: '500ms', timeout: '300ms' },
        backends: backends.map((address) => ({ address, port: BACKEND_HTTP_PORT })),
      },
    ],
  });
  const ha = (node: XlbNode) => node.lbctlJson<HaStatus>(['ha', 'status']);
  const until = (node: XlbNode, role: HaStatus['role'], ms = 20_000) =>
    eventually(`${node.lbNs} ${role}`, ms, async () => {
      const s = await ha(node);
      return s.role === role ? s : undefined;
    }, 50);
  return {
    a, b, redis, config, ha, until,
    async start(node, role) {
      const d = await node.start(config(node));
      await until(node, role);
      return d;
    },
  };
}

/** The MAC the client's kernel holds for `address` now (after asking by ping), or undefined. */
export async function clientNeighbour(node: XlbNode, address = PAIR_VIP): Promise<string | undefined> {
  const r = await node.lab.exec(node.lab.ns.client, ['ip', '-j', 'neigh', 'show', address]);
  const [entry] = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
  return entry?.lladdr;
}

/** ARP replies for `address` the client sees, with the time and the sender's MAC, from tcpdump on c0 until stop(). */
export async function captureArpReplies(node: XlbNode, address = PAIR_VIP):
  Promise<{ stop(): Promise<{ at: number; mac: string }[]> }> {
  const lab = node.lab;
  const child = lab.spawn(lab.ns.client, ['tcpdump', '-l', '-n', '-e', '-tt', '-i', 'c0', 'arp', 'and', 'arp[6:2] == 2'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await eventually('tcpdump listening', 10_000, async () => err.includes('listening on'));
  return {
    async stop() {
      await sleep(300);
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
      // "1700000000.123456 02:1b:00:00:00:01 > 02:c1:00:00:00:01, ethertype ARP ..., Reply 198.18.0.100 is-at 02:1b:..."
      return out.split('\n').flatMap((line) => {
        const m = new RegExp(`^(\\d+\\.\\d+) .*Reply ${address.replace(/\./g, '\\.')} is-at ([0-9a-f:]{17})`).exec(line);
        return m ? [{ at: Number(m[1]) * 1000, mac: m[2]! }] : [];
      });
    },
  };
}

/** Keeps the client asking for `address` by ARP (its neighbour entry flushed every 100 ms, pinged) until stopped. */
export function keepAsking(node: XlbNode, address = PAIR_VIP): { stop(): Promise<void> } {
  const lab = node.lab;
  const script = `while :; do ip neigh flush to ${address} dev c0; ping -n -c 1 -W 0.1 ${address} >/dev/null 2>&1; sleep 0.1; done`;
  const child = lab.spawn(lab.ns.client, ['sh', '-c', script], { stdio: 'ignore' });
  return {
    async stop() {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
