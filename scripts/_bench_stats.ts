/**
 * @module
 * The benchmark's arithmetic and tables: per-repetition throughput of each target, medians, and
 * ratios taken within a repetition (target / reference in the same round, then the median of
 * those), as issue #6 measures its peers, rendered as Markdown.
 */

/** Throughput of one target in each repetition; undefined where a run failed. */
export type Runs = ReadonlyArray<number | undefined>;

/** Results of one workload: each target's runs, in target order. */
export interface WorkloadResult {
  /** Short name, e.g. `-S -M prepared`. */
  readonly title: string;
  /** The workload's pgbench arguments, e.g. `["-S", "-C"]`; `[]` is TPC-B. */
  readonly args: readonly string[];
  /** The pgbench command of one run, with `URL` for the target. */
  readonly command: string;
  /** Runs per target, in the order the targets ran within a round. */
  readonly runs: ReadonlyMap<string, Runs>;
  /** Reference targets to show ratios against, besides `direct` (peers that ran). */
  readonly references: readonly string[];
}

/**
 * Returns the median of the defined values.
 * @param values numbers, with undefined for failed runs
 * @returns the median, or undefined when no value is defined
 */
export function median(values: Runs): number | undefined {
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) =>
    a - b
  );
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : ((xs[mid - 1] ?? 0) + (xs[mid] ?? 0)) / 2;
}

/**
 * Returns the median over repetitions of `a[i] / b[i]`, skipping rounds where either failed.
 * @param a runs of the measured target
 * @param b runs of the reference target
 * @returns the median ratio, or undefined when no round has both
 */
export function medianRatio(a: Runs | undefined, b: Runs | undefined): number | undefined {
  if (!a || !b) return undefined;
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
  }
  return median(ratios);
}

/**
 * Formats a number for a table: TPS without decimals, ratios with two.
 * @param value the number, or undefined for a missing cell
 * @param digits decimals
 * @returns the text, `—` when missing
 */
export function fmt(value: number | undefined, digits: number): string {
  return value === undefined ? "—" : value.toFixed(digits);
}

/**
 * Renders one workload as a Markdown table: target, median TPS, ratio to direct and to each
 * reference (median of same-round ratios), and every run's TPS.
 * @param result the workload's runs
 * @returns the table's lines
 */
export function workloadTable(result: WorkloadResult): string[] {
  const refs = ["direct", ...result.references.filter((r) => r !== "direct")];
  const lines = [
    `| target | median TPS | ${refs.map((r) => `× ${r}`).join(" | ")} | TPS of each run |`,
    `| --- | ---: | ${refs.map(() => "---:").join(" | ")} | --- |`,
  ];
  for (const [target, runs] of result.runs) {
    const cells = refs.map((r) =>
      r === target || !result.runs.has(r) ? "—" : fmt(medianRatio(runs, result.runs.get(r)), 2)
    );
    const each = runs.map((v) => fmt(v, 0)).join(", ");
    lines.push(`| ${target} | ${fmt(median(runs), 0)} | ${cells.join(" | ")} | ${each} |`);
  }
  return lines;
}
