import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, parseConfig } from '../../config/load.js';
import { formatProblem } from '../../config/problem.js';
import type { Config } from '../../config/types.js';
import { XlbError } from '../../lb/errors.js';

const NODE = 'node: { interfaces: [eth0] }';
/** A config of `node` plus the given top-level YAML. */
const withNode = (rest: string): string => `${NODE}\n${rest}\n`;
/** A config whose services are the given flow mappings (without braces). */
const services = (...items: string[]): string => withNode(`services:\n${items.map((s) => `  - { ${s} }`).join('\n')}`);
const WEB = 'name: web, vip: 198.18.0.10, protocol: tcp, port: 80';
const PING = 'name: ping, vip: 198.18.0.10, protocol: icmp';
const DNS = 'name: dns, vip: 198.18.0.10, protocol: udp, port: 53';

const problems = (yaml: string): string[] => parseConfig(yaml).problems.map(formatProblem);

/** A node that can pair: redis, and the ha keys that have no default, plus `extra` (flow-mapping entries). */
const HA_KEYS = 'pair: edge-1, heartbeat: { interface: front }, key_file: /etc/xlb/ha.key';
const withHa = (extra: string): string =>
  `node: { interfaces: [eth0, front, back] }\nredis: { url: "redis://r" }\nha: { ${HA_KEYS}${extra ? `, ${extra}` : ''} }\n`;
const withHaBlock = (lines: string): string =>
  `node: { interfaces: [eth0, front, back] }\nredis: { url: "redis://r" }\nha:\n  pair: edge-1\n  heartbeat: { interface: front }\n` +
  `  key_file: /etc/xlb/ha.key\n${lines}`;

// Each bad snippet and the exact lines `lbctl config check` prints for it.
const bad: [title: string, yaml: string, lines: string[]][] = [
  // ---- the document
  ['empty file', '', ['the config is empty: it needs at least node.interfaces']],
  ['not a mapping', '- node\n', ['must be a mapping of node, redis, ha, deny, services']],
  ['node missing', 'services: []\n', ['node: required']],
  ['unknown top-level key, close to a known one', withNode('service: []'), ['service: unknown key; did you mean "services"?']],
  ['unknown top-level key, close to none', withNode('colour: red'),
    ['colour: unknown key; expected one of node, redis, ha, deny, services']],
  ['camelCase for snake_case', 'node: { interfaces: [eth0], controlSocket: /run/x.sock }\n',
    ['node.controlSocket: unknown key; did you mean "control_socket"?']],
  ['unknown key in a service', services(`${WEB}, backend: []`), ['services[0].backend: unknown key; did you mean "backends"?']],
  ['unknown key in a backend', services(`${WEB}, backends: [{ address: 198.18.1.11, wieght: 2 }]`),
    ['services[0].backends[0].wieght: unknown key; did you mean "weight"?']],
  ['unknown key in a health check', services(`${WEB}, health: { type: tcp, retries: 3 }`),
    ['services[0].health.retries: unknown key; expected one of type, port, path, interval, timeout, rise, fall']],

  // ---- node
  ['node not a mapping', 'node: eth0\n', ['node: must be a mapping of interfaces, xdp_mode, control_socket, pin_path, metrics']],
  ['interfaces missing', 'node: { xdp_mode: auto }\n', ['node.interfaces: required']],
  ['interfaces empty', 'node: { interfaces: [] }\n', ['node.interfaces: needs at least one interface to attach to']],
  ['interfaces not a list', 'node: { interfaces: eth0 }\n', ['node.interfaces: must be a list']],
  ['interface listed twice', 'node: { interfaces: [eth0, eth1, eth0] }\n',
    ['node.interfaces[2]: "eth0" is already listed (node.interfaces[0])']],
  ['interface names Linux refuses', 'node: { interfaces: ["a/b", "a b", "a:1", ".", ""] }\n', [
    'node.interfaces[0]: "a/b" is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
    'node.interfaces[1]: "a b" is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
    'node.interfaces[2]: "a:1" is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
    'node.interfaces[3]: "." is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
    'node.interfaces[4]: "" is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
  ]],
  ['interface name of 16 characters', 'node: { interfaces: [abcdefghijklmnop] }\n',
    ['node.interfaces[0]: "abcdefghijklmnop" is longer than 15 characters, the kernel\'s limit for an interface name']],
  ['interface name not a string', 'node: { interfaces: [0] }\n', ['node.interfaces[0]: 0 is not an interface name']],
  ['xdp_mode unknown', 'node: { interfaces: [eth0], xdp_mode: fast }\n',
    ['node.xdp_mode: "fast" is not one of auto, native, generic']],
  ['xdp_mode misspelt', 'node: { interfaces: [eth0], xdp_mode: nativ }\n',
    ['node.xdp_mode: "nativ" is not one of auto, native, generic; did you mean "native"?']],
  ['control_socket relative', 'node: { interfaces: [eth0], control_socket: run/xlb.sock }\n',
    ['node.control_socket: "run/xlb.sock" is not an absolute path']],
  ['control_socket too long for sun_path', `node: { interfaces: [eth0], control_socket: /${'s'.repeat(107)} }\n`,
    ['node.control_socket: is longer than 107 bytes, the limit for a unix socket\'s path']],
  ['pin_path outside the BPF filesystem', 'node: { interfaces: [eth0], pin_path: /tmp/xlb }\n',
    ['node.pin_path: "/tmp/xlb" is not under /sys/fs/bpf, where the BPF filesystem is, e.g. /sys/fs/bpf/xlb']],
  ['pin_path the BPF filesystem itself', 'node: { interfaces: [eth0], pin_path: /sys/fs/bpf/ }\n',
    ['node.pin_path: "/sys/fs/bpf/" is not under /sys/fs/bpf, where the BPF filesystem is, e.g. /sys/fs/bpf/xlb']],
  ['pin_path escaping with ..', 'node: { interfaces: [eth0], pin_path: /sys/fs/bpf/../../../tmp }\n',
    ['node.pin_path: "/sys/fs/bpf/../../../tmp" is not under /sys/fs/bpf, where the BPF filesystem is, e.g. /sys/fs/bpf/xlb']],
  ['pin_path relative', 'node: { interfaces: [eth0], pin_path: xlb }\n', ['node.pin_path: "xlb" is not an absolute path']],
  ['metrics a bare port', 'node: { interfaces: [eth0], metrics: 9470 }\n',
    ['node.metrics: 9470 is not host:port, e.g. 127.0.0.1:9470']],
  ['metrics host not IPv4', 'node: { interfaces: [eth0], metrics: "localhost:9470" }\n',
    ['node.metrics: "localhost" is not an IPv4 address']],
  ['metrics port out of range', 'node: { interfaces: [eth0], metrics: "127.0.0.1:70000" }\n',
    ['node.metrics: 70000 is not a port (1..65535)']],
  ['metrics port not a number', 'node: { interfaces: [eth0], metrics: "127.0.0.1:http" }\n',
    ['node.metrics: "http" is not a port (1..65535)']],

  // ---- redis
  ['redis without url', withNode('redis: { key_prefix: xlb }'),
    ['redis.url: required (or sentinels and name), e.g. redis://127.0.0.1:6379/0']],
  ['redis url and sentinels', withNode('redis: { url: "redis://r", sentinels: ["198.18.9.1:26379"], name: m }'),
    ['redis: give url (one server) or sentinels (a Sentinel group), not both']],
  ['redis sentinel keys with a url', withNode('redis: { url: "redis://r", name: m, db: 2 }'),
    ['redis.name: only with sentinels; a url says it itself', 'redis.db: only with sentinels; a url says it itself']],
  ['redis sentinels: a bad address, no name, a db out of range', withNode('redis: { sentinels: ["198.18.9.1", "198.18.9.2:26379"], db: 16 }'), [
    'redis.sentinels[0]: "198.18.9.1" is not host:port, e.g. 127.0.0.1:9470',
    'redis.name: required with sentinels: the master group\'s name',
    'redis.db: 16 is not an integer from 0 to 15',
  ]],
  ['redis sentinels empty', withNode('redis: { sentinels: [], name: m }'),
    ['redis.sentinels: needs at least one Sentinel, e.g. [198.18.9.1:26379]']],
  ['redis: a password twice, a CA without TLS, a relative file', withNode(
    'redis: { url: "redis://:secret@r", password_file: /etc/xlb/redis.pass, ca_file: ca.pem }'), [
    'redis.ca_file: "ca.pem" is not an absolute path',
    'redis.password_file: the url already has a password: give one or the other',
  ]],
  ['redis: a CA for a plain connection', withNode('redis: { url: "redis://r", ca_file: /etc/xlb/ca.pem }'),
    ['redis.ca_file: a CA is for TLS: use a rediss:// url']],
  ['redis sentinels: a CA without tls', withNode('redis: { sentinels: ["198.18.9.1:26379"], name: m, ca_file: /etc/ca.pem }'),
    ['redis.ca_file: a CA is for TLS: set tls: true']],
  ['redis url of another scheme', withNode('redis: { url: "http://127.0.0.1:6379" }'),
    ['redis.url: "http://127.0.0.1:6379" is not a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0']],
  ['redis url not a URL', withNode('redis: { url: "127.0.0.1:6379" }'),
    ['redis.url: "127.0.0.1:6379" is not a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0']],
  ['redis database not a number', withNode('redis: { url: "redis://127.0.0.1:6379/main" }'),
    ['redis.url: the database "main" is not a number, e.g. redis://127.0.0.1:6379/0']],
  ['redis key_prefix empty', withNode('redis: { url: "redis://r", key_prefix: "" }'),
    ['redis.key_prefix: "" must not be empty or contain spaces']],
  ['redis key_prefix with a space', withNode('redis: { url: "redis://r", key_prefix: "x lb" }'),
    ['redis.key_prefix: "x lb" must not be empty or contain spaces']],

  // ---- ha
  ['ha without redis', withNode('ha: { node_id: lb-a }'), [
    'ha: ha needs redis: the lease lives there',
    'ha.pair: required: nodes with the same pair share one lease',
    'ha.heartbeat: required, e.g. { interface: front, interval: 100ms, misses: 3 }',
    'ha.key_file: required: the pair\'s shared secret that authenticates heartbeats',
  ]],
  ['ha without node_id', withHa('lease: 1s'), ['ha.node_id: required']],
  ['ha node_id empty', withHa('node_id: ""'), ['ha.node_id: "" must not be empty or contain spaces']],
  ['ha node_id a number', withHa('node_id: 1'), ['ha.node_id: must be a string; quote it: "1"']],
  ['ha lease too short', withHa('node_id: a, lease: 100ms'), ['ha.lease: must be at least 200ms']],
  ['ha lease without a unit', withHa('node_id: a, lease: 1'), ['ha.lease: needs a unit, e.g. 500ms or 2s']],
  ['ha heartbeat: no interface, too fast, misses out of range',
    `${NODE}\nredis: { url: "redis://r" }\nha: { node_id: a, pair: p, key_file: /k, heartbeat: { interval: 5ms, misses: 0 } }\n`, [
      'ha.heartbeat.interface: required: where the pair\'s heartbeats go',
      'ha.heartbeat.interval: must be at least 10ms',
      'ha.heartbeat.misses: 0 is not an integer from 1 to 100',
    ]],
  ['ha heartbeat slower than the lease', `${NODE}\nredis: { url: "redis://r" }\n` +
    'ha: { node_id: a, pair: p, key_file: /k, lease: 800ms, heartbeat: { interface: eth0, interval: 300ms, misses: 3 } }\n',
    ['ha.heartbeat: 3 missed heartbeats of 300ms take as long as the lease (800ms): a dead peer must be noticed before its lease lapses']],
  ['floating: the network address, the broadcast address, a bad prefix',
    withHaBlock('  node_id: a\n  floating:\n' +
      '    - { address: 198.18.1.0/24, interface: back }\n' +
      '    - { address: 198.18.1.255/24, interface: back }\n' +
      '    - { address: 198.18.1.1/33, interface: back }'), [
      'ha.floating[0].address: 198.18.1.0/24 is the network\'s own address; give a host\'s, e.g. 198.18.1.1/24',
      'ha.floating[1].address: 198.18.1.255/24 is the network\'s broadcast address; give a host\'s, e.g. 198.18.1.1/24',
      'ha.floating[2].address: "198.18.1.1/33" is not an IPv4 address with a prefix length, e.g. 198.18.1.1/24',
    ]],
  ['floating: missing interface, bad interface, missing address, repeated address',
    withHaBlock('  node_id: a\n  floating:\n' +
      '    - { address: 198.18.1.1/24 }\n' +
      '    - { address: 198.18.2.1/24, interface: "b/c" }\n' +
      '    - { interface: back }\n' +
      '    - { address: 198.18.3.1/24, interface: back }\n' +
      '    - { address: 198.18.3.1/25, interface: front }'), [
      'ha.floating[0].interface: required',
      'ha.floating[1].interface: "b/c" is not an interface name: 1 to 15 characters, no "/", ":" or spaces',
      'ha.floating[2].address: required, e.g. 198.18.1.1/24',
      'ha.floating[4].address: 198.18.3.1 is already listed (ha.floating[3])',
    ]],
  ['floating: a multicast address', withHa('node_id: a, floating: [{ address: 224.0.0.18/24, interface: back }]'),
    ['ha.floating[0].address: 224.0.0.18 is a multicast address, not a host\'s address']],

  // ---- deny
  ['deny CIDR with host bits set', withNode('deny: [198.18.0.1/24]'),
    ['deny[0]: 198.18.0.1/24 has host bits set; did you mean 198.18.0.0/24?']],
  ['deny entries that are not CIDRs', withNode('deny: [x, 1.2.3/24, 10.0.0.0/33, 10.0.0.0/08, 7]'), [
    'deny[0]: "x" is not an IPv4 CIDR, e.g. 203.0.113.0/24',
    'deny[1]: "1.2.3/24" is not an IPv4 CIDR, e.g. 203.0.113.0/24',
    'deny[2]: "10.0.0.0/33" is not an IPv4 CIDR, e.g. 203.0.113.0/24',
    'deny[3]: "10.0.0.0/08" is not an IPv4 CIDR, e.g. 203.0.113.0/24',
    'deny[4]: 7 is not an IPv4 CIDR, e.g. 203.0.113.0/24',
  ]],
  ['deny repeated (a bare address is its /32)', withNode('deny: [192.0.2.7, 192.0.2.7/32]'),
    ['deny[1]: 192.0.2.7/32 is already listed (deny[0])']],
  ['deny not a list', withNode('deny: 203.0.113.0/24'), ['deny: must be a list']],

  // ---- services
  ['services not a list', withNode('services: { name: web }'), ['services: must be a list']],
  ['service not a mapping', withNode('services: [web]'),
    ['services[0]: must be a mapping of name, vip, protocol, port, scheduler, forwarding, allow, health, backends']],
  ['service without name, vip, protocol', services('scheduler: rr'),
    ['services[0].name: required', 'services[0].vip: required', 'services[0].protocol: required: icmp, tcp, udp']],
  ['service names', services(
    'name: Web, vip: 198.18.0.1, protocol: icmp', 'name: -web, vip: 198.18.0.2, protocol: icmp',
    `name: ${'a'.repeat(64)}, vip: 198.18.0.3, protocol: icmp`, 'name: 8080, vip: 198.18.0.4, protocol: icmp'), [
    'services[0].name: "Web" is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    'services[1].name: "-web" is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    `services[2].name: "${'a'.repeat(64)}" is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`,
    'services[3].name: must be a string; quote it: "8080"',
  ]],
  ['service name used twice', services(WEB, 'name: web, vip: 198.18.0.11, protocol: tcp, port: 80'),
    ['services[1].name: "web" is already the name of services[0]']],
  ['vip not a strict dotted quad', services(
    'name: a, vip: 300.1.2.3, protocol: icmp', 'name: b, vip: 1.2.3, protocol: icmp',
    'name: c, vip: 01.2.3.4, protocol: icmp', 'name: d, vip: 256.1.1.1, protocol: icmp', 'name: e, vip: 1.2, protocol: icmp'), [
    'services[0].vip: "300.1.2.3" is not an IPv4 address',
    'services[1].vip: "1.2.3" is not an IPv4 address',
    'services[2].vip: "01.2.3.4" is not an IPv4 address',
    'services[3].vip: "256.1.1.1" is not an IPv4 address',
    'services[4].vip: 1.2 is not an IPv4 address',
  ]],
  ['vip not a host address', services(
    'name: a, vip: 0.0.0.0, protocol: icmp', 'name: b, vip: 127.0.0.1, protocol: icmp',
    'name: c, vip: 224.0.0.1, protocol: icmp', 'name: d, vip: 255.255.255.255, protocol: icmp'), [
    'services[0].vip: 0.0.0.0 is a "this network" address (0.0.0.0/8), not a host\'s address',
    'services[1].vip: 127.0.0.1 is a loopback address, not a host\'s address',
    'services[2].vip: 224.0.0.1 is a multicast address, not a host\'s address',
    'services[3].vip: 255.255.255.255 is a reserved or broadcast address, not a host\'s address',
  ]],
  ['protocol unknown, and misspelt', services('name: a, vip: 198.18.0.1, protocol: sctp', 'name: b, vip: 198.18.0.1, protocol: TCP'), [
    'services[0].protocol: "sctp" is not one of icmp, tcp, udp',
    'services[1].protocol: "TCP" is not one of icmp, tcp, udp; did you mean "tcp"?',
  ]],
  ['port missing on tcp and udp', services('name: a, vip: 198.18.0.1, protocol: tcp', 'name: b, vip: 198.18.0.1, protocol: udp'),
    ['services[0].port: required for tcp services', 'services[1].port: required for udp services']],
  ['port on icmp', services(`${PING}, port: 80`), ['services[0].port: icmp services have no port']],
  ['port out of range or not a number', services(
    'name: a, vip: 198.18.0.1, protocol: tcp, port: 0', 'name: b, vip: 198.18.0.1, protocol: tcp, port: 65536',
    'name: c, vip: 198.18.0.1, protocol: tcp, port: "80"', 'name: d, vip: 198.18.0.1, protocol: tcp, port: 80.5'), [
    'services[0].port: 0 is not a port (1..65535)',
    'services[1].port: 65536 is not a port (1..65535)',
    'services[2].port: "80" is not a port (1..65535)',
    'services[3].port: 80.5 is not a port (1..65535)',
  ]],
  ['scheduler and forwarding unknown', services(`${WEB}, scheduler: maglve, forwarding: tunnel`), [
    'services[0].scheduler: "maglve" is not one of rr, maglev; did you mean "maglev"?',
    'services[0].forwarding: "tunnel" is not one of nat, dsr',
  ]],
  ['same vip, protocol and port twice', services(WEB, 'name: web2, vip: 198.18.0.10, protocol: tcp, port: 80'),
    ['services[1]: tcp 198.18.0.10:80 is already served by "web" (services[0])']],
  ['two icmp services on one vip', services(PING, 'name: ping2, vip: 198.18.0.10, protocol: icmp'),
    ['services[1]: icmp 198.18.0.10 is already served by "ping" (services[0])']],
  ['allow with host bits set, repeated', services(`${WEB}, allow: [198.18.0.1/16, 10.0.0.0/8, 10.0.0.0/8]`), [
    'services[0].allow[0]: 198.18.0.1/16 has host bits set; did you mean 198.18.0.0/16?',
    'services[0].allow[2]: 10.0.0.0/8 is already listed (services[0].allow[1])',
  ]],

  // ---- health
  ['health not a mapping', services(`${WEB}, health: http`),
    ['services[0].health: must be a mapping of type, port, path, interval, timeout, rise, fall']],
  ['health type unknown', services(`${WEB}, health: { type: grpc }`),
    ['services[0].health.type: "grpc" is not one of icmp, tcp, http, none']],
  ['health port on icmp and none checks', services(`${PING}, health: { type: icmp, port: 80 }`, `${DNS}, health: { type: none, port: 53 }`),
    ['services[0].health.port: type icmp has no port', 'services[1].health.port: type none has no port']],
  ['health port out of range', services(`${WEB}, health: { type: tcp, port: 0 }`),
    ['services[0].health.port: 0 is not a port (1..65535)']],
  ['health path on a tcp check', services(`${WEB}, health: { type: tcp, path: /healthz }`),
    ['services[0].health.path: only http checks have a path']],
  ['health path not starting with /, or with a space', services(`${WEB}, health: { type: http, path: healthz }`,
    'name: web2, vip: 198.18.0.10, protocol: tcp, port: 81, health: { type: http, path: "/health z" }'), [
    'services[0].health.path: "healthz" is not an HTTP path: it starts with "/" and has no spaces',
    'services[1].health.path: "/health z" is not an HTTP path: it starts with "/" and has no spaces',
  ]],
  ['http check on a udp service without a port', services(`${DNS}, health: { type: http }`),
    ['services[0].health.port: required for http checks on udp services: their backends have no TCP port']],
  ['tcp check on an icmp service without a port', services(`${PING}, health: { type: tcp }`),
    ['services[0].health.port: required for tcp checks on icmp services: their backends have no TCP port']],
  ['durations that are not', services(
    `${WEB}, health: { interval: 2, timeout: fast }`,
    'name: b, vip: 198.18.0.10, protocol: tcp, port: 81, health: { interval: 0ms, timeout: 0.5ms }',
    'name: c, vip: 198.18.0.10, protocol: tcp, port: 82, health: { interval: 2000m, timeout: 1h }'), [
    'services[0].health.interval: needs a unit, e.g. 500ms or 2s',
    'services[0].health.timeout: "fast" is not a duration, e.g. 500ms, 1s or 2m',
    'services[1].health.interval: must be more than 0',
    'services[1].health.timeout: 0.5ms is not a whole number of milliseconds',
    'services[2].health.interval: 2000m is longer than a day',
    'services[2].health.timeout: "1h" is not a duration, e.g. 500ms, 1s or 2m',
  ]],
  ['timeout longer than the interval', services(`${WEB}, health: { interval: 1.5s, timeout: 2s }`),
    ['services[0].health.timeout: 2s is longer than the interval (1.5s)']],
  ['rise and fall out of range', services(`${WEB}, health: { rise: 0, fall: 101 }`,
    'name: b, vip: 198.18.0.10, protocol: tcp, port: 81, health: { rise: 1.5, fall: "2" }'), [
    'services[0].health.rise: 0 is not an integer from 1 to 100',
    'services[0].health.fall: 101 is not an integer from 1 to 100',
    'services[1].health.rise: 1.5 is not an integer from 1 to 100',
    'services[1].health.fall: "2" is not an integer from 1 to 100',
  ]],

  // ---- backends
  ['backends not a list', services(`${WEB}, backends: { address: 198.18.1.11 }`), ['services[0].backends: must be a list']],
  ['backend without address, with a bad one, with the vip', services(
    `${WEB}, backends: [{ weight: 1 }, { address: 198.18.1.300 }, { address: 198.18.0.10 }, { address: 127.0.0.2 }]`), [
    'services[0].backends[0].address: required',
    'services[0].backends[1].address: "198.18.1.300" is not an IPv4 address',
    'services[0].backends[2].address: 198.18.0.10 is the service\'s vip; a backend has its own address',
    'services[0].backends[3].address: 127.0.0.2 is a loopback address, not a host\'s address',
  ]],
  ['backend port on an icmp service', services(`${PING}, backends: [{ address: 198.18.1.11, port: 8080 }]`),
    ['services[0].backends[0].port: icmp services have no port']],
  ['backend port out of range', services(`${WEB}, backends: [{ address: 198.18.1.11, port: 65536 }]`),
    ['services[0].backends[0].port: 65536 is not a port (1..65535)']],
  ['dsr backend on another port', services(`${WEB}, forwarding: dsr, backends: [{ address: 198.18.1.11, port: 8080 }]`),
    ['services[0].backends[0].port: dsr cannot change the port: leave it out, or make it 80']],
  ['weight out of range', services(`${WEB}, backends: [{ address: 198.18.1.11, weight: -1 }, { address: 198.18.1.12, weight: 10001 }, { address: 198.18.1.13, weight: 1.5 }]`), [
    'services[0].backends[0].weight: -1 is not an integer from 0 to 10000',
    'services[0].backends[1].weight: 10001 is not an integer from 0 to 10000',
    'services[0].backends[2].weight: 1.5 is not an integer from 0 to 10000',
  ]],
  ['mac malformed, multicast, zero', services(`${WEB}, backends: [` +
    '{ address: 198.18.1.11, mac: "02:00:00:00:01" }, { address: 198.18.1.12, mac: "01:00:5e:00:00:01" }, ' +
    '{ address: 198.18.1.13, mac: "00:00:00:00:00:00" }, { address: 198.18.1.14, mac: "02-00-00-00-01-12" }]'), [
    'services[0].backends[0].mac: "02:00:00:00:01" is not a MAC address, e.g. "02:00:00:00:01:12"',
    'services[0].backends[1].mac: 01:00:5e:00:00:01 is not a unicast MAC address; a next hop needs one',
    'services[0].backends[2].mac: 00:00:00:00:00:00 is not a unicast MAC address; a next hop needs one',
    'services[0].backends[3].mac: "02-00-00-00-01-12" is not a MAC address, e.g. "02:00:00:00:01:12"',
  ]],
  ['drained not a boolean', services(`${WEB}, backends: [{ address: 198.18.1.11, drained: yes }]`),
    ['services[0].backends[0].drained: "yes" is not true or false']],
  ['same backend twice (its port defaults to the service\'s)', services(
    `${WEB}, backends: [{ address: 198.18.1.11 }, { address: 198.18.1.11, port: 80 }]`),
    ['services[0].backends[1]: 198.18.1.11:80 is already a backend of this service (services[0].backends[0])']],
  ['same icmp backend twice', services(`${PING}, backends: [{ address: 198.18.1.11 }, { address: 198.18.1.11, weight: 2 }]`),
    ['services[0].backends[1]: 198.18.1.11 is already a backend of this service (services[0].backends[0])']],
  ['a nat backend in two services', services(
    `${WEB}, backends: [{ address: 198.18.1.11, port: 8080 }]`,
    'name: web2, vip: 198.18.0.20, protocol: tcp, port: 80, backends: [{ address: 198.18.1.12, port: 8080 }, { address: 198.18.1.11, port: 8080 }]'),
    ['services[1].backends[1]: 198.18.1.11:8080/tcp already serves nat service "web" (services[0]): ' +
      'its replies could not be told apart; give it one service, or another port']],

  // ---- YAML itself
  ['YAML syntax: unclosed flow mapping', 'node: { interfaces: [eth0]\n',
    ['line 2:1: Flow map in block collection must be sufficiently indented and end with a }']],
  ['YAML syntax: a key given twice', 'node: { interfaces: [eth0] }\nservices: []\nnode: {}\n',
    ['line 3:1: Map keys must be unique']],
  ['YAML syntax: tab indentation', 'node:\n\tinterfaces: [eth0]\n', ['line 2:1: Tabs are not allowed as indentation']],
  ['YAML: an alias without its anchor', 'node:\n  interfaces: [*front]\n', ['line 2:16: *front names no anchor (&front) above it']],
  ['YAML: two documents', `${NODE}\n---\n${NODE}\n`, ['line 2:1: the file holds more than one YAML document ("---"); keep one']],
];

for (const [title, yaml, lines] of bad) {
  test(`problem: ${title}`, (t) => {
    const result = parseConfig(yaml);
    t.deepEqual(result.problems.map(formatProblem), lines);
    t.is(result.config, undefined);
  });
}

// Variants an operator may write that must be accepted, with what they become.
const good: [title: string, yaml: string, pick: (c: Config) => unknown, expected: unknown][] = [
  ['a bare deny address is its /32; CIDRs kept', withNode('deny: [192.0.2.7, 203.0.113.0/24, 0.0.0.0/0]'),
    (c) => c.pool.deny, ['192.0.2.7/32', '203.0.113.0/24', '0.0.0.0/0']],
  ['durations in ms, s, fractional s and m', withHa('node_id: a, lease: 1.5s').replace('redis://r', 'rediss://r:6380/2') +
    `services:\n  - { ${WEB}, health: { interval: 2m, timeout: 250ms } }`,
    (c) => [c.ha!.leaseMs, c.pool.services[0].health.intervalMs, c.pool.services[0].health.timeoutMs], [1500, 120_000, 250]],
  ['lease of exactly 200ms', withHa('node_id: a, lease: 200ms').replace('{ interface: front }', '{ interface: front, interval: 50ms }'),
    (c) => c.ha!.leaseMs, 200],
  ['redis by Sentinel, with TLS, a CA and password files', withNode('redis: { sentinels: ["198.18.9.1:26379", "198.18.9.2:26380"], ' +
    'name: xlb-master, db: 3, tls: true, username: xlb, ca_file: /etc/xlb/ca.pem, password_file: /etc/xlb/redis.pass, ' +
    'sentinel_password_file: /etc/xlb/sentinel.pass }'),
    (c) => c.redis, {
      keyPrefix: 'xlb', passwordFile: '/etc/xlb/redis.pass', caFile: '/etc/xlb/ca.pem',
      sentinels: [{ host: '198.18.9.1', port: 26379 }, { host: '198.18.9.2', port: 26380 }], name: 'xlb-master', db: 3,
      tls: true, username: 'xlb', sentinelPasswordFile: '/etc/xlb/sentinel.pass',
    }],
  ['timeout equal to the interval', services(`${WEB}, health: { interval: 1s, timeout: 1s }`),
    (c) => c.pool.services[0].health.timeoutMs, 1000],
  ['a shortened interval shortens the default timeout', services(`${WEB}, health: { interval: 500ms }`),
    (c) => c.pool.services[0].health.timeoutMs, 500],
  ['MAC upper case, normalised to lower case', services(`${WEB}, backends: [{ address: 198.18.1.11, mac: "02:AB:00:00:01:12" }]`),
    (c) => c.pool.services[0].backends[0].mac, '02:ab:00:00:01:12'],
  ['an http check on a udp service with a port', services(`${DNS}, health: { type: http, port: 8080 }`),
    (c) => c.pool.services[0].health, { type: 'http', port: 8080, path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 }],
  ['a tcp check on an icmp service with a port', services(`${PING}, health: { type: tcp, port: 22 }`),
    (c) => c.pool.services[0].health.port, 22],
  ['health defaults by protocol: icmp, tcp, udp', services(PING, WEB, DNS),
    (c) => c.pool.services.map((s) => s.health.type), ['icmp', 'tcp', 'none']],
  ['dsr backend on the service port, or none', services(
    `${WEB}, forwarding: dsr, backends: [{ address: 198.18.1.11, port: 80 }, { address: 198.18.1.12 }]`),
    (c) => c.pool.services[0].backends.map((b) => b.port), [80, undefined]],
  ['one vip and port for tcp and udp', services(WEB, 'name: web-udp, vip: 198.18.0.10, protocol: udp, port: 80'),
    (c) => c.pool.services.length, 2],
  ['a backend in two dsr services, or in services of two protocols', services(
    `${WEB}, forwarding: dsr, backends: [{ address: 198.18.1.11 }]`,
    'name: web2, vip: 198.18.0.20, protocol: tcp, port: 80, forwarding: dsr, backends: [{ address: 198.18.1.11 }]',
    `${DNS}, backends: [{ address: 198.18.1.11, port: 80 }]`,
    `${PING}, backends: [{ address: 198.18.1.11 }]`,
    'name: ping2, vip: 198.18.0.20, protocol: icmp, backends: [{ address: 198.18.1.11 }]'),
    (c) => c.pool.services.map((s) => s.backends.length), [1, 1, 1, 1, 1]],
  ['weight 0 and drained', services(`${WEB}, backends: [{ address: 198.18.1.11, weight: 0, drained: true }]`),
    (c) => c.pool.services[0].backends[0], { address: '198.18.1.11', weight: 0, drained: true }],
  ['empty values count as not given', 'node:\n  interfaces: [eth0]\n  metrics:\nredis:\nservices:\n  - name: web\n' +
    '    vip: 198.18.0.10\n    protocol: tcp\n    port: 80\n    health:\n    backends:\n',
    (c) => [c.node.metrics, c.redis, c.pool.services[0].health.type, c.pool.services[0].backends], [undefined, undefined, 'tcp', []]],
  ['pin_path normalised; metrics on every address', 'node: { interfaces: [eth0], pin_path: /sys/fs/bpf/a/../xlb2/, metrics: "0.0.0.0:9100" }\n',
    (c) => [c.node.pinPath, c.node.metrics], ['/sys/fs/bpf/xlb2', { host: '0.0.0.0', port: 9100 }]],
  ['a floating address without prefix is its /32; a /31 has no network address', withHaBlock(
    '  node_id: a\n  floating: [{ address: 198.18.1.1, interface: back }, { address: 198.18.2.0/31, interface: back }]'),
    (c) => c.ha!.floating, [
      { address: '198.18.1.1', prefixLength: 32, interface: 'back' },
      { address: '198.18.2.0', prefixLength: 31, interface: 'back' },
    ]],
  ['YAML anchors and aliases', 'node: { interfaces: [eth0] }\nservices:\n' +
    '  - { name: a, vip: 198.18.0.1, protocol: icmp, backends: &pool [{ address: 198.18.1.11 }] }\n' +
    '  - { name: b, vip: 198.18.0.2, protocol: icmp, backends: *pool }\n',
    (c) => c.pool.services[1].backends, [{ address: '198.18.1.11', weight: 1, drained: false }]],
];

for (const [title, yaml, pick, expected] of good) {
  test(`accepted: ${title}`, (t) => {
    const { config, problems } = parseConfig(yaml);
    t.deepEqual(problems.map(formatProblem), []);
    t.deepEqual(pick(config!), expected);
  });
}

test('defaults fill every key left out', (t) => {
  const { config, problems } = parseConfig(
    'node: { interfaces: [eth0] }\nredis: { url: "redis://127.0.0.1:6379/0" }\n' +
    'ha: { node_id: lb-a, pair: edge-1, heartbeat: { interface: eth0 }, key_file: /etc/xlb/ha.key }\nservices:\n' +
    `  - { ${WEB}, health: { type: http }, backends: [{ address: 198.18.1.11 }] }\n` +
    `  - { ${PING} }\n`);
  t.deepEqual(problems, []);
  t.deepEqual(config, {
    node: { interfaces: ['eth0'], xdpMode: 'auto', controlSocket: '/run/xlb/xlb.sock', pinPath: '/sys/fs/bpf/xlb' },
    redis: { url: 'redis://127.0.0.1:6379/0', keyPrefix: 'xlb' },
    ha: {
      nodeId: 'lb-a', pair: 'edge-1', leaseMs: 800, heartbeat: { interface: 'eth0', intervalMs: 100, misses: 3 },
      keyFile: '/etc/xlb/ha.key', floating: [],
    },
    pool: {
      deny: [],
      services: [
        {
          name: 'web', vip: '198.18.0.10', protocol: 'tcp', port: 80, scheduler: 'rr', forwarding: 'nat', allow: [],
          health: { type: 'http', path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
          backends: [{ address: '198.18.1.11', weight: 1, drained: false }],
        },
        {
          name: 'ping', vip: '198.18.0.10', protocol: 'icmp', scheduler: 'rr', forwarding: 'nat', allow: [],
          health: { type: 'icmp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 },
          backends: [],
        },
      ],
    },
  });
});

test('no services at all is a valid config (the pool may live in Redis)', (t) => {
  const { config, problems } = parseConfig(`${NODE}\n`);
  t.deepEqual(problems, []);
  t.deepEqual(config?.pool, { services: [], deny: [] });
  t.is(config?.redis, undefined);
  t.is(config?.ha, undefined);
});

test('every problem is listed, not just the first', (t) => {
  const yaml = [
    'node: { interfaces: [eth0], xdp_mode: turbo }',
    'deny: [10.0.0.1/8]',
    'services:',
    '  - name: web',
    '    vip: 300.1.2.3',
    '    protocol: tcp',
    '    port: 80',
    '    health: { interval: 2 }',
    '    backends:',
    '      - { address: 198.18.1.11, weight: 20000 }',
  ].join('\n');
  t.deepEqual(problems(yaml), [
    'node.xdp_mode: "turbo" is not one of auto, native, generic',
    'deny[0]: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?',
    'services[0].vip: "300.1.2.3" is not an IPv4 address',
    'services[0].health.interval: needs a unit, e.g. 500ms or 2s',
    'services[0].backends[0].weight: 20000 is not an integer from 0 to 10000',
  ]);
});

const repo = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

test('config/demo.yaml and config/demo-b.yaml are valid and are the demo\'s pair', (t) => {
  const a = loadConfigFile(repo('config/demo.yaml'));
  const b = loadConfigFile(repo('config/demo-b.yaml'));
  t.deepEqual(a.node, {
    interfaces: ['front', 'back'], xdpMode: 'auto', controlSocket: '/run/xlb/demo.sock', pinPath: '/sys/fs/bpf/xlb-demo',
    metrics: { host: '127.0.0.1', port: 9470 },
  });
  t.deepEqual(b.node, { ...a.node, controlSocket: '/run/xlb/demo-b.sock', pinPath: '/sys/fs/bpf/xlb-demo-b' });
  // The demo starts its redis-server at the lab's switch address (scripts/lab/lab.ts switchAddress), port 6379.
  t.deepEqual(a.redis, { url: 'redis://198.18.1.250:6379/0', keyPrefix: 'xlb' });
  t.deepEqual(b.redis, a.redis);
  t.deepEqual(a.ha, {
    nodeId: 'lb-a', pair: 'demo', leaseMs: 800, heartbeat: { interface: 'front', intervalMs: 100, misses: 3 },
    keyFile: '/run/xlb/demo-ha.key', floating: [{ address: '198.18.1.1', prefixLength: 24, interface: 'back' }],
  });
  t.deepEqual(b.ha, { ...a.ha!, nodeId: 'lb-b' });
  t.deepEqual(b.pool, a.pool, 'either node may seed Redis with the pool');
  const [ping, web] = a.pool.services;
  // In the client's own subnet (198.18.0.0/24): the client finds it by ARP, which only the active node answers.
  t.deepEqual([ping.name, ping.vip, ping.protocol, ping.port], ['ping', '198.18.0.100', 'icmp', undefined]);
  t.deepEqual(ping.backends.map((x) => x.address), ['198.18.1.11', '198.18.1.12', '198.18.1.13']);
  t.deepEqual([web.name, web.vip, web.protocol, web.port, web.scheduler, web.forwarding],
    ['web', '198.18.0.100', 'tcp', 80, 'maglev', 'nat']);
  t.deepEqual(web.health, { type: 'http', port: 8080, path: '/healthz', intervalMs: 500, timeoutMs: 300, rise: 2, fall: 2 });
  t.deepEqual(web.backends.map((x) => `${x.address}:${x.port}`), ['198.18.1.11:8080', '198.18.1.12:8080', '198.18.1.13:8080']);
  t.is(a.pool.services.length, 2);
});

test('the design\'s example config is valid', (t) => {
  // DESIGN.md "Config (YAML)", as written there.
  const yaml = `
node:
  interfaces: [eth0]
  xdp_mode: auto
  control_socket: /run/xlb/xlb.sock
  pin_path: /sys/fs/bpf/xlb
  metrics: 127.0.0.1:9470
redis:
  url: redis://127.0.0.1:6379/0
  key_prefix: xlb
  # sentinels: [10.0.0.5:26379, 10.0.0.6:26379]   with name: mymaster, instead of url
ha:
  node_id: lb-a
  pair: edge-1
  lease: 800ms
  heartbeat: { interface: front, interval: 100ms, misses: 3 }
  key_file: /etc/xlb/ha.key
  floating:
    - { address: 198.18.1.1/24, interface: back }
deny: [203.0.113.0/24]
services:
  - name: ping
    vip: 198.18.0.10
    protocol: icmp
    backends:
      - address: 198.18.1.11
      - address: 198.18.1.12
  - name: web
    vip: 198.18.0.10
    protocol: tcp
    port: 80
    scheduler: maglev
    forwarding: nat
    allow: [198.18.0.0/16]
    health: { type: http, port: 8080, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    backends:
      - { address: 198.18.1.11, port: 8080 }
      - { address: 198.18.1.12, port: 8080, weight: 2, mac: "02:00:00:00:01:12" }
`;
  const { config, problems } = parseConfig(yaml);
  t.deepEqual(problems, []);
  t.deepEqual(config?.ha, {
    nodeId: 'lb-a', pair: 'edge-1', leaseMs: 800, heartbeat: { interface: 'front', intervalMs: 100, misses: 3 },
    keyFile: '/etc/xlb/ha.key', floating: [{ address: '198.18.1.1', prefixLength: 24, interface: 'back' }],
  });
  t.deepEqual(config?.pool.services[1].backends[1], { address: '198.18.1.12', port: 8080, weight: 2, mac: '02:00:00:00:01:12', drained: false });
});

/** A directory of the test's own, removed when it ends. */
function scratch(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('loadConfigFile: a missing file is XLB_CONFIG_UNREADABLE with the OS error', (t) => {
  const path = join(scratch(t), 'missing.yaml');
  const err = t.throws(() => loadConfigFile(path), { instanceOf: ConfigError });
  t.is(err?.code, 'XLB_CONFIG_UNREADABLE');
  t.is(err?.message, `${path}: cannot read the config: ENOENT: no such file or directory, open '${path}'`);
  t.is((err?.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  t.deepEqual(err?.problems, []);
});

test('loadConfigFile: a directory is XLB_CONFIG_UNREADABLE', (t) => {
  const dir = scratch(t);
  const err = t.throws(() => loadConfigFile(dir), { instanceOf: ConfigError });
  t.is(err?.code, 'XLB_CONFIG_UNREADABLE');
  t.regex(err?.message ?? '', /: cannot read the config: EISDIR/);
});

test('loadConfigFile: an invalid file is XLB_CONFIG_INVALID listing every problem', (t) => {
  const path = join(scratch(t), 'bad.yaml');
  writeFileSync(path, 'node: { interfaces: [] }\nservices: [{ name: web, vip: 1.2.3, protocol: icmp }]\n');
  const err = t.throws(() => loadConfigFile(path), { instanceOf: ConfigError });
  t.is(err?.code, 'XLB_CONFIG_INVALID');
  t.true(err instanceof XlbError);
  t.is(err?.status, 400);
  t.is(err?.message, [
    `${path}: 2 problems`,
    '  node.interfaces: needs at least one interface to attach to',
    '  services[0].vip: "1.2.3" is not an IPv4 address',
  ].join('\n'));
  t.deepEqual(err?.problems, [
    { path: 'node.interfaces', message: 'needs at least one interface to attach to' },
    { path: 'services[0].vip', message: '"1.2.3" is not an IPv4 address' },
  ]);
});

test('loadConfigFile: one problem is "1 problem"', (t) => {
  const path = join(scratch(t), 'bad.yaml');
  writeFileSync(path, 'node: { interfaces: [eth0], xdp_mode: fast }\n');
  const err = t.throws(() => loadConfigFile(path), { instanceOf: ConfigError });
  t.is(err?.message.split('\n')[0], `${path}: 1 problem`);
});

test('loadConfigFile: a valid file gives its config', (t) => {
  const path = join(scratch(t), 'good.yaml');
  writeFileSync(path, `${NODE}\ndeny: [192.0.2.1]\n`);
  t.deepEqual(loadConfigFile(path).pool, { services: [], deny: ['192.0.2.1/32'] });
});
