import test from 'ava';
import { HEAD_LIMIT, readStatusLine } from '../../lb/health/status-line.js';

for (const [head, want] of [
  ['HTTP/1.1 200 OK\r\n', 200],
  ['HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n', 503],
  ['HTTP/1.1 204\r\n', 204],
  ['HTTP/1.1 302 Found\n', 302],
  ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n', 404],
  ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n', 200],
  ['HTTP/1.1 101 Switching Protocols\r\n', 101],
] as const) {
  test(`the final status of ${JSON.stringify(head)} is ${want}`, (t) => {
    t.is(readStatusLine(head), want);
  });
}

for (const head of ['', 'H', 'HTTP/1.', 'HTTP/1.1 200 O', 'HTTP/1.1 100 Continue\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: x\r\n']) {
  test(`${JSON.stringify(head)} needs more bytes`, (t) => {
    t.is(readStatusLine(head), undefined);
  });
}

for (const [head, why] of [
  ['SSH-2.0-nope\r\n', 'not an HTTP answer: "SSH-2.0-nope"'],
  ['XYZ', 'not an HTTP answer: "XYZ"'],
  ['HTTP/1.1 2000 OK\r\n', 'not an HTTP answer: "HTTP/1.1 2000 OK"'],
  ['HTTP/1.1 abc\r\n', 'not an HTTP answer: "HTTP/1.1 abc"'],
  [`${'x'.repeat(100)}\r\n`, `not an HTTP answer: "${'x'.repeat(40)}..."`],
] as const) {
  test(`${JSON.stringify(head.slice(0, 20))} is not HTTP`, (t) => {
    t.is(readStatusLine(head), why);
  });
}

test('a status line that never ends, or interim answers without end, are cut off at the limit', (t) => {
  t.is(readStatusLine(`HTTP/1.1 200 ${'x'.repeat(HEAD_LIMIT)}`), `no HTTP status line within ${HEAD_LIMIT} bytes`);
  t.is(readStatusLine(`HTTP/1.1 100 Continue\r\nX: ${'x'.repeat(HEAD_LIMIT)}`), `no HTTP status line within ${HEAD_LIMIT} bytes`);
});
