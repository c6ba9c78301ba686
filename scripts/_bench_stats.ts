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
  /**
   * A proxy's CPU time per transaction in each run, in microseconds (its process tree's user and
   * system time over the run, divided by the transactions): only for targets that are a proxy.
   */
  readonly cpu: ReadonlyMap<string, Runs>;
  /**
   * The servers' CPU time per transaction in each run, in microseconds: the process trees of the
   * postmasters the target uses (the original; both servers for replicating targets and the
   * ceiling), for every target. Absent in results made before it was measured.
   */
  readonly serverCpu?: ReadonlyMap<string, Runs>;
  /** pgbench's own CPU time per transaction in each run, in microseconds, for every target. */
  readonly clientCpu?: ReadonlyMap<string, Runs>;
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
 * reference (median of same-round ratios), the proxy's median CPU time per transaction, and
 * every run's TPS.
 * @param result the workload's runs
 * @returns the table's lines
 */
export function workloadTable(result: WorkloadResult): string[] {
  const refs = ["direct", ...result.references.filter((r) => r !== "direct")];
  const lines = [
    `| target | median TPS | ${
      refs.map((r) => `× ${r}`).join(" | ")
    } | proxy CPU µs/tx | TPS of each run |`,
    `| --- | ---: | ${refs.map(() => "---:").join(" | ")} | ---: | --- |`,
  ];
  for (const [target, runs] of result.runs) {
    const cells = refs.map((r) =>
      r === target || !result.runs.has(r) ? "—" : fmt(medianRatio(runs, result.runs.get(r)), 2)
    );
    const cpu = result.cpu.get(target);
    const each = runs.map((v) => fmt(v, 0)).join(", ");
    lines.push(
      `| ${target} | ${fmt(median(runs), 0)} | ${cells.join(" | ")} | ${
        fmt(cpu && median(cpu), 0)
      } | ${each} |`,
    );
  }
  return lines;
}

/**
 * Renders the proxies' CPU time per transaction across workloads: one row per proxy, one column
 * per workload (medians, µs), then each proxy's ratio to a reference proxy per workload.
 * @param results every workload's runs
 * @param reference the proxy to compare with (e.g. `pgbouncer`), when it ran
 * @returns the table's lines (none when no proxy CPU was measured)
 */
export function cpuTable(results: readonly WorkloadResult[], reference: string): string[] {
  const proxies = [...new Set(results.flatMap((r) => [...r.cpu.keys()]))];
  if (proxies.length === 0) return [];
  const titles = results.map((r) => r.args.join(" ") || "TPC-B");
  const lines = [
    `| proxy | ${titles.map((t) => `${t} µs/tx`).join(" | ")} | ${
      titles.map((t) => `${t} × ${reference}`).join(" | ")
    } |`,
    `| --- | ${titles.map(() => "---:").join(" | ")} | ${titles.map(() => "---:").join(" | ")} |`,
  ];
  for (const proxy of proxies) {
    const own = results.map((r) => median(r.cpu.get(proxy) ?? []));
    const ratios = results.map((r, i) => {
      const ref = median(r.cpu.get(reference) ?? []);
      const mine = own[i];
      return mine === undefined || ref === undefined || ref <= 0 ? undefined : mine / ref;
    });
    lines.push(
      `| ${proxy} | ${own.map((v) => fmt(v, 0)).join(" | ")} | ${
        ratios.map((v) => fmt(v, 2)).join(" | ")
      } |`,
    );
  }
  return lines;
}
