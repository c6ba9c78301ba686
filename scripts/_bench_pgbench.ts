/**
 * @module
 * pgbench for the benchmark (`scripts/bench.ts`): one timed run against a libpq URL, with a
 * watchdog, its throughput parsed from the `tps = ...` line; `pgbench -i` on a server; and the
 * cleanup pgbench itself does before a TPC-B run (vacuum the small tables, truncate history),
 * done directly on every server so that every target can run with `-n`. Follows the pgbench
 * reference page of the PostgreSQL documentation.
 */

import type { PgServer } from "./pg_server.ts";
import { cleanEnv, pgBinary, redact } from "./pg_tools.ts";

/** How one timed pgbench run is made. */
export interface PgbenchRunOptions {
  /** Client sessions (`-c`). */
  readonly clients: number;
  /** Worker threads (`-j`). */
  readonly threads: number;
  /** Duration in seconds (`-T`). */
  readonly seconds: number;
  /** Workload arguments, e.g. `["-S", "-M", "prepared"]`; `[]` is TPC-B. */
  readonly args: readonly string[];
  /** Kills pgbench when aborted (SIGINT). */
  readonly signal: AbortSignal;
}

const decoder = new TextDecoder();

/** Seconds a run may overrun `-T` before the watchdog kills it (a stuck proxy). */
const OVERRUN_SECONDS = 60;

/**
 * Returns the pgbench arguments of a timed run, without the URL, as the report prints them.
 * @param opts clients, threads, duration and workload
 * @returns the arguments, `-n` first (the bench cleans up itself; see {@link resetTpcb})
 */
export function pgbenchArgs(opts: Omit<PgbenchRunOptions, "signal">): string[] {
  return [
    "-n",
    ...opts.args,
    "-c",
    String(opts.clients),
    "-j",
    String(opts.threads),
    "-T",
    String(opts.seconds),
  ];
}

/**
 * Runs one timed pgbench against a URL and returns its throughput.
 * @param url libpq URL of the target (pgbench expands a URL given as the database name)
 * @param opts clients, threads, duration, workload and abort signal
 * @returns transactions per second, as pgbench prints it
 * @throws Error with pgbench's output when it fails, aborts clients, reports failed
 *   transactions, or overruns the duration by {@link OVERRUN_SECONDS} seconds
 */
export async function pgbenchRun(url: string, opts: PgbenchRunOptions): Promise<number> {
  const watchdog = AbortSignal.timeout((opts.seconds + OVERRUN_SECONDS) * 1000);
  const child = new Deno.Command(await pgBinary("pgbench"), {
    args: [...pgbenchArgs(opts), url],
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.any([opts.signal, watchdog]),
  }).spawn();
  const out = await child.output();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  const what = `pgbench ${opts.args.join(" ") || "(TPC-B)"} on ${redact(url)}`;
  if (watchdog.aborted) throw new Error(`${what} overran -T by ${OVERRUN_SECONDS} s: killed`);
  const tps = /^tps = ([0-9.]+)/m.exec(stdout);
  const failed = /^number of failed transactions: ([1-9][0-9]*)/m.exec(stdout);
  if (out.code !== 0 || !tps?.[1] || failed) {
    const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-8).join("\n");
    throw new Error(`${what} failed (exit ${out.code}):\n${tail}`);
  }
  return Number(tps[1]);
}

/**
 * Creates the pgbench tables on one server (`pgbench -i -s SCALE`, quietly). pgbench's data are
 * deterministic, so two servers initialised this way hold the same rows.
 * @param server the server (as its superuser)
 * @param scale scale factor (100,000 accounts each)
 * @param database database to create the tables in
 * @throws Error with pgbench's output when it fails
 */
export async function pgbenchInit(
  server: PgServer,
  scale: number,
  database: string,
): Promise<void> {
  const out = await new Deno.Command(await pgBinary("pgbench"), {
    args: ["-i", "-q", "-s", String(scale), server.url(database)],
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `pgbench -i on server "${server.name}" failed: ${decoder.decode(out.stderr).trim()}`,
    );
  }
}

/**
 * Does what pgbench does before a TPC-B run unless given `-n`, on every server directly: vacuum
 * the branches and tellers tables and empty the history table, so each run starts alike.
 * @param servers the original and the copy
 * @param database database holding the pgbench tables
 * @throws Error with psql's output when a statement fails
 */
export async function resetTpcb(servers: readonly PgServer[], database: string): Promise<void> {
  const sql = "VACUUM pgbench_branches;\nVACUUM pgbench_tellers;\nTRUNCATE pgbench_history;";
  await Promise.all(servers.map((s) => s.psql(sql, { db: database })));
}
