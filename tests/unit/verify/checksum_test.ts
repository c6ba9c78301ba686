/**
 * @module
 * Unit tests of `src/verify/checksum.ts`, the SQL `usogres verify` sends: identifier and literal
 * quoting (names that need quotes, quotes and backslashes inside, NUL), key range conditions for
 * one- and multi-column keys, the keyset walk, and the chunk checksum with and without a key.
 * The integration test runs the same SQL on real servers.
 */

import assert from "node:assert/strict";
import {
  BEGIN_SNAPSHOT_SQL,
  CANONICAL_SETTINGS,
  chunkBoundsSql,
  chunkChecksumSql,
  columnsSql,
  keyColumnsSql,
  listTablesSql,
  qualifiedName,
  quoteIdent,
  quoteLiteral,
  rangeCondition,
  resolveTableSql,
} from "../../../src/verify/checksum.ts";

const accounts = { schema: "public", name: "accounts" };
const weird = { schema: 'My "Schema"', name: "order items" };

Deno.test("quoteIdent: always double-quotes and doubles embedded quotes", () => {
  assert.equal(quoteIdent("id"), '"id"');
  assert.equal(quoteIdent("Id"), '"Id"');
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteIdent("select"), '"select"');
  assert.equal(quoteIdent(""), '""');
});

Deno.test("quoteIdent: rejects NUL", () => {
  assert.throws(() => quoteIdent("a\0b"), TypeError);
});

Deno.test("quoteLiteral: doubles quotes, and uses E'' when there are backslashes", () => {
  assert.equal(quoteLiteral("abc"), "'abc'");
  assert.equal(quoteLiteral("O'Reilly"), "'O''Reilly'");
  assert.equal(quoteLiteral("a\\b"), "E'a\\\\b'");
  assert.equal(quoteLiteral("'\\'"), "E'''\\\\'''");
  assert.equal(quoteLiteral(""), "''");
  assert.throws(() => quoteLiteral("\0"), TypeError);
});

Deno.test("qualifiedName: quotes schema and name separately", () => {
  assert.equal(qualifiedName(accounts), '"public"."accounts"');
  assert.equal(qualifiedName(weird), '"My ""Schema"""."order items"');
});

Deno.test("rangeCondition: one-column key compares the column with literals", () => {
  assert.equal(
    rangeCondition(["id"], { after: ["1000"], upTo: ["2000"] }),
    `"id" > '1000' AND "id" <= '2000'`,
  );
  assert.equal(rangeCondition(["id"], { after: undefined, upTo: ["2000"] }), `"id" <= '2000'`);
  assert.equal(rangeCondition(["id"], { after: ["1000"], upTo: undefined }), `"id" > '1000'`);
});

Deno.test("rangeCondition: multi-column key uses a row comparison", () => {
  assert.equal(
    rangeCondition(["a", "B"], { after: ["x", "1"], upTo: ["it's", "2"] }),
    `("a", "B") > ('x', '1') AND ("a", "B") <= ('it''s', '2')`,
  );
});

Deno.test("rangeCondition: is TRUE when open at both ends", () => {
  assert.equal(rangeCondition(["id"], { after: undefined, upTo: undefined }), "TRUE");
});

Deno.test("rangeCondition: throws RangeError when a bound does not match the key", () => {
  assert.throws(() => rangeCondition(["a", "b"], { after: ["1"], upTo: undefined }), RangeError);
});

Deno.test("chunkBoundsSql: first chunk walks from the start, OFFSET is rows - 1", () => {
  assert.equal(
    chunkBoundsSql(accounts, ["id"], undefined, 1000),
    `(SELECT 'first', "id" FROM ONLY "public"."accounts" WHERE TRUE ORDER BY "id" LIMIT 1) ` +
      `UNION ALL (SELECT 'last', "id" FROM ONLY "public"."accounts" WHERE TRUE ORDER BY "id" ` +
      `LIMIT 1 OFFSET 999)`,
  );
});

Deno.test("chunkBoundsSql: later chunks start after the previous last key (multi-column)", () => {
  const sql = chunkBoundsSql(weird, ["region", "Id"], ["eu", "42"], 10);
  assert.ok(sql.includes(`FROM ONLY "My ""Schema"""."order items"`), sql);
  assert.ok(sql.includes(`WHERE ("region", "Id") > ('eu', '42') ORDER BY "region", "Id"`), sql);
  assert.ok(sql.endsWith("LIMIT 1 OFFSET 9)"), sql);
});

Deno.test("chunkBoundsSql: rejects a chunk size that is not a positive integer", () => {
  assert.throws(() => chunkBoundsSql(accounts, ["id"], undefined, 0), RangeError);
  assert.throws(() => chunkBoundsSql(accounts, ["id"], undefined, 1.5), RangeError);
});

Deno.test("chunkChecksumSql: with a key, hashes rows in key order within the range", () => {
  const columns = [{ name: "id", type: "integer" }, { name: "Owner", type: "text" }];
  assert.equal(
    chunkChecksumSql(accounts, columns, ["id"], { after: ["0"], upTo: ["100"] }),
    `SELECT count(*), pg_catalog.md5(string_agg(pg_catalog.md5(ROW("id", "Owner")::text), '' ` +
      `ORDER BY "id")) FROM ONLY "public"."accounts" WHERE "id" > '0' AND "id" <= '100'`,
  );
});

Deno.test("chunkChecksumSql: without a key, the whole table is one chunk sorted by row hash", () => {
  const columns = [{ name: "x", type: "json" }];
  const sql = chunkChecksumSql(weird, columns, [], { after: ["ignored"], upTo: undefined });
  assert.equal(
    sql,
    `SELECT count(*), pg_catalog.md5(string_agg(h, '' ORDER BY h COLLATE "C")) FROM (SELECT ` +
      `pg_catalog.md5(ROW("x")::text) AS h FROM ONLY "My ""Schema"""."order items") r`,
  );
});

Deno.test("chunkChecksumSql: a column named like the alias stays a column (names are quoted)", () => {
  const columns = [{ name: "h", type: "text" }, { name: "r", type: "int" }];
  const sql = chunkChecksumSql(accounts, columns, [], { after: undefined, upTo: undefined });
  assert.ok(sql.includes(`ROW("h", "r")`), sql);
});

Deno.test("catalog queries: names are literals, never spliced as SQL", () => {
  const evil = { schema: "s'; DROP TABLE t; --", name: "n\\x" };
  for (const sql of [columnsSql(evil), keyColumnsSql(evil)]) {
    assert.ok(sql.includes(`n.nspname = 's''; DROP TABLE t; --'`), sql);
    assert.ok(sql.includes(`c.relname = E'n\\\\x'`), sql);
  }
  const resolved = resolveTableSql(`x'); DROP TABLE y; --`);
  assert.ok(resolved.includes(`to_regclass('x''); DROP TABLE y; --')`), resolved);
});

Deno.test("keyColumnsSql: prefers the primary key, then unique indexes on NOT NULL columns", () => {
  const sql = keyColumnsSql(accounts);
  assert.ok(sql.includes("i.indisunique AND i.indisvalid"), sql);
  assert.ok(sql.includes("i.indpred IS NULL AND i.indexprs IS NULL"), sql);
  assert.ok(sql.includes("NOT na.attnotnull"), sql);
  assert.ok(sql.includes("ORDER BY i.indisprimary DESC, i.indnkeyatts"), sql);
  assert.ok(sql.includes("k.ord <= best.indnkeyatts"), sql);
});

Deno.test("listTablesSql: only leaf tables outside the system schemas", () => {
  const sql = listTablesSql();
  assert.ok(sql.includes("c.relkind = 'r'"), sql);
  assert.ok(sql.includes("n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"), sql);
});

Deno.test("snapshot and settings: read-only repeatable read, canonical text output", () => {
  assert.ok(BEGIN_SNAPSHOT_SQL.startsWith("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  assert.equal(CANONICAL_SETTINGS.get("TimeZone"), "UTC");
  assert.equal(CANONICAL_SETTINGS.get("extra_float_digits"), "3");
  assert.equal(CANONICAL_SETTINGS.get("client_encoding"), "UTF8");
});
