/**
 * @module
 * Shared checks of the replication integration tests (`replication*_test.ts`): every server read
 * directly and compared with the original, the proxy's log searched for copies marked stale,
 * psql sessions of several statements, and pgbench's report. Private to `tests/integration/`.
 */

import assert from "node:assert/strict";
import { psql, type PsqlOptions } from "../harness/mod.ts";
import type {
  ClientResult,
  PgServer,
  ProxyProcess,
  StartProxyOptions,
  TestCluster,
} from "../harness/mod.ts";

/** psql prints `ERROR:  22012: division by zero` with this, so tests can read the SQLSTATE. */
export const VERBOSE = ["-v", "VERBOSITY=verbose"];

/**
 * The SQLSTATEs psql printed (run with {@link VERBOSE}), in order.
 * @param stderr psql's stderr
 * @returns the codes
 */
export function sqlstates(stderr: string): string[] {
  return [...stderr.matchAll(/^(?:ERROR|FATAL):\s+([0-9A-Z]{5}):/gm)].map((m) => m[1]!);
}

/**
 * Runs the same query on every server directly (not through usogres) and asserts that each copy
 * printed exactly what the original printed, and that the original printed `expected`, so a
 * comparison of empty tables cannot pass by accident.
 * @param cluster the servers
 * @param db database
 * @param sql a query with a total `ORDER BY`
 * @param expected the original's psql `-At` output
 * @param copies the copies that must match (default all; leave out a stale or stopped one)
 * @returns when every server agrees
 */
export async function assertEverywhere(
  cluster: TestCluster,
  db: string,
  sql: string,
  expected: string,
  copies: readonly PgServer[] = cluster.copies,
): Promise<void> {
  const [original, ...outputs] = await Promise.all(
    [cluster.original, ...copies].map((s) => s.psql(sql, { db })),
  );
  assert.equal(original, expected, `unexpected rows on the original for: ${sql}`);
  outputs.forEach((out, i) => {
    assert.equal(out, original, `copy "${copies[i]!.name}" differs from the original for: ${sql}`);
  });
}

/**
 * Asserts that no copy was marked stale (nor any divergence logged) by this usogres so far.
 * @param proxy the usogres process
 */
export function assertNoStale(proxy: ProxyProcess): void {
  const out = proxy.output();
  const line = out.split("\n").find((l) =>
    /is now stale|divergence on copy|copy "\w+" failed/.test(l)
  );
  assert.equal(line, undefined, `usogres marked a copy stale:\n${line}`);
}

/**
 * The names of the copies this usogres logged as now stale.
 * @param proxy the usogres process
 * @returns copy names, in order, without repeats
 */
export function staleCopies(proxy: ProxyProcess): string[] {
  const names = [...proxy.output().matchAll(/backend "(\w+)" is now stale/g)].map((m) => m[1]!);
  return [...new Set(names)];
}

/**
 * Runs several statements in one psql session, each as its own simple Query (`-c` repeated),
 * printing unaligned tuples (`-At`) and command tags.
 * @param url libpq URL
 * @param statements the statements, in order (at least one)
 * @param opts extra psql arguments and stdin
 * @returns psql's exit code and output
 */
export async function psqlSession(
  url: string,
  statements: readonly string[],
  opts: PsqlOptions = {},
): Promise<ClientResult> {
  const last = statements.at(-1);
  assert.ok(last !== undefined, "psqlSession needs a statement");
  const args = ["-At", ...(opts.args ?? [])];
  for (const s of statements.slice(0, -1)) args.push("-c", s);
  return await psql(url, last, { ...opts, args });
}

/** The numbers of a pgbench run, from its report. */
export interface PgbenchReport {
  /** Transactions processed. */
  readonly processed: number;
  /** Failed transactions. */
  readonly failed: number;
  /** Throughput, without initial connection time. */
  readonly tps: number;
}

/**
 * Reads pgbench's report.
 * @param stdout pgbench's stdout
 * @returns processed and failed transactions and the tps
 */
export function pgbenchReport(stdout: string): PgbenchReport {
  const processed = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout);
  const tps = /^tps = ([\d.]+)/m.exec(stdout);
  assert.ok(processed && failed && tps, `no pgbench report in:\n${stdout}`);
  return { processed: Number(processed[1]), failed: Number(failed[1]), tps: Number(tps[1]) };
}

/**
 * The query that fingerprints pgbench's tables: row counts, balance sums and an md5 of every row
 * in key order; for pgbench_history only the columns that do not hold a time (issue 4).
 */
export const PGBENCH_FINGERPRINT = [
  "SELECT 'accounts', count(*), sum(abalance), md5(string_agg(aid || ':' || bid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts",
  "SELECT 'tellers', count(*), sum(tbalance), md5(string_agg(tid || ':' || bid || ':' || tbalance, ',' ORDER BY tid)) FROM pgbench_tellers",
  "SELECT 'branches', count(*), sum(bbalance), md5(string_agg(bid || ':' || bbalance, ',' ORDER BY bid)) FROM pgbench_branches",
  "SELECT 'history', count(*), sum(delta), md5(string_agg(tid || ':' || bid || ':' || aid || ':' || delta, ',' ORDER BY tid, bid, aid, delta)) FROM pgbench_history",
].join(" UNION ALL ") + " ORDER BY 1";

/**
 * Asserts that pgbench's tables are identical on every server and consistent on the original:
 * the sum of history's deltas equals each balance sum (every TPC-B statement ran exactly once),
 * and the history holds `transactions` rows.
 * @param cluster the servers
 * @param db database
 * @param transactions history rows expected on the original
 * @param copies the copies that must match (default all)
 * @returns when they match
 */
export async function assertPgbenchIdentical(
  cluster: TestCluster,
  db: string,
  transactions: number,
  copies: readonly PgServer[] = cluster.copies,
): Promise<void> {
  const original = await cluster.original.psql(PGBENCH_FINGERPRINT, { db });
  const rows = Object.fromEntries(
    original.trim().split("\n").map((l) => {
      const [name, count, sum] = l.split("|");
      return [name!, { count: Number(count), sum: Number(sum) }];
    }),
  );
  assert.equal(rows.history?.count, transactions, original);
  assert.equal(rows.accounts?.count, 100_000, original);
  assert.equal(rows.accounts?.sum, rows.history?.sum, original);
  assert.equal(rows.tellers?.sum, rows.history?.sum, original);
  assert.equal(rows.branches?.sum, rows.history?.sum, original);
  await assertEverywhere(cluster, db, PGBENCH_FINGERPRINT, original, copies);
}

/** How long one step may take before {@link withDeadline} ends it. */
export const STEP_DEADLINE_MS = 60_000;

/**
 * Runs a step body, and if it has not finished within `ms`, kills usogres so that its clients
 * get their connections closed and the step fails instead of hanging the whole run (a relay that
 * stops reading, say, waits forever otherwise).
 * @param proxy the usogres the step's clients go through
 * @param fn the step body
 * @param ms the deadline (default {@link STEP_DEADLINE_MS})
 * @returns what `fn` returns
 * @throws what `fn` throws; after the deadline, an Error saying so (with `fn`'s error as cause)
 */
export async function withDeadline<T>(
  proxy: ProxyProcess,
  fn: () => Promise<T>,
  ms: number = STEP_DEADLINE_MS,
): Promise<T> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    proxy.kill("SIGKILL");
  }, ms);
  try {
    const value = await fn();
    if (expired) throw new Error(`the step took longer than ${ms} ms; usogres was killed`);
    return value;
  } catch (e: unknown) {
    if (expired) {
      throw new Error(`the step did not finish within ${ms} ms; usogres was killed to end it`, {
        cause: e,
      });
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The usogres a test file's steps share, started again before a step when an earlier step left a
 * copy stale (each step uses its own database, so a fresh usogres with every copy in sync is a
 * clean start), so that one failure does not fail every step after it.
 */
export class SharedProxy implements AsyncDisposable {
  readonly #cluster: TestCluster;
  readonly #opts: StartProxyOptions;
  readonly #outputs: string[] = [];
  #proxy: ProxyProcess;

  private constructor(cluster: TestCluster, opts: StartProxyOptions, proxy: ProxyProcess) {
    this.#cluster = cluster;
    this.#opts = opts;
    this.#proxy = proxy;
  }

  /**
   * Starts usogres in front of the cluster.
   * @param cluster the servers
   * @param opts usogres options, reused on every restart
   * @returns the shared usogres; dispose it to stop it
   */
  static async start(cluster: TestCluster, opts: StartProxyOptions = {}): Promise<SharedProxy> {
    return new SharedProxy(cluster, opts, await cluster.startProxy(opts));
  }

  /** The running usogres. */
  get current(): ProxyProcess {
    return this.#proxy;
  }

  /**
   * Returns a usogres with every copy in sync, starting a new one if a copy went stale.
   * @returns the usogres for the next step
   */
  async inSync(): Promise<ProxyProcess> {
    if (staleCopies(this.#proxy).length > 0) {
      await this.#proxy.stop();
      this.#outputs.push(this.#proxy.output());
      this.#proxy = await this.#cluster.startProxy(this.#opts);
    }
    return this.#proxy;
  }

  /** Everything every usogres started here printed. */
  output(): string {
    return [...this.#outputs, this.#proxy.output()].join("");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#proxy.stop();
  }
}
