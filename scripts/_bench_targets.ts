/**
 * @module
 * What the benchmark measures: targets (a libpq URL, or the two-server ceiling) and workloads
 * (pgbench arguments), and the interleaved rounds that run every target of a workload in turn
 * (A B C, A B C, ...) so slow drifts of the shared machine hit every target alike.
 */

import { processTreeSeconds } from "./_bench_cpu.ts";
import { pgbenchArgs, pgbenchRun, resetTpcb } from "./_bench_pgbench.ts";
import type { Runs, WorkloadResult } from "./_bench_stats.ts";
import type { PgServer } from "./pg_server.ts";

/** Client sessions of every run (`-c`), as issue #6 measures. */
export const CLIENTS = 8;
/** Worker threads of every run (`-j`). */
export const THREADS = 2;

/** Something pgbench runs against. */
export interface Target {
  /** Name in the tables: `direct`, `usogres-pass`, `usogres-repl`, `pgbouncer`, `pgpool`, `ceiling`. */
  readonly name: string;
  /** The proxy's process (the root of its process tree), whose CPU time is measured per run. */
  readonly pid?: number;
  /**
   * Runs one timed pgbench and returns the throughput.
   * @param args workload arguments
   * @param seconds duration
   * @param signal aborts the run
   */
  run(args: readonly string[], seconds: number, signal: AbortSignal): Promise<number>;
}

/** One pgbench workload. */
export interface Workload {
  /** Title in the report, e.g. `-S -M prepared`. */
  readonly title: string;
  /** pgbench arguments; `[]` is TPC-B. */
  readonly args: readonly string[];
  /** True when it writes: TPC-B. Only write targets run it, and the tables are reset first. */
  readonly writes: boolean;
}

/** The four workloads of issue #6, in the order they run. */
export const WORKLOADS: readonly Workload[] = [
  { title: "select-only, simple (-S)", args: ["-S"], writes: false },
  {
    title: "select-only, prepared (-S -M prepared)",
    args: ["-S", "-M", "prepared"],
    writes: false,
  },
  { title: "TPC-B (default script, simple protocol)", args: [], writes: true },
  {
    title: "select-only, new connection per transaction (-S -C)",
    args: ["-S", "-C"],
    writes: false,
  },
];

/**
 * A target reached through one libpq URL.
 * @param name its name in the tables
 * @param url libpq URL of the `bench` database through it
 * @param pid a proxy's process, for its CPU time per transaction
 * @returns the target
 */
export function urlTarget(name: string, url: string, pid?: number): Target {
  return {
    name,
    ...(pid === undefined ? {} : { pid }),
    run: (args, seconds, signal) =>
      pgbenchRun(url, { clients: CLIENTS, threads: THREADS, seconds, args, signal }),
  };
}

/**
 * The two-server ceiling: the workload directly on the original and the copy at once, half the
 * clients and one thread each; the throughput is the mean of the two servers', i.e. per server.
 * @param servers the original and the copy
 * @param database database holding the pgbench tables
 * @returns the target named `ceiling`
 */
export function ceilingTarget(servers: readonly PgServer[], database: string): Target {
  return {
    name: "ceiling",
    async run(args, seconds, signal) {
      const opts = {
        clients: CLIENTS / servers.length,
        threads: THREADS / servers.length,
        seconds,
        args,
        signal,
      };
      const tps = await Promise.all(servers.map((s) => pgbenchRun(s.url(database), opts)));
      return tps.reduce((a, b) => a + b, 0) / tps.length;
    },
  };
}

/** How {@link runWorkload} runs its rounds. */
export interface RoundOptions {
  /** Number of rounds. */
  readonly rounds: number;
  /** Duration of each run in seconds. */
  readonly seconds: number;
  /** Servers to reset before each TPC-B run. */
  readonly servers: readonly PgServer[];
  /** Database holding the pgbench tables. */
  readonly database: string;
  /** Aborts the workload (SIGINT). */
  readonly signal: AbortSignal;
  /** Peers to show ratios against (the ones that started). */
  readonly references: readonly string[];
  /** Called with a line for the console after each run. */
  readonly progress: (line: string) => void;
  /** Called when a run fails; the run counts as missing. */
  readonly failure: (line: string) => void;
}

/**
 * Runs a workload's rounds over its targets, interleaved, and collects the throughputs.
 * @param workload the pgbench workload
 * @param targets targets in round order
 * @param opts rounds, duration, servers to reset, abort signal and reporting
 * @returns the runs of every target
 * @throws the abort reason when aborted; a failed run is reported, not thrown
 */
export async function runWorkload(
  workload: Workload,
  targets: readonly Target[],
  opts: RoundOptions,
): Promise<WorkloadResult> {
  const runs = new Map<string, Array<number | undefined>>(targets.map((t) => [t.name, []]));
  const cpu = new Map<string, Array<number | undefined>>(
    targets.filter((t) => t.pid !== undefined).map((t) => [t.name, []]),
  );
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of targets) {
      opts.signal.throwIfAborted();
      let tps: number | undefined;
      let cpuPerTx: number | undefined;
      try {
        if (workload.writes) await resetTpcb(opts.servers, opts.database);
        const before = target.pid === undefined ? undefined : await processTreeSeconds(target.pid);
        tps = await target.run(workload.args, opts.seconds, opts.signal);
        const after = target.pid === undefined ? undefined : await processTreeSeconds(target.pid);
        if (before !== undefined && after !== undefined && tps > 0) {
          cpuPerTx = (after - before) / (tps * opts.seconds) * 1e6;
        }
        const cpuText = cpuPerTx === undefined ? "" : `, ${cpuPerTx.toFixed(0)} µs CPU per tx`;
        opts.progress(`  round ${round} ${target.name.padEnd(13)} ${tps.toFixed(0)} tps${cpuText}`);
      } catch (e: unknown) {
        opts.signal.throwIfAborted();
        const message = e instanceof Error ? e.message : String(e);
        opts.failure(`${workload.title}, ${target.name}, round ${round}: ${message}`);
      }
      runs.get(target.name)?.push(tps);
      cpu.get(target.name)?.push(cpuPerTx);
    }
  }
  const command = `pgbench ${
    pgbenchArgs({ clients: CLIENTS, threads: THREADS, seconds: opts.seconds, args: workload.args })
      .join(" ")
  } URL`;
  return {
    title: workload.title,
    args: workload.args,
    command,
    runs: runs as ReadonlyMap<string, Runs>,
    cpu: cpu as ReadonlyMap<string, Runs>,
    references: opts.references,
  };
}
