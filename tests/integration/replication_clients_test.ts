/**
 * @module
 * Replication through usogres onto an original and two copies, driven by the real client
 * libraries and benchmarks: pgbench TPC-B in its three query modes with 8 clients, node-postgres
 * (parameters, named prepared statements, pipeline mode, row-limited Execute while another
 * connection writes, and its protocol layer for a batch that binds a statement the copies never
 * saw), and postgres.js (`sql.begin`, pipelined writes, COPY FROM a stream). Every step ends by
 * reading every server directly and comparing it with the original, and checks that no copy was
 * marked stale.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import pg from "pg";
import {
  pgbench,
  pgClient,
  postgresJs,
  type ProxyProcess,
  startCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import {
  assertEverywhere,
  assertNoStale,
  assertPgbenchIdentical,
  pgbenchReport,
  SharedProxy,
  withDeadline,
} from "./_replication.ts";

/** One message from node-postgres's protocol layer (`pg.Connection`), the fields used here. */
interface WireMessage {
  readonly name: string;
  readonly text?: string;
  readonly code?: string;
  readonly fields?: (string | null)[];
  readonly status?: string;
}

/** The part of `pg.Connection` used here (the package ships no types). */
interface PgConnection {
  connect(port: number, host: string): void;
  startup(config: Record<string, string>): void;
  parse(q: { name?: string; text: string; types?: number[] }): void;
  bind(c: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(c: { portal?: string; rows?: number }): void;
  query(text: string): void;
  describe(c: { type: "P" | "S"; name?: string }): void;
  close(c: { type: "P" | "S"; name?: string }): void;
  sync(): void;
  end(): void;
  on(event: string, fn: (m: WireMessage) => void): void;
  once(event: string, fn: (m: WireMessage) => void): void;
}

/**
 * A session on node-postgres's protocol layer, for message sequences its `Client` never sends
 * (several statements between two Syncs); `await using` closes it.
 */
class WireSession implements AsyncDisposable {
  readonly #conn: PgConnection;
  #messages: WireMessage[] = [];
  #waiters: (() => void)[] = [];

  private constructor(conn: PgConnection) {
    this.#conn = conn;
    conn.on("message", (m) => {
      this.#messages.push(m);
      if (m.name === "readyForQuery") this.#waiters.shift()?.();
    });
  }

  /** Connects through usogres and waits for the first ReadyForQuery. */
  static async open(proxy: ProxyProcess, db: string): Promise<WireSession> {
    const conn = new (pg as unknown as { Connection: new () => PgConnection }).Connection();
    const session = new WireSession(conn);
    conn.on("error", () => {});
    const ready = session.#nextReady();
    conn.connect(proxy.port, proxy.host);
    await once(conn as unknown as NodeJS.EventEmitter, "connect");
    conn.startup({ user: "postgres", database: db });
    await ready;
    return session;
  }

  #nextReady(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Sends messages ending with one Sync and returns the replies up to its ReadyForQuery. */
  batch(send: (c: PgConnection) => void): Promise<WireMessage[]> {
    return this.send((c) => {
      send(c);
      c.sync();
    }, 1);
  }

  /** Sends messages and returns the replies up to the `readyCount`th ReadyForQuery. */
  async send(send: (c: PgConnection) => void, readyCount: number): Promise<WireMessage[]> {
    this.#messages = [];
    const ready = Array.from({ length: readyCount }, () => this.#nextReady());
    send(this.#conn);
    await Promise.all(ready);
    return this.#messages;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const closed = once(this.#conn as unknown as NodeJS.EventEmitter, "end");
    this.#conn.end();
    await closed;
  }
}

/** The command tags and SQLSTATEs of a batch's replies, in order. */
function outcomes(messages: readonly WireMessage[]): string[] {
  return messages.flatMap((m) =>
    m.name === "commandComplete" ? [m.text ?? ""] : m.name === "error" ? [`error ${m.code}`] : []
  );
}

Deno.test("replication: real client workloads leave every server identical", async (t) => {
  await using cluster = await startCluster({ copies: 2 });
  await using shared = await SharedProxy.start(cluster, { sections: { log: { level: "info" } } });
  let proxy = shared.current;
  /** Prints the logs when `fn` fails, and ends it when it hangs. */
  const guarded = (fn: () => Promise<void>) =>
    withLogsOnFailure(proxy, cluster, () => withDeadline(proxy, fn));

  /** Runs a step with a fresh database; every step must leave no copy stale. */
  const step = (name: string, db: string, fn: (db: string) => Promise<void>) =>
    t.step(name, async () => {
      proxy = await shared.inSync();
      await guarded(async () => {
        await cluster.recreateDatabase(db);
        await fn(db);
        assertNoStale(proxy);
      });
    });

  // ---- pgbench ----------------------------------------------------------------------------

  const bench = "bench";
  await step("pgbench: -i loads identical tables on every server", bench, async (db) => {
    const r = await pgbench(proxy.url(db), ["-i", "-s", "1", "-q"]);
    assert.equal(r.code, 0, r.stderr);
    await assertPgbenchIdentical(cluster, db, 0);
  });

  let transactions = 0;
  const tps: string[] = [];
  for (const mode of ["simple", "extended", "prepared"]) {
    await t.step(
      `pgbench: TPC-B -M ${mode} with 8 clients leaves every server identical`,
      () =>
        guarded(async () => {
          const r = await pgbench(proxy.url(bench), [
            ...["-M", mode, "-c", "8", "-j", "2", "-T", "5", "-n"],
          ]);
          assert.equal(r.code, 0, r.stderr);
          const report = pgbenchReport(r.stdout);
          assert.equal(report.failed, 0);
          assert.ok(report.processed > 0);
          transactions += report.processed;
          tps.push(`${mode} ${report.tps.toFixed(0)} tps (${report.processed} transactions)`);
          await assertPgbenchIdentical(cluster, bench, transactions);
          assertNoStale(proxy);
        }),
    );
  }
  console.log(`pgbench through usogres, 2 copies, -c 8 -j 2 -T 5: ${tps.join("; ")}`);

  // ---- node-postgres ----------------------------------------------------------------------

  await step(
    "node-postgres: parameterized INSERT and UPDATE reach every copy",
    "pg_params",
    async (db) => {
      await using c = await pgClient(proxy.url(db));
      await c.query("CREATE TABLE kv (k int PRIMARY KEY, v text, n numeric)");
      for (let k = 1; k <= 30; k++) {
        const r = await c.query("INSERT INTO kv VALUES ($1, $2, $3)", [k, `v${k}`, k / 4]);
        assert.equal(r.rowCount, 1);
      }
      const up = await c.query("UPDATE kv SET v = $1 || v, n = n * $2 WHERE k % $3 = 0", [
        "x",
        3,
        5,
      ]);
      assert.equal(up.rowCount, 6);
      const del = await c.query("DELETE FROM kv WHERE k > $1", [28]);
      assert.equal(del.rowCount, 2);
      const nul = await c.query("UPDATE kv SET v = $1 WHERE k = $2", [null, 1]);
      assert.equal(nul.rowCount, 1);
      const fp =
        "SELECT count(*), sum(n), md5(string_agg(k || ':' || coalesce(v, '-') || ':' || n," +
        " ',' ORDER BY k)) FROM kv";
      const expected = await cluster.original.psql(fp, { db });
      // n = k/4, tripled where k is a multiple of 5, for k = 1..28.
      const sum = Array.from({ length: 28 }, (_, i) => i + 1)
        .reduce((a, k) => a + (k % 5 === 0 ? (3 * k) / 4 : k / 4), 0);
      const [count, total] = expected.split("|");
      assert.deepEqual([Number(count), Number(total)], [28, sum], expected);
      await assertEverywhere(cluster, db, fp, expected);
    },
  );

  await step(
    "node-postgres: named prepared statements run on every copy, also after a read",
    "pg_named",
    async (db) => {
      await using c = await pgClient(proxy.url(db));
      await c.query("CREATE TABLE kv (k int PRIMARY KEY, v text)");
      const query = c.query as unknown as (q: {
        name: string;
        text: string;
        values: unknown[];
      }) => Promise<{ rowCount: number; rows: Record<string, unknown>[] }>;
      const run = (name: string, text: string, values: unknown[]) =>
        query.call(c, { name, text, values });
      // The first use sends Parse, later uses only Bind: copies must keep the statement.
      for (let k = 1; k <= 10; k++) {
        assert.equal(
          (await run("ins", "INSERT INTO kv VALUES ($1, $2)", [k, `v${k}`])).rowCount,
          1,
        );
      }
      // A read statement, prepared on the original alone, then used inside a writing transaction.
      const count = "SELECT count(*)::int AS n FROM kv WHERE k > $1";
      assert.deepEqual((await run("cnt", count, [5])).rows, [{ n: 5 }]);
      await c.query("BEGIN");
      await run("ins", "INSERT INTO kv VALUES ($1, $2)", [11, "v11"]);
      assert.deepEqual((await run("cnt", count, [5])).rows, [{ n: 6 }]);
      await run("upd", "UPDATE kv SET v = upper(v) WHERE k <= $1", [3]);
      await c.query("COMMIT");
      await run("upd", "UPDATE kv SET v = upper(v) WHERE k <= $1", [4]);
      await assertEverywhere(
        cluster,
        db,
        "SELECT string_agg(k || v, ',' ORDER BY k) FROM kv",
        "1V1,2V2,3V3,4V4,5v5,6v6,7v7,8v8,9v9,10v10,11v11\n",
      );
    },
  );

  await step(
    "node-postgres protocol: a batch binding a statement parsed in an earlier read gives it to the copies",
    "pg_wire",
    async (db) => {
      await using wire = await WireSession.open(proxy, db);
      const setup = await wire.batch((c) => {
        c.parse({ text: "CREATE TABLE kv (k int PRIMARY KEY, v text)" });
        c.bind({});
        c.execute({});
      });
      assert.deepEqual(outcomes(setup), ["CREATE TABLE"]);
      // A read batch: "next" is parsed on the original only.
      const read = await wire.batch((c) => {
        c.parse({ name: "next", text: "SELECT coalesce(max(k), 0) + $1::int FROM kv" });
        c.bind({ statement: "next", values: ["1"] });
        c.execute({});
      });
      assert.deepEqual(outcomes(read), ["SELECT 1"]);
      // One batch: a write, then "next" (which the copies lack), then another write using it.
      const write = await wire.batch((c) => {
        c.parse({
          name: "put",
          text: "INSERT INTO kv SELECT coalesce(max(k), 0) + $1::int, $2 FROM kv",
        });
        c.bind({ statement: "put", values: ["1", "a"] });
        c.execute({});
        c.bind({ statement: "next", values: ["10"] });
        c.execute({});
        c.bind({ statement: "put", values: ["5", "b"] });
        c.execute({});
      });
      assert.deepEqual(outcomes(write), ["INSERT 0 1", "SELECT 1", "INSERT 0 1"]);
      // An error mid-batch: the write before it is rolled back with the batch's implicit
      // transaction, on the original and on the copies.
      const failed = await wire.batch((c) => {
        c.bind({ statement: "put", values: ["1", "c"] });
        c.execute({});
        c.bind({ statement: "next", values: ["x"] });
        c.execute({});
        c.bind({ statement: "put", values: ["1", "d"] });
        c.execute({});
      });
      assert.deepEqual(outcomes(failed), ["INSERT 0 1", "error 22P02"]);
      await assertEverywhere(cluster, db, "SELECT k, v FROM kv ORDER BY k", "1|a\n6|b\n");
    },
  );

  await step(
    "node-postgres protocol: a simple Query before Sync ends the batch and both replicate",
    "pg_query_before_sync",
    async (db) => {
      await using wire = await WireSession.open(proxy, db);
      await wire.send((c) => c.query("CREATE TABLE t (id int PRIMARY KEY)"), 1);
      // pgJDBC 42.7.6+ sends BEGIN this way: Parse/Bind/Execute, then a Query, and Sync later.
      const first = await wire.send((c) => {
        c.parse({ text: "INSERT INTO t VALUES ($1::int)" });
        c.bind({ values: ["1"] });
        c.execute({});
        c.query("INSERT INTO t VALUES (2)");
      }, 1);
      assert.deepEqual(outcomes(first), ["INSERT 0 1", "INSERT 0 1"]);
      const sync = await wire.send((c) => c.sync(), 1);
      assert.deepEqual(outcomes(sync), []);
      const tx = await wire.send((c) => {
        c.query("BEGIN");
        c.parse({ text: "INSERT INTO t VALUES ($1::int)" });
        c.bind({ values: ["3"] });
        c.execute({});
        c.sync();
        c.query("COMMIT");
      }, 3);
      assert.deepEqual(outcomes(tx), ["BEGIN", "INSERT 0 1", "COMMIT"]);
      await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n2\n3\n");
    },
  );

  await step(
    "node-postgres protocol: writes running behind in a transaction keep the statements they bound",
    "pg_behind_reparse",
    async (db) => {
      await using wire = await WireSession.open(proxy, db);
      await wire.send((c) => c.query("CREATE TABLE a (id int); CREATE TABLE b (id int)"), 1);
      // Inside a transaction the copies run each batch after the client got its ReadyForQuery;
      // here the client closes and re-parses the statement while the copies may still be behind.
      const replies = await wire.send((c) => {
        c.query("BEGIN");
        c.parse({ name: "s", text: "INSERT INTO a VALUES ($1::int)" });
        c.bind({ statement: "s", values: ["1"] });
        c.execute({});
        c.sync();
        c.bind({ statement: "s", values: ["2"] });
        c.execute({});
        c.sync();
        c.close({ type: "S", name: "s" });
        c.parse({ name: "s", text: "INSERT INTO b VALUES ($1::int)" });
        c.sync();
        c.bind({ statement: "s", values: ["3"] });
        c.execute({});
        c.sync();
        c.query("COMMIT");
      }, 6);
      assert.deepEqual(outcomes(replies), [
        "BEGIN",
        "INSERT 0 1",
        "INSERT 0 1",
        "INSERT 0 1",
        "COMMIT",
      ]);
      // A Close alone is a batch that writes nothing, so it reaches the original alone; the
      // copies still have the statement when the name is parsed again.
      const again = await wire.send((c) => {
        c.close({ type: "S", name: "s" });
        c.sync();
        c.parse({ name: "s", text: "INSERT INTO a VALUES ($1::int + 10)" });
        c.bind({ statement: "s", values: ["4"] });
        c.execute({});
        c.sync();
      }, 2);
      assert.deepEqual(outcomes(again), ["INSERT 0 1"]);
      await assertEverywhere(
        cluster,
        db,
        "SELECT 'a', id FROM a UNION ALL SELECT 'b', id FROM b ORDER BY 1, 2",
        "a|1\na|2\na|14\nb|3\n",
      );
    },
  );

  await step(
    "node-postgres: a row-limited Execute of INSERT ... RETURNING inserts once on every server",
    "pg_returning",
    async (db) => {
      await using c = await pgClient(proxy.url(db));
      await c.query("CREATE TABLE t (id int PRIMARY KEY)");
      const query = c.query as unknown as (q: {
        text: string;
        values: unknown[];
        rows: number;
      }) => Promise<{ rows: { id: number }[] }>;
      // Execute(3) + Flush until the portal is drained: PortalSuspended in a write batch.
      const r = await query.call(c, {
        text: "INSERT INTO t SELECT g FROM generate_series(1, $1::int) g RETURNING id",
        values: [10],
        rows: 3,
      });
      assert.deepEqual(r.rows.map((row) => row.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await assertEverywhere(cluster, db, "SELECT count(*), sum(id) FROM t", "10|55\n");
    },
  );

  await step(
    "node-postgres: pipeline mode with writes, reads and a failing query in flight",
    "pg_pipeline",
    async (db) => {
      await using setup = await pgClient(proxy.url(db));
      await setup.query("CREATE TABLE t (id int PRIMARY KEY, v int)");
      const client = new pg.Client({ connectionString: proxy.url(db), pipeline: true });
      client.on("error", () => {});
      await client.connect();
      try {
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) => {
            const q: Promise<{ rowCount: number | null }> = i === 30
              ? client.query("INSERT INTO t VALUES ($1, $2)", [1, 0]) // duplicate of id 1
              : i % 3 === 2
              ? client.query("SELECT count(*) FROM t")
              : client.query("INSERT INTO t VALUES ($1, $2)", [i, i * 2]);
            return q.then((r) => `ok ${r.rowCount}`, (e: { code?: string }) => `error ${e.code}`);
          }),
        );
        assert.equal(results[30], "error 23505");
        assert.equal(results.filter((r) => r.startsWith("error")).length, 1);
      } finally {
        await client.end();
      }
      const ids = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 3 !== 2 && i !== 30);
      await assertEverywhere(
        cluster,
        db,
        "SELECT count(*), sum(id), sum(v) FROM t",
        `${ids.length}|${ids.reduce((a, b) => a + b)}|${2 * ids.reduce((a, b) => a + b)}\n`,
      );
    },
  );

  await step(
    "node-postgres: a row-limited Execute reads while another connection writes",
    "pg_portal",
    async (db) => {
      await using reader = await pgClient(proxy.url(db));
      await using writer = await pgClient(proxy.url(db));
      await writer.query("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 200) g");
      // With `rows`, node-postgres sends Execute(7) + Flush, again at each PortalSuspended, and
      // Sync only after CommandComplete: the batch stays open on the original meanwhile.
      const portal = new pg.Query({
        text: "SELECT id FROM t WHERE id > $1 ORDER BY id",
        values: [0],
        rows: 7,
      }) as NodeJS.EventEmitter;
      const ids: number[] = [];
      portal.on("row", (row: { id: number }) => ids.push(row.id));
      const reading = once(portal, "end");
      (reader as unknown as { query(q: unknown): unknown }).query(portal);
      // Write only once the portal has its snapshot.
      await waitFor(() => ids.length > 0, { what: "the first rows of the portal" });
      for (let i = 1; i <= 30; i++) {
        await writer.query("INSERT INTO t VALUES ($1)", [1000 + i]);
        await writer.query("UPDATE t SET id = id + 1 WHERE id = $1", [i]);
      }
      await reading;
      // The portal reads the snapshot taken when it started: 200 rows, in order.
      assert.deepEqual(ids, Array.from({ length: 200 }, (_, i) => i + 1));
      const fp = "SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id)) FROM t";
      const expected = await cluster.original.psql(fp, { db });
      assert.match(expected, /^230\|/);
      await assertEverywhere(cluster, db, fp, expected);
    },
  );

  // ---- postgres.js ------------------------------------------------------------------------

  await step(
    "postgres.js: sql.begin, pipelined writes and COPY FROM a stream reach every copy",
    "pj",
    async (db) => {
      await using sql = postgresJs(proxy.url(db), { max: 1 });
      await sql`CREATE TABLE t (id int PRIMARY KEY, src text)`;
      await sql.begin(async (tx) => {
        for (let i = 1; i <= 5; i++) await tx`INSERT INTO t VALUES (${i}, 'begin')`;
        await tx`UPDATE t SET src = 'begin!' WHERE id = ${3}`;
      });
      // Written without awaiting: one burst of Parse/Bind/Execute/Sync runs on the wire.
      const pipelined = await Promise.all(
        Array.from({ length: 100 }, (_, i) => sql`INSERT INTO t VALUES (${100 + i}, 'pipe')`),
      );
      assert.ok(pipelined.every((r) => r.count === 1));
      // A stream that fails: postgres.js sends CopyFail, and no row of it stays anywhere.
      const failing = await sql`COPY t FROM STDIN`.writable();
      const closed = new Promise((resolve) => failing.on("close", resolve));
      failing.on("error", () => {}); // the error below, given back by the stream
      failing.write("50000\tfailed\n");
      failing.destroy(new Error("the application gave up"));
      await closed;
      const [none] = await sql`SELECT count(*)::int AS n FROM t WHERE id >= 50000`;
      assert.equal(none?.n, 0);
      const writable = await sql`COPY t FROM STDIN`.writable();
      await pipeline(
        Readable.from(Array.from({ length: 10_000 }, (_, i) => `${1000 + i}\tcopy ${i}\n`)),
        writable,
      );
      // postgres.js ends a finished COPY stream with a stray CopyFail ("null") after the COPY's
      // ReadyForQuery (its Writable's autoDestroy); PostgreSQL ignores it (postgres.c), and so
      // must usogres: the connection has to stay usable.
      const [all] = await sql`SELECT count(*)::int AS n FROM t`.catch((e: unknown) =>
        assert.fail(`the connection broke after a finished COPY: ${e}`)
      );
      assert.equal(all?.n, 10_105);
      const fp = "SELECT count(*), sum(id), md5(string_agg(id || src, ',' ORDER BY id)) FROM t";
      const expected = await cluster.original.psql(fp, { db });
      const ids = 15 + (100 + 199) * 50 + 10_000 * 1000 + (10_000 * 9999) / 2;
      assert.match(expected, new RegExp(`^10105\\|${ids}\\|`));
      await assertEverywhere(cluster, db, fp, expected);
    },
  );

  await t.step("usogres: logged no internal error while replicating", () => {
    assert.doesNotMatch(shared.output(), /internal error/);
  });
});
