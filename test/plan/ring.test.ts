import test from 'ava';
import { weightedRing } from '../../lb/plan/ring.js';

const NO_LIMIT = 1_000_000;

function counts(ring: readonly number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of ring) c[i]++;
  return c;
}

/** Deterministic pseudo-random weights, so a failure names a case that can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function randomWeights(next: () => number, maxN: number, maxW: number): number[] {
  const n = 1 + Math.floor(next() * maxN);
  return Array.from({ length: n }, () => Math.floor(next() * (maxW + 1)));
}

const gcdOf = (ws: readonly number[]): number =>
  ws.reduce((a, b) => {
    while (b !== 0) [a, b] = [b, a % b];
    return a;
  }, 0);

for (const [weights, ring] of [
  [[1, 1, 1], [0, 1, 2]],
  [[4, 4, 4, 4], [0, 1, 2, 3]],
  [[7], [0]],
] as const) {
  test(`equal weights ${JSON.stringify(weights)} give one turn each in index order`, (t) => {
    t.deepEqual(weightedRing(weights, NO_LIMIT), ring);
  });
}

// Pinned orders: every node must build the same ring, so the order is part of the contract, not an accident.
for (const [weights, ring] of [
  [[1, 2], [1, 0, 1]],
  [[2, 1], [0, 1, 0]],
  [[5, 1, 1], [0, 0, 1, 0, 2, 0, 0]], // the example in nginx's documentation of smooth weighted round robin
  [[6, 4], [0, 1, 0, 1, 0]],
  [[0, 3, 0, 1], [1, 1, 3, 1]],
] as const) {
  test(`weights ${JSON.stringify(weights)} give nginx's smooth order ${JSON.stringify(ring)}`, (t) => {
    t.deepEqual(weightedRing(weights, NO_LIMIT), ring);
  });
}

for (const [weights, expected] of [
  [[3, 6, 9], [1, 2, 3]],
  [[4, 0, 2], [2, 0, 1]],
  [[10, 15, 25], [2, 3, 5]],
  [[7, 3, 1], [7, 3, 1]],
] as const) {
  test(`weights ${JSON.stringify(weights)} appear exactly ${JSON.stringify(expected)} times (divided by their GCD)`, (t) => {
    const ring = weightedRing(weights, NO_LIMIT);
    t.deepEqual(counts(ring, weights.length), expected);
    t.is(ring.length, expected.reduce((a: number, b) => a + b, 0));
  });
}

test('each backend appears exactly weight / GCD times, for 500 random weight lists', (t) => {
  const next = lcg(1);
  for (let k = 0; k < 500; k++) {
    const weights = randomWeights(next, 12, 40);
    const g = gcdOf(weights);
    const expected = weights.map((w) => (g === 0 ? 0 : w / g));
    t.deepEqual(counts(weightedRing(weights, NO_LIMIT), weights.length), expected, JSON.stringify(weights));
  }
});

/**
 * Smoothness as nginx's algorithm guarantees it: after any number of steps a backend's picks are within 1 of its
 * exact share, so over any stretch of the walked (wrapping) ring they are within 2. The stricter "never twice in a row"
 * does not hold for it: [7, 12, 7] repeats backend 1 mid-ring although 12 <= 7 + 7, and the heaviest backend is often
 * both first and last, so it repeats across the wrap. Runs of at most two are what it gives in every case tried
 * (all four-backend lists with weights up to 10, thousands of random ones), so more would mean the order changed.
 */
function checkSmooth(t: import('ava').ExecutionContext, weights: readonly number[]): void {
  const ring = weightedRing(weights, NO_LIMIT);
  const len = ring.length;
  const g = gcdOf(weights);
  const share = weights.map((w) => w / g / len);
  for (let start = 0; start < len; start++) {
    const seen = new Array<number>(weights.length).fill(0);
    for (let span = 1; span <= len; span++) {
      seen[ring[(start + span - 1) % len]]++;
      for (let i = 0; i < weights.length; i++) {
        const off = Math.abs(seen[i] - span * share[i]);
        if (off >= 2) {
          t.fail(`${JSON.stringify(weights)}: backend ${i} ${seen[i]} times in ${span} picks from ${start}`);
          return;
        }
      }
    }
  }
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0 || 2 * weights[i] > g * len) continue; // heavier than all others together: runs are forced
    let run = 0;
    for (let k = 0; k < 2 * len; k++) {
      run = ring[k % len] === i ? run + 1 : 0;
      if (run > 2) {
        t.fail(`${JSON.stringify(weights)}: backend ${i} ${run} times in a row at ${k % len}`);
        return;
      }
    }
  }
  t.pass();
}

test('picks are spread: any stretch of the wrapping ring is within 2 of each share, no run above 2 for a backend no heavier than the rest (all 3-backend weights up to 8)', (t) => {
  for (let a = 0; a <= 8; a++) for (let b = 0; b <= 8; b++) for (let c = 1; c <= 8; c++) checkSmooth(t, [a, b, c]);
});

test('picks are spread: same bounds for 300 random lists of up to 9 backends with weights up to 30', (t) => {
  const next = lcg(2);
  for (let k = 0; k < 300; k++) {
    const weights = randomWeights(next, 9, 30);
    if (weights.some((w) => w > 0)) checkSmooth(t, weights);
  }
});

for (const [weights, maxLen, expected] of [
  [[1000, 1, 1], 10, [8, 1, 1]],
  [[3, 2], 4, [2, 1]],
  [[300, 200, 100], 5, [2, 1, 1]],
  [[100, 200, 300, 400], 7, [1, 1, 2, 3]],
  [[1, 1, 1], 3, [1, 1, 1]],
  [[7, 7, 7, 6], 8, [1, 1, 1, 1]], // scales to [2, 2, 2, 2], which is the same ring in half the entries
] as const) {
  test(`weights ${JSON.stringify(weights)} in at most ${maxLen} entries scale to ${JSON.stringify(expected)}`, (t) => {
    const ring = weightedRing(weights, maxLen);
    t.deepEqual(counts(ring, weights.length), expected);
    t.true(ring.length <= maxLen);
  });
}

test('4096 backends with weights 1..100 fit 16381 entries, each kept at least once, heavier never below lighter', (t) => {
  const weights = Array.from({ length: 4096 }, (_, i) => 1 + ((i * 7919) % 100));
  const ring = weightedRing(weights, 16381);
  t.true(ring.length <= 16381, `length ${ring.length}`);
  t.true(ring.length > 16381 / 2, `length ${ring.length}: the budget is wasted`);
  const c = counts(ring, weights.length);
  t.true(c.every((x) => x >= 1));
  const byWeight = weights.map((w, i) => [w, c[i]] as const).sort((x, y) => x[0] - y[0]);
  for (let k = 1; k < byWeight.length; k++) t.true(byWeight[k][1] >= byWeight[k - 1][1], `weight ${byWeight[k][0]}`);
});

test('more backends with weight > 0 than entries is an error', (t) => {
  t.throws(() => weightedRing([1, 1, 1, 0], 2), { instanceOf: RangeError, message: /3 backends.*at most 2/ });
});

for (const weights of [[], [0], [0, 0, 0]]) {
  test(`no backend with weight > 0 (${JSON.stringify(weights)}) gives an empty ring`, (t) => {
    t.deepEqual(weightedRing(weights, 10), []);
  });
}

test('weight-0 backends never appear, also when the weights are scaled', (t) => {
  for (const [weights, maxLen] of [
    [[0, 5, 0, 2, 0], NO_LIMIT],
    [[0, 500, 0, 200, 0, 1], 20],
  ] as const) {
    const ring = weightedRing(weights, maxLen);
    t.true(ring.length > 0);
    t.true(ring.every((i) => weights[i] > 0), JSON.stringify(ring));
  }
});

test('the same weights always give the same ring', (t) => {
  const weights = Array.from({ length: 300 }, (_, i) => (i * 37) % 50);
  t.deepEqual(weightedRing(weights, 4093), weightedRing([...weights], 4093));
});

for (const weights of [[-1], [1.5], [Number.NaN], [2 ** 32]]) {
  test(`weight ${weights[0]} is rejected`, (t) => {
    t.throws(() => weightedRing(weights, 10), { instanceOf: RangeError, message: /weight of backend 0/ });
  });
}

for (const maxLen of [0, -1, 1.5, Number.NaN]) {
  test(`ring limit ${maxLen} is rejected`, (t) => {
    t.throws(() => weightedRing([1], maxLen), { instanceOf: RangeError, message: /positive integer/ });
  });
}
