// "Did you mean": the known word closest to a mistyped one, so a typo in a key or a choice names its fix.

function levenshtein(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The known word closest to `word`, when close enough to be a likely typo (`backend` -> `backends`). */
export function closest(word: string, known: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = fold(word) === fold(k) ? 0 : levenshtein(word.toLowerCase(), k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  const allowed = word.length <= 1 ? 0 : word.length <= 4 ? 1 : 2;
  return bestDistance <= allowed ? best : undefined;
}

/** `; did you mean "tcp"?` after a message, or nothing when no known word is close. */
export function didYouMean(word: string, known: readonly string[]): string {
  const guess = closest(word, known);
  return guess === undefined ? '' : `; did you mean "${guess}"?`;
}
