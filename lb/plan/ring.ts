// Weighted round-robin ring: the sequence of backends the data plane walks with one shared cursor per service.

/**
 * Builds a round-robin ring over `weights` (one per backend; integers >= 0).
 *
 * Returns indexes into `weights`; packet or new flow n goes to `ring[n % ring.length]`. A backend of weight 0 never
 * appears. Weights are divided by their GCD first, so the ring is as short as it can be and its length is the sum of
 * the reduced weights. If that sum exceeds `maxLen`, the weights are scaled down proportionally (none below 1) until
 * it fits. The order is nginx's smooth weighted round robin, so a heavy backend's picks are spread out rather than
 * bunched. Empty or all-zero input gives [].
 *
 * @throws RangeError if a weight is not an integer in [0, 2^32), if `maxLen` is not a positive integer, or if there are
 * more backends with weight > 0 than `maxLen` (each needs at least one slot).
 */
export function weightedRing(weights: readonly number[], maxLen: number): number[] {
  if (!Number.isSafeInteger(maxLen) || maxLen < 1) {
    throw new RangeError(`ring length limit must be a positive integer, got ${maxLen}`);
  }
  weights.forEach(checkWeight);

  const live = weights.filter((w) => w > 0).length;
  if (live === 0) return [];
  if (live > maxLen) {
    throw new RangeError(
      `${live} backends with weight > 0 do not fit a ring of at most ${maxLen} entries; remove backends or raise the limit`,
    );
  }

  let reduced = divideByGcd(weights);
  if (sum(reduced) > maxLen) reduced = divideByGcd(scaleToFit(reduced, maxLen));
  return smoothRoundRobin(reduced);
}

function checkWeight(w: number, i: number): void {
  if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) {
    throw new RangeError(`weight of backend ${i} must be an integer from 0 to ${0xffffffff}, got ${w}`);
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function divideByGcd(weights: readonly number[]): number[] {
  const g = weights.reduce(gcd, 0);
  return weights.map((w) => w / g);
}

function sum(weights: readonly number[]): number {
  return weights.reduce((a, b) => a + b, 0);
}

/**
 * Scales weights to `max(1, floor(w * t / total))` with the largest budget t whose result sums to at most `maxLen`.
 * The sum only grows with t, so a binary search finds it. Each weight rounds to within one slot of w * t / total, so
 * t = maxLen - live always fits and t > maxLen + live never does; the best t may exceed maxLen when rounding down
 * loses slots. BigInt keeps w * t exact for any weight in range.
 */
function scaleToFit(weights: readonly number[], maxLen: number): number[] {
  const total = BigInt(sum(weights));
  const live = weights.filter((w) => w > 0).length;
  const scaled = (t: number): number[] =>
    weights.map((w) => (w === 0 ? 0 : Math.max(1, Number((BigInt(w) * BigInt(t)) / total))));

  let lo = maxLen - live; // fits
  let hi = maxLen + live; // the answer is in [lo, hi]
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (sum(scaled(mid)) <= maxLen) lo = mid;
    else hi = mid - 1;
  }
  return scaled(lo);
}

/**
 * nginx's smooth weighted round robin over one full period: every step each backend's credit grows by its weight, the
 * richest (lowest index on a tie, so the result is fixed) is picked and pays the total. After sum(weights) steps every
 * credit is back at 0, so walking the ring round and round is exactly the algorithm run forever. Its guarantee is that
 * after any number of picks each backend is within one pick of its exact share; it does not promise that a backend
 * never comes twice in a row (e.g. [7, 12, 7], or the heaviest backend across the wrap).
 *
 * Done literally that costs steps x backends (67M for 4096 backends in 16381 slots). Backends of equal weight, though,
 * gain credit alike and are picked in index order, one after another (the one picked least has the most credit), so one
 * candidate per distinct weight stands for its whole group: its credit is step * w - total * floor(picks / members).
 * Distinct weights summing to at most maxLen number at most sqrt(2 * maxLen), which bounds the inner loop.
 */
function smoothRoundRobin(weights: readonly number[]): number[] {
  const byWeight = new Map<number, number[]>();
  weights.forEach((w, i) => {
    if (w === 0) return;
    const group = byWeight.get(w);
    if (group) group.push(i);
    else byWeight.set(w, [i]);
  });
  const members = [...byWeight.values()];
  const weight = Float64Array.from(byWeight.keys());
  const picks = new Float64Array(members.length);
  const total = sum(weights);
  const ring = new Array<number>(total);

  for (let step = 1; step <= total; step++) {
    let best = -1;
    let bestCredit = 0;
    let bestIndex = 0;
    for (let g = 0; g < members.length; g++) {
      const group = members[g];
      const credit = step * weight[g] - total * Math.floor(picks[g] / group.length);
      const index = group[picks[g] % group.length];
      if (best < 0 || credit > bestCredit || (credit === bestCredit && index < bestIndex)) {
        best = g;
        bestCredit = credit;
        bestIndex = index;
      }
    }
    picks[best]++;
    ring[step - 1] = bestIndex;
  }
  return ring;
}
