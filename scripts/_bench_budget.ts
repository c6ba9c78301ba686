/**
 * @module
 * The benchmark's CPU budget per transaction: for each workload and target, the CPU time of the
 * proxy, of the servers and of pgbench per transaction (medians over the rounds), their total,
 * and the zero-proxy bound, `cores × 1e6 / (servers + pgbench µs/tx)` TPS: the throughput the
 * machine could reach for that target if the proxy cost nothing, since pgbench and the servers
 * share its cores with the proxy. Then, per throughput target of issue #6, whether that bound
 * (and, for pass-through, the bare Deno forwarder) reaches it, rendered as Markdown.
 */

import { fmt, median, medianRatio, type Runs, type WorkloadResult } from "./_bench_stats.ts";

/** One target's CPU budget in one workload: medians in µs per transaction. */
export interface BudgetRow {
  /** Target name. */
  readonly target: string;
  /** Median TPS. */
  readonly tps: number | undefined;
  /** The proxy's CPU; 0 for targets without a proxy (`direct`, `ceiling`). */
  readonly proxy: number | undefined;
  /** The servers' CPU, together. */
  readonly servers: number | undefined;
  /** pgbench's CPU. */
  readonly client: number | undefined;
  /** Proxy, servers and pgbench together. */
  readonly total: number | undefined;
  /** The zero-proxy bound in TPS: see {@link zeroProxyBound}. */
  readonly bound: number | undefined;
  /** Share of the machine's cores the three used while running: total × TPS / (cores × 1e6). */
  readonly busy: number | undefined;
}

/** One of issue #6's throughput targets: `subject ≥ factor × reference` in a workload. */
export interface ThroughputGoal {
  /** The workload's pgbench arguments joined by spaces; `""` is TPC-B. */
  readonly args: string;
  /** The target that must be fast enough, e.g. `usogres-repl`. */
  readonly subject: string;
  /** The target it is compared with, e.g. `pgpool`. */
  readonly reference: string;
  /** The wanted ratio. */
  readonly factor: number;
}

/** Name of the bare Deno forwarder target: the floor for any Deno proxy on pass-through goals. */
export const FORWARDER = "deno-forwarder";

/** Issue #6's throughput targets, as `goalLines` in `bench.ts` lists them. */
export const THROUGHPUT_GOALS: readonly ThroughputGoal[] = [
  { args: "-S", subject: "usogres-pass", reference: "pgbouncer", factor: 1.0 },
  { args: "-S -M prepared", subject: "usogres-pass", reference: "pgbouncer", factor: 1.0 },
  { args: "", subject: "usogres-repl", reference: "pgpool", factor: 1.4 },
  { args: "", subject: "usogres-repl", reference: "ceiling", factor: 0.9 },
  { args: "-S -C", subject: "usogres-repl", reference: "pgpool", factor: 1.0 },
  { args: "-S -C", subject: "usogres-pass", reference: "pgbouncer", factor: 1.0 },
];

/**
 * Returns the throughput the machine could reach if the proxy cost nothing: every core busy
 * with the servers' and pgbench's work for the target, at their measured cost per transaction.
 * @param cores the machine's cores (`navigator.hardwareConcurrency`)
 * @param servers the servers' CPU per transaction, µs
 * @param client pgbench's CPU per transaction, µs
 * @returns TPS, or undefined when a cost is missing or not positive
 */
export function zeroProxyBound(
  cores: number,
  servers: number | undefined,
  client: number | undefined,
): number | undefined {
  if (servers === undefined || client === undefined) return undefined;
  const cost = servers + client;
  return cost > 0 ? cores * 1e6 / cost : undefined;
}

/**
 * Computes the CPU budget of every target of one workload, in the order the targets ran.
 * @param result the workload's runs and CPU figures
 * @param cores the machine's cores
 * @returns one row per target
 */
export function budgetRows(result: WorkloadResult, cores: number): BudgetRow[] {
  const of = (map: ReadonlyMap<string, Runs> | undefined, target: string) =>
    median(map?.get(target) ?? []);
  return [...result.runs.keys()].map((target) => {
    const tps = median(result.runs.get(target) ?? []);
    // Targets without a proxy have no proxy figures at all; a proxy whose sample failed has an
    // undefined median, which must not pass for a free proxy.
    const proxy = result.cpu.has(target) ? of(result.cpu, target) : 0;
    const servers = of(result.serverCpu, target);
    const client = of(result.clientCpu, target);
    const total = proxy === undefined || servers === undefined || client === undefined
      ? undefined
      : proxy + servers + client;
    const busy = total === undefined || tps === undefined ? undefined : total * tps / (cores * 1e6);
    return {
      target,
      tps,
      proxy,
      servers,
      client,
      total,
      bound: zeroProxyBound(cores, servers, client),
      busy,
    };
  });
}

/** The workload's name in tables and lines: its pgbench arguments, or `TPC-B`. */
function workloadName(args: string): string {
  return args === "" ? "TPC-B" : `\`${args}\``;
}

/**
 * Renders the budget of every workload: a bold line naming it, then one table row per target.
 * @param results every workload's runs and CPU figures
 * @param cores the machine's cores
 * @returns the lines (none when no server or pgbench CPU was measured)
 */
export function budgetTable(results: readonly WorkloadResult[], cores: number): string[] {
  if (!results.some((r) => r.serverCpu?.size || r.clientCpu?.size)) return [];
  const lines: string[] = [];
  for (const result of results) {
    lines.push(
      `**${workloadName(result.args.join(" "))}**`,
      "",
      "| target | median TPS | proxy µs/tx | servers µs/tx | pgbench µs/tx | total µs/tx | " +
        "zero-proxy bound TPS | cores busy |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const row of budgetRows(result, cores)) {
      const proxy = result.cpu.has(row.target) ? fmt(row.proxy, 0) : "—";
      const busy = row.busy === undefined ? "—" : `${(row.busy * 100).toFixed(0)} %`;
      lines.push(
        `| ${row.target} | ${fmt(row.tps, 0)} | ${proxy} | ${fmt(row.servers, 0)} | ${
          fmt(row.client, 0)
        } | ${fmt(row.total, 0)} | ${fmt(row.bound, 0)} | ${busy} |`,
      );
    }
    lines.push("");
  }
  return lines.slice(0, -1);
}

/**
 * Says, per throughput target of issue #6, whether it is reachable in principle on this machine:
 * the subject's zero-proxy bound against the factor times the reference's median TPS; for
 * pass-through targets also the bare Deno forwarder's TPS against the reference's.
 * @param results every workload's runs and CPU figures
 * @param cores the machine's cores
 * @param goals the targets (default {@link THROUGHPUT_GOALS})
 * @returns one Markdown list item per goal whose workload ran
 */
export function reachabilityLines(
  results: readonly WorkloadResult[],
  cores: number,
  goals: readonly ThroughputGoal[] = THROUGHPUT_GOALS,
): string[] {
  const lines: string[] = [];
  for (const goal of goals) {
    const result = results.find((r) => r.args.join(" ") === goal.args);
    if (!result) continue;
    const rows = budgetRows(result, cores);
    const subject = rows.find((r) => r.target === goal.subject);
    const reference = rows.find((r) => r.target === goal.reference);
    const head = `${workloadName(goal.args)}, ${goal.subject} ≥ ${
      goal.factor.toFixed(1)
    } × ${goal.reference}`;
    if (reference?.tps === undefined) {
      lines.push(`- ${head}: ${goal.reference} did not run or has no throughput.`);
      continue;
    }
    const needed = goal.factor * reference.tps;
    const bound = subject?.bound;
    const verdict = bound === undefined
      ? `the zero-proxy bound of ${goal.subject} was not measured`
      : `the zero-proxy bound of ${goal.subject} is ${fmt(bound, 0)} TPS, ${
        fmt(bound / needed, 2)
      } × that: reachable in principle: ${bound >= needed ? "yes" : "no"}`;
    let line = `- ${head} (${fmt(needed, 0)} TPS needed): ${verdict}.`;
    if (goal.subject === "usogres-pass" && result.runs.has(FORWARDER)) {
      const forwarder = rows.find((r) => r.target === FORWARDER);
      const ratio = medianRatio(result.runs.get(FORWARDER), result.runs.get(goal.reference));
      const ran = `ran at ${fmt(forwarder?.tps, 0)} TPS, ${fmt(ratio, 2)} × ${goal.reference} ` +
        "(median of same-round ratios)";
      // With -C every client connection is a new server connection through the forwarder (it
      // does not pool), so its server cost is direct's, not a pooling proxy's.
      line += result.args.includes("-C")
        ? ` ${FORWARDER} opens a server connection per client connection (no pooling), so it ` +
          `is no floor here: it ${ran}.`
        : ` ${FORWARDER} (no protocol work) ${ran}, at ${
          fmt(forwarder?.proxy, 0)
        } µs proxy CPU per transaction against ${goal.reference}'s ${fmt(reference.proxy, 0)}.`;
    }
    lines.push(line);
  }
  return lines;
}
