/**
 * @module
 * The write load of the fault-injection tests (`recovery_test.ts`, `failover_test.ts`): pgbench
 * TPC-B plus a serial/now() insert script, 8 clients, through usogres, and node-postgres writers
 * that log every id usogres acknowledged (and reconnect after an error), with the check that
 * none of those ids is missing on a server. Private to `tests/integration/`.
 */

import assert from "node:assert/strict";
import {
  pgbench,
  type PgbenchResult,
  type PgClient,
  pgClient,
  type PgServer,
  type ProxyProcess,
  psql,
  type TestCluster,
  waitFor,
} from "../harness/mod.ts";
import { pgbenchReport } from "./_replication.ts";

/** The database every step of these tests writes to. */
export const DB = "bench";

/** Recreates {@link DB} on every server (before a usogres is started in front of them). */
export function freshDatabase(cluster: TestCluster): Promise<void> {
  return cluster.recreateDatabase(DB);
}

/** The serial/now() table every load writes to (pgbench's script and the acknowledged writers). */
export const EVENTS_DDL = "CREATE TABLE events (id serial PRIMARY KEY, client int NOT NULL, " +
  "note text NOT NULL, at timestamptz NOT NULL DEFAULT now())";

/** Creates the pgbench tables (scale 1) and `events` through usogres. */
export async function prepareDatabase(proxy: ProxyProcess, db: string): Promise<void> {
  const init = await pgbench(proxy.url(db), ["-i", "-s", "1", "-q"]);
  assert.equal(init.code, 0, init.stderr);
  const ddl = await psql(proxy.url(db), EVENTS_DDL);
  assert.equal(ddl.code, 0, ddl.stderr);
}

/** One failed attempt of an acknowledged writer. */
export interface WriteError {
  /** SQLSTATE, or the driver's code (`ECONNREFUSED`), or undefined. */
  readonly code: string | undefined;
  /** The message. */
  readonly message: string;
  /** `Date.now()` when it failed. */
  readonly at: number;
}

/**
 * A node-postgres client inserting into `events` in a loop and keeping every id the proxy
 * acknowledged (`RETURNING id`), with the latency of each; it reconnects after an error.
 */
class AckWriter {
  readonly acked: number[] = [];
  readonly errors: WriteError[] = [];
  /** `[Date.now() at the ack, latency in ms]` per acknowledged insert. */
  readonly latencies: [number, number][] = [];
  readonly done: Promise<void>;
  stopped = false;

  constructor(url: () => string, readonly id: number) {
    this.done = this.#run(url);
  }

  async #run(url: () => string): Promise<void> {
    while (!this.stopped) {
      let client: PgClient | undefined;
      // The error node-postgres emitted for the connection itself (an ErrorResponse or a close
      // between two queries).
      let lost: unknown;
      try {
        client = await pgClient(url());
        client.on("error", (e) => {
          lost ??= e;
        });
        while (!this.stopped) {
          const started = performance.now();
          const r = await client.query<{ id: number }>(
            "INSERT INTO events (client, note) VALUES ($1, 'ack') RETURNING id",
            [1000 + this.id],
          );
          this.latencies.push([Date.now(), performance.now() - started]);
          this.acked.push(r.rows[0]!.id);
        }
      } catch (thrown: unknown) {
        // A query sent after the connection failed between two queries is refused by the driver
        // itself ("not queryable"): what the server said is the connection's own error.
        const e = lost !== undefined && /not queryable/.test(String(thrown)) ? lost : thrown;
        const code = typeof e === "object" && e !== null && "code" in e
          ? String(e.code)
          : undefined;
        this.errors.push({ code, message: String(e), at: Date.now() });
        // Not an assertion: a retry pace, so a writer facing a dead server does not spin.
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await client?.[Symbol.asyncDispose]();
      }
    }
  }
}

/** Options of {@link WriteLoad.start}. */
export interface WriteLoadOptions {
  /** pgbench's `-T` (0: no pgbench, writers only). */
  readonly seconds: number;
  /** Acknowledged writers (default 2). */
  readonly writers?: number;
  /** Extra pgbench arguments (e.g. `["-C"]`). */
  readonly pgbenchArgs?: readonly string[];
}

/** What pgbench did, script by script. */
export interface PgbenchRun {
  /** The raw result. */
  readonly result: PgbenchResult;
  /** TPC-B transactions processed. */
  readonly tpcb: number;
  /** `events` inserts processed. */
  readonly inserts: number;
  /** Failed transactions. */
  readonly failed: number;
}

/**
 * The 8-client write load: `pgbench -c 8 -j 2 -b tpcb-like -f <insert into events>` through
 * usogres, plus acknowledged writers; stop the writers with {@link stopWriters}.
 */
export class WriteLoad implements AsyncDisposable {
  readonly pgbench: Promise<PgbenchResult> | undefined;
  readonly #writers: AckWriter[];
  readonly #script: string;

  private constructor(
    pgbenchRun: Promise<PgbenchResult> | undefined,
    writers: AckWriter[],
    script: string,
  ) {
    this.pgbench = pgbenchRun;
    this.#writers = writers;
    this.#script = script;
  }

  /**
   * Starts the load.
   * @param url the URL through usogres (a function, so writers follow a restarted usogres)
   * @param opts duration, writers and pgbench arguments
   * @returns the running load
   */
  static async start(url: () => string, opts: WriteLoadOptions): Promise<WriteLoad> {
    const script = await Deno.makeTempFile({ prefix: "usogres-events-", suffix: ".sql" });
    await Deno.writeTextFile(
      script,
      "INSERT INTO events (client, note) VALUES (:client_id, 'pgbench');\n",
    );
    // One pgbench thread: pgbench adds to its per-script counters without a lock ("XXX could
    // use a mutex here, but we choose not to" in pgbench.c), so with -j 2 two threads finishing
    // at once can lose a count, and the per-script counts this load compares with the servers
    // stop adding up to "transactions actually processed". One thread runs 8 clients fine.
    const run = opts.seconds > 0
      ? pgbench(url(), [
        "-n",
        ...["-c", "8", "-j", "1", "-T", String(opts.seconds)],
        ...["-b", "tpcb-like", "-f", script],
        ...(opts.pgbenchArgs ?? []),
      ])
      : undefined;
    const writers = Array.from({ length: opts.writers ?? 2 }, (_, i) => new AckWriter(url, i));
    return new WriteLoad(run, writers, script);
  }

  /**
   * Waits until the load runs: writes acknowledged, and pgbench's transactions committing on the
   * original (read directly).
   */
  async going(original: PgServer, db: string): Promise<void> {
    await waitFor(
      async () =>
        this.acked().length >= 20 && (!this.pgbench ||
          Number(await original.psql("SELECT count(*) FROM pgbench_history", { db })) >= 50),
      { what: "the load to get going", timeoutMs: 30_000 },
    );
  }

  /** Ids acknowledged so far, by every writer. */
  acked(): number[] {
    return this.#writers.flatMap((w) => w.acked);
  }

  /** Errors the writers saw so far. */
  errors(): WriteError[] {
    return this.#writers.flatMap((w) => w.errors);
  }

  /**
   * The longest acknowledged insert that ended within `[from, to]` (`Date.now()` values).
   * @returns milliseconds (0 when none)
   */
  maxLatency(from = 0, to = Infinity): number {
    let max = 0;
    for (const w of this.#writers) {
      for (const [at, ms] of w.latencies) if (at >= from && at <= to && ms > max) max = ms;
    }
    return max;
  }

  /** Stops the acknowledged writers and waits for them. */
  async stopWriters(): Promise<void> {
    for (const w of this.#writers) w.stopped = true;
    await Promise.all(this.#writers.map((w) => w.done));
  }

  /**
   * Waits for pgbench to end and reads its per-script report.
   * @returns the counts
   */
  async pgbenchRun(): Promise<PgbenchRun> {
    assert.ok(this.pgbench, "this load runs no pgbench");
    const result = await this.pgbench;
    const perScript = [...result.stdout.matchAll(
      /^SQL script (\d+):[^\n]*\n - weight[^\n]*\n - (\d+) transactions/gm,
    )].map((m) => Number(m[2]));
    const failed = /^number of failed transactions: (\d+)/m.exec(result.stdout);
    return {
      result,
      tpcb: perScript[0] ?? 0,
      inserts: perScript[1] ?? 0,
      failed: failed ? Number(failed[1]) : NaN,
    };
  }

  /**
   * Waits for pgbench, asserts it ran without a failed transaction, and stops the writers.
   * @returns pgbench's counts
   */
  async finishCleanly(): Promise<PgbenchRun> {
    const run = await this.pgbenchRun();
    await this.stopWriters();
    assert.equal(run.result.code, 0, `${run.result.stderr}\n${run.result.stdout}`);
    const report = pgbenchReport(run.result.stdout);
    assert.equal(report.failed, 0, run.result.stdout);
    assert.equal(run.tpcb + run.inserts, report.processed, run.result.stdout);
    assert.deepEqual(this.errors(), [], "an acknowledged writer saw an error");
    return run;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stopWriters();
    await this.pgbench?.catch(() => {});
    await Deno.remove(this.#script).catch(() => {});
  }
}

/**
 * Asserts that every id in `acked` is in `events` on `server` (nothing acknowledged was lost).
 * @returns the number of acknowledged ids checked
 */
export async function assertAckedPresent(
  server: PgServer,
  db: string,
  acked: readonly number[],
): Promise<number> {
  assert.ok(acked.length > 0, "no write was acknowledged");
  const ids = (await server.psql("SELECT id FROM events WHERE note = 'ack'", { db }))
    .trim().split("\n").map(Number);
  const present = new Set(ids);
  const missing = acked.filter((id) => !present.has(id));
  assert.deepEqual(missing, [], `acknowledged ids missing on "${server.name}"`);
  return acked.length;
}
