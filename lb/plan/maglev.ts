// Maglev consistent hashing: the lookup table a service's new flows are hashed into (Eisenbud et al., NSDI 2016, §3.4).

/** One backend as Maglev sees it: `key` is stable for the backend's life (e.g. "198.18.1.11:8080"). */
export interface MaglevBackend {
  key: string;
  weight: number;
}

/**
 * Builds a Maglev lookup table of `size` entries (a prime), each an index into `backends`.
 *
 * The table depends only on the set of (key, weight) pairs: not on the order of `backends`, the machine or the run, so
 * nodes with the same pool build identical tables and agree on every flow. Removing or adding one of N equal backends
 * moves about 1/N of the entries. A backend's share of entries is close to weight / sum(weights); weight 0 gets none.
 * No backend with weight > 0 gives [].
 *
 * Weights follow the credit scheme of Katran's Maglev V2: each round, every backend earns its weight in credit and takes
 * a turn (claims its next free preferred entry) whenever its credit reaches the largest weight, which that turn costs.
 * The heaviest backends take a turn every round and the others in proportion, so turns, and therefore entries, are
 * shared by weight throughout the fill, not only on average. With equal weights this is the paper's populate loop.
 *
 * @throws RangeError if `size` is not a prime, if a weight is not an integer in [0, 2^32), if two backends share a key,
 * or if more backends have weight > 0 than the table has entries.
 */
export function maglevTable(backends: readonly MaglevBackend[], size: number): number[] {
  if (!Number.isSafeInteger(size) || !isPrime(size)) {
    throw new RangeError(`Maglev table size must be a prime (e.g. 16381 or 65537), got ${size}`);
  }
  const seen = new Set<string>();
  backends.forEach(({ key, weight }, i) => {
    if (!Number.isInteger(weight) || weight < 0 || weight > 0xffffffff) {
      throw new RangeError(`weight of backend ${key} must be an integer from 0 to ${0xffffffff}, got ${weight}`);
    }
    if (seen.has(key)) throw new RangeError(`backend key ${key} appears twice (index ${i}); keys must be unique`);
    seen.add(key);
  });

  // Backends claim contested entries in iteration order, so iterate in key order, whatever order the pool came in.
  // Plain code-unit comparison: localeCompare would depend on the machine's locale.
  const order = backends
    .flatMap((b, i) => (b.weight > 0 ? [i] : []))
    .sort((a, b) => compareKeys(backends[a].key, backends[b].key));
  const n = order.length;
  if (n === 0) return [];
  if (n > size) {
    throw new RangeError(`${n} backends with weight > 0 do not fit a Maglev table of ${size} entries; use a larger prime`);
  }

  const weight = new Float64Array(n);
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n); // next entry in the backend's permutation: offset + j * skip (mod size)
  const encoder = new TextEncoder();
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const b = backends[order[i]];
    const bytes = encoder.encode(b.key);
    next[i] = fnv1a32(bytes) % size;
    skip[i] = (murmur3_32(bytes, 0) % (size - 1)) + 1;
    weight[i] = b.weight;
    maxWeight = Math.max(maxWeight, b.weight);
  }

  const turns = new TurnQueue(weight, maxWeight);
  const entry = new Int32Array(size).fill(-1);
  for (let filled = 0; filled < size; filled++) {
    const i = turns.take();
    // A full permutation visits every entry (size is prime, 0 < skip < size), so a free one is always found.
    let c = next[i];
    while (entry[c] >= 0) c = c + skip[i] >= size ? c + skip[i] - size : c + skip[i];
    entry[c] = order[i];
    next[i] = c + skip[i] >= size ? c + skip[i] - size : c + skip[i];
  }
  return Array.from(entry);
}

/**
 * The order of turns of the credit scheme: round by round, backends in key order, each taking a turn in the rounds its
 * credit reaches the largest weight. Looping over every backend every round would cost rounds x backends, and with one
 * heavy backend among thousands of light ones nearly every round passes most of them by; instead each backend's next
 * turn is computed ahead and the earliest (round, then position) kept at the top of a binary heap.
 */
class TurnQueue {
  private readonly round: Float64Array; // round of the backend's next turn
  private readonly credit: Float64Array; // credit left after that turn, in [0, weight)
  private readonly heap: Int32Array;

  constructor(
    private readonly weight: Float64Array,
    private readonly cost: number,
  ) {
    const n = weight.length;
    this.round = new Float64Array(n);
    this.credit = new Float64Array(n);
    this.heap = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.schedule(i, 0, 0);
      this.heap[i] = i;
    }
    for (let h = (n >> 1) - 1; h >= 0; h--) this.siftDown(h);
  }

  /** The backend whose turn it is; its following turn is scheduled. */
  take(): number {
    const i = this.heap[0];
    this.schedule(i, this.round[i], this.credit[i]);
    this.siftDown(0);
    return i;
  }

  /** From `credit` left after round `round`, the next round that brings the credit up to the cost of a turn. */
  private schedule(i: number, round: number, credit: number): void {
    const rounds = ceilDiv(this.cost - credit, this.weight[i]);
    this.round[i] = round + rounds;
    this.credit[i] = credit + rounds * this.weight[i] - this.cost;
  }

  private before(a: number, b: number): boolean {
    return this.round[a] < this.round[b] || (this.round[a] === this.round[b] && a < b);
  }

  private siftDown(h: number): void {
    const heap = this.heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * h + 1;
      if (l >= n) return;
      const child = l + 1 < n && this.before(heap[l + 1], heap[l]) ? l + 1 : l;
      if (!this.before(heap[child], heap[h])) return;
      [heap[h], heap[child]] = [heap[child], heap[h]];
      h = child;
    }
  }
}

/** ceil(a / b) for positive integers below 2^33; the float quotient can round across an integer, so it is checked. */
function ceilDiv(a: number, b: number): number {
  let q = Math.ceil(a / b);
  if (q * b < a) q++;
  else if ((q - 1) * b >= a) q--;
  return q;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * FNV-1a, 32 bits, as published by Fowler, Noll and Vo: the offset hash. Exported so tests can pin it to the reference
 * vectors: the tables must not change between versions, or nodes running different ones would disagree on flows.
 */
export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** MurmurHash3 x86_32 (Austin Appleby's reference, little-endian blocks): the skip hash. Exported for the same reason. */
export function murmur3_32(bytes: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const tail = bytes.length & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(rotl32(Math.imul(k, c1), 15), c2);
    h = Math.imul(rotl32(h ^ k, 13), 5) + 0xe6546b64;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = bytes[tail];
    if (rest >= 2) k |= bytes[tail + 1] << 8;
    if (rest === 3) k |= bytes[tail + 2] << 16;
    h ^= Math.imul(rotl32(Math.imul(k, c1), 15), c2);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}
