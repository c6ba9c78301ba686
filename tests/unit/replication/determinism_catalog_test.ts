/**
 * @module
 * Unit tests of the catalog side of row-based replication (`src/replication/determinism.ts`): the
 * catalog query's text, TableInfo built from its rows, and the plan cache (by text, table content
 * and options).
 */

import assert from "node:assert/strict";
import { initClassifier } from "../../../src/replication/classify.ts";
import {
  catalogQuery,
  parseCatalogRows,
  planStatement,
  type TableInfo,
} from "../../../src/replication/determinism.ts";
import { T } from "./_determinism_tables.ts";

await initClassifier();

Deno.test("catalogQuery: names the relation once, as a quoted literal given to to_regclass", () => {
  const sql = catalogQuery('"s"."it\'s"');
  assert.match(sql, /WHERE c\.oid = pg_catalog\.to_regclass\('"s"\."it''s"'\)/);
  assert.match(sql, /ORDER BY a\.attnum$/);
  assert.match(sql, /NOT a\.attisdropped/);
  for (const column of ["attname", "type", "attgenerated", "attidentity", '"default"']) {
    assert.ok(sql.includes(column), column);
  }
  assert.equal(catalogQuery("t"), catalogQuery("t"));
  assert.notEqual(catalogQuery("t"), catalogQuery("u"));
  assert.ok(catalogQuery("Ab.Ü_$1").includes("to_regclass('Ab.Ü_$1')"));
  assert.ok(catalogQuery('"a\\b"').includes(`to_regclass(E'"a\\\\b"')`));
  for (const bad of ["bad name!", "a.b.c.d", "", '"', '"a"b', "1a", "a.", "a;drop"]) {
    assert.match(catalogQuery(bad), /WHERE c\.oid = NULL::pg_catalog\.regclass/, bad);
  }
});

Deno.test("parseCatalogRows: builds the table from text rows", () => {
  const rows = [
    [
      "id",
      "integer",
      "",
      "",
      "nextval('t_id_seq'::regclass)",
      "public.t_id_seq",
      "t",
      "public",
      "t",
    ],
    ["x", "text", "", "", null, null, "f", "public", "t"],
    ["n", "bigint", "", "a", null, "public.t_n_seq", "f", "public", "t"],
    ["g", "bigint", "s", "", "(n * 10)", null, "f", "public", "t"],
  ];
  assert.deepEqual(parseCatalogRows(rows), {
    relation: '"public"."t"',
    columns: [
      {
        name: "id",
        type: "integer",
        generated: false,
        identity: "",
        defaultExpr: "nextval('t_id_seq'::regclass)",
        sequence: "public.t_id_seq",
        primaryKey: true,
      },
      {
        name: "x",
        type: "text",
        generated: false,
        identity: "",
        defaultExpr: null,
        sequence: null,
        primaryKey: false,
      },
      {
        name: "n",
        type: "bigint",
        generated: false,
        identity: "a",
        defaultExpr: null,
        sequence: "public.t_n_seq",
        primaryKey: false,
      },
      {
        name: "g",
        type: "bigint",
        generated: true,
        identity: "",
        defaultExpr: "(n * 10)",
        sequence: null,
        primaryKey: false,
      },
    ],
  });
});

Deno.test("parseCatalogRows: quotes the catalog's names; no rows is no table", () => {
  const rows = [["Id", "integer", "", "d", null, '"My"."T_Id_seq"', "t", "My", 'T"x']];
  assert.equal(parseCatalogRows(rows)?.relation, '"My"."T""x"');
  assert.equal(parseCatalogRows([]), undefined);
});

Deno.test("parseCatalogRows: names a temporary table's schema pg_temp, as every server knows it", () => {
  const table = parseCatalogRows([
    [
      "id",
      "integer",
      "",
      "",
      "nextval('tmp_id_seq'::regclass)",
      "pg_temp_3.tmp_id_seq",
      "t",
      "pg_temp_3",
      "tmp",
    ],
  ]);
  assert.equal(table?.relation, '"pg_temp"."tmp"');
  assert.equal(table?.columns[0]?.sequence, "pg_temp.tmp_id_seq");
  const lookalike = parseCatalogRows([["a", "integer", "", "", null, null, "f", "pg_temp_x", "t"]]);
  assert.equal(lookalike?.relation, '"pg_temp_x"."t"');
});

Deno.test("parseCatalogRows: rejects rows that are not the query's", () => {
  assert.throws(() => parseCatalogRows([["id", "integer"]]), RangeError);
  assert.throws(
    () => parseCatalogRows([[null, "integer", "", "", null, null, "f", "public", "t"]]),
    RangeError,
  );
  assert.throws(
    () => parseCatalogRows([["id", "integer", "", "x", null, null, "f", "public", "t"]]),
    RangeError,
  );
});

Deno.test("planStatement: caches by text, table content and options", () => {
  const sql = "UPDATE t SET at = now() WHERE id = 1";
  const a = planStatement(sql, T);
  assert.equal(planStatement(sql, T), a);
  assert.equal(planStatement(sql, { ...T }), a); // same content, another object
  const noKey: TableInfo = {
    ...T,
    columns: T.columns.map((c) => ({ ...c, primaryKey: false })),
  };
  assert.equal(planStatement(sql, noKey).kind, "unsafe");
  assert.equal(planStatement(sql, T, { unknownFunctions: "mark_stale" }).kind, "rowBased");
  const trusted = "UPDATE t SET x = app.f(x)";
  assert.equal(planStatement(trusted, undefined).kind, "unsafe");
  assert.equal(
    planStatement(trusted, undefined, { deterministicFunctions: ["app.f"] }).kind,
    "asIs",
  );
  assert.equal(planStatement(trusted, undefined).kind, "unsafe");
  assert.ok(Object.isFrozen(a));
});

Deno.test("planStatement: a default judged under one option set is not reused under another", () => {
  const table: TableInfo = {
    relation: '"public"."k"',
    columns: [
      { ...T.columns[0]!, defaultExpr: null, sequence: null },
      { ...T.columns[1]!, defaultExpr: "app.key()" },
    ],
  };
  const sql = "INSERT INTO k (id) VALUES (1)";
  assert.equal(planStatement(sql, table).kind, "unsafe");
  assert.equal(planStatement(sql, table, { deterministicFunctions: ["app.key"] }).kind, "asIs");
  assert.equal(planStatement(sql, table, { unknownFunctions: "trust" }).kind, "rowBased");
});

Deno.test("planStatement: does not cache texts over 64 KiB", () => {
  // A multi-megabyte statement is unlikely to come again: planned afresh, equal, not the same.
  const long = `UPDATE t SET at = now() WHERE x IN (${"'a', ".repeat(20_000)}'b')`;
  const first = planStatement(long, T);
  assert.equal(first.kind, "rowBased");
  assert.notEqual(planStatement(long, T), first);
  assert.deepEqual(planStatement(long, T), first);
});
