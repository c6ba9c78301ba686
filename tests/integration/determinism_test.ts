/**
 * @module
 * Deterministic replication under load (issue 4): for every value a server computes itself
 * (`now()` and its relatives, `clock_timestamp()`, `timeofday()`, `random()`,
 * `gen_random_uuid()`, column DEFAULTs calling them, serial, bigserial and identity columns,
 * explicit `nextval()`/`setval()`, `INSERT ... SELECT`, `UPDATE ... SET col = <volatile>`, a
 * DEFAULT added by DDL, pgbench's TPC-B history), 8 writers on their own connections write
 * through usogres at the same time, in the simple and the extended protocol (unnamed and named
 * prepared statements), in autocommit and in explicit transactions. Each step then reads every
 * server directly and compares every row (in key order, md5 of the row texts) and every
 * sequence's position.
 *
 * Also: the order in which a copy replays two sessions' writes of one row (or one sequence),
 * made deterministic by holding a lock on the copy; values returned to the client (RETURNING)
 * are the stored ones; a copy continues the sequences as the original would; the policy for
 * user-defined volatile functions (refuse, mark_stale, trust); and `usogres verify` on the
 * servers the load left.
 */

import assert from "node:assert/strict";
import pg from "pg";
import {
  pgbench,
  type PgQueryResult,
  type PgServer,
  postgresJs,
  type ProxyProcess,
  startCluster,
  type TestCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { assertNoStale, assertPgbenchIdentical, pgbenchReport } from "./_replication.ts";

const REPO_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const decoder = new TextDecoder();

/** Concurrent writers, each on its own connection. */
const WRITERS = 8;
/** Statements per writer in each variant; in a transaction variant, 2 transactions of 4. */
const PER_VARIANT = 8;
const TX_SIZE = 4;

/** How the writers talk to usogres in one phase of a load. */
interface Variant {
  /**
   * Simple Query messages (parameters inlined as literals); the extended protocol with unnamed
   * statements (Parse, Bind, Execute, Sync each time); or with named prepared statements (Parse
   * once per connection, then Bind, Execute, Sync, as pgbench -M prepared and postgres.js send).
   */
  readonly protocol: "simple" | "extended" | "prepared";
  /** Explicit transactions of {@link TX_SIZE} statements (BEGIN ... COMMIT) or autocommit. */
  readonly tx: boolean;
}

const VARIANTS: readonly Variant[] = [
  { protocol: "simple", tx: false },
  { protocol: "simple", tx: true },
  { protocol: "extended", tx: false },
  { protocol: "extended", tx: true },
  { protocol: "prepared", tx: false },
  { protocol: "prepared", tx: true },
];

/** The variants in autocommit, and those in explicit transactions. */
const AUTOCOMMIT = VARIANTS.filter((v) => !v.tx);
const IN_TRANSACTIONS = VARIANTS.filter((v) => v.tx);

/** Rows a full load ({@link VARIANTS}) writes when each statement writes one. */
const FULL_LOAD = WRITERS * PER_VARIANT * VARIANTS.length;

/** A statement with `$n` parameters. */
interface Stmt {
  readonly text: string;
  readonly values: readonly (number | string | null)[];
}

/** What a statement generator gets: who writes, which statement of theirs, which transaction. */
interface StmtContext {
  /** Writer number, 0-based. */
  readonly w: number;
  /** The writer's statement number, counted across the whole load (from 1). */
  readonly n: number;
  /** A number unique to the transaction across writers, or null in autocommit. */
  readonly txn: number | null;
  /** The statement's position inside its transaction (0-based), 0 in autocommit. */
  readonly pos: number;
}

type Generator = (ctx: StmtContext) => Stmt;

/** A SQL literal for a parameter value. */
function literal(v: number | string | null): string {
  if (v === null) return "NULL";
  if (typeof v === "number") return String(v);
  return `'${v.replaceAll("'", "''")}'`;
}

/** The statement with its parameters written in as literals, for the simple protocol. */
function inline(s: Stmt): string {
  return s.text.replace(/\$(\d+)/g, (_, i: string) => literal(s.values[Number(i) - 1] ?? null));
}

/** A node-postgres client that returns every value as text. */
interface TextClient extends AsyncDisposable {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult<Record<string, string>>>;
  /**
   * Runs a named prepared statement: Parse, Bind, Execute and Sync the first time, then only
   * Bind, Execute and Sync (node-postgres keeps it prepared on the connection).
   */
  prepared(
    name: string,
    text: string,
    values: readonly unknown[],
  ): Promise<PgQueryResult<Record<string, string>>>;
}

async function textClient(url: string): Promise<TextClient> {
  const client = new pg.Client({
    connectionString: url,
    types: { getTypeParser: () => (value: string) => value },
  });
  client.on("error", () => {});
  await client.connect();
  return {
    query: (text, values) =>
      values === undefined ? client.query(text) : client.query(text, [...values]),
    prepared: (name, text, values) => client.query({ name, text, values: [...values] }),
    async [Symbol.asyncDispose]() {
      await client.end().catch(() => {});
    },
  };
}

/**
 * A load: {@link WRITERS} clients writing at the same time through usogres. Statement numbers go
 * on from one run to the next, so keys stay unique across variants.
 */
class Load {
  readonly #url: string;
  readonly #next: number[] = Array.from({ length: WRITERS }, () => 0);
  #txns = 0;

  constructor(url: string) {
    this.#url = url;
  }

  /**
   * Runs each variant in turn, every writer doing {@link PER_VARIANT} statements in it.
   * @param gen the statements
   * @param variants the variants (default all four)
   */
  async run(gen: Generator, variants: readonly Variant[] = VARIANTS): Promise<void> {
    for (const variant of variants) await this.#variant(gen, variant);
  }

  async #variant(gen: Generator, variant: Variant): Promise<void> {
    await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
      await using client = await textClient(this.#url);
      const names = new Map<string, string>();
      const exec = (s: Stmt) => {
        if (variant.protocol === "simple") return client.query(inline(s));
        if (variant.protocol === "extended") return client.query(s.text, s.values);
        let name = names.get(s.text);
        if (name === undefined) names.set(s.text, name = `s${names.size}`);
        return client.prepared(name, s.text, s.values);
      };
      const ctx = (txn: number | null, pos: number): StmtContext => ({
        w,
        n: ++this.#next[w]!,
        txn,
        pos,
      });
      if (!variant.tx) {
        for (let i = 0; i < PER_VARIANT; i++) await exec(gen(ctx(null, 0)));
        return;
      }
      for (let k = 0; k < PER_VARIANT / TX_SIZE; k++) {
        const txn = ++this.#txns;
        const stmts = Array.from({ length: TX_SIZE }, (_, pos) => gen(ctx(txn, pos)));
        if (variant.protocol === "simple" && k % 2 === 1) {
          // The whole transaction as one Query message, as `psql -c "BEGIN; ...; COMMIT"` sends.
          await client.query(["BEGIN", ...stmts.map(inline), "COMMIT"].join(";\n"));
        } else {
          await client.query("BEGIN");
          for (const s of stmts) await exec(s);
          await client.query("COMMIT");
        }
      }
    }));
  }
}

/** One table to compare: its name, its key (for ORDER BY) and its row count on the original. */
interface TableCheck {
  readonly name: string;
  readonly rows: number;
  readonly key?: string;
  /** What to read instead of the table itself, e.g. a subquery of some of its rows. */
  readonly from?: string;
}

/** Per table: count and md5 of every row's text in key order; then every sequence's position. */
function fingerprintSql(tables: readonly TableCheck[]): string {
  const per = tables.map((t) =>
    `SELECT '${t.name}' AS t, count(*)::text AS n, ` +
    `md5(coalesce(string_agg(x::text, E'\\n' ORDER BY ${t.key ?? "id"}), '')) AS h ` +
    `FROM ${t.from ?? t.name} x`
  );
  return `${per.join(" UNION ALL ")};\n` +
    "SELECT 'seq ' || schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1;";
}

/**
 * Reads every server directly and asserts that each copy holds exactly the original's rows and
 * sequence positions, and that the original holds the expected number of rows per table. On a
 * difference, shows the first rows that differ.
 */
async function assertIdentical(
  cluster: TestCluster,
  db: string,
  tables: readonly TableCheck[],
): Promise<void> {
  const [original, ...copies] = await cluster.queryEach(fingerprintSql(tables), db);
  const counts = Object.fromEntries(
    original!.trim().split("\n").filter((l) => !l.startsWith("seq ")).map((l) => {
      const [name, n] = l.split("|");
      return [name!, Number(n)];
    }),
  );
  assert.deepEqual(
    counts,
    Object.fromEntries(tables.map((t) => [t.name, t.rows])),
    `unexpected row counts on the original:\n${original}`,
  );
  for (const [i, copy] of copies.entries()) {
    if (copy === original) continue;
    const server = cluster.copies[i]!;
    const detail: string[] = [];
    for (const t of tables) {
      const sql = `SELECT x::text FROM ${t.from ?? t.name} x ORDER BY ${t.key ?? "id"}`;
      const [a, b] = await Promise.all([
        cluster.original.psql(sql, { db }),
        server.psql(sql, { db }),
      ]);
      const ra = a.split("\n");
      const rb = b.split("\n");
      const diffs = ra.flatMap((
        r,
        j,
      ) => (r === rb[j] ? [] : [`  original: ${r}\n  copy:     ${rb[j]}`]));
      if (diffs.length > 0) {
        detail.push(
          `${t.name}: ${diffs.length} of ${ra.length - 1} rows differ, e.g.\n` +
            diffs.slice(0, 3).join("\n"),
        );
      }
    }
    assert.equal(
      copy,
      original,
      `copy "${server.name}" differs from the original\n${detail.join("\n")}`,
    );
  }
}

/** One value of the original's answer (psql -At), read directly. */
async function scalar(cluster: TestCluster, db: string, sql: string): Promise<string> {
  return (await cluster.original.psql(sql, { db })).trim();
}

/** Runs `usogres verify` with the proxy's own config. */
async function verify(
  proxy: ProxyProcess,
  db: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO_ROOT}mod.ts`,
      "verify",
      "--config",
      proxy.configFile,
      "--database",
      db,
    ],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Sessions of a database waiting for a lock on a server, read directly. */
async function lockWaiters(server: PgServer, db: string): Promise<number> {
  const sql = "SELECT count(*) FROM pg_stat_activity " +
    "WHERE wait_event_type = 'Lock' AND datname = current_database()";
  return Number((await server.psql(sql, { db })).trim());
}

/** A promise with a flag telling whether it has settled, read by polling. */
function settled<T>(promise: Promise<T>): { promise: Promise<T>; readonly done: boolean } {
  const state = { promise, done: false };
  promise.then(() => (state.done = true), () => (state.done = true));
  return state;
}

/** The SQLSTATE of a client error, or "none". */
function sqlstate(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : `none (${e})`;
}

/** The functions of issue 4 item 1, with a column type that stores their result. */
const FUNCTIONS: readonly {
  readonly call: string;
  readonly type: string;
  /** Stable within a transaction: every statement of one transaction stores the same value. */
  readonly perTransaction?: boolean;
  /** Gives a new value each time it is called (so the rows must not all hold one value). */
  readonly varies?: boolean;
}[] = [
  { call: "now()", type: "timestamptz", perTransaction: true, varies: true },
  { call: "CURRENT_TIMESTAMP", type: "timestamptz", perTransaction: true, varies: true },
  { call: "CURRENT_DATE", type: "date", perTransaction: true },
  { call: "CURRENT_TIME", type: "timetz", perTransaction: true, varies: true },
  { call: "LOCALTIMESTAMP", type: "timestamp", perTransaction: true, varies: true },
  { call: "transaction_timestamp()", type: "timestamptz", perTransaction: true, varies: true },
  { call: "statement_timestamp()", type: "timestamptz", varies: true },
  { call: "clock_timestamp()", type: "timestamptz", varies: true },
  { call: "timeofday()", type: "text", varies: true },
  { call: "random()", type: "float8", varies: true },
  { call: "gen_random_uuid()", type: "uuid", varies: true },
];

Deno.test("determinism: 8 concurrent writers leave every server identical", async (t) => {
  await using cluster = await startCluster({ copies: 1 });

  /** The usogres of the running step. */
  let proxy: ProxyProcess | undefined;

  /**
   * A step on a fresh database with a fresh usogres (so a copy one step leaves stale does not
   * fail the next); it must leave no copy stale.
   */
  const step = (name: string, db: string, fn: (db: string, proxy: ProxyProcess) => Promise<void>) =>
    t.step(name, async () => {
      await using p = await cluster.startProxy({ sections: { log: { level: "info" } } });
      proxy = p;
      try {
        await withLogsOnFailure(p, cluster, async () => {
          await cluster.recreateDatabase(db);
          await fn(db, p);
          assertNoStale(p);
        });
      } finally {
        proxy = undefined;
      }
    });

  /** Runs SQL through the step's usogres (simple protocol, one statement or several). */
  const exec = async (db: string, sql: string) => {
    assert.ok(proxy, "exec runs inside a step");
    await using c = await textClient(proxy.url(db));
    return await c.query(sql);
  };

  // ---- functions called in the statement --------------------------------------------------

  for (const f of FUNCTIONS) {
    await step(
      `${f.call}: rows written by 8 concurrent writers are identical on every server`,
      "fn",
      async (db, proxy) => {
        await exec(db, `CREATE TABLE f (id int PRIMARY KEY, w int NOT NULL, txn int, v ${f.type})`);
        const load = new Load(proxy.url(db));
        await load.run(({ w, n, txn }) => ({
          text: `INSERT INTO f (id, w, txn, v) VALUES ($1, $2, $3, ${f.call})`,
          values: [w * 10_000 + n, w, txn],
        }));
        await assertIdentical(cluster, db, [{ name: "f", rows: FULL_LOAD }]);
        if (f.varies) {
          const distinct = Number(await scalar(cluster, db, "SELECT count(DISTINCT v) FROM f"));
          assert.ok(distinct > 1, `${f.call} stored ${distinct} distinct values`);
        }
        if (f.perTransaction) {
          // One value per transaction, as PostgreSQL defines it (and on the copies as well).
          const sql = "SELECT count(*) || '/' || count(*) FILTER (WHERE values = 1) FROM " +
            "(SELECT txn, count(DISTINCT v) AS values FROM f WHERE txn IS NOT NULL GROUP BY txn) x";
          const txns = WRITERS * (PER_VARIANT / TX_SIZE) * IN_TRANSACTIONS.length;
          const all = await cluster.queryEach(sql, db);
          for (const out of all) assert.equal(out.trim(), `${txns}/${txns}`);
        }
      },
    );
  }

  // ---- column defaults ----------------------------------------------------------------------

  await step(
    "DEFAULT now(), random(), gen_random_uuid(): omitted columns are identical on every server",
    "defaults",
    async (db, proxy) => {
      await exec(
        db,
        `CREATE TABLE d (
          id int PRIMARY KEY, w int NOT NULL, txn int,
          at timestamptz NOT NULL DEFAULT now(),
          r float8 NOT NULL DEFAULT random(),
          u uuid NOT NULL DEFAULT gen_random_uuid(),
          c timestamptz DEFAULT clock_timestamp()
        )`,
      );
      const load = new Load(proxy.url(db));
      await load.run(({ w, n, txn }) =>
        n % 3 === 0
          ? {
            text: "INSERT INTO d VALUES ($1, $2, $3, DEFAULT, DEFAULT)",
            values: [w * 10_000 + n, w, txn],
          }
          : {
            text: "INSERT INTO d (id, w, txn) VALUES ($1, $2, $3)",
            values: [w * 10_000 + n, w, txn],
          }
      );
      await assertIdentical(cluster, db, [{ name: "d", rows: FULL_LOAD }]);
      assert.equal(
        await scalar(
          cluster,
          db,
          "SELECT count(DISTINCT u) = count(*) AND count(DISTINCT r) > 1 FROM d",
        ),
        "t",
      );
    },
  );

  // ---- serial, bigserial, identity --------------------------------------------------------

  const SERIAL_TABLES = ["s_serial", "s_bigserial", "s_always", "s_by_default"];
  await step(
    "serial, bigserial and identity: concurrent inserts get the same ids on every server",
    "serial",
    async (db, proxy) => {
      await exec(
        db,
        `CREATE TABLE s_serial (id serial PRIMARY KEY, w int, n int, txn int);
         CREATE TABLE s_bigserial (id bigserial PRIMARY KEY, w int, n int, txn int);
         CREATE TABLE s_always (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, w int, n int, txn int);
         CREATE TABLE s_by_default (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, w int, n int, txn int)`,
      );
      const load = new Load(proxy.url(db));
      // Two rows per statement, each writer's statements spread over the four tables.
      await load.run(({ w, n, txn }) => ({
        text: `INSERT INTO ${SERIAL_TABLES[n % 4]} (w, n, txn) VALUES ($1, $2, $3), ($1, $4, $3)`,
        values: [w, 2 * n, txn, 2 * n + 1],
      }));
      const rows = (FULL_LOAD / 4) * 2;
      await assertIdentical(cluster, db, SERIAL_TABLES.map((name) => ({ name, rows })));
      // Promotion safety: the next value on a copy is the one the original would give.
      const next = SERIAL_TABLES.map((s) => `SELECT nextval(pg_get_serial_sequence('${s}', 'id'));`)
        .join("\n");
      const [original, ...copies] = await cluster.queryEach(next, db);
      assert.equal(original!.trim().split("\n").length, 4);
      for (const c of copies) assert.equal(c, original);
      assert.equal(
        await scalar(cluster, db, "SELECT max(id) FROM s_serial"),
        await scalar(cluster, db, "SELECT last_value - 1 FROM s_serial_id_seq"),
      );
    },
  );

  // ---- nextval / setval -----------------------------------------------------------------------

  await step(
    "nextval() and setval(): stored values and sequence positions are identical",
    "nextval",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE SEQUENCE q; CREATE SEQUENCE q_step INCREMENT 5 START 100;" +
          "CREATE TABLE nv (id bigint PRIMARY KEY, w int, n int, txn int, other bigint)",
      );
      const load = new Load(proxy.url(db));
      let phase = 0;
      for (const variant of VARIANTS) {
        // Between phases, no writer runs: setval jumps the sequence on every server alike.
        await exec(db, `SELECT setval('q', ${++phase * 100_000}, ${phase % 2 === 0})`);
        await load.run(
          ({ w, n, txn, pos }) =>
            (n + pos) % 3 === 2 ? { text: "SELECT nextval('q'), $1::int AS w", values: [w] } : {
              text: "INSERT INTO nv (id, w, n, txn, other) VALUES (nextval('q'), $1, $2, $3, " +
                "nextval('q_step'))",
              values: [w, n, txn],
            },
          [variant],
        );
      }
      const rows = Number(await scalar(cluster, db, "SELECT count(*) FROM nv"));
      assert.ok(rows > FULL_LOAD / 2, `only ${rows} rows`);
      await assertIdentical(cluster, db, [{ name: "nv", rows }]);
      const next = "SELECT nextval('q'), nextval('q_step')";
      const [original, ...copies] = await cluster.queryEach(next, db);
      for (const c of copies) assert.equal(c, original);
    },
  );

  await step(
    "setval(): run while a copy still replays another session's nextval(), positions stay identical",
    "setval",
    async (db, proxy) => {
      await exec(db, "CREATE SEQUENCE q; CREATE TABLE nv (id bigint PRIMARY KEY, w int)");
      // A slow copy, made deterministic: the copy's replay of B's insert waits for a lock on
      // the copy, after B's nextval() ran on the original; then A's setval() runs.
      const copy = cluster.copies[0]!;
      await using holder = await textClient(copy.url(db));
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE nv IN ACCESS EXCLUSIVE MODE");
      await using b = await textClient(proxy.url(db));
      const inserted = b.query("INSERT INTO nv (id, w) VALUES (nextval('q'), 1) RETURNING id");
      await waitFor(() => lockWaiters(copy, db).then((n) => n === 1), {
        what: "the copy's replay of the insert to wait for the lock",
      });
      await using a = await textClient(proxy.url(db));
      const moved = settled(a.query("SELECT setval('q', 1000)"));
      await waitFor(() => moved.done, { timeoutMs: 3_000 }).catch(() => {});
      await holder.query("COMMIT");
      assert.deepEqual((await inserted).rows, [{ id: "1" }]);
      await moved.promise;
      await assertIdentical(cluster, db, [{ name: "nv", rows: 1 }]);
    },
  );

  await step(
    "a transaction in one Query message: a later writer of the same row is replayed after it",
    "one_string",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE u (id int PRIMARY KEY, n int NOT NULL, r float8); " +
          "CREATE TABLE gate (id int PRIMARY KEY)",
      );
      await exec(db, "INSERT INTO u VALUES (1, 0, 0)");
      // X's replay waits for a lock on the copy (after X committed on the original); meanwhile Y
      // updates the same row. The copy must still end with Y's values, as the original does.
      const copy = cluster.copies[0]!;
      await using holder = await textClient(copy.url(db));
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
      await using x = await textClient(proxy.url(db));
      const first = x.query(
        "BEGIN; INSERT INTO gate VALUES (1); " +
          "UPDATE u SET n = n + 1, r = random() WHERE id = 1; COMMIT",
      );
      await waitFor(() => lockWaiters(copy, db).then((n) => n === 1), {
        what: "the copy's replay of X to wait for the lock",
      });
      await using y = await textClient(proxy.url(db));
      const second = settled(y.query("UPDATE u SET n = n + 1, r = random() WHERE id = 1"));
      await waitFor(() => second.done, { timeoutMs: 3_000 }).catch(() => {});
      await holder.query("COMMIT");
      await first;
      await second.promise;
      assert.equal(await scalar(cluster, db, "SELECT n FROM u"), "2");
      await assertIdentical(cluster, db, [{ name: "u", rows: 1 }, {
        name: "gate",
        rows: 1,
      }]);
    },
  );

  await step(
    "a named prepared statement in autocommit: a later writer of the same row is replayed after it",
    "prepared_order",
    async (db, proxy) => {
      await exec(db, "CREATE TABLE u (id int PRIMARY KEY, v text NOT NULL, r float8)");
      await exec(db, "CREATE TABLE gate (id int)");
      await exec(db, "INSERT INTO u VALUES (1, '', 0)");
      // X appends to v and reads gate (so its replay can be held on the copy); Y appends too and
      // sets r = random(), so it is replicated by rows, as an absolute value of v.
      const X = "UPDATE u SET v = v || $1 WHERE id = $2 AND (SELECT count(*) FROM gate) >= 0";
      const Y = "UPDATE u SET v = v || $1, r = random() WHERE id = $2";
      await using x = await textClient(proxy.url(db));
      await using y = await textClient(proxy.url(db));
      // Prepared by a first execution that changes nothing; later ones start with Bind, as
      // pgbench -M prepared, postgres.js and JDBC send them.
      await x.prepared("x", X, ["", 0]);
      await y.prepared("y", Y, ["", 0]);
      const copy = cluster.copies[0]!;
      await using holder = await textClient(copy.url(db));
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE");
      const first = x.prepared("x", X, ["x", 1]);
      await waitFor(() => lockWaiters(copy, db).then((n) => n === 1), {
        what: "the copy's replay of X to wait for the lock",
      });
      const second = settled(y.prepared("y", Y, ["y", 1]));
      await waitFor(() => second.done, { timeoutMs: 3_000 }).catch(() => {});
      await holder.query("COMMIT");
      await first;
      await second.promise;
      assert.equal(await scalar(cluster, db, "SELECT v FROM u"), "xy");
      await assertIdentical(cluster, db, [{ name: "u", rows: 1 }]);
    },
  );

  // ---- INSERT ... SELECT, UPDATE ... SET col = volatile ------------------------------------

  await step(
    "INSERT ... SELECT into a serial table: ids and defaults identical on every server",
    "insert_select",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE src (k int PRIMARY KEY, label text);" +
          "INSERT INTO src SELECT g, 'label ' || g FROM generate_series(1, 20) g;" +
          "CREATE TABLE dst (id serial PRIMARY KEY, w int, n int, k int, label text, " +
          "at timestamptz DEFAULT now(), r float8 DEFAULT random())",
      );
      const load = new Load(proxy.url(db));
      await load.run(({ w, n }) =>
        n % 2 === 0
          ? {
            text:
              "INSERT INTO dst (w, n, k, label) SELECT $1, $2, k, label FROM src WHERE k % 5 = $3",
            values: [w, n, n % 5],
          }
          : {
            // Which rows, and in which order they take ids, is random on the original.
            text: "INSERT INTO dst (w, n, k, label) SELECT $1, $2, k, label FROM src " +
              "ORDER BY random() LIMIT 4",
            values: [w, n],
          }
      );
      await assertIdentical(cluster, db, [
        { name: "src", rows: 20, key: "k" },
        { name: "dst", rows: FULL_LOAD * 4 },
      ]);
    },
  );

  await step(
    "UPDATE ... SET col = random(), now(): rows updated by 8 writers at once are identical",
    "update",
    async (db, proxy) => {
      const ROWS = 40;
      await exec(
        db,
        "CREATE TABLE u (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, r float8, " +
          "at timestamptz, c timestamptz, note text)",
      );
      await exec(db, `INSERT INTO u (id) SELECT generate_series(1, ${ROWS})`);
      const load = new Load(proxy.url(db));
      // Writers overlap on rows; inside a transaction the ids ascend, so no deadlock.
      await load.run(({ w, n, pos }) => {
        const id = ((w * 7 + (n - pos) * 3) % (ROWS - TX_SIZE)) + 1 + pos;
        return n % 4 === 3
          ? {
            text: "UPDATE u SET n = n + 1, c = clock_timestamp(), " +
              "note = $1 || ':' || gen_random_uuid() WHERE id = $2",
            values: [`w${w}`, id],
          }
          : {
            text: "UPDATE u SET n = n + 1, r = random(), at = now() WHERE id = $1",
            values: [id],
          };
      });
      await assertIdentical(cluster, db, [{ name: "u", rows: ROWS }]);
      assert.equal(await scalar(cluster, db, "SELECT sum(n) FROM u"), String(FULL_LOAD));
    },
  );

  // ---- DDL ------------------------------------------------------------------------------------

  await step(
    "ALTER TABLE ADD COLUMN DEFAULT now(): later inserts honour the new default everywhere",
    "ddl",
    async (db, proxy) => {
      await exec(db, "CREATE TABLE g (id int PRIMARY KEY, w int, txn int)");
      const load = new Load(proxy.url(db));
      const gen: Generator = ({ w, n, txn }) => ({
        text: "INSERT INTO g (id, w, txn) VALUES ($1, $2, $3)",
        values: [w * 10_000 + n, w, txn],
      });
      // The first inserts are deterministic, with the table's definition read and cached.
      await load.run(gen, AUTOCOMMIT);
      // Each ALTER fills the existing rows: it must do so alike everywhere, or be refused
      // (0A000), after which the column is added in two deterministic steps.
      for (
        const [column, type, expr] of [["at", "timestamptz", "now()"], ["r", "float8", "random()"]]
      ) {
        try {
          await exec(db, `ALTER TABLE g ADD COLUMN ${column} ${type} DEFAULT ${expr}`);
        } catch (e) {
          assert.equal(sqlstate(e), "0A000");
          await exec(db, `ALTER TABLE g ADD COLUMN ${column} ${type}`);
          await exec(db, `ALTER TABLE g ALTER COLUMN ${column} SET DEFAULT ${expr}`);
        }
      }
      await load.run(gen, IN_TRANSACTIONS);
      // The rows written after the ALTERs have the new defaults, the same on every server...
      const later = "(SELECT * FROM g WHERE txn IS NOT NULL)";
      await assertIdentical(cluster, db, [{ name: "g", from: later, rows: FULL_LOAD / 2 }]);
      const distinct = "SELECT count(DISTINCT at) || '/' || count(DISTINCT r) FROM g WHERE txn > 0";
      const [ats, rs] = (await scalar(cluster, db, distinct)).split("/").map(Number);
      assert.ok(ats! > 1 && rs === FULL_LOAD / 2, `distinct at/r: ${ats}/${rs}`);
      // ...and so are the rows the ALTERs filled.
      await assertIdentical(cluster, db, [{ name: "g", rows: FULL_LOAD }]);
    },
  );

  await step(
    "CREATE TABLE with defaults and INSERT in one Query message: replicated or refused, copy in sync",
    "ddl_one_string",
    async (db, proxy) => {
      const create = "CREATE TABLE k (id serial PRIMARY KEY, n int NOT NULL DEFAULT 0, " +
        "at timestamptz DEFAULT now())";
      const insert = "INSERT INTO k (n) VALUES (1), (2)";
      try {
        await exec(db, `${create}; ${insert}`);
      } catch (e) {
        // Refused as a whole: nothing ran, so it can be sent again one statement at a time.
        assert.equal(sqlstate(e), "0A000");
        await exec(db, create);
        await exec(db, insert);
      }
      assertNoStale(proxy);
      await assertIdentical(cluster, db, [{ name: "k", rows: 2 }]);
    },
  );

  // ---- pgbench ------------------------------------------------------------------------------

  await step(
    "pgbench TPC-B: pgbench_history identical with its mtime, in every query mode",
    "bench",
    async (db, proxy) => {
      const url = proxy.url(db);
      const init = await pgbench(url, ["-i", "-s", "1", "-q"]);
      assert.equal(init.code, 0, init.stderr);
      let transactions = 0;
      const history = "SELECT count(*), count(DISTINCT mtime), " +
        "md5(string_agg(h::text, E'\\n' ORDER BY mtime, tid, bid, aid, delta)) " +
        "FROM pgbench_history h";
      for (const mode of ["simple", "extended", "prepared"]) {
        const r = await pgbench(url, ["-M", mode, "-c", "8", "-j", "2", "-T", "5", "-n"]);
        assert.equal(r.code, 0, r.stderr);
        const report = pgbenchReport(r.stdout);
        assert.equal(report.failed, 0);
        assert.ok(report.processed > 0);
        transactions += report.processed;
        await assertPgbenchIdentical(cluster, db, transactions);
        const [original, ...copies] = await cluster.queryEach(history, db);
        const [count, distinct] = original!.trim().split("|").map(Number);
        assert.equal(count, transactions);
        assert.ok(distinct! > 1, original);
        for (const c of copies) {
          assert.equal(c, original, `pgbench_history differs after -M ${mode}`);
        }
      }
    },
  );

  // ---- RETURNING ----------------------------------------------------------------------------

  await step(
    "RETURNING id, created_at: node-postgres and postgres.js get the values every server stored",
    "returning",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE r (id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), " +
          "w int NOT NULL, n int NOT NULL, UNIQUE (w, n))",
      );
      const returned = new Map<string, string>();
      const note = (w: number, n: number, row: Record<string, unknown>) => {
        assert.deepEqual(Object.keys(row), ["id", "created_at"]);
        returned.set(`${w}|${n}`, `${row.id}|${row.created_at}`);
      };
      const insert = "INSERT INTO r (w, n) VALUES ($1, $2) RETURNING id, created_at";
      const PER_WRITER = 48;
      await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        const kind = ["pg simple", "pg extended", "postgres.js", "postgres.js simple"][w % 4]!;
        if (kind.startsWith("pg")) {
          await using c = await textClient(proxy.url(db));
          const one = async (n: number) => {
            const s = { text: insert, values: [w, n] };
            const r = kind === "pg simple"
              ? await c.query(inline(s))
              : await c.query(insert, [w, n]);
            assert.equal(r.rows.length, 1);
            note(w, n, r.rows[0]!);
          };
          for (let n = 1; n <= PER_WRITER; n++) {
            if (n % 8 < 4) {
              await one(n);
            } else {
              await c.query("BEGIN");
              for (const m of [n, n + 1, n + 2, n + 3]) await one(m);
              await c.query("COMMIT");
              n += 3;
            }
          }
          return;
        }
        // postgres.js: timestamps as their text, to compare them exactly.
        await using sql = postgresJs(proxy.url(db), {
          max: 1,
          types: {
            tstext: {
              to: 1184,
              from: [1184],
              serialize: (x: string) => x,
              parse: (x: string) => x,
            },
          },
        });
        const simple = kind === "postgres.js simple";
        for (let n = 1; n <= PER_WRITER; n++) {
          if (n % 8 < 4) {
            const rows = simple
              ? await sql.unsafe(inline({ text: insert, values: [w, n] })).simple()
              : await sql.unsafe(insert, [w, n], { prepare: true });
            assert.equal(rows.length, 1);
            note(w, n, rows[0]!);
          } else {
            await sql.begin(async (tx) => {
              for (const m of [n, n + 1, n + 2, n + 3]) {
                const [row] =
                  await tx`INSERT INTO r (w, n) VALUES (${w}, ${m}) RETURNING id, created_at`;
                note(w, m, row!);
              }
            });
            n += 3;
          }
        }
      }));
      assert.equal(returned.size, WRITERS * PER_WRITER);
      await assertIdentical(cluster, db, [{ name: "r", rows: WRITERS * PER_WRITER }]);
      for (const server of cluster.all) {
        const stored = await server.psql(
          "SELECT w || '|' || n || '=' || id || '|' || created_at FROM r",
          { db },
        );
        const map = new Map(stored.trim().split("\n").map((l) => l.split("=") as [string, string]));
        for (const [key, value] of returned) {
          assert.equal(map.get(key), value, `server "${server.name}", row w|n = ${key}`);
        }
      }
    },
  );

  // ---- usogres verify ---------------------------------------------------------------------

  await step(
    "usogres verify: exit 0 after the load, 1 naming the table after one row changed on a copy",
    "verify",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE events (id bigserial PRIMARY KEY, w int, at timestamptz DEFAULT now(), " +
          "u uuid DEFAULT gen_random_uuid());" +
          "CREATE TABLE quiet (id int PRIMARY KEY, v text)",
      );
      await exec(db, "INSERT INTO quiet SELECT g, 'v' || g FROM generate_series(1, 100) g");
      const load = new Load(proxy.url(db));
      await load.run(({ w, txn }) => ({
        text: "INSERT INTO events (w) VALUES ($1), ($1)",
        values: [w * 1000 + (txn ?? 0)],
      }));
      const same = await verify(proxy, db);
      assert.equal(same.code, 0, `${same.stdout}\n${same.stderr}`);
      assert.match(same.stdout, /^summary: 2 tables identical \(1 copy compared\)$/m);
      await cluster.copies[0]!.psql(
        "UPDATE events SET at = at + interval '1 microsecond' WHERE id = 7",
        { db },
      );
      const changed = await verify(proxy, db);
      assert.equal(changed.code, 1, `${changed.stdout}\n${changed.stderr}`);
      const named = changed.stdout.split("\n").filter((l) => l.startsWith("public."));
      assert.ok(
        named.length > 0 && named.every((l) => l.startsWith("public.events:")),
        changed.stdout,
      );
      assert.match(changed.stdout, /^summary: 1 of 2 tables differ/m);
    },
  );

  // ---- user-defined volatile functions ------------------------------------------------------

  const FUNCTION =
    "CREATE FUNCTION f() RETURNS float8 VOLATILE LANGUAGE sql AS 'select random()';" +
    "CREATE TABLE uf (id int PRIMARY KEY, v float8)";

  await step(
    "a user-defined volatile function: refused with 0A000 by default, nothing written anywhere",
    "unsafe_refuse",
    async (db, proxy) => {
      await exec(db, FUNCTION);
      await using c = await textClient(proxy.url(db));
      const attempts: [string, () => Promise<unknown>][] = [
        ["simple", () => c.query("INSERT INTO uf VALUES (1, f())")],
        ["extended", () => c.query("INSERT INTO uf VALUES ($1, f())", [2])],
        ["UPDATE", () => c.query("UPDATE uf SET v = f()")],
      ];
      for (const [what, attempt] of attempts) {
        await assert.rejects(attempt, (e) => {
          assert.equal(sqlstate(e), "0A000", what);
          return true;
        });
      }
      await c.query("BEGIN");
      await assert.rejects(() => c.query("INSERT INTO uf VALUES ($1, f())", [3]), (e) => {
        assert.equal(sqlstate(e), "0A000");
        return true;
      });
      await c.query("ROLLBACK");
      for (const out of await cluster.queryEach("SELECT count(*) FROM uf", db)) {
        assert.equal(out.trim(), "0");
      }
    },
  );

  await step(
    'unknown_functions = "trust": a user-defined volatile function is replicated by rows',
    "unsafe_trust",
    async (db) => {
      await using trusting = await cluster.startProxy({
        sections: { log: { level: "info" }, replication: { unknown_functions: "trust" } },
      });
      await withLogsOnFailure(trusting, cluster, async () => {
        await exec(db, FUNCTION);
        const load = new Load(trusting.url(db));
        await load.run(({ w, n }) => ({
          text: "INSERT INTO uf (id, v) VALUES ($1, f())",
          values: [w * 10_000 + n],
        }));
        await assertIdentical(cluster, db, [{ name: "uf", rows: FULL_LOAD }]);
        assertNoStale(trusting);
      });
    },
  );

  await step(
    "prepared row statements: a copy connection that lost them gets the Parse again",
    "lost_statements",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE s (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v int)",
      );
      // Each write below is replicated by rows: the copy link runs it as its own prepared
      // statement (usogres_row_N), parsed by the first write of its shape on that connection.
      const writes = async (c: TextClient, v: number) => {
        await c.query(`INSERT INTO s (v) VALUES (${v})`);
        await c.query("INSERT INTO s (v) VALUES ($1)", [v]);
        // node-postgres keeps a name prepared across DISCARD ALL: a new name each time.
        await c.prepared(`ins${v}`, "INSERT INTO s (v) VALUES ($1) RETURNING id, at", [v]);
        await c.query(`INSERT INTO s (v) VALUES (${v}), (${v})`);
      };
      // Sessions one after another: each leaves cleanly, the pool resets its connections with
      // DISCARD ALL (dropping the copy's row statements) and the next session gets them.
      const pids = new Set<string>();
      for (let i = 0; i < 3; i++) {
        await using c = await textClient(proxy.url(db));
        pids.add(String((await c.query("SELECT pg_backend_pid() AS pid")).rows[0]?.pid));
        await writes(c, i);
      }
      assert.equal(pids.size, 1, "the sessions reused one pooled set of connections");
      // The client drops every prepared statement itself, with DISCARD ALL or DEALLOCATE ALL.
      await using c = await textClient(proxy.url(db));
      await writes(c, 10);
      await c.query("DISCARD ALL");
      await writes(c, 11);
      await c.query("DEALLOCATE ALL");
      await writes(c, 12);
      await c.query("BEGIN");
      await writes(c, 14);
      await c.query("COMMIT");
      await writes(c, 15);
      await assertIdentical(cluster, db, [{ name: "s", rows: 8 * 5 }]);
      assertNoStale(proxy);
    },
  );

  await step(
    "returning_hash: a copy whose returned rows differ (a trigger of its own) is marked stale",
    "returning_hash",
    async (db, proxy) => {
      await exec(
        db,
        "CREATE TABLE h (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v int);" +
          "CREATE TABLE e (id int PRIMARY KEY, v int)",
      );
      // Only the copy changes what it stores: the same row count, other values.
      await cluster.copies[0]!.psql(
        `CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN NEW.v := NEW.v + 1; RETURN NEW; END$$;
         CREATE TRIGGER bump BEFORE INSERT ON h FOR EACH ROW EXECUTE FUNCTION bump();
         CREATE TRIGGER bump BEFORE INSERT ON e FOR EACH ROW EXECUTE FUNCTION bump();`,
        { db },
      );
      const copyValues = () => cluster.copies[0]!.psql("SELECT sum(v) FROM h", { db });
      // Off (the default): the tags agree ("INSERT 0 1"), so nothing is noticed.
      {
        await using c = await textClient(proxy.url(db));
        await c.query("INSERT INTO h (v) VALUES (1)");
        await c.query("INSERT INTO e VALUES (1, 1) RETURNING v");
        assertNoStale(proxy);
        assert.equal((await copyValues()).trim(), "2");
      }
      const hashing = async (sql: string | string[], reason: RegExp) => {
        await using checked = await cluster.startProxy({
          sections: { log: { level: "info" }, replication: { returning_hash: true } },
        });
        await withLogsOnFailure(checked, cluster, async () => {
          await using c = await textClient(checked.url(db));
          for (const statement of typeof sql === "string" ? [sql] : sql) await c.query(statement);
          await waitFor(() => /backend "copy" is now stale/.test(checked.output()), {
            what: "the copy marked stale",
          });
          assert.match(checked.output(), reason);
        });
      };
      // A write replicated by rows: the copy returns the rows it wrote, compared with the
      // original's; and a write replicated as its text, with the client's RETURNING.
      await hashing("INSERT INTO h (v) VALUES (5)", /rows returned differ for "INSERT 0 1"/);
      await hashing("INSERT INTO e VALUES (2, 2) RETURNING v", /rows returned differ/);
      // Inside a transaction (the copies may run such writes behind the client, pipelined).
      await hashing(
        ["BEGIN", "INSERT INTO h (v) VALUES (6)", "INSERT INTO h (v) VALUES (7)", "COMMIT"],
        /rows returned differ for "INSERT 0 1"/,
      );
    },
  );

  await step(
    'unknown_functions = "mark_stale": the statement runs on the original and the copy goes stale',
    "unsafe_stale",
    async (db) => {
      await exec(db, FUNCTION);
      await using lenient = await cluster.startProxy({
        sections: { log: { level: "info" }, replication: { unknown_functions: "mark_stale" } },
      });
      await withLogsOnFailure(lenient, cluster, async () => {
        await using c = await textClient(lenient.url(db));
        const r = await c.query("INSERT INTO uf VALUES (1, f()) RETURNING id");
        assert.deepEqual(r.rows, [{ id: "1" }]);
        await waitFor(() => /backend "copy" is now stale/.test(lenient.output()), {
          what: "the copy marked stale",
        });
        const [original, copy] = await cluster.queryEach("SELECT count(*) FROM uf", db);
        assert.deepEqual([original!.trim(), copy!.trim()], ["1", "0"]);
      });
    },
  );
});
