// YAML as the config reads it: numbers no JavaScript number holds are quoted as written, not as Infinity or rounded.
import test from 'ava';
import { parseConfig } from '../../config/load.js';
import { formatProblem } from '../../config/problem.js';
import { NumberLiteral } from '../../config/values.js';
import { parseYaml } from '../../config/yaml.js';

test('numbers beyond a double, or integers beyond 2^53, are kept as written', (t) => {
  const { data, problems } = parseYaml('a: 1e400\nb: -1e400\nc: 12345678901234567890\nd: .inf\ne: 9007199254740991\nf: 1.5\n');
  t.deepEqual(problems, []);
  t.deepEqual(data, {
    a: new NumberLiteral('1e400'), b: new NumberLiteral('-1e400'), c: new NumberLiteral('12345678901234567890'),
    d: new NumberLiteral('.inf'), e: 9007199254740991, f: 1.5,
  });
});

test('a weight of 1e400 is named as written', (t) => {
  const yaml = 'node: { interfaces: [eth0] }\nservices:\n  - name: web\n    vip: 198.18.0.10\n    protocol: tcp\n    port: 1e400\n' +
    '    backends: [{ address: 198.18.1.11, weight: 1e400 }, { address: 198.18.1.12, weight: 12345678901234567890 }]\n' +
    '  - { name: 1e400, vip: 198.18.0.11, protocol: icmp }\n';
  t.deepEqual(parseConfig(yaml).problems.map(formatProblem), [
    'services[0].port: 1e400 is not a port (1..65535)',
    'services[0].backends[0].weight: 1e400 is not an integer from 0 to 10000',
    'services[0].backends[1].weight: 12345678901234567890 is not an integer from 0 to 10000',
    'services[1].name: must be a string; quote it: "1e400"',
  ]);
});
