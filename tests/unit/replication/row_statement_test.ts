/**
 * @module
 * Unit tests of the copies' prepared row statements (`src/replication/row_statement.ts`): the
 * parameterised text per plan shape and row count, the parameters in order, the Parse sent once
 * per connection and again after the connection forgot its statements, the literal fallback, and
 * how `copyMessages` uses them for an Execute and for a simple Query alone in its batch.
 */

import assert from "node:assert/strict";
import { initClassifier } from "../../../src/replication/classify.ts";
import { copyStatement } from "../../../src/replication/determinism.ts";
import {
  MAX_PARAMETERISED_ROWS,
  parameterisedStatement,
  RowStatements,
} from "../../../src/replication/row_statement.ts";
import { copyMessages } from "../../../src/replication/mirror.ts";
import type { BatchEntry } from "../../../src/replication/batch.ts";
import { decodeFrontend } from "../../../src/protocol/frontend.ts";
import { rowBased } from "./_determinism_tables.ts";

await initClassifier();

const utf8 = new TextDecoder();

/** The statement name and SQL of a Parse, or the statement and parameters of a Bind. */
function describe(raw: Uint8Array): string {
  const bytes = raw.slice();
  const m = decodeFrontend({ code: bytes[0]!, bytes });
  switch (m.type) {
    case "Parse":
      return `Parse ${m.statement}: ${m.sql}`;
    case "Bind":
      return `Bind ${m.statement}`;
    default:
      return m.type;
  }
}

Deno.test("parameterisedStatement: one row of an INSERT with a serial key", () => {
  const p = rowBased("INSERT INTO t (x) VALUES ('a')");
  const s = parameterisedStatement(p, [["7", "a", "0", "2020-01-01 00:00:00+00"]]);
  assert.deepEqual(s, {
    sql: 'INSERT INTO "public"."t" ("id", "x", "n", "at") OVERRIDING SYSTEM VALUE\n' +
      "SELECT $1::integer, $2::text, $3::integer, $4::timestamp with time zone\n" +
      "WHERE pg_catalog.nextval('t_id_seq') IS NOT NULL",
    params: ["7", "a", "0", "2020-01-01 00:00:00+00"],
  });
  // The literal form is the same statement with the values written in.
  assert.equal(
    copyStatement(p, [["7", "a", "0", null]]),
    'INSERT INTO "public"."t" ("id", "x", "n", "at") OVERRIDING SYSTEM VALUE\n' +
      "SELECT '7'::integer, 'a'::text, '0'::integer, NULL::timestamp with time zone\n" +
      "WHERE pg_catalog.nextval('t_id_seq') IS NOT NULL",
  );
});

Deno.test("parameterisedStatement: the text depends on the shape and row count, not the values", () => {
  const one = rowBased("INSERT INTO t (x) VALUES ('a')");
  const other = rowBased("INSERT INTO t (x) VALUES ('b')");
  const a = parameterisedStatement(one, [["1", "a", "0", null]]);
  const b = parameterisedStatement(other, [["2", "it's", null, "now"]]);
  assert.equal(a?.sql, b?.sql);
  assert.deepEqual(b?.params, ["2", "it's", null, "now"]);
  const two = parameterisedStatement(rowBased("INSERT INTO t (x) VALUES ('a'), ('b')"), [
    ["1", "a", "0", null],
    ["2", "b", "0", null],
  ]);
  assert.match(two?.sql ?? "", /\(VALUES \(\$1::integer, .*\),\n\(\$5::integer, .*\$8::timestamp/);
  assert.match(two?.sql ?? "", /generate_series\(1, 2\)\) = 2$/);
});

Deno.test("parameterisedStatement: UPDATE and DELETE bind their keys and values", () => {
  const update = parameterisedStatement(rowBased("UPDATE t SET at = now() WHERE x = 'a'"), [
    ["1", "2020-01-01 00:00:00+00"],
  ]);
  assert.match(
    update?.sql ?? "",
    /FROM \(VALUES \(\$1::integer, \$2::timestamp with time zone\)\)/,
  );
  assert.deepEqual(update?.params, ["1", "2020-01-01 00:00:00+00"]);
  const del = parameterisedStatement(rowBased("DELETE FROM t WHERE at < now()"), [["1"], ["2"]]);
  assert.equal(del?.sql, 'DELETE FROM "public"."t" WHERE "id" IN ($1::integer, $2::integer)');
  assert.deepEqual(del?.params, ["1", "2"]);
});

Deno.test("parameterisedStatement: with returning, the copy gives back the added columns", () => {
  const insert = rowBased("INSERT INTO t (x) VALUES ('a')");
  const rows = [["7", "a", "0", null]];
  assert.match(
    parameterisedStatement(insert, rows, true)?.sql ?? "",
    /IS NOT NULL\nRETURNING "id", "x", "n", "at"$/,
  );
  assert.doesNotMatch(parameterisedStatement(insert, rows)?.sql ?? "", /RETURNING/);
  // The UPDATE joins a VALUES list whose columns have the same names: the table's are named.
  const update = rowBased("UPDATE t SET at = now() WHERE x = 'a'");
  assert.match(
    parameterisedStatement(update, [["1", null]], true)?.sql ?? "",
    /\nRETURNING t\."id", t\."at"$/,
  );
  assert.match(
    copyStatement(rowBased("DELETE FROM t WHERE at < now()"), [["1"]], true),
    /\nRETURNING "id"$/,
  );
});

Deno.test("parameterisedStatement: no rows or too many rows use the literal form", () => {
  const p = rowBased("INSERT INTO t (x) SELECT x FROM u");
  assert.equal(parameterisedStatement(p, []), undefined);
  const many = Array.from(
    { length: MAX_PARAMETERISED_ROWS + 1 },
    (_, i) => [String(i), "x", "0", null],
  );
  assert.equal(parameterisedStatement(p, many), undefined);
  assert.ok(parameterisedStatement(p, many.slice(1)));
  assert.throws(() => parameterisedStatement(p, [["1"]]), RangeError);
});

Deno.test("RowStatements: parses a shape once, binds it after, parses again once forgotten", () => {
  const statements = new RowStatements();
  const p = rowBased("INSERT INTO t (x) VALUES ('a')");
  const first = statements.messages(p, [["1", "a", "0", null]], 3) ?? [];
  assert.deepEqual(first.map((m) => describe(m.bytes).replace(/:.*/s, "")), [
    "Parse usogres_row_1",
    "Bind usogres_row_1",
    "Execute",
  ]);
  assert.deepEqual(first.map((m) => m.source), [-1, -1, 3]);
  const second = statements.messages(rowBased("INSERT INTO t (x) VALUES ('b')"), [
    ["2", "b", "0", null],
  ], 0) ?? [];
  assert.deepEqual(second.map((m) => describe(m.bytes)), ["Bind usogres_row_1", "Execute"]);
  // Another row count is another statement.
  const two = statements.messages(rowBased("INSERT INTO t (x) VALUES ('a'), ('b')"), [
    ["3", "a", "0", null],
    ["4", "b", "0", null],
  ], 0) ?? [];
  assert.equal(describe(two[0]!.bytes).replace(/:.*/s, ""), "Parse usogres_row_2");
  assert.equal(statements.size, 2);
  statements.forget();
  assert.equal(statements.size, 0);
  const again = statements.messages(p, [["5", "a", "0", null]], 0) ?? [];
  assert.match(describe(again[0]!.bytes), /^Parse usogres_row_3: INSERT INTO/);
});

Deno.test("copyMessages: a row-based Execute becomes Bind and Execute of the prepared statement", () => {
  const p = rowBased("INSERT INTO t (x) VALUES ($1)");
  const entries: BatchEntry[] = [
    { kind: "Bind", bytes: new Uint8Array([66]), statement: "s", rowPlan: p },
    {
      kind: "Execute",
      bytes: new Uint8Array([69]),
      rowPlan: p,
      captured: [[["1", "a", "0", null]]],
    },
    { kind: "Sync", bytes: new Uint8Array([83, 0, 0, 0, 4]) },
  ];
  const statements = new RowStatements();
  const out = copyMessages(entries, statements);
  assert.deepEqual(out.map((m) => [m.kind, m.source]), [
    ["Parse", -1],
    ["Bind", -1],
    ["Execute", 1],
    ["Sync", 2],
  ]);
  assert.deepEqual(copyMessages(entries, statements).map((m) => m.kind), [
    "Bind",
    "Execute",
    "Sync",
  ]);
  // Without the connection's statements (the journal): the literal form, parsed unnamed.
  const literal = copyMessages(entries);
  assert.match(describe(literal[0]!.bytes), /^Parse : INSERT INTO .*'1'::integer/s);
});

Deno.test("copyMessages: a simple Query of one row-based statement alone becomes Parse/Bind/Execute/Sync", () => {
  const p = rowBased("INSERT INTO t (x) VALUES ('a')");
  const query: BatchEntry = {
    kind: "Query",
    bytes: new Uint8Array([81]),
    statements: [{ class: "write", node: "InsertStmt", text: "INSERT INTO t (x) VALUES ('a')" }],
    rowPlans: [p],
    captured: [[["1", "a", "0", null]]],
  };
  const statements = new RowStatements();
  assert.deepEqual(copyMessages([query], statements).map((m) => [m.kind, m.source]), [
    ["Parse", -1],
    ["Bind", -1],
    ["Execute", 0],
    ["Sync", -1],
  ]);
  // Not alone in its batch (a Query inside an extended batch): the literal Query.
  const sync: BatchEntry = { kind: "Sync", bytes: new Uint8Array([83, 0, 0, 0, 4]) };
  const inBatch = copyMessages([query, sync], statements);
  assert.deepEqual(inBatch.map((m) => m.kind), ["Query", "Sync"]);
  assert.match(utf8.decode(inBatch[0]!.bytes), /'1'::integer/);
});
