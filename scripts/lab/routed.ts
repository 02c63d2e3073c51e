// A router's worth of namespace for NAT replies: the calling thread gets a namespace of its own with a client side
// (`front`, the client's neighbour entry known) and a backend side (`back`), forwarding on. bpf_fib_lookup then answers
// for replies the way it does on a real load balancer.
import { execFileSync } from 'node:child_process';
import { ifNameToIndex } from '../../lb/bpf/system.js';
import { CLIENT } from './cases.js';
import { CLIENT_MAC } from './harness.js';
import { isolateNetwork } from './isolate.js';

export interface RoutedNetwork {
  front: number;
  back: number;
  frontMac: string;
}

export function routedNetwork(): RoutedNetwork {
  isolateNetwork();
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ip('link', 'add', 'front', 'type', 'veth', 'peer', 'name', 'front-peer');
  ip('link', 'add', 'back', 'type', 'veth', 'peer', 'name', 'back-peer');
  for (const dev of ['front', 'front-peer', 'back', 'back-peer']) ip('link', 'set', dev, 'up');
  ip('addr', 'add', '198.18.0.254/24', 'dev', 'front');
  ip('addr', 'add', '198.18.1.254/24', 'dev', 'back');
  ip('neigh', 'replace', CLIENT, 'lladdr', CLIENT_MAC, 'dev', 'front', 'nud', 'permanent');
  execFileSync('sysctl', ['-qw', 'net.ipv4.conf.all.forwarding=1']);
  // /sys shows the namespace it was mounted in, not this one: ask ip.
  const frontMac: string = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'front'], { encoding: 'utf8' }))[0].address;
  return { front: ifNameToIndex('front'), back: ifNameToIndex('back'), frontMac };
}
