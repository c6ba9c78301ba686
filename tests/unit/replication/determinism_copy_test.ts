/**
 * @module
 * Unit tests of the SQL of row-based plans (`src/replication/determinism.ts`): the original's
 * statement (the client's text with RETURNING additions, however the text ends), the client's
 * column count, the columns added, the sequences counted, and the copies' statements for each
 * operation, type and row count, zero rows included.
 */

import assert from "node:assert/strict";
import { initClassifier } from "../../../src/replication/classify.ts";
import { copyStatement, type DmlPlan } from "../../../src/replication/determinism.ts";
import { rowBased } from "./_determinism_tables.ts";

await initClassifier();

const T_ALL = '"t"."id", "t"."x", "t"."n", "t"."at"';

Deno.test("originalSql: appends RETURNING after the statement, however its text ends", () => {
  const cases: [string, string][] = [
    ["INSERT INTO t (x) VALUES ('a')", `INSERT INTO t (x) VALUES ('a')\nRETURNING ${T_ALL}`],
    ["INSERT INTO t (x) VALUES ('a');", `INSERT INTO t (x) VALUES ('a')\nRETURNING ${T_ALL}`],
    [
      "INSERT INTO t (x) VALUES ('a') ; -- done\n",
      `INSERT INTO t (x) VALUES ('a')\nRETURNING ${T_ALL}`,
    ],
    [
      "INSERT INTO t (x) VALUES ('a') -- note",
      `INSERT INTO t (x) VALUES ('a') -- note\nRETURNING ${T_ALL}`,
    ],
    [
      "INSERT INTO t (x) VALUES ('a') /* c */\n",
      `INSERT INTO t (x) VALUES ('a') /* c */\nRETURNING ${T_ALL}`,
    ],
    [
      "/* lead */ INSERT INTO t (x) VALUES ($1)",
      `/* lead */ INSERT INTO t (x) VALUES ($1)\nRETURNING ${T_ALL}`,
    ],
    [
      "INSERT INTO t (x) VALUES ('日本'); -- ñ",
      `INSERT INTO t (x) VALUES ('日本')\nRETURNING ${T_ALL}`,
    ],
    [
      "INSERT INTO t (x) VALUES ('a') RETURNING id, x",
      `INSERT INTO t (x) VALUES ('a') RETURNING id, x\n, ${T_ALL}`,
    ],
    [
      "INSERT INTO s.t AS y (x) VALUES ('a') RETURNING y.id -- c",
      'INSERT INTO s.t AS y (x) VALUES (\'a\') RETURNING y.id -- c\n, "y"."id", "y"."x", "y"."n", "y"."at"',
    ],
    [
      "UPDATE t AS y SET at = now(), x = 'b' WHERE n = 1",
      'UPDATE t AS y SET at = now(), x = \'b\' WHERE n = 1\nRETURNING "y"."id", "y"."at", "y"."x"',
    ],
    [
      "UPDATE public.t SET x = 'é', at = now() RETURNING x; -- ü",
      'UPDATE public.t SET x = \'é\', at = now() RETURNING x\n, "t"."id", "t"."x", "t"."at"',
    ],
    [
      "DELETE FROM t WHERE at < now() - interval '1 day'",
      'DELETE FROM t WHERE at < now() - interval \'1 day\'\nRETURNING "t"."id"',
    ],
    [
      'DELETE FROM s."Mixed" m WHERE u = gen_random_uuid()',
      'DELETE FROM s."Mixed" m WHERE u = gen_random_uuid()\nRETURNING "m"."Region", "m"."no"',
    ],
  ];
  for (const [sql, expected] of cases) assert.equal(rowBased(sql).originalSql, expected, sql);
});

Deno.test("clientColumns: counts the client's RETURNING, expanding * to the table's columns", () => {
  const cases: [string, number][] = [
    ["INSERT INTO t (x) VALUES ('a')", 0],
    ["INSERT INTO t (x) VALUES ('a') RETURNING id", 1],
    ["INSERT INTO t (x) VALUES ('a') RETURNING *", 5],
    ["INSERT INTO t (x) VALUES ('a') RETURNING *, id, x || 'a', now()", 8],
    ["INSERT INTO t AS y (x) VALUES ('a') RETURNING y.*, (y.*)::text", 6],
    ["INSERT INTO s.t (x) VALUES ('a') RETURNING t.*", 5],
    ["UPDATE t SET at = now() RETURNING *", 5],
    ["UPDATE t SET at = now() FROM u WHERE u.id = t.id RETURNING t.*, u.id", 6],
    ["DELETE FROM t WHERE at < now() RETURNING id, at", 2],
  ];
  for (const [sql, k] of cases) assert.equal(rowBased(sql).clientColumns, k, sql);
});

Deno.test("addedColumns: INSERT every written column, UPDATE key and SET, DELETE the key", () => {
  const cases: [string, string[]][] = [
    ["INSERT INTO t (x) VALUES ('a')", ["id", "x", "n", "at"]],
    ["INSERT INTO i (v) VALUES ('a')", ["id", "v", "w"]],
    ["UPDATE t SET at = now(), x = 'a', at = now()", ["id", "at", "x"]],
    ["UPDATE t SET (x, n) = (random()::text, 1)", ["id", "x", "n"]],
    ['UPDATE s."Mixed" SET u = gen_random_uuid()', ["Region", "no", "u"]],
    ["DELETE FROM t WHERE random() < 0.5", ["id"]],
    ['DELETE FROM s."Mixed" WHERE random() < 0.5', ["Region", "no"]],
  ];
  for (const [sql, columns] of cases) assert.deepEqual(rowBased(sql).addedColumns, columns, sql);
});

Deno.test("sequences: counted per statement for VALUES and per row for SELECT and SET", () => {
  const cases: [string, { name: string; perRow: number; fixed: number }[]][] = [
    ["INSERT INTO t (x) VALUES ('a'), ('b'), ('c')", [
      { name: "t_id_seq", perRow: 0, fixed: 3 },
    ]],
    ["INSERT INTO t (id, x) VALUES (DEFAULT, 'a'), (7, 'b')", [
      { name: "t_id_seq", perRow: 0, fixed: 1 },
    ]],
    ["INSERT INTO t DEFAULT VALUES", [{ name: "t_id_seq", perRow: 0, fixed: 1 }]],
    ["INSERT INTO t (x) SELECT x FROM u", [{ name: "t_id_seq", perRow: 1, fixed: 0 }]],
    ["INSERT INTO t (id, x, n, at) VALUES (1, 'a', 2, now())", []],
    ["INSERT INTO i (v) VALUES ('a'), ('b')", [
      { name: "public.i_id_seq", perRow: 0, fixed: 2 },
      { name: "public.i_w_seq", perRow: 0, fixed: 2 },
    ]],
    ["INSERT INTO d (a, c) VALUES (nextval('s1'), 1), (nextval('s1') + nextval('s2'), 2)", [
      { name: "s1", perRow: 0, fixed: 2 },
      { name: "s2", perRow: 0, fixed: 1 },
    ]],
    ["INSERT INTO d (a, c) VALUES (nextval('s1'::regclass), -nextval('S1'))", [
      { name: "S1", perRow: 0, fixed: 1 },
      { name: "s1", perRow: 0, fixed: 1 },
    ]],
    ["INSERT INTO d SELECT nextval('s1'), 'b', 1 FROM u RETURNING nextval('s2')", [
      { name: "s1", perRow: 1, fixed: 0 },
      { name: "s2", perRow: 1, fixed: 0 },
    ]],
    ["UPDATE d SET c = nextval('s') + nextval('s') WHERE a < 10", [
      { name: "s", perRow: 2, fixed: 0 },
    ]],
    ["UPDATE t SET at = now() RETURNING nextval('s')", [{ name: "s", perRow: 1, fixed: 0 }]],
    ["UPDATE t SET at = now()", []],
  ];
  for (const [sql, sequences] of cases) assert.deepEqual(rowBased(sql).sequences, sequences, sql);
});

type RowPlan = Extract<DmlPlan, { kind: "rowBased" }>;

Deno.test("copyStatement: INSERT with typed literals and explicit values", () => {
  const p = rowBased("INSERT INTO d (a, b, c) VALUES (1, now()::text, 2), (3, 'x', 4)");
  assert.equal(
    copyStatement(p, [["1", "it's", "2"], ["3", null, null]]),
    'INSERT INTO "public"."d" ("a", "b", "c") OVERRIDING SYSTEM VALUE\n' +
      "VALUES ('1'::integer, 'it''s'::text, '2'::integer),\n" +
      "('3'::integer, NULL::text, NULL::integer)",
  );
});

Deno.test("copyStatement: literals of every kind keep their text exactly", () => {
  const types: [string, string, string][] = [
    ["integer", "-42", "'-42'::integer"],
    ["numeric(12,4)", "12345678.1234", "'12345678.1234'::numeric(12,4)"],
    ["text", `it's "q"`, `'it''s "q"'::text`],
    ["text", "back\\slash 'q'", "E'back\\\\slash ''q'''::text"],
    ["character varying(20)", "", "''::character varying(20)"],
    [
      "timestamp with time zone",
      "2024-02-29 23:59:59.999999+05:30",
      "'2024-02-29 23:59:59.999999+05:30'::timestamp with time zone",
    ],
    [
      "uuid",
      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    ],
    ["text[]", '{a,"b c",NULL,"d\\"e"}', `E'{a,"b c",NULL,"d\\\\"e"}'::text[]`],
    ["jsonb", `{"a": "it's", "b": [1, 2.5]}`, `'{"a": "it''s", "b": [1, 2.5]}'::jsonb`],
    ["bytea", "\\x00ff5c27", "E'\\\\x00ff5c27'::bytea"],
    ["double precision", "1.7976931348623157e+308", "'1.7976931348623157e+308'::double precision"],
    ['"char"', "x", `'x'::"char"`],
    ["public.mood", "happy", "'happy'::public.mood"],
    ["integer", null as unknown as string, "NULL::integer"],
  ];
  for (const [type, value, literal] of types) {
    const p: RowPlan = {
      ...rowBased("INSERT INTO nopk (a) VALUES (1)"),
      table: { relation: '"public"."v"', columns: [{ ...colOf(type) }] },
      addedColumns: ["c"],
      sequences: [],
    };
    assert.equal(
      copyStatement(p, [[value]]),
      `INSERT INTO "public"."v" ("c") OVERRIDING SYSTEM VALUE\nVALUES (${literal})`,
      type,
    );
  }
});

function colOf(type: string) {
  return {
    name: "c",
    type,
    generated: false,
    identity: "" as const,
    defaultExpr: null,
    sequence: null,
    primaryKey: false,
  };
}

Deno.test("copyStatement: INSERT advances sequences once, by fixed plus per-row calls", () => {
  const values = rowBased("INSERT INTO i (v) VALUES ('a'), ('b')");
  assert.equal(
    copyStatement(values, [["1", "a", "1"], ["2", "b", "2"]]),
    'INSERT INTO "public"."i" ("id", "v", "w") OVERRIDING SYSTEM VALUE\n' +
      "SELECT * FROM (VALUES ('1'::bigint, 'a'::text, '1'::integer),\n" +
      "('2'::bigint, 'b'::text, '2'::integer)) AS v (\"id\", \"v\", \"w\")\n" +
      "WHERE (SELECT count(pg_catalog.nextval('public.i_id_seq')) " +
      "FROM pg_catalog.generate_series(1, 2)) = 2 AND " +
      "(SELECT count(pg_catalog.nextval('public.i_w_seq')) " +
      "FROM pg_catalog.generate_series(1, 2)) = 2",
  );
  const select = rowBased("INSERT INTO t (x) SELECT x FROM u");
  const sql = copyStatement(select, [["1", "a", "0", "2020-01-01 00:00:00+00"]]);
  // One row, one call per sequence: a FROM-less SELECT whose WHERE runs nextval once.
  assert.match(
    sql,
    /\nSELECT '1'::integer, .*\nWHERE pg_catalog\.nextval\('t_id_seq'\) IS NOT NULL$/,
  );
  const quoted = rowBased("INSERT INTO d (a, c) VALUES (nextval('it''s'), 1)");
  assert.match(copyStatement(quoted, [["1", "x", "1"]]), /nextval\('it''s'\)/);
});

Deno.test("copyStatement: zero rows give INSERT 0 0, UPDATE 0, DELETE 0 and still advance", () => {
  assert.equal(
    copyStatement(rowBased("INSERT INTO d (a, b, c) VALUES (1, now()::text, 2)"), []),
    'INSERT INTO "public"."d" ("a") OVERRIDING SYSTEM VALUE SELECT NULL::integer WHERE false',
  );
  assert.equal(
    copyStatement(rowBased("INSERT INTO t (x) VALUES ('a') ON CONFLICT DO NOTHING"), []),
    'INSERT INTO "public"."t" ("id") OVERRIDING SYSTEM VALUE SELECT NULL::integer WHERE ' +
      "NOT ((SELECT count(pg_catalog.nextval('t_id_seq')) " +
      "FROM pg_catalog.generate_series(1, 1)) = 1)",
  );
  assert.equal(
    copyStatement(rowBased("INSERT INTO t (x) SELECT x FROM u"), []),
    'INSERT INTO "public"."t" ("id") OVERRIDING SYSTEM VALUE SELECT NULL::integer WHERE false',
  );
  assert.equal(
    copyStatement(rowBased("UPDATE t SET at = now(), x = 'a'"), []),
    'UPDATE "public"."t" SET "at" = "at" WHERE false',
  );
  assert.equal(
    copyStatement(rowBased("UPDATE ONLY t SET at = now()"), []),
    'UPDATE ONLY "public"."t" SET "at" = "at" WHERE false',
  );
  assert.equal(
    copyStatement(rowBased("DELETE FROM t WHERE at < now()"), []),
    'DELETE FROM "public"."t" WHERE false',
  );
});

Deno.test("copyStatement: ON CONFLICT DO UPDATE overwrites every column keyed by the primary key", () => {
  const p = rowBased(
    "INSERT INTO t AS y (x) VALUES ('a') ON CONFLICT (x) DO UPDATE SET n = y.n + 1",
  );
  assert.equal(
    copyStatement(p, [["5", "a", "3", "2020-01-01 00:00:00+00"]]),
    'INSERT INTO "public"."t" ("id", "x", "n", "at") OVERRIDING SYSTEM VALUE\n' +
      "SELECT '5'::integer, 'a'::text, '3'::integer, " +
      "'2020-01-01 00:00:00+00'::timestamp with time zone\n" +
      "WHERE pg_catalog.nextval('t_id_seq') IS NOT NULL\n" +
      'ON CONFLICT ("id") DO UPDATE SET "x" = EXCLUDED."x", "n" = EXCLUDED."n", ' +
      '"at" = EXCLUDED."at"',
  );
  const identity = rowBased(
    "INSERT INTO i (v) VALUES ('a') ON CONFLICT (id) DO UPDATE SET v = now()::text",
  );
  assert.match(
    copyStatement(identity, [["1", "a", "2"]]),
    /DO UPDATE SET "v" = EXCLUDED."v", "w" = EXCLUDED."w"$/,
  );
  const nothing = rowBased("INSERT INTO t (x) VALUES ('a') ON CONFLICT (x) DO NOTHING");
  assert.doesNotMatch(copyStatement(nothing, [["5", "a", "3", null]]), /ON CONFLICT/);
});

Deno.test("copyStatement: UPDATE joins VALUES on the primary key, one or several columns", () => {
  assert.equal(
    copyStatement(rowBased("UPDATE t SET at = now(), x = 'b' WHERE n = 1"), [
      ["1", "2020-01-01 00:00:00+00", "b"],
      ["2", "2020-01-01 00:00:00+00", null],
    ]),
    'UPDATE "public"."t" AS t SET "at" = v."at", "x" = v."x"\n' +
      "FROM (VALUES ('1'::integer, '2020-01-01 00:00:00+00'::timestamp with time zone, 'b'::text),\n" +
      "('2'::integer, '2020-01-01 00:00:00+00'::timestamp with time zone, NULL::text)) " +
      'AS v ("id", "at", "x")\n' +
      'WHERE t."id" = v."id"',
  );
  assert.equal(
    copyStatement(rowBased('UPDATE ONLY s."Mixed" SET "say ""hi""" = random()::text'), [
      ["eu", "1", "0.5"],
    ]),
    'UPDATE ONLY "s"."Mixed" AS t SET "say ""hi""" = v."say ""hi"""\n' +
      'FROM (VALUES (\'eu\'::text, \'1\'::integer, \'0.5\'::text)) AS v ("Region", "no", "say ""hi""")\n' +
      'WHERE t."Region" = v."Region" AND t."no" = v."no"',
  );
  const counted = rowBased("UPDATE d SET c = nextval('s') WHERE a < 10");
  assert.match(
    copyStatement(counted, [["1", "7"], ["2", "8"]]),
    /WHERE t."a" = v."a" AND \(SELECT count\(pg_catalog.nextval\('s'\)\) FROM pg_catalog.generate_series\(1, 2\)\) = 2$/,
  );
});

Deno.test("copyStatement: DELETE lists the primary keys of the deleted rows", () => {
  assert.equal(
    copyStatement(rowBased("DELETE FROM t WHERE at < now()"), [["1"], ["2"]]),
    'DELETE FROM "public"."t" WHERE "id" IN (\'1\'::integer, \'2\'::integer)',
  );
  assert.equal(
    copyStatement(rowBased('DELETE FROM ONLY s."Mixed" WHERE random() < 0.5'), [
      ["eu", "1"],
      ["us", "2"],
    ]),
    'DELETE FROM ONLY "s"."Mixed" WHERE ("Region", "no") IN ' +
      "(('eu'::text, '1'::integer), ('us'::text, '2'::integer))",
  );
});

Deno.test("copyStatement: rejects rows of the wrong width and a foreign template", () => {
  const p = rowBased("DELETE FROM t WHERE at < now()");
  assert.throws(() => copyStatement(p, [["1", "2"]]), RangeError);
  assert.throws(() => copyStatement({ ...p, template: "{" }, []), RangeError);
  assert.throws(() => copyStatement({ ...p, op: "update" }, []), RangeError);
});
