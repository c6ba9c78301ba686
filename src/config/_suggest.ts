/**
 * @module
 * "did you mean ...?" for unknown keys and sections: the closest known name by edit distance
 * (optimal string alignment, so a swapped pair of letters counts as one edit).
 */

/** One name a misspelling may be compared with, and what to suggest if it is the closest. */
export interface Candidate {
  /** Name compared with the unknown word (`max_clients`). */
  readonly match: string;
  /** What to suggest (`listen.max_clients`). */
  readonly display: string;
}

/**
 * Edit distance between two words: insertions, deletions, substitutions and adjacent swaps.
 * @param a first word
 * @param b second word
 * @returns the number of edits that turn `a` into `b`
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * Finds the known name closest to an unknown one, if it is close enough to be a typo.
 * @param word the unknown name, as written
 * @param candidates known names; earlier ones win ties
 * @returns the suggestion's `display`, or undefined when nothing is close
 */
export function suggest(word: string, candidates: readonly Candidate[]): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.ceil(lower.length / 3)));
  let best: Candidate | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.match);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= limit ? best.display : undefined;
}
