/**
 * @module
 * Unit tests of the determinism rules (`src/replication/determinism.ts`): a table of statements
 * and what each becomes: replicated as its text without the catalog (the fast path), after
 * reading it, row-based, or unsafe with a reason and a policy. The sibling
 * `determinism_*_test.ts` files cover the generated SQL, sequences, the catalog and the cache.
 */

import assert from "node:assert/strict";
import { initClassifier } from "../../../src/replication/classify.ts";
import {
  type DeterminismOptions,
  planStatement,
  unknownCallPolicy,
} from "../../../src/replication/determinism.ts";
import { plan } from "./_determinism_tables.ts";

await initClassifier();

/**
 * One case: the statement and its verdict. `fast` is asIs without any catalog read; `asIs` after
 * one; `row` row-based; `unsafe: <reason>` refused (or marked stale) for that reason.
 */
type Case = readonly [sql: string, expected: string];

const FAST_PATH: readonly Case[] = [
  ["UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", "fast"],
  ["UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", "fast"],
  ["DELETE FROM t WHERE id = $1", "fast"],
  [
    "update t set x = upper(x) || $1::text where id in (select id from t order by id limit 3)",
    "fast",
  ],
  ["UPDATE t SET x = current_user, n = length(session_user)", "fast"],
  ["UPDATE t SET x = current_role || user || current_catalog || current_schema", "fast"],
  ["UPDATE t SET at = '2020-01-01 00:00:00+00', x = 'epoch'", "fast"],
  ["UPDATE t SET at = 'infinity'::timestamptz WHERE at < '2020-01-01'::date", "fast"],
  ["UPDATE t SET n = setval('s', 5)", "fast"],
  ["UPDATE t SET n = 1 WHERE pg_advisory_xact_lock(1) IS NOT NULL", "fast"],
  ["UPDATE t SET x = pg_catalog.lower(x), at = to_timestamp(0) + interval '1 day'", "fast"],
  ["UPDATE t SET x = (SELECT string_agg(x, ',' ORDER BY x) FROM u)", "fast"],
  ["DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id LIMIT 1 FOR UPDATE)", "fast"],
  ["DELETE FROM t WHERE x IN (SELECT DISTINCT x FROM u)", "fast"],
  ["DELETE FROM t USING u WHERE u.id = t.id AND u.at < $1", "fast"],
  ["UPDATE t SET x = 'a' WHERE CURRENT OF c", "fast"],
  ["UPDATE t SET x = 'a' RETURNING now(), random(), clock_timestamp()", "fast"],
  ["DELETE FROM t WHERE id = 1 RETURNING *, gen_random_uuid()", "fast"],
  ["SELECT nextval('s')", "fast"],
  ["SELECT setval('s', 10, true)", "fast"],
  ["SELECT now(), random(), f(1)", "fast"],
  ["SELECT 1 INTO newt", "fast"],
  ["CREATE TABLE x AS SELECT 1 AS a", "fast"],
  ["CREATE TABLE t2 (id serial, at timestamptz DEFAULT now())", "fast"],
  ["ALTER TABLE t ADD COLUMN z timestamptz DEFAULT now()", "fast"],
  ["COPY t FROM STDIN", "fast"],
  ["COPY t TO STDOUT", "fast"],
  ["COPY (SELECT now()) TO STDOUT", "fast"],
  ["PREPARE q (text) AS UPDATE t SET x = $1", "fast"],
  ["UPDATE t SET x = 't'::regclass::text", "fast"],
  ["DO $$ BEGIN PERFORM random(); END $$", "fast"],
  ["CALL app.proc(now())", "fast"],
  ["BEGIN", "fast"],
  ["EXPLAIN UPDATE t SET at = now()", "fast"],
  ["MERGE INTO d USING u ON d.a = u.a WHEN MATCHED THEN DELETE", "fast"],
  ["MERGE INTO d USING u ON d.a = u.a WHEN MATCHED THEN UPDATE SET c = u.c + 1", "fast"],
  ["WITH g AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM g", "fast"],
  [
    "WITH g AS (UPDATE t SET n = n + 1 RETURNING id) DELETE FROM d WHERE a IN (SELECT id FROM g)",
    "fast",
  ],
  ["INSERT INTO", "fast"], // a syntax error: every server reports it
  ["", "fast"],
  ["  -- only a comment", "fast"],
];

const NONDETERMINISTIC_EXPRESSIONS = [
  "now()",
  "pg_catalog.now()",
  "CURRENT_DATE",
  "CURRENT_TIME",
  "CURRENT_TIME(2)",
  "CURRENT_TIMESTAMP",
  "current_timestamp(3)",
  "LOCALTIME",
  "LOCALTIME(1)",
  "LOCALTIMESTAMP",
  "LOCALTIMESTAMP(2)",
  "transaction_timestamp()",
  "statement_timestamp()",
  "clock_timestamp()",
  "timeofday()",
  "random()",
  "random_normal()",
  "gen_random_uuid()",
  "uuid_generate_v4()",
  "extensions.uuid_generate_v1mc()",
  "txid_current()",
  "txid_current_if_assigned()",
  "pg_current_xact_id()",
  "pg_current_xact_id_if_assigned()",
  "pg_backend_pid()",
  "inet_client_addr()",
  "inet_client_port()",
  "inet_server_addr()",
  "inet_server_port()",
  "pg_postmaster_start_time()",
  "pg_conf_load_time()",
  "pg_current_wal_lsn()",
  "pg_current_wal_insert_lsn()",
  "version()",
  "currval('s')",
  "lastval()",
  "age(at)",
  "pg_relation_size('t')",
  "pg_database_size(current_database())",
  "pg_stat_get_numscans(1)",
  "pg_try_advisory_lock(1)",
  "pg_catalog.brand_new_function()",
  "'now'::timestamptz",
  "'today'::date",
  "' Tomorrow '",
  "date 'yesterday'",
  "ctid::text",
  "'t'::regclass::oid::int",
  "(x::xid)::text",
  "xmin::text",
  "(SELECT max(n) FROM (SELECT n FROM u LIMIT 3) s)",
  "(SELECT n FROM u OFFSET 2)",
  "(SELECT n FROM u TABLESAMPLE system (10) ORDER BY n LIMIT 1)",
  "(SELECT n FROM u ORDER BY n LIMIT 1 FOR UPDATE SKIP LOCKED)",
  "(SELECT DISTINCT ON (x) n FROM u)",
  "(SELECT row_number() OVER () FROM u ORDER BY 1 LIMIT 1)",
  "(SELECT string_agg(x, ',') FROM u)",
  "(SELECT array_agg(x) FROM u)",
  "(SELECT jsonb_agg(x) FROM u)",
  "(WITH c AS (SELECT random() AS r) SELECT r FROM c)",
  "(SELECT 1 WHERE EXISTS (SELECT 1 FROM u WHERE u.at < now()))",
  "CASE WHEN n > 0 THEN now() END",
  "coalesce(NULL, random())",
];

const ROW_BASED: readonly Case[] = [
  ...NONDETERMINISTIC_EXPRESSIONS.map((e): Case => [`UPDATE t SET n = 1, x = (${e})::text`, "row"]),
  ...NONDETERMINISTIC_EXPRESSIONS.map((e): Case => [`DELETE FROM t WHERE x = (${e})::text`, "row"]),
  ["UPDATE t SET at = now() FROM u WHERE u.id = t.id", "row"],
  ["UPDATE t SET n = (SELECT row_number() OVER (ORDER BY id) FROM u LIMIT 1 OFFSET 0)", "row"],
  ["UPDATE t SET n = 1 FROM (SELECT id FROM u LIMIT 5) l WHERE l.id = t.id", "row"],
  ["WITH c AS (SELECT now() AS n) UPDATE t SET at = c.n FROM c", "row"],
  ["UPDATE t SET (x, n) = (SELECT x, n FROM u WHERE random() < 0.5 ORDER BY id LIMIT 1)", "row"],
  ["UPDATE t SET at = DEFAULT WHERE id = 1", "row"],
  ["UPDATE t SET (n, at) = (1, DEFAULT)", "row"],
  ["UPDATE d SET c = nextval('s') WHERE a < 10", "row"],
  ["INSERT INTO t (x) VALUES ('a')", "row"],
  ["INSERT INTO t (id, x, at) VALUES (DEFAULT, 'a', '2020-01-01')", "row"],
  ["INSERT INTO t VALUES (1, 'a', 2, DEFAULT)", "row"],
  ["INSERT INTO t VALUES (1, 'a', 2)", "row"],
  ["INSERT INTO t DEFAULT VALUES", "row"],
  ["INSERT INTO t (x) SELECT x FROM u", "row"],
  ["INSERT INTO t SELECT * FROM u", "row"],
  ["INSERT INTO t (id, x, n, at) SELECT id, x, n, at FROM u LIMIT 5", "row"],
  ["INSERT INTO i (v) VALUES ('a'), ('b')", "row"],
  ["INSERT INTO i (id, v) OVERRIDING SYSTEM VALUE VALUES (5, 'a')", "row"], // w is identity
  ["INSERT INTO d (a, b, c) VALUES (1, now()::text, 2)", "row"],
  ["INSERT INTO d (a, c) VALUES (nextval('s1'), 1), (nextval('s1') + nextval('s2'), 2)", "row"],
  ["INSERT INTO d SELECT nextval('s1'), 'b', 1 FROM u", "row"],
  ["INSERT INTO d (a) SELECT a FROM u ORDER BY random()", "row"],
  ["INSERT INTO nopk (a) VALUES (1)", "row"],
  ["INSERT INTO t (x) VALUES ('a') ON CONFLICT (x) DO UPDATE SET n = t.n + 1", "row"],
  ["INSERT INTO t (id, x, n, at) VALUES (1, 'a', 2, now()) ON CONFLICT DO NOTHING", "row"],
  ['INSERT INTO s."Mixed" ("Region", no) VALUES (\'eu\', 1)', "row"],
];

const DETERMINISTIC_WITH_CATALOG: readonly Case[] = [
  ["INSERT INTO d (a, b, c) VALUES (1, 'x', 2)", "asIs"],
  ["INSERT INTO d (a) VALUES (1), (2)", "asIs"],
  ["INSERT INTO d VALUES (1, DEFAULT, 3)", "asIs"],
  ["INSERT INTO d DEFAULT VALUES", "asIs"],
  ["INSERT INTO d (a, c) SELECT id, n FROM t", "asIs"],
  ["INSERT INTO d SELECT * FROM d2", "asIs"],
  ["INSERT INTO d (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET c = EXCLUDED.c", "asIs"],
  ["INSERT INTO t (id, x, n, at) VALUES (1, 'a', 2, '2020-01-01')", "asIs"],
  ["INSERT INTO t VALUES (1, 'a', 2, '2020-01-01', DEFAULT)", "asIs"],
  ["INSERT INTO t (id, x, n, at) SELECT id, x, n, at FROM u", "asIs"],
  ["INSERT INTO i (id, v, w) OVERRIDING SYSTEM VALUE VALUES (5, 'a', 6)", "asIs"],
  ["INSERT INTO t (nope) VALUES (now())", "asIs"], // fails alike everywhere
  ["UPDATE d SET b = DEFAULT", "asIs"],
  ["COPY d (a) FROM STDIN", "asIs"],
  ["COPY t (id, x, n, at) FROM STDIN WITH (FORMAT csv)", "asIs"],
  ["PREPARE p (int) AS INSERT INTO d (a) VALUES ($1)", "asIs"],
  ["UPDATE t SET n = DEFAULT WHERE id = 2", "asIs"],
  ["MERGE INTO d USING u ON d.a = u.a WHEN NOT MATCHED THEN INSERT (a) VALUES (u.a)", "asIs"],
  [
    "WITH g AS (DELETE FROM t RETURNING id) INSERT INTO d (a, b, c) SELECT id, 'b', 1 FROM g",
    "asIs",
  ],
];

const UNSAFE: readonly Case[] = [
  ["UPDATE t SET x = f(x)", 'unsafe: calls function "f"'],
  ["DELETE FROM t WHERE app.is_old(at)", 'unsafe: calls function "app.is_old"'],
  ["INSERT INTO d (a) VALUES (app.next_id())", 'unsafe: calls function "app.next_id"'],
  ["INSERT INTO uf (id) VALUES (1)", 'unsafe: calls function "app.make_key"'],
  ["SELECT f() INTO newt", 'unsafe: calls function "f"'],
  ["UPDATE t SET x = 'a' RETURNING f(x)", 'unsafe: calls function "f"'],
  ["UPDATE nopk SET at = now()", "unsafe: table has no primary key"],
  ["DELETE FROM nopk WHERE at < now()", "unsafe: table has no primary key"],
  ["UPDATE t SET id = id + 1, at = now()", "unsafe: UPDATE assigns a primary key column"],
  ["UPDATE t SET id = DEFAULT", "unsafe: UPDATE assigns a primary key column"],
  ["UPDATE i SET w = 5, v = now()::text", "row"],
  [
    "INSERT INTO nopk (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET at = now()",
    "unsafe: ON CONFLICT DO UPDATE on a table without a primary key",
  ],
  [
    "INSERT INTO t (x) VALUES ('a') ON CONFLICT (x) DO UPDATE SET id = 5",
    "unsafe: ON CONFLICT DO UPDATE assigns a primary key column",
  ],
  [
    "INSERT INTO d (a, c) SELECT CASE WHEN true THEN nextval('s1') END, 1 FROM u",
    "unsafe: nextval('s1') where the number of calls is not known",
  ],
  [
    "INSERT INTO d (a) SELECT a FROM u WHERE nextval('s') > 0",
    "unsafe: nextval('s') where the number of calls is not known",
  ],
  [
    "INSERT INTO d (a) VALUES (nextval($1))",
    "unsafe: nextval() of a sequence named by an expression",
  ],
  [
    "UPDATE d SET c = coalesce(c, nextval('s'))",
    "unsafe: nextval('s') where the number of calls is not known",
  ],
  [
    "UPDATE t SET at = now() FROM u WHERE u.id = t.id RETURNING *",
    "unsafe: RETURNING * with FROM or USING",
  ],
  ["DELETE FROM t USING u WHERE u.at < now() RETURNING u.*", "unsafe: RETURNING u.*"],
  [
    "WITH g AS (DELETE FROM t WHERE at < now() RETURNING *) INSERT INTO d SELECT id FROM g",
    "unsafe: data-modifying WITH",
  ],
  [
    "WITH g AS (DELETE FROM d RETURNING a) INSERT INTO t (x) SELECT a::text FROM g",
    "unsafe: data-modifying WITH",
  ],
  [
    "WITH g AS (INSERT INTO d (a) VALUES (1) RETURNING a) INSERT INTO t (x) SELECT a FROM g",
    "unsafe: data-modifying WITH relying on the defaults of several tables",
  ],
  [
    "WITH g AS (UPDATE t SET at = DEFAULT RETURNING id) SELECT * FROM g",
    "unsafe: data-modifying WITH",
  ],
  [
    "MERGE INTO d USING u ON d.a = u.a WHEN MATCHED THEN UPDATE SET b = now()::text",
    "unsafe: MERGE",
  ],
  [
    "MERGE INTO t USING u ON t.id = u.id WHEN NOT MATCHED THEN INSERT (x) VALUES (u.x)",
    "unsafe: MERGE",
  ],
  [
    "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET at = DEFAULT",
    "unsafe: MERGE",
  ],
  ["SELECT now() AS at INTO newt", "unsafe: SELECT INTO"],
  ["PREPARE p AS UPDATE t SET at = now()", "unsafe: PREPARE of a non-deterministic statement"],
  [
    "PREPARE p (text) AS INSERT INTO t (x) VALUES ($1)",
    "unsafe: PREPARE of a non-deterministic statement",
  ],
  ["PREPARE p AS UPDATE t SET x = f(x)", 'unsafe: calls function "f"'],
  [
    "COPY t (x) FROM STDIN",
    'unsafe: COPY FROM leaving columns to their defaults: default of column "id": calls function "nextval"',
  ],
  [
    "COPY i (v) FROM STDIN",
    'unsafe: COPY FROM leaving columns to their defaults: identity column "id"',
  ],
  [
    "COPY nopk (a) FROM STDIN",
    'unsafe: COPY FROM leaving columns to their defaults: default of column "at": calls function "now"',
  ],
  ["COPY uf (id) FROM STDIN", 'unsafe: calls function "app.make_key"'],
  ["CREATE TABLE x AS SELECT random() AS r", "unsafe: CREATE TABLE AS"],
  [
    "EXPLAIN ANALYZE UPDATE t SET at = now()",
    "unsafe: EXPLAIN ANALYZE of a non-deterministic statement",
  ],
  [
    "EXPLAIN (ANALYZE) INSERT INTO t (x) VALUES ('a')",
    "unsafe: EXPLAIN ANALYZE of a non-deterministic statement",
  ],
  ["UPDATE t SET x = 'a'; UPDATE t SET at = now()", "unsafe: several statements in one text"],
];

function verdict(sql: string, opts: DeterminismOptions = {}): string {
  const first = planStatement(sql, undefined, opts);
  if (first.kind === "asIs") return "fast";
  const final = plan(sql, opts);
  switch (final.kind) {
    case "asIs":
      return "asIs";
    case "rowBased":
      return "row";
    case "unsafe":
      return `unsafe: ${final.reason}`;
    case "needsCatalog":
      return `needsCatalog ${final.relation}`;
  }
}

for (
  const [name, cases] of [
    ["replicates deterministic statements as they are, without the catalog", FAST_PATH],
    ["makes non-deterministic statements row-based", ROW_BASED],
    [
      "replicates statements as they are when the catalog shows no non-determinism",
      DETERMINISTIC_WITH_CATALOG,
    ],
    ["refuses what cannot be made deterministic, with the reason", UNSAFE],
  ] as const
) {
  Deno.test(`planStatement: ${name}`, () => {
    for (const [sql, expected] of cases) {
      const got = verdict(sql);
      if (expected === "unsafe") assert.match(got, /^unsafe: /, sql);
      else assert.equal(got, expected, sql);
    }
  });
}

Deno.test("planStatement: every INSERT needs the catalog first, named as the parser folded it", () => {
  const cases: [string, string][] = [
    ["INSERT INTO t (x) VALUES ('a')", '"t"'],
    ["insert into T (id, x, n, at) values (1, 'a', 2, '2020-01-01')", '"t"'],
    ['INSERT INTO "T" VALUES (1)', '"T"'],
    ["INSERT INTO S.T AS x VALUES (now())", '"s"."t"'],
    ['INSERT INTO db."My Schema"."it""s" DEFAULT VALUES', '"db"."My Schema"."it""s"'],
    ["UPDATE public.t SET at = now()", '"public"."t"'],
    ["DELETE FROM ONLY t WHERE random() < 0.1", '"t"'],
    ["UPDATE t SET b = DEFAULT", '"t"'],
  ];
  for (const [sql, relation] of cases) {
    assert.deepEqual(planStatement(sql, undefined), { kind: "needsCatalog", relation }, sql);
  }
});

Deno.test("planStatement: unknown functions follow the unknownFunctions policy", () => {
  const sql = "UPDATE t SET x = app.f(x)";
  assert.deepEqual(planStatement(sql, undefined), {
    kind: "unsafe",
    reason: 'calls function "app.f"',
    policy: "refuse",
  });
  assert.deepEqual(planStatement(sql, undefined, { unknownFunctions: "mark_stale" }), {
    kind: "unsafe",
    reason: 'calls function "app.f"',
    policy: "mark_stale",
  });
  assert.equal(verdict(sql, { unknownFunctions: "trust" }), "row");
  assert.equal(verdict("INSERT INTO uf (id) VALUES (1)", { unknownFunctions: "trust" }), "row");
  assert.equal(verdict("INSERT INTO uf (id, k) VALUES (1, 'k')"), "asIs");
});

Deno.test("planStatement: deterministicFunctions are trusted, bare or schema-qualified", () => {
  const cases: [string, readonly string[], string][] = [
    ["UPDATE t SET x = app.slug(x)", ["app.slug"], "fast"],
    ["UPDATE t SET x = app.slug(x)", ["slug"], "fast"],
    ["UPDATE t SET x = App.Slug(x)", ["APP.SLUG"], "fast"],
    ["UPDATE t SET x = other.slug(x)", ["app.slug"], 'unsafe: calls function "other.slug"'],
    ["UPDATE t SET x = slug(x)", ["app.slug"], 'unsafe: calls function "slug"'],
    ["INSERT INTO uf (id) VALUES (1)", ["app.make_key"], "asIs"],
    ["UPDATE t SET at = now()", ["now"], "fast"],
  ];
  for (const [sql, deterministicFunctions, expected] of cases) {
    assert.equal(verdict(sql, { deterministicFunctions }), expected, sql);
  }
});

Deno.test("planStatement: limitations take the mark_stale policy only when so configured", () => {
  for (const unknownFunctions of ["refuse", "trust", "mark_stale"] as const) {
    const p = plan("UPDATE nopk SET at = now()", { unknownFunctions });
    assert.equal(p.kind, "unsafe");
    assert.equal(
      p.kind === "unsafe" ? p.policy : "",
      unknownFunctions === "mark_stale" ? "mark_stale" : "refuse",
    );
  }
});

Deno.test("unknownCallPolicy: DO and CALL are unsafe unless trusted; others asIs", () => {
  assert.deepEqual(unknownCallPolicy("DO $$ BEGIN END $$"), {
    kind: "unsafe",
    reason: "DO block",
    policy: "refuse",
  });
  assert.deepEqual(unknownCallPolicy("CALL app.p(1)", { unknownFunctions: "mark_stale" }), {
    kind: "unsafe",
    reason: 'calls procedure "app.p"',
    policy: "mark_stale",
  });
  assert.deepEqual(unknownCallPolicy("DO $$ BEGIN END $$", { unknownFunctions: "trust" }), {
    kind: "asIs",
  });
  assert.deepEqual(unknownCallPolicy("CALL app.p()", { deterministicFunctions: ["app.p"] }), {
    kind: "asIs",
  });
  for (const sql of ["UPDATE t SET at = now()", "SELECT 1", "not sql at all", ""]) {
    assert.deepEqual(unknownCallPolicy(sql), { kind: "asIs" }, sql);
  }
});
