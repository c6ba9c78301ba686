/**
 * @module
 * Real clients through usogres against a real original server: psql (simple queries,
 * multi-statement strings, errors, COPY both ways, cancel on SIGINT), pgbench in its three query
 * modes, node-postgres (parameters, transactions, row-limited Execute, LISTEN/NOTIFY) and
 * postgres.js (tagged queries, `sql.begin`, pipelining, COPY streams, `query.cancel()`). Data is
 * always checked by reading the original directly, never through usogres.
 */

import assert from "node:assert/strict";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import {
  pgbench,
  pgClient,
  postgresJs,
  psql,
  startCluster,
  type TestCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { cleanEnv, pgBinary } from "../../scripts/pg_tools.ts";

/** psql prints `ERROR:  22012: division by zero` with this, so tests can read the SQLSTATE. */
const VERBOSE = ["-v", "VERBOSITY=verbose"];

/** The SQLSTATEs psql printed (with {@link VERBOSE}), in order. */
function sqlstates(stderr: string): string[] {
  return [...stderr.matchAll(/^(?:ERROR|FATAL):\s+([0-9A-Z]{5}):/gm)].map((m) => m[1]!);
}

/** The error's SQLSTATE, as node-postgres and postgres.js both expose it. */
function codeOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : undefined;
}

/** Runs `fn` and returns the SQLSTATE it rejected with; fails when it resolves. */
async function rejectsWith(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e: unknown) {
    return codeOf(e);
  }
  assert.fail("expected the query to fail");
}

/** How many `select pg_sleep(...)` statements the original is running now. */
async function sleepersOn(cluster: TestCluster): Promise<number> {
  const n = await cluster.original.psql(
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%'" +
      " AND pid <> pg_backend_pid()",
  );
  return Number(n);
}

/** A pgbench run's numbers, from its report. */
function pgbenchReport(stdout: string): { processed: number; failed: number } {
  const processed = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  const failed = /^number of failed transactions: (\d+)/m.exec(stdout);
  assert.ok(processed && failed, `no pgbench report in:\n${stdout}`);
  return { processed: Number(processed[1]), failed: Number(failed[1]) };
}

Deno.test("proxy: real clients through usogres", async (t) => {
  await using cluster = await startCluster({ copies: 0 });
  await using proxy = await cluster.startProxy();

  /** Runs a step body with a fresh database of its own, printing the logs on failure. */
  const step = (name: string, db: string, fn: (db: string) => Promise<void>) =>
    t.step(name, () =>
      withLogsOnFailure(proxy, cluster, async () => {
        await cluster.recreateDatabase(db);
        await fn(db);
      }));

  // ---- psql -------------------------------------------------------------------------------

  await step("psql: a simple query returns its rows", "psql_simple", async (db) => {
    const r = await psql(proxy.url(db), "SELECT 1 AS a, 'two' AS b, NULL AS c", {
      args: ["-At"],
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "1|two|\n");
  });

  await step(
    "psql: a multi-statement string runs as one implicit transaction",
    "psql_multi",
    async (db) => {
      const ok = await psql(
        proxy.url(db),
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2); SELECT count(*) FROM t",
        { args: ["-qAt"] },
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "2\n");
      const bad = await psql(proxy.url(db), "INSERT INTO t VALUES (3); SELECT 1/0", {
        args: VERBOSE,
      });
      assert.notEqual(bad.code, 0);
      assert.deepEqual(sqlstates(bad.stderr), ["22012"]);
      // The INSERT before the failing statement was part of the same transaction.
      assert.equal(await cluster.original.psql("SELECT count(*) FROM t", { db }), "2\n");
    },
  );

  await step("psql: an error leaves the session usable", "psql_error", async (db) => {
    // One psql session: a temporary table proves the later statements ran on the same backend.
    const r = await psql(proxy.url(db), "SELECT n FROM tmp", {
      args: [
        "-qAt",
        ...VERBOSE,
        "-v",
        "ON_ERROR_STOP=0",
        "-c",
        "CREATE TEMP TABLE tmp AS SELECT 7 AS n",
        "-c",
        "SELECT 1/0",
        "-c",
        "SELECT nosuchcolumn FROM tmp",
      ],
    });
    assert.deepEqual(sqlstates(r.stderr), ["22012", "42703"]);
    assert.equal(r.stdout, "7\n");
  });

  await step("psql: COPY FROM STDIN loads the rows psql sends", "psql_copy_in", async (db) => {
    await cluster.original.psql("CREATE TABLE items (id int, name text)", { db });
    const rows = Array.from({ length: 5000 }, (_, i) => `${i + 1}\titem ${i + 1}\n`).join("");
    const copy = await psql(proxy.url(db), "COPY items FROM STDIN", { stdin: rows });
    assert.equal(copy.code, 0, copy.stderr);
    const meta = await psql(
      proxy.url(db),
      "\\copy items (id, name) from pstdin with (format csv)",
      {
        stdin: '5001,meta\n5002,"with, comma"\n',
      },
    );
    assert.equal(meta.code, 0, meta.stderr);
    assert.equal(
      await cluster.original.psql(
        "SELECT count(*), sum(id), count(DISTINCT name) FROM items",
        { db },
      ),
      `5002|${(5002 * 5003) / 2}|5002\n`,
    );
    assert.equal(
      await cluster.original.psql("SELECT name FROM items WHERE id = 5002", { db }),
      "with, comma\n",
    );
  });

  await step("psql: COPY TO STDOUT returns every row", "psql_copy_out", async (db) => {
    await cluster.original.psql(
      "CREATE TABLE items AS SELECT g AS id, 'item ' || g AS name FROM generate_series(1, 5000) g",
      { db },
    );
    const expected = Array.from({ length: 5000 }, (_, i) => `${i + 1}\titem ${i + 1}\n`).join("");
    const copy = await psql(proxy.url(db), "COPY (SELECT * FROM items ORDER BY id) TO STDOUT");
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(copy.stdout, expected);
    const meta = await psql(proxy.url(db), "\\copy (SELECT * FROM items ORDER BY id) to stdout");
    assert.equal(meta.code, 0, meta.stderr);
    assert.equal(meta.stdout, expected);
  });

  await step(
    "psql: COPY FROM STDIN rejected by the server leaves the session usable",
    "psql_copy_bad",
    async (db) => {
      await cluster.original.psql("CREATE TABLE items (id int, name text)", { db });
      const r = await psql(proxy.url(db), "SELECT count(*) FROM items", {
        args: ["-qAt", ...VERBOSE, "-v", "ON_ERROR_STOP=0", "-c", "COPY items FROM STDIN"],
        stdin: "1\tok\nnot-a-number\tbad\n" + "3\tmore\n".repeat(2000),
      });
      assert.deepEqual(sqlstates(r.stderr), ["22P02"]);
      assert.equal(r.stdout, "0\n");
      assert.equal(await cluster.original.psql("SELECT count(*) FROM items", { db }), "0\n");
    },
  );

  await step(
    "psql: SIGINT cancels a running statement through usogres (CancelRequest)",
    "psql_cancel",
    async (db) => {
      const child = new Deno.Command(await pgBinary("psql"), {
        args: ["-X", ...VERBOSE, "-d", proxy.url(db), "-c", "select pg_sleep(30)"],
        env: cleanEnv(),
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = child.output();
      try {
        await waitFor(async () => (await sleepersOn(cluster)) === 1, {
          what: "pg_sleep running on the original",
        });
        const sent = Date.now();
        child.kill("SIGINT");
        const out = await output;
        const elapsed = Date.now() - sent;
        const stderr = new TextDecoder().decode(out.stderr);
        assert.deepEqual(sqlstates(stderr), ["57014"], stderr);
        assert.ok(elapsed < 5000, `psql took ${elapsed} ms to report the cancel`);
        await waitFor(async () => (await sleepersOn(cluster)) === 0, {
          what: "pg_sleep gone from pg_stat_activity",
        });
      } finally {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited already.
        }
        await output;
      }
    },
  );

  // ---- pgbench ----------------------------------------------------------------------------

  const bench = "bench";
  await step("pgbench: -i creates and loads its tables through usogres", bench, async (db) => {
    const r = await pgbench(proxy.url(db), ["-i", "-s", "1", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await cluster.original.psql(
        "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_branches)," +
          " (SELECT count(*) FROM pgbench_tellers), (SELECT count(*) FROM pgbench_history)",
        { db },
      ),
      "100000|1|10|0\n",
    );
  });

  let processed = 0;
  for (const mode of ["simple", "extended", "prepared"]) {
    await t.step(
      `pgbench: -M ${mode} with 4 clients has no failed transaction`,
      () =>
        withLogsOnFailure(proxy, cluster, async () => {
          const r = await pgbench(proxy.url(bench), ["-M", mode, "-T", "2", "-c", "4", "-n"]);
          assert.equal(r.code, 0, r.stderr);
          const report = pgbenchReport(r.stdout);
          assert.equal(report.failed, 0);
          assert.ok(report.processed > 0);
          processed += report.processed;
          // Each TPC-B transaction adds one history row and the same delta to an account, a
          // teller and a branch: the sums agree only if every statement ran exactly once.
          assert.equal(
            await cluster.original.psql(
              "SELECT count(*), sum(delta) = (SELECT sum(abalance) FROM pgbench_accounts)," +
                " sum(delta) = (SELECT sum(tbalance) FROM pgbench_tellers)," +
                " sum(delta) = (SELECT sum(bbalance) FROM pgbench_branches)," +
                " (SELECT count(*) FROM pgbench_accounts) FROM pgbench_history",
              { db: bench },
            ),
            `${processed}|t|t|t|100000\n`,
          );
        }),
    );
  }

  // ---- node-postgres ----------------------------------------------------------------------

  await step(
    "node-postgres: parameterized queries bind text, numbers and NULL",
    "pg_params",
    async (db) => {
      await cluster.original.psql("CREATE TABLE kv (k int PRIMARY KEY, v text)", { db });
      await using c = await pgClient(proxy.url(db));
      const r = await c.query<{ sum: number; t: string; n: string | null }>(
        "SELECT $1::int + $2::int AS sum, $3::text AS t, $4::text AS n",
        [2, 3, "héllo ☃", null],
      );
      assert.deepEqual(r.rows, [{ sum: 5, t: "héllo ☃", n: null }]);
      for (let k = 1; k <= 20; k++) {
        const ins = await c.query("INSERT INTO kv VALUES ($1, $2)", [k, `v${k}`]);
        assert.equal(ins.rowCount, 1);
      }
      assert.equal(
        await cluster.original.psql("SELECT count(*), sum(k), min(v), max(v) FROM kv", { db }),
        "20|210|v1|v9\n",
      );
    },
  );

  await step(
    "node-postgres: COMMIT keeps and ROLLBACK discards a transaction's rows",
    "pg_tx",
    async (db) => {
      await cluster.original.psql("CREATE TABLE t (id int)", { db });
      const ids = () =>
        cluster.original.psql("SELECT coalesce(string_agg(id::text, ','), '') FROM t", {
          db,
        });
      await using c = await pgClient(proxy.url(db));
      await c.query("BEGIN");
      await c.query("INSERT INTO t VALUES (1)");
      assert.equal(await ids(), "\n", "uncommitted row visible on the original");
      await c.query("COMMIT");
      assert.equal(await ids(), "1\n");
      await c.query("BEGIN");
      await c.query("INSERT INTO t VALUES ($1)", [2]);
      await c.query("ROLLBACK");
      assert.equal(await ids(), "1\n");
    },
  );

  await step(
    "node-postgres: an error inside a transaction fails it until ROLLBACK",
    "pg_tx_error",
    async (db) => {
      await cluster.original.psql("CREATE TABLE t (id int)", { db });
      await using c = await pgClient(proxy.url(db));
      await c.query("BEGIN");
      await c.query("INSERT INTO t VALUES (1)");
      assert.equal(await rejectsWith(() => c.query("SELECT 1/0")), "22012");
      assert.equal(await rejectsWith(() => c.query("SELECT 1")), "25P02");
      assert.equal(await rejectsWith(() => c.query("SELECT $1::int", [1])), "25P02");
      await c.query("ROLLBACK");
      const r = await c.query<{ n: number }>("SELECT $1::int AS n", [42]);
      assert.deepEqual(r.rows, [{ n: 42 }]);
      assert.equal(await cluster.original.psql("SELECT count(*) FROM t", { db }), "0\n");
    },
  );

  await step(
    "node-postgres: a row-limited Execute returns every row in batches (Flush, PortalSuspended)",
    "pg_rows",
    async (db) => {
      await using c = await pgClient(proxy.url(db));
      // With `rows`, node-postgres sends Execute(3) + Flush, then again on each PortalSuspended,
      // and Sync only after CommandComplete.
      const query = c.query as unknown as (config: {
        text: string;
        values: unknown[];
        rows: number;
      }) => Promise<{ rows: { n: number }[] }>;
      const r = await query.call(c, {
        text: "SELECT g AS n FROM generate_series(1, $1::int) g",
        values: [10],
        rows: 3,
      });
      assert.deepEqual(r.rows.map((row) => row.n), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const after = await c.query<{ ok: boolean }>("SELECT true AS ok");
      assert.deepEqual(after.rows, [{ ok: true }]);
    },
  );

  await step(
    "node-postgres: LISTEN receives a NOTIFY sent by another client",
    "pg_notify",
    async (db) => {
      await using listener = await pgClient(proxy.url(db));
      await using notifier = await pgClient(proxy.url(db));
      const received: { channel: string; payload: string }[] = [];
      listener.on("notification", (m) => received.push(m as { channel: string; payload: string }));
      await listener.query("LISTEN usogres_ch");
      await notifier.query("NOTIFY usogres_ch, 'first'");
      await notifier.query("SELECT pg_notify('usogres_ch', $1)", ["second"]);
      // The listener stays idle: the notifications must be relayed without a query of its own.
      await waitFor(() => received.length === 2, { what: "two notifications" });
      assert.deepEqual(received.map((m) => [m.channel, m.payload]), [
        ["usogres_ch", "first"],
        ["usogres_ch", "second"],
      ]);
    },
  );

  // ---- postgres.js ------------------------------------------------------------------------

  await step(
    "postgres.js: tagged queries bind parameters and insert rows",
    "pj_tagged",
    async (db) => {
      await cluster.original.psql("CREATE TABLE people (id int PRIMARY KEY, name text)", { db });
      await using sql = postgresJs(proxy.url(db), { max: 1 });
      const [sum] = await sql`SELECT ${2}::int + ${3}::int AS n, ${"ünï"}::text AS s`;
      assert.deepEqual({ ...sum }, { n: 5, s: "ünï" });
      const people = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, name: `p${i + 1}` }));
      const inserted = await sql`INSERT INTO people ${sql(people)}`;
      assert.equal(inserted.count, 50);
      const [one] = await sql`SELECT name FROM people WHERE id = ${7}`;
      assert.equal(one?.name, "p7");
      assert.equal(
        await cluster.original.psql("SELECT count(*), sum(id) FROM people", { db }),
        "50|1275\n",
      );
    },
  );

  await step(
    "postgres.js: sql.begin commits, and rolls back when its callback throws",
    "pj_begin",
    async (db) => {
      await cluster.original.psql("CREATE TABLE t (id int)", { db });
      await using sql = postgresJs(proxy.url(db), { max: 2 });
      await sql.begin(async (tx) => {
        await tx`INSERT INTO t VALUES (1)`;
        await tx`INSERT INTO t VALUES (2)`;
      });
      const failed = await sql.begin(async (tx) => {
        await tx`INSERT INTO t VALUES (3)`;
        await tx`SELECT 1/0`;
      }).then(() => undefined, (e: unknown) => codeOf(e));
      assert.equal(failed, "22012");
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx`INSERT INTO t VALUES (4)`;
          throw new Error("application error");
        }),
        /application error/,
      );
      assert.equal(
        await cluster.original.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t", { db }),
        "1,2\n",
      );
    },
  );

  await step(
    "postgres.js: pipelined queries on one connection each get their own result",
    "pj_pipeline",
    async (db) => {
      await using sql = postgresJs(proxy.url(db), { max: 1 });
      // postgres.js writes every query of the burst before reading any reply, each with its own
      // Sync; a failing one in the middle must not disturb the others.
      const results = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) =>
            (i === 20 ? sql`SELECT 1/0 AS n` : sql`SELECT ${i}::int AS n`).then(
              (rows) => rows[0]?.n as number,
              (e: unknown) => codeOf(e),
            ),
        ),
      );
      const expected: (number | string)[] = Array.from({ length: 40 }, (_, i) => i);
      expected[20] = "22012";
      assert.deepEqual(results, expected);
    },
  );

  await step(
    "postgres.js: COPY FROM STDIN by writable() and TO STDOUT by readable()",
    "pj_copy",
    async (db) => {
      await cluster.original.psql("CREATE TABLE items (id int, name text)", { db });
      await using sql = postgresJs(proxy.url(db), { max: 1 });
      const lines = Array.from({ length: 3000 }, (_, i) => `${i + 1}\tn${i + 1}\n`);
      const writable = await sql`COPY items FROM STDIN`.writable();
      await pipeline(Readable.from(lines), writable);
      assert.equal(
        await cluster.original.psql("SELECT count(*), sum(id) FROM items", { db }),
        `3000|${(3000 * 3001) / 2}\n`,
      );
      const readable = await sql`COPY (SELECT * FROM items ORDER BY id) TO STDOUT`.readable();
      const chunks: string[] = [];
      const decoder = new TextDecoder();
      for await (const chunk of readable) chunks.push(decoder.decode(chunk as Uint8Array));
      assert.equal(chunks.join(""), lines.join(""));
      const [after] = await sql`SELECT count(*)::int AS n FROM items`;
      assert.equal(after?.n, 3000);
    },
  );

  await step(
    "postgres.js: query.cancel() cancels a running statement through usogres",
    "pj_cancel",
    async (db) => {
      await using sql = postgresJs(proxy.url(db), { max: 1 });
      const query = sql`select pg_sleep(30)`;
      const outcome = query.then(() => "completed", (e: unknown) => codeOf(e));
      await waitFor(async () => (await sleepersOn(cluster)) === 1, {
        what: "pg_sleep running on the original",
      });
      const sent = Date.now();
      await query.cancel();
      assert.equal(await outcome, "57014");
      assert.ok(Date.now() - sent < 5000);
      await waitFor(async () => (await sleepersOn(cluster)) === 0, {
        what: "pg_sleep gone from pg_stat_activity",
      });
      const [row] = await sql`SELECT 1 AS ok`;
      assert.equal(row?.ok, 1);
    },
  );

  await t.step("usogres: logged no internal error (XX000) while serving these clients", () => {
    assert.doesNotMatch(proxy.output(), /internal error/);
  });
});
