/**
 * @module
 * What the benchmark measures: targets (a libpq URL, or the two-server ceiling) and workloads
 * (pgbench arguments), and the interleaved rounds that run every target of a workload in turn
 * (A B C, A B C, ...) so slow drifts of the shared machine hit every target alike, with the CPU
 * time each run costs the proxy, the servers and pgbench.
 */

import {
  type CpuPerTransaction,
  cpuPerTransaction,
  type CpuSample,
  readCpuSample,
} from "./_bench_cpu.ts";
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
  /** The servers it uses, whose CPU time is measured per run (none: not measured). */
  readonly servers: readonly PgServer[];
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

/** What {@link urlTarget} measures besides throughput. */
export interface UrlTargetOptions {
  /** A proxy's process, for its CPU time per transaction. */
  readonly pid?: number;
  /** The servers the target's transactions run on, for their CPU time per transaction. */
  readonly servers?: readonly PgServer[];
}

/**
 * A target reached through one libpq URL.
 * @param name its name in the tables
 * @param url libpq URL of the `bench` database through it
 * @param opts the proxy's process and the servers it uses
 * @returns the target
 */
export function urlTarget(name: string, url: string, opts: UrlTargetOptions = {}): Target {
  return {
    name,
    ...(opts.pid === undefined ? {} : { pid: opts.pid }),
    servers: opts.servers ?? [],
    run: (args, seconds, signal) =>
      pgbenchRun(url, { clients: CLIENTS, threads: THREADS, seconds, args, signal }),
  };
}

/**
 * The two-server ceiling: the workload directly on the original and the copy at once, half the
 * clients and one thread each; the throughput is the mean of the two servers', i.e. per server.
 * Its CPU per transaction is therefore per pair of transactions, one on each server, which is
 * what a replicated transaction costs the servers.
 * @param servers the original and the copy
 * @param database database holding the pgbench tables
 * @returns the target named `ceiling`
 */
export function ceilingTarget(servers: readonly PgServer[], database: string): Target {
  return {
    name: "ceiling",
    servers,
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
  const serverCpu = new Map<string, Array<number | undefined>>(targets.map((t) => [t.name, []]));
  const clientCpu = new Map<string, Array<number | undefined>>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of targets) {
      opts.signal.throwIfAborted();
      let tps: number | undefined;
      let perTx: CpuPerTransaction | undefined;
      try {
        // The reset's psql processes are reaped before the first sample, so the bench's ended
        // children's time grows only by pgbench's during the run.
        if (workload.writes) await resetTpcb(opts.servers, opts.database);
        const sample = await cpuSampler(target);
        const before = await sample();
        tps = await target.run(workload.args, opts.seconds, opts.signal);
        perTx = cpuPerTransaction(before, await sample(), tps * opts.seconds);
        opts.progress(
          `  round ${round} ${target.name.padEnd(14)} ${tps.toFixed(0)} tps${cpuText(perTx)}`,
        );
      } catch (e: unknown) {
        opts.signal.throwIfAborted();
        const message = e instanceof Error ? e.message : String(e);
        opts.failure(`${workload.title}, ${target.name}, round ${round}: ${message}`);
      }
      runs.get(target.name)?.push(tps);
      cpu.get(target.name)?.push(perTx?.proxy);
      serverCpu.get(target.name)?.push(perTx?.servers);
      clientCpu.get(target.name)?.push(perTx?.client);
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
    serverCpu: serverCpu as ReadonlyMap<string, Runs>,
    clientCpu: clientCpu as ReadonlyMap<string, Runs>,
    references: opts.references,
  };
}

/**
 * Returns a function that samples a target's CPU time: its proxy, the postmasters of its
 * servers (pids read now, from `postmaster.pid`), and the bench's reaped children (pgbench).
 */
async function cpuSampler(target: Target): Promise<() => Promise<CpuSample>> {
  const pids = await Promise.all(target.servers.map((s) => s.pid()));
  const servers = pids.every((p) => p !== undefined) ? pids : [];
  const roots = {
    ...(target.pid === undefined ? {} : { proxy: target.pid }),
    servers,
    client: Deno.pid,
  };
  return () => readCpuSample(roots);
}

/** The progress line's CPU figures, e.g. `; µs CPU per tx: proxy 45, servers 30, pgbench 12`. */
function cpuText(perTx: CpuPerTransaction): string {
  const parts = [
    ["proxy", perTx.proxy],
    ["servers", perTx.servers],
    ["pgbench", perTx.client],
  ].filter((p): p is [string, number] => p[1] !== undefined);
  return parts.length === 0
    ? ""
    : `; µs CPU per tx: ${parts.map(([what, us]) => `${what} ${us.toFixed(0)}`).join(", ")}`;
}
