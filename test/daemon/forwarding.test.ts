// The daemon forwarding real traffic in the namespace lab: ICMP round robin, HTTP over nat, and dsr with the VIP on
// the backends' loopback.
import test from 'ava';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import { HttpClient, httpBurst, ping, XlbNode } from '../support/daemon.js';

test('ping to the VIP is answered by the backends in turn (rr, one echo each)', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const backends = node.lab.addresses.backends;

  const r = await ping(node.lab, ['-c', '6', '-i', '0.2', '-W', '5']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(r.replies.length, 6, r.stdout);
  // In nat mode the echo replies come straight from the backends: ping flags them "DIFFERENT ADDRESS".
  t.regex(r.stdout, /DIFFERENT ADDRESS/);
  const from = r.replies.map((x) => x.from);
  for (const a of from) t.true(backends.includes(a), `reply from ${a}`);
  // Each reply from the backend after the previous one's, round the three: 11 -> 12 -> 13 -> 11 ...
  for (let i = 1; i < from.length; i++) {
    const prev = backends.indexOf(from[i - 1]!);
    t.is(from[i], backends[(prev + 1) % backends.length], `reply ${i + 1} of ${from.join(', ')}`);
  }
  t.deepEqual(new Set(from), new Set(backends));
});

test('100 HTTP requests through the VIP in nat mode all succeed and reach every backend', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();

  const burst = await httpBurst(node.lab, 100);
  t.deepEqual(burst.errors, []);
  t.is(burst.ok, 100);
  for (const name of node.lab.backendNames) t.true((burst.counts[name] ?? 0) > 0, `${name}: ${JSON.stringify(burst.counts)}`);
  t.is(Object.keys(burst.counts).length, 3, JSON.stringify(burst.counts));

  const stats = await node.lbctlJson<{ services: { name: string; flowsNew: number; backends: { flowsNew: number }[] }[] }>(['stats']);
  const web = stats.services.find((s) => s.name === 'web')!;
  t.true(web.flowsNew >= 100, `web flowsNew ${web.flowsNew}`);
});

test('dsr: the backends hold the VIP on lo and answer the clients themselves', async (t) => {
  t.timeout(60_000);
  const dsrVip = '198.18.100.20';
  const node = await XlbNode.create(t, { dsrVips: [dsrVip] });
  const backends = node.lab.addresses.backends;
  await node.start(node.config({
    services: [{
      name: 'direct', vip: dsrVip, protocol: 'tcp', port: BACKEND_HTTP_PORT, scheduler: 'rr', forwarding: 'dsr',
      health: { type: 'http', path: '/healthz', interval: '500ms' },
      backends: backends.map((address) => ({ address })),
    }],
  }));
  const status = await node.status();
  t.is(status.services[0]!.forwarding, 'dsr');

  const burst = await httpBurst(node.lab, 30, `http://${dsrVip}:${BACKEND_HTTP_PORT}/`);
  t.deepEqual(burst.errors, []);
  t.is(burst.ok, 30);
  t.deepEqual(Object.keys(burst.counts).sort(), node.lab.backendNames, JSON.stringify(burst.counts));

  // While a connection is open, the backend's socket is bound to the VIP itself (no NAT): it answers from the VIP.
  const client = await HttpClient.open(node.lab, `http://${dsrVip}:${BACKEND_HTTP_PORT}/`);
  t.teardown(() => client.close());
  const a = await client.get('keep');
  t.is(a.status, 200, JSON.stringify(a));
  const i = node.lab.backendNames.indexOf(a.backend!);
  t.true(i >= 0, JSON.stringify(a));
  const ss = await node.lab.exec(node.lab.ns.backends[i]!, ['ss', '-Htn', 'state', 'established']);
  t.regex(ss.stdout, new RegExp(`${dsrVip.replace(/\./g, '\\.')}:${BACKEND_HTTP_PORT}\\s+198\\.18\\.0\\.1:${a.localPort}\\b`), ss.stdout);
});
