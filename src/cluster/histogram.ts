/**
 * @module
 * A cumulative histogram with fixed bucket bounds, as Prometheus histograms are: each
 * observation is counted in every bucket whose upper bound it does not exceed, and in the sum
 * and the count. The relay observes the write fan-out latency (seconds from a write batch's
 * start on the original to the last in-sync copy's ReadyForQuery); `/metrics` prints it as
 * `usogres_write_fanout_seconds`.
 */

/** Default upper bounds in seconds: 0.5 ms to 10 s, roughly 1-2.5-5 per decade. */
export const FANOUT_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A point-in-time copy of a {@link Histogram}. */
export interface HistogramSnapshot {
  /** Upper bounds, ascending (the `+Inf` bucket is implied and equals `count`). */
  readonly bounds: readonly number[];
  /** Cumulative count per bound: observations less than or equal to it. */
  readonly cumulative: readonly number[];
  /** Sum of all observations. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** Counts observations into fixed buckets. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * Creates an empty histogram.
   *
   * @param bounds upper bounds, strictly ascending and finite (default {@link FANOUT_BUCKETS})
   * @throws RangeError when the bounds are empty, not finite or not strictly ascending
   */
  constructor(bounds: readonly number[] = FANOUT_BUCKETS) {
    if (bounds.length === 0) throw new RangeError("histogram needs at least one bucket");
    for (const [i, b] of bounds.entries()) {
      if (!Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)) {
        throw new RangeError(`histogram bucket bounds must be finite and strictly ascending`);
      }
    }
    this.#bounds = [...bounds];
    this.#counts = bounds.map(() => 0);
  }

  /**
   * Records one observation; negative and non-finite values are ignored.
   *
   * @param value the observed value, in the histogram's unit (seconds for fan-out)
   */
  observe(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    this.#sum += value;
    this.#count++;
    // Non-cumulative here; the snapshot accumulates, so observe stays O(log n)-cheap.
    let lo = 0, hi = this.#bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= this.#bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    if (lo < this.#counts.length) this.#counts[lo]!++;
  }

  /**
   * Replaces the counts with the sum of snapshots of histograms with the same bounds (the main
   * thread's view of every worker's histogram); snapshots with other bounds are skipped.
   *
   * @param snapshots the workers' snapshots
   */
  setToSum(snapshots: readonly HistogramSnapshot[]): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
    for (const s of snapshots) {
      if (s.bounds.length !== this.#bounds.length) continue;
      let previous = 0;
      s.cumulative.forEach((c, i) => {
        this.#counts[i]! += c - previous;
        previous = c;
      });
      this.#sum += s.sum;
      this.#count += s.count;
    }
  }

  /**
   * Copies the current counts, cumulated per bucket as Prometheus expects.
   *
   * @returns the snapshot
   */
  snapshot(): HistogramSnapshot {
    let running = 0;
    const cumulative = this.#counts.map((n) => (running += n));
    return { bounds: this.#bounds, cumulative, sum: this.#sum, count: this.#count };
  }
}
