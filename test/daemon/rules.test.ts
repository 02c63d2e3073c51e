// One home for each rule, seen from outside: one table of bad values walked through every way a config reaches a
// node (`lbctl config check`, `lbctl config apply` on a running daemon, `lbctl daemon` starting with it), each
// refusing the same values with the same problem lines; and live edits a config check would refuse, refused whole.
import test from 'ava';
import http from 'node:http';
import { stringify } from 'yaml';
import type { ErrorBody, Status } from '../../lb/control/api.js';
import { CAPACITY, MAX_CONFIG_BYTES } from '../../config/limits.js';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import { LBCTL, servicesOf, VIP, webService, XlbNode, type ConfigObject, type RunResult } from '../support/daemon.js';

/** `count` icmp services on distinct VIPs, with `each` backends apiece at distinct addresses. */
function icmpServices(count: number, each = 0): ConfigObject[] {
  let next = 0;
  const address = () => {
    const i = next++;
    return `198.18.${Math.floor(i / 256) % 256}.${i % 256}`;
  };
  return Array.from({ length: count }, (_, i) => ({
    name: `s${i}`, vip: `198.19.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`, protocol: 'icmp',
    backends: Array.from({ length: each }, () => ({ address: address() })),
  }));
}

type Row = [title: string, text: string, problems: string[]];

/** The bad values: each row a config file's text and the problem lines every surface must print for it. */
function table(node: XlbNode): Row[] {
  const backends = node.lab.addresses.backends;
  const yaml = (overrides: Parameters<XlbNode['config']>[0]) => stringify(node.config(overrides));
  const withBackend = (address: string) => yaml({ services: [webService([]), webService([address], { name: 'web2', port: 81 })] });
  const hostAddress = ['0.0.0.0', '255.255.255.255', '127.0.0.1', '224.0.0.1', '240.0.0.1'] as const;
  const kind: Record<(typeof hostAddress)[number], string> = {
    '0.0.0.0': 'a "this network" address (0.0.0.0/8)',
    '255.255.255.255': 'a reserved or broadcast address',
    '127.0.0.1': 'a loopback address',
    '224.0.0.1': 'a multicast address',
    '240.0.0.1': 'a reserved or broadcast address',
  };
  const valid = yaml({});
  return [
    ['an empty file', '', ['the config is empty: it needs at least node.interfaces']],
    ['an http path with non-ASCII characters',
      yaml({ services: [webService(backends, { health: { type: 'http', port: BACKEND_HTTP_PORT, path: '/café' } })] }),
      ['services[0].health.path: "/café" is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. /caf%C3%A9']],
    ['a weight of 1e400',
      yaml({ services: [webService([], { backends: [{ address: backends[0], weight: 7777 }] })] }).replace('weight: 7777', 'weight: 1e400'),
      ['services[0].backends[0].weight: 1e400 is not an integer from 0 to 10000']],
    ...hostAddress.map((address): Row => [`a backend at ${address}`, withBackend(address),
      [`services[1].backends[0].address: ${address} is ${kind[address]}, not a host's address`]]),
    ['a backend at the VIP', withBackend(VIP),
      [`services[1].backends[0].address: ${VIP} is the service's vip; a backend has its own address`]],
    [`${CAPACITY.services + 1} services`, yaml({ services: icmpServices(CAPACITY.services + 1) }),
      [`services: ${CAPACITY.services + 1} services, more than the ${CAPACITY.services} the data plane holds`]],
    ['5000 backends', yaml({ services: icmpServices(100, 50) }),
      [`services: 5000 backends over all services, more than the ${CAPACITY.backends} the data plane holds`]],
    [`${CAPACITY.denyPrefixes + 1} deny entries`,
      yaml({ deny: Array.from({ length: CAPACITY.denyPrefixes + 1 }, (_, i) => `10.${Math.floor(i / 256)}.${i % 256}.0/24`) }),
      [`deny: ${CAPACITY.denyPrefixes + 1} entries, more than the ${CAPACITY.denyPrefixes} the data plane holds`]],
    ['a file over 16 MiB', `${valid}#${'x'.repeat(MAX_CONFIG_BYTES - Buffer.byteLength(valid))}\n`,
      [`the config is ${MAX_CONFIG_BYTES + 2} bytes, over the limit of ${MAX_CONFIG_BYTES} bytes (16 MiB)`]],
  ];
}

/** The problem lines of a refusal: every line after the first, without indentation or the `FILE: ` of config check. */
function problemLines(r: RunResult, file: string): string[] {
  return r.stderr.trimEnd().split('\n').slice(1).map((line) => line.trim().replace(`${file}: `, ''));
}

/** Runs `fn` over `items`, `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

test('one table of bad values: config check, config apply and daemon start refuse each with the same problems', async (t) => {
  t.timeout(240_000);
  const node = await XlbNode.create(t);
  await node.start();
  const before = await node.status();
  await eachLimited(table(node), 3, async ([title, text, problems], i) => {
    const file = node.writeConfig(text, `bad-${i}.yaml`);
    const check = await node.lbctl(['config', 'check', file], { socket: false });
    const apply = await node.lbctl(['config', 'apply', file]);
    const start = await node.lab.exec(node.lab.ns.lb, [process.execPath, LBCTL, 'daemon', '-c', file], { bare: true });
    for (const [surface, r, first] of [
      ['config check', check, `lbctl: ${file}: `],
      ['config apply', apply, `lbctl: ${file}: `],
      ['daemon start', start, `lbctl daemon: ${file}: `],
    ] as const) {
      t.is(r.code, 1, `${title}, ${surface}: exit 1\n${r.stderr}`);
      t.is(r.stdout, '', `${title}, ${surface}: nothing on stdout`);
      t.true(r.stderr.startsWith(first), `${title}, ${surface}: names the file\n${r.stderr.slice(0, 300)}`);
      t.deepEqual(problemLines(r, file), problems, `${title}, ${surface}`);
    }
  });
  const after = await node.status();
  t.deepEqual(servicesOf(after), servicesOf(before), 'the running pool is unchanged');
  t.deepEqual(after.deny, before.deny);
  t.is(after.pid, before.pid, 'the daemon that was running still is');
});

/** POST `body` to the daemon's control socket from this process, as any client could. */
function post(socket: string, path: string, body: unknown): Promise<{ status: number; body: ErrorBody }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request({ socketPath: socket, method: 'POST', path, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (answer += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(answer) as ErrorBody }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

test('live edits a config check would refuse are refused, name the value and change nothing', async (t) => {
  t.timeout(120_000);
  const node = await XlbNode.create(t);
  await node.start();
  const before: Status = await node.status();
  for (const [address, kind] of [
    ['0.0.0.0', 'a "this network" address (0.0.0.0/8)'], ['255.255.255.255', 'a reserved or broadcast address'],
    ['127.0.0.1', 'a loopback address'], ['224.0.0.1', 'a multicast address'], ['240.0.0.1', 'a reserved or broadcast address'],
  ]) {
    const r = await post(node.socket, '/backends', { service: 'web', address, port: BACKEND_HTTP_PORT });
    t.is(r.status, 400, address);
    t.deepEqual(r.body, { code: 'XLB_BAD_REQUEST', error: `address: ${address} is ${kind}, not a host's address` });
    const cli = await node.lbctl(['backend', 'add', 'web', `${address}:${BACKEND_HTTP_PORT}`]);
    t.is(cli.code, 2, `lbctl refuses ${address} itself:\n${cli.stderr}`);
    t.true(cli.stderr.includes(`lbctl: ${address} is ${kind}, not a host's address\n`), cli.stderr);
  }
  const vipProblem = { path: 'services[1].backends[3].address', message: `${VIP} is the service's vip; a backend has its own address` };
  const r = await post(node.socket, '/backends', { service: 'web', address: VIP, port: BACKEND_HTTP_PORT });
  t.is(r.status, 400);
  t.deepEqual(r.body, {
    code: 'XLB_CONFIG_INVALID', error: `cannot add backend ${VIP}:${BACKEND_HTTP_PORT} to "web"; nothing changed`, problems: [vipProblem],
  });
  const cli = await node.lbctl(['backend', 'add', 'web', `${VIP}:${BACKEND_HTTP_PORT}`]);
  t.is(cli.code, 1);
  t.is(cli.stderr, `lbctl: cannot add backend ${VIP}:${BACKEND_HTTP_PORT} to "web"; nothing changed\n` +
    `  ${vipProblem.path}: ${vipProblem.message}\n`);
  const after = await node.status();
  t.deepEqual(servicesOf(after), servicesOf(before), 'the pool is unchanged');
  t.deepEqual(after.deny, before.deny);
});
