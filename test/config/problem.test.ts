// How a problem is placed and printed: the lines config check, config apply and the daemon all show.
import test from 'ava';
import { at, countProblems, formatProblem } from '../../config/problem.js';

test('formatProblem: path then message; a problem of the whole file has no path', (t) => {
  t.deepEqual([{ path: 'services[1].backends[0].address', message: '"300.1.2.3" is not an IPv4 address' },
    { path: '', message: 'must be a mapping' }].map(formatProblem),
  ['services[1].backends[0].address: "300.1.2.3" is not an IPv4 address', 'must be a mapping']);
});

test('at: indexes in brackets, keys after a dot, a top-level key alone', (t) => {
  t.is(at('services', 1), 'services[1]');
  t.is(at('services[1]', 'vip'), 'services[1].vip');
  t.is(at('', 'node'), 'node');
});

test('countProblems: "1 problem", "2 problems"', (t) => {
  t.is(countProblems([{ path: '', message: 'x' }]), '1 problem');
  t.is(countProblems([{ path: '', message: 'x' }, { path: '', message: 'y' }]), '2 problems');
});
