// Backends leaving and coming back: a dead server is taken out by its health check and returns when it answers
// again; a drained backend keeps its open connections and gets no new ones.
import test from 'ava';
import type { BackendStatus, Status } from '../../lb/control/api.js';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import { eventually, HttpClient, httpBurst, XlbNode } from '../support/daemon.js';

const INTERVAL_MS = 500;
const RISE = 2;
const FALL = 2;
/** What the tests allow on top of the health check's own delay: slow CI machines, lbctl's start-up. */
const MARGIN_MS = 5000;

function web(s: Status, address: string): BackendStatus {
  const b = s.services.find((v) => v.name === 'web')?.backends.find((x) => x.address === address);
  if (!b) throw new Error(`no web backend ${address} in status`);
  return b;
}

test('a backend whose server stops is taken out within fall x interval, and comes back when it answers', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const b1 = lab.addresses.backends[0]!;
  await node.start();
  // The web service of node.config(): http check every 500 ms, rise 2, fall 2.
  const check = (await node.status()).services.find((v) => v.name === 'web')!;
  t.is(check.health, 'http');
  t.is(web(await node.status(), b1).health, 'up');

  await lab.stopServer(0);
  const stopped = Date.now();
  await eventually('b1 down in status', FALL * INTERVAL_MS + INTERVAL_MS + MARGIN_MS,
    async () => web(await node.status(), b1).health === 'down');
  t.log(`b1 down ${Date.now() - stopped} ms after its server stopped (fall x interval + interval = ${(FALL + 1) * INTERVAL_MS} ms)`);
  // The ICMP service's check still sees the host.
  const ping = (await node.status()).services.find((v) => v.name === 'ping')!;
  t.true(ping.backends.every((b) => b.health === 'up'));

  const without = await httpBurst(lab, 40);
  t.deepEqual(without.errors, [], 'every request is answered by a live backend');
  t.is(without.ok, 40);
  t.is(without.counts.b1 ?? 0, 0, JSON.stringify(without.counts));
  t.true((without.counts.b2 ?? 0) > 0 && (without.counts.b3 ?? 0) > 0, JSON.stringify(without.counts));

  const metricsDown = await node.metrics();
  t.regex(metricsDown, new RegExp(`^xlb_backend_up\\{service="web",backend="${b1.replace(/\./g, '\\.')}:${BACKEND_HTTP_PORT}"\\} 0$`, 'm'));

  await lab.startServer(0);
  const started = Date.now();
  await eventually('b1 up again in status', RISE * INTERVAL_MS + INTERVAL_MS + MARGIN_MS,
    async () => web(await node.status(), b1).health === 'up');
  t.log(`b1 up ${Date.now() - started} ms after its server started`);
  const back = await httpBurst(lab, 40);
  t.deepEqual(back.errors, []);
  t.true((back.counts.b1 ?? 0) > 0, JSON.stringify(back.counts));
});

test('a drained backend keeps its open connection; new connections go elsewhere', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  await node.start();

  const client = await HttpClient.open(lab);
  t.teardown(() => client.close());
  const first = await client.get('keep');
  t.is(first.status, 200, JSON.stringify(first));
  const name = first.backend!;
  const i = lab.backendNames.indexOf(name);
  t.true(i >= 0, JSON.stringify(first));
  const address = lab.addresses.backends[i]!;

  const drain = await node.lbctl(['backend', 'drain', 'web', `${address}:${BACKEND_HTTP_PORT}`]);
  t.is(drain.code, 0, drain.stderr);
  t.true(web(await node.status(), address).drained);

  for (let n = 0; n < 3; n++) {
    const again = await client.get('keep');
    t.is(again.status, 200, JSON.stringify(again));
    t.true(again.reused, `request ${n + 2} went over the same connection: ${JSON.stringify(again)}`);
    t.is(again.localPort, first.localPort);
    t.is(again.backend, name, 'the open connection stays on its (drained) backend');
  }

  const fresh: string[] = [];
  for (let n = 0; n < 20; n++) {
    const r = await client.get('new');
    t.is(r.status, 200, JSON.stringify(r));
    fresh.push(r.backend ?? '?');
  }
  t.false(fresh.includes(name), `new connections avoid the drained ${name}: ${fresh.join(' ')}`);
  // (A request now and then keeps the connection from the server's 5 s keep-alive timeout.)
  const between = await client.get('keep');
  t.is(between.backend, name);
  t.is(between.localPort, first.localPort);
  const burst = await httpBurst(lab, 30);
  t.deepEqual(burst.errors, []);
  t.is(burst.counts[name] ?? 0, 0, JSON.stringify(burst.counts));

  // Still the same connection, still answered by the drained backend.
  const last = await client.get('keep');
  t.is(last.backend, name);
  t.is(last.localPort, first.localPort);
});
