// Health probes against real addresses in network namespaces, run where the daemon runs them: a process in the LB's
// namespace (probe-runner.ts). The lab's b1 answers for every address of 198.18.16.0/23 (ICMP, and its server's HTTP
// on 8080); some of them it blackholes, refuses with host unreachable (an unreachable route) or port unreachable (an
// nftables reject). One lab for the file; the tests run one at a time, as they count b1's echo requests.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { addressesIn, BACKEND_HTTP_PORT, Lab, labCleanupOnExit } from '../../scripts/lab/lab.js';
import type { Plan, PlannedProbe, Report } from './probe-runner.js';

const RUNNER = fileURLToPath(new URL('./probe-runner.js', import.meta.url));
const NET = '198.18.16.0/23';
const ADDRESSES = addressesIn(NET, 512);
const UP = ADDRESSES.slice(0, 400);
const BLACKHOLED = ADDRESSES.slice(400, 450);
const HOST_UNREACHABLE = ADDRESSES[500]!;
const PORT_UNREACHABLE = ADDRESSES[501]!;
/** In the LB's namespace: no route at all; on back's subnet, nobody answers ARP. */
const NO_ROUTE = '198.18.50.1';
const NO_ARP = '198.18.1.99';
/** By path: under npx, PATH starts with node_modules/.bin, where a JavaScript tool of that name lives. */
const NFT = '/usr/sbin/nft';
/** Generous: only says "it did end, long before a hang would"; timings on a loaded machine are not asserted tightly. */
const MARGIN_MS = 3000;

let lab: Lab | undefined;

test.before(async () => {
  lab = await Lab.create({ backends: 1, backendNet: NET });
  labCleanupOnExit(lab);
  const b1 = lab.ns.backends[0]!;
  // In the local table, where b1's local route for the whole net is: a /32 there wins over it.
  await must(b1, ['ip', '-batch', '-'], [
    ...BLACKHOLED.map((a) => `route add blackhole ${a}/32 table local`),
    `route add unreachable ${HOST_UNREACHABLE}/32 table local`,
  ].join('\n'));
  // A router answers for a route that is unreachable; a host that does not forward stays silent.
  await must(b1, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.forwarding=1']);
  await must(b1, [NFT, '-f', '-'], `table ip probe {\n  chain input {\n    type filter hook input priority 0;\n` +
    `    ip daddr ${PORT_UNREACHABLE} icmp type echo-request reject with icmp type port-unreachable\n  }\n}\n`);
});

test.after.always(async () => {
  await lab?.destroy();
});

async function must(ns: string, cmd: string[], input?: string): Promise<string> {
  const r = await lab!.exec(ns, cmd, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${ns}: ${cmd.join(' ')}: ${r.code} ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs the plan in the LB's namespace (behind `prefix`, e.g. setpriv) and returns the runner's report. */
async function run(plan: Plan, prefix: string[] = []): Promise<Report> {
  const out = await must(lab!.ns.lb, [...prefix, process.execPath, RUNNER, JSON.stringify(plan)]);
  return JSON.parse(out) as Report;
}

/** Echo requests b1 has received (Icmp InEchos of its /proc/net/snmp). */
async function echoesAtB1(): Promise<number> {
  const snmp = await must(lab!.ns.backends[0]!, ['cat', '/proc/net/snmp']);
  const [names, values] = snmp.split('\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InEchos')]);
}

function icmp(address: string, timeoutMs: number, more: Partial<PlannedProbe> = {}): PlannedProbe {
  return { type: 'icmp', address, timeoutMs, ...more };
}

test.serial('an address that answers is up: one echo request per probe, whatever the timeout', async (t) => {
  const before = await echoesAtB1();
  const report = await run({ probes: [icmp(UP[0]!, 300), icmp(UP[1]!, 1000), icmp(UP[2]!, 1500)] });
  t.deepEqual(report.results.map(({ ok, detail }) => ({ ok, detail })), Array(3).fill({ ok: true, detail: 'echo reply' }));
  t.is(await echoesAtB1() - before, 3);
});

for (const timeoutMs of [300, 1000]) {
  test.serial(`a blackholed address is down after the ${timeoutMs}ms timeout, and nothing is left behind`, async (t) => {
    const report = await run({ probes: [icmp(BLACKHOLED[0]!, timeoutMs)] });
    const [result] = report.results;
    t.like(result, { ok: false, detail: `timeout after ${timeoutMs}ms` });
    t.true(result!.ms >= timeoutMs - 50 && result!.ms < timeoutMs + MARGIN_MS, `took ${result!.ms}ms`);
    t.is(report.fds.after, report.fds.before);
    t.deepEqual(report.held, { watched: 0, echoes: 0 });
  });
}

test.serial('ICMP errors end the probe at once and say what and from whom; a send that fails says why', async (t) => {
  const report = await run({
    probes: [icmp(HOST_UNREACHABLE, 5000), icmp(PORT_UNREACHABLE, 5000), icmp(NO_ARP, 10_000), icmp(NO_ROUTE, 5000)],
  });
  const [host, port, arp, route] = report.results;
  const b1 = lab!.addresses.backends[0]!;
  t.like(host, { ok: false, detail: `no echo reply: host unreachable from ${b1}` });
  t.like(port, { ok: false, detail: `no echo reply: port unreachable from ${PORT_UNREACHABLE}` });
  // The LB's own kernel gives up on ARP (after about 3 s) and says so.
  t.like(arp, { ok: false, detail: `no echo reply: host unreachable from ${lab!.addresses.lbBack}` });
  t.like(route, { ok: false, detail: 'sendto ENETUNREACH' });
  for (const r of [host, port, route]) t.true(r!.ms < 5000 - 1000, `decided before the timeout: ${r!.ms}ms`);
});

test.serial('500 probes at once, ICMP, TCP and HTTP, two rounds: each answer goes to its own probe', async (t) => {
  const probes: PlannedProbe[] = [
    ...UP.slice(0, 400).map((a) => icmp(a, 2000)),
    ...BLACKHOLED.map((a) => icmp(a, 1000)),
    ...UP.slice(0, 25).map((a): PlannedProbe => ({ type: 'tcp', address: a, port: BACKEND_HTTP_PORT, timeoutMs: 2000 })),
    ...UP.slice(25, 50).map((a): PlannedProbe => ({ type: 'http', address: a, port: BACKEND_HTTP_PORT, timeoutMs: 2000 })),
  ];
  const before = await echoesAtB1();
  const report = await run({ probes, rounds: 2 });
  const wanted = probes.map((p) => (p.type === 'tcp' ? 'connected' : p.type === 'http' ? 'HTTP 200'
    : BLACKHOLED.includes(p.address) ? 'timeout after 1000ms' : 'echo reply'));
  const wrong = report.results.flatMap((r, i) => (r.detail === wanted[i] ? [] : [`${probes[i]!.type} ${probes[i]!.address}: ${r.detail}`]));
  t.deepEqual(wrong, []);
  t.is(await echoesAtB1() - before, 2 * 400, 'one echo request per probe of an address that answers');
  t.is(report.fds.after, report.fds.before);
});

test.serial('an abort ends probes at once; one ICMP socket for all ICMP probes; every fd closed after', async (t) => {
  const tcp = BLACKHOLED.slice(0, 20).map((a): PlannedProbe => ({ type: 'tcp', address: a, port: BACKEND_HTTP_PORT, timeoutMs: 20_000, abortAfterMs: 100 }));
  const report = await run({
    probes: [
      ...BLACKHOLED.slice(20, 40).map((a) => icmp(a, 20_000, { abortAfterMs: 100 })),
      ...tcp,
      ...UP.slice(0, 20).map((a) => icmp(a, 20_000)),
    ],
  });
  t.deepEqual(report.results.map((r) => r.detail), [...Array(40).fill('aborted'), ...Array(20).fill('echo reply')]);
  for (const r of report.results.slice(0, 40)) t.true(r.ms < 20_000 - MARGIN_MS, `aborted after ${r.ms}ms`);
  // While they ran: one socket per TCP probe, the one ICMP socket and the epoll set.
  t.is(report.fds.during, report.fds.before + tcp.length + 2);
  t.is(report.fds.after, report.fds.before);
  t.deepEqual(report.held, { watched: 0, echoes: 0 });
});

test.serial('without CAP_NET_RAW an ICMP probe is down and says why, not a crash', async (t) => {
  const report = await run({ probes: [icmp(UP[0]!, 1000)] }, ['setpriv', '--bounding-set', '-net_raw', '--']);
  t.false(report.results[0]!.ok);
  t.regex(report.results[0]!.detail, /EPERM/);
  t.is(report.fds.after, report.fds.before);
});
