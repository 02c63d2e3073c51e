// The Prometheus scrape: strict text format 0.0.4, the metric names and labels DESIGN.md promises, counters that
// follow the traffic.
import test from 'ava';
import { BACKEND_HTTP_PORT } from '../../scripts/lab/lab.js';
import { httpBurst, ping, XlbNode } from '../support/daemon.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/**
 * A strict parser of the text exposition format: `# HELP name text`, `# TYPE name type` (before the family's
 * samples, at most once each), samples `name{label="value",...} value [timestamp]` whose family was declared with
 * TYPE, label values with only \\, \" and \n escapes, no repeated label, no repeated series. Throws on anything else.
 */
function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const family = (name: string, line: number): Family => {
    if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`);
    let f = families.get(name);
    if (!f) {
      f = { name, samples: [] };
      families.set(name, f);
    } else if (f !== current) {
      throw new Error(`line ${line}: ${name} appears again after another family`);
    }
    current = f;
    return f;
  };
  text.slice(0, -1).split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(raw);
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(raw)) throw new Error(`line ${line}: malformed ${raw}`);
        return; // a comment
      }
      const f = family(m[2]!, line);
      if (m[1] === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${line}: second HELP for ${f.name}`);
        if (/\\[^\\n]/.test(m[3]!.replace(/\\\\/g, ''))) throw new Error(`line ${line}: bad escape in HELP`);
        f.help = m[3]!;
      } else {
        if (f.type !== undefined) throw new Error(`line ${line}: second TYPE for ${f.name}`);
        if (f.samples.length) throw new Error(`line ${line}: TYPE of ${f.name} after its samples`);
        if (!TYPES.includes(m[3]!)) throw new Error(`line ${line}: unknown type ${m[3]}`);
        f.type = m[3]!;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = m[1]!;
    const labels = m[2] === undefined ? {} : parseLabels(m[3]!, line);
    const value = parseValue(m[4]!, line);
    const f = family(name, line);
    if (f.type === undefined) throw new Error(`line ${line}: sample of ${name} before its TYPE`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`line ${line}: repeated series ${raw}`);
    seen.add(series);
    f.samples.push({ name, labels, value });
  });
  return families;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length) {
    const m = /^([^=]+)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (!m) throw new Error(`line ${line}: bad labels {${text}}`);
    const name = m[1]!;
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`line ${line}: bad label name ${name}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
    if (m[3] === ',' && rest.length === 0) break; // a trailing comma is allowed
  }
  return labels;
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${text}`);
  return Number(text);
}

test('the parser itself refuses what Prometheus would', (t) => {
  t.notThrows(() => parsePrometheus('# HELP a_total x\n# TYPE a_total counter\na_total{x="1",y="a\\"b"} 3\n'));
  t.throws(() => parsePrometheus('a_total 1\n'), { message: /before its TYPE/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\na{x=1} 1\n'), { message: /bad labels/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\na{x="1",x="2"} 1\n'), { message: /twice/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\na 1\na 2\n'), { message: /repeated/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\na one\n'), { message: /bad value/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\na 1'), { message: /newline/ });
  t.throws(() => parsePrometheus('# TYPE a gauge\n# TYPE b gauge\na 1\n'), { message: /again/ });
});

test('metrics: Prometheus text with the promised families and labels; counters grow with traffic', async (t) => {
  t.timeout(60_000);
  const node = await XlbNode.create(t);
  await node.start();
  const lab = node.lab;
  const backends = lab.addresses.backends;

  const before = parsePrometheus(await node.metrics());
  const want: [string, string, string[][]][] = [
    ['xlb_packets_total', 'counter', [['backend', 'service']]],
    ['xlb_bytes_total', 'counter', [['backend', 'service']]],
    ['xlb_drops_total', 'counter', [['reason']]],
    ['xlb_backend_up', 'gauge', [['backend', 'service']]],
    ['xlb_flows_new_total', 'counter', [['service']]],
    ['xlb_ha_active', 'gauge', [[]]],
  ];
  for (const [name, type, labelSets] of want) {
    const f = before.get(name);
    if (!f) {
      t.fail(`${name} is missing`);
      continue;
    }
    t.is(f.type, type, name);
    t.truthy(f.help, `${name} has HELP`);
    t.true(f.samples.length > 0, `${name} has samples`);
    for (const s of f.samples) t.deepEqual([Object.keys(s.labels).sort()], labelSets, `${name} labels ${JSON.stringify(s.labels)}`);
  }
  const series = (f: string) => before.get(f)!.samples.map((s) => `${s.labels.service} ${s.labels.backend}`).sort();
  const expected = [...backends.map((a) => `ping ${a}`), ...backends.map((a) => `web ${a}:${BACKEND_HTTP_PORT}`)].sort();
  t.deepEqual(series('xlb_packets_total'), expected);
  t.deepEqual(series('xlb_bytes_total'), expected);
  t.deepEqual(series('xlb_backend_up'), expected);
  t.true(before.get('xlb_backend_up')!.samples.every((s) => s.value === 1));
  t.deepEqual(before.get('xlb_flows_new_total')!.samples.map((s) => s.labels.service).sort(), ['ping', 'web']);
  t.is(before.get('xlb_ha_active')!.samples[0]!.value, 1);
  const reasons = before.get('xlb_drops_total')!.samples.map((s) => s.labels.reason);
  for (const r of ['denied', 'not_allowed', 'no_backend', 'malformed']) t.true(reasons.includes(r), `drops reason ${r}: ${reasons}`);
  // Every counter is a non-negative integer.
  for (const f of before.values()) {
    if (f.type === 'counter') for (const s of f.samples) t.true(Number.isInteger(s.value) && s.value >= 0, `${f.name} ${s.value}`);
  }

  const burst = await httpBurst(lab, 30);
  t.is(burst.ok, 30);
  const p = await ping(lab, ['-c', '3', '-i', '0.2', '-W', '5']);
  t.is(p.received, 3);

  const after = parsePrometheus(await node.metrics());
  const value = (m: Map<string, Family>, name: string, labels: Record<string, string>) =>
    m.get(name)!.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))!.value;
  const sum = (m: Map<string, Family>, name: string, service: string) =>
    m.get(name)!.samples.filter((s) => s.labels.service === service).reduce((n, s) => n + s.value, 0);
  t.true(sum(after, 'xlb_packets_total', 'web') >= sum(before, 'xlb_packets_total', 'web') + 90);
  t.true(sum(after, 'xlb_bytes_total', 'web') > sum(before, 'xlb_bytes_total', 'web') + 90 * 40);
  for (const a of backends) {
    const labels = { service: 'web', backend: `${a}:${BACKEND_HTTP_PORT}` };
    t.true(value(after, 'xlb_packets_total', labels) > value(before, 'xlb_packets_total', labels), JSON.stringify(labels));
    const pingLabels = { service: 'ping', backend: a };
    t.is(value(after, 'xlb_packets_total', pingLabels), value(before, 'xlb_packets_total', pingLabels) + 1, a);
  }
  t.true(value(after, 'xlb_flows_new_total', { service: 'web' }) >= value(before, 'xlb_flows_new_total', { service: 'web' }) + 30);

  // A denied ping shows as a drop.
  const deny = await node.lbctl(['deny', 'add', '198.18.0.1/32']);
  t.is(deny.code, 0, deny.stderr);
  await ping(lab, ['-c', '2', '-i', '0.2', '-W', '1']);
  const denied = parsePrometheus(await node.metrics());
  t.is(value(denied, 'xlb_drops_total', { reason: 'denied' }), value(after, 'xlb_drops_total', { reason: 'denied' }) + 2);

  const notFound = await lab.exec(lab.ns.lb, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:9470/']);
  t.is(notFound.stdout, '404');
});
