// Big config files: one under the size limit is read and checked off the event loop (status answers, probes go on,
// the running pool stays when it is refused); one over the limit is refused without being read.
import test from 'ava';
import { stringify } from 'yaml';
import { configSizeProblem, MAX_CONFIG_BYTES } from '../../config/limits.js';
import { eventually, webService, XlbNode } from '../support/daemon.js';

/** A probe every 200 ms, down after one failure: each later failure is logged (at debug) with its time. */
const FAST_CHECK = { type: 'http', port: 8080, path: '/healthz', interval: '200ms', timeout: '150ms', rise: 1, fall: 1 };

/** `yaml` with its deny list made `count` entries long: 10.x.y.z/32, ~20 bytes each. */
function withDeny(yaml: string, count: number): string {
  const entries: string[] = [];
  for (let n = 0; n < count; n++) entries.push(`  - 10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`);
  return yaml.replace(/^deny: \[\]$/m, `deny:\n${entries.join('\n')}`);
}

test('a big config is checked off the event loop: status answers and probes go on meanwhile; the pool stays', async (t) => {
  t.timeout(120_000);
  const node = await XlbNode.create(t);
  const lab = node.lab;
  const config = node.config({ services: [webService(lab.addresses.backends, { health: FAST_CHECK })] });
  const d = await node.start(config, { env: { XLB_LOG_LEVEL: 'debug' } });
  await lab.stopServer(0);
  await eventually('b1 down', 20_000, async () => (await node.status()).services[0]!.backends[0]!.health === 'down');

  // Just under the size limit, and more deny entries than the data plane holds: read and checked in full, then
  // refused by the pool's rules.
  const plain = stringify(config);
  const big = withDeny(plain, Math.floor((MAX_CONFIG_BYTES - plain.length) / 21));
  t.true(big.length < MAX_CONFIG_BYTES && big.length > MAX_CONFIG_BYTES * 0.9, `${big.length} bytes`);
  node.writeConfig(big);
  const logged = d.log.length;
  d.signal('SIGHUP');

  const during = await eventually('status answering during the reload', 60_000, async () => {
    const s = await node.status();
    return s.reload ? s : undefined;
  });
  t.is(during.reload!.source, d.configPath);
  const table = await node.lbctl(['status']);
  t.regex(table.stdout, /^reload\s+reading and checking \S+xlb\.yaml for \d+s$/m);

  await eventually('the reload rejected', 60_000, async () => d.log.slice(logged).includes('reload rejected'));
  const entries = d.logEntries();
  const time = (msg: string) => entries.find((e) => e.msg === msg)?.time as number;
  const from = time('SIGHUP: reloading the config');
  const to = time(`${d.configPath} read and checked`);
  t.truthy(from && to, d.log.slice(-2000));
  const probes = entries.filter((e) => e.msg === 'health probe failed' && (e.time as number) > from && (e.time as number) < to);
  t.log(`read and checked in ${to - from} ms; ${probes.length} probes failed meanwhile`);
  t.true(probes.length >= 2, `probes went on while the config was checked (${to - from} ms): ${probes.length}`);

  const rejected = entries.find((e) => typeof e.msg === 'string' && e.msg.startsWith('reload rejected'))!;
  t.regex(rejected.msg as string, /: 1 problem; the running pool stays$/);
  t.regex((rejected.problems as string[])[0]!, /^deny: \d+ entries, more than the 16384 the data plane holds$/);
  const after = await node.status();
  t.deepEqual(after.deny, [], 'the running pool stays');
  t.is(after.reload, undefined);
  t.true(d.running);
});

test('a config over the size limit is refused without being read, by SIGHUP and by config apply', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  const d = await node.start();
  const plain = stringify(node.config());
  const huge = `${plain}${`# ${'x'.repeat(1000)}\n`.repeat(Math.ceil(MAX_CONFIG_BYTES / 1000) + 100)}`;
  const size = Buffer.byteLength(huge);
  const file = node.writeConfig(huge);
  const logged = d.log.length;
  d.signal('SIGHUP');
  await eventually('the reload rejected', 30_000, async () => d.log.slice(logged).includes('reload rejected'));
  const rejected = d.logEntries().find((e) => typeof e.msg === 'string' && e.msg.startsWith('reload rejected'))!;
  t.deepEqual(rejected.problems, [configSizeProblem(size)!.message]);

  const apply = await node.lbctl(['config', 'apply', file]);
  t.is(apply.code, 1);
  t.regex(apply.stderr, new RegExp(`over the limit of ${MAX_CONFIG_BYTES} bytes`));
  t.deepEqual((await node.status()).services.map((s) => s.name), ['ping', 'web']);
});
