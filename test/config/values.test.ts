// The value rules every edge uses (config file, Redis pool, control socket, lbctl, health checker): each value as
// given, and what the rule makes of it.
import test from 'ava';
import {
  formatEndpoint, formatMs, NumberLiteral, parseChoice, parseCidr, parseDuration, parseHostAddress, parseHttpPath,
  parseInterfaceAddress, parseInterfaceName, parseIPv4, parseMac, parsePort, parseServiceName,
  parseThreshold, parseWeight, show, type Checked,
} from '../../config/values.js';

const problem = <T>(r: Checked<T>): string => (r.ok ? `ok: ${JSON.stringify(r.value)}` : r.problem);

const cases: [string, (v: unknown) => Checked<unknown>, unknown, string][] = [
  ['ipv4', parseIPv4, '198.18.1.11', 'ok: "198.18.1.11"'],
  ['ipv4', parseIPv4, '01.2.3.4', '"01.2.3.4" is not an IPv4 address'],
  ['ipv4', parseIPv4, 1.2, '1.2 is not an IPv4 address'],
  ['host', parseHostAddress, '198.18.1.11', 'ok: "198.18.1.11"'],
  ['host', parseHostAddress, '0.0.0.0', '0.0.0.0 is a "this network" address (0.0.0.0/8), not a host\'s address'],
  ['host', parseHostAddress, '127.0.0.1', '127.0.0.1 is a loopback address, not a host\'s address'],
  ['host', parseHostAddress, '224.0.0.1', '224.0.0.1 is a multicast address, not a host\'s address'],
  ['host', parseHostAddress, '240.0.0.1', '240.0.0.1 is a reserved or broadcast address, not a host\'s address'],
  ['host', parseHostAddress, '255.255.255.255', '255.255.255.255 is a reserved or broadcast address, not a host\'s address'],
  ['host', parseHostAddress, 'x', '"x" is not an IPv4 address'],
  ['cidr', parseCidr, '0.0.0.0/0', 'ok: "0.0.0.0/0"'],
  ['cidr', parseCidr, '192.0.2.7', 'ok: "192.0.2.7/32"'],
  ['cidr', parseCidr, '255.255.255.255/31', '255.255.255.255/31 has host bits set; did you mean 255.255.255.254/31?'],
  ['cidr', parseCidr, '10.1.2.3/1', '10.1.2.3/1 has host bits set; did you mean 0.0.0.0/1?'],
  ['cidr', parseCidr, '10.0.0.0/33', '"10.0.0.0/33" is not an IPv4 CIDR, e.g. 203.0.113.0/24'],
  ['interface address', parseInterfaceAddress, '198.18.1.1/24', 'ok: {"address":"198.18.1.1","prefixLength":24}'],
  ['interface address', parseInterfaceAddress, '10.0.0.0/8',
    '10.0.0.0/8 is the network\'s own address; give a host\'s, e.g. 10.0.0.1/8'],
  ['interface address', parseInterfaceAddress, '10.255.255.255/8',
    '10.255.255.255/8 is the network\'s broadcast address; give a host\'s, e.g. 10.0.0.1/8'],
  ['port', parsePort, 65535, 'ok: 65535'],
  ['port', parsePort, 0, '0 is not a port (1..65535)'],
  ['port', parsePort, '80', '"80" is not a port (1..65535)'],
  ['weight', parseWeight, 0, 'ok: 0'],
  ['weight', parseWeight, 10000, 'ok: 10000'],
  ['weight', parseWeight, 10001, '10001 is not an integer from 0 to 10000'],
  ['weight', parseWeight, Infinity, 'a number too large to hold is not an integer from 0 to 10000'],
  ['weight', parseWeight, new NumberLiteral('1e400'), '1e400 is not an integer from 0 to 10000'],
  ['threshold', parseThreshold, 100, 'ok: 100'],
  ['threshold', parseThreshold, 0, '0 is not an integer from 1 to 100'],
  ['threshold', parseThreshold, true, 'true is not an integer from 1 to 100'],
  ['duration', parseDuration, '1.5s', 'ok: 1500'],
  ['duration', parseDuration, '24h', '"24h" is not a duration, e.g. 500ms, 1s or 2m'],
  ['duration', parseDuration, '1441m', '1441m is longer than a day'],
  ['duration', parseDuration, 2, 'needs a unit, e.g. 500ms or 2s'],
  ['mac', parseMac, '02:AB:00:00:01:12', 'ok: "02:ab:00:00:01:12"'],
  ['mac', parseMac, '33:33:00:00:00:01', '33:33:00:00:00:01 is not a unicast MAC address; a next hop needs one'],
  ['interface', parseInterfaceName, 'eth0.100', 'ok: "eth0.100"'],
  ['interface', parseInterfaceName, '..', '".." is not an interface name: 1 to 15 characters, no "/", ":" or spaces'],
  ['choice', (v) => parseChoice(v, ['rr', 'maglev']), 'Maglev', '"Maglev" is not one of rr, maglev; did you mean "maglev"?'],
  ['choice', (v) => parseChoice(v, ['rr', 'maglev']), ['rr'], 'a list is not one of rr, maglev'],
  ['service name', parseServiceName, 'web-1.a_b', 'ok: "web-1.a_b"'],
  ['service name', parseServiceName, 'Web',
    '"Web" is not a service name: 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit'],
  ['http path', parseHttpPath, '/healthz?full=1', 'ok: "/healthz?full=1"'],
  ['http path', parseHttpPath, '/caf%C3%A9', 'ok: "/caf%C3%A9"'],
  ['http path', parseHttpPath, '/café',
    '"/café" is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. /caf%C3%A9'],
  ['http path', parseHttpPath, '/ü/ß', '"/ü/ß" is not an HTTP path: non-ASCII characters must be percent-encoded, e.g. /%C3%BC/%C3%9F'],
  ['http path', parseHttpPath, '/caf\ud800', '"/caf\\ud800" is not an HTTP path: it starts with "/" and has no spaces'],
  ['http path', parseHttpPath, '/x\r\nHost: evil', '"/x\\r\\nHost: evil" is not an HTTP path: it starts with "/" and has no spaces'],
  ['http path', parseHttpPath, 'healthz', '"healthz" is not an HTTP path: it starts with "/" and has no spaces'],
];

for (const [what, parse, given, expected] of cases) {
  test(`${what}: ${show(given)}`, (t) => {
    t.is(problem(parse(given)), expected);
  });
}

test('formatMs writes what parseDuration reads back as the same milliseconds', (t) => {
  for (const ms of [1, 999, 1000, 1500, 2100, 59_999, 60_000, 90_000, 120_000, 86_400_000]) {
    t.deepEqual(parseDuration(formatMs(ms)), { ok: true, value: ms }, formatMs(ms));
  }
  t.is(formatMs(1500), '1.5s');
  t.is(formatMs(120_000), '2m');
  t.false(parseDuration(formatMs(0.5)).ok);
});

test('show quotes strings, prints numbers as written, and names lists and mappings', (t) => {
  t.is(show('x'), '"x"');
  t.is(show(7), '7');
  t.is(show(null), 'null');
  t.is(show([1]), 'a list');
  t.is(show({ a: 1 }), 'a mapping');
  t.is(show(new NumberLiteral('12345678901234567890')), '12345678901234567890');
  t.is(show(-Infinity), 'a number too large to hold');
});

test('formatEndpoint: address:port, or the address alone', (t) => {
  t.is(formatEndpoint('198.18.1.11', 8080), '198.18.1.11:8080');
  t.is(formatEndpoint('198.18.1.11'), '198.18.1.11');
  t.is(formatEndpoint('198.18.1.11', 0), '198.18.1.11');
});
