/**
 * @module
 * Unit tests of `src/replication/prepared.ts`: routes of statement classes, named and unnamed
 * statements, portals, Close, and SQL-level PREPARE / EXECUTE / DEALLOCATE.
 */

import assert from "node:assert/strict";
import { encodeParse } from "../../../src/protocol/mod.ts";
import { PreparedStatements, routeOf } from "../../../src/replication/prepared.ts";

Deno.test("routeOf: sends reads and original-only statements to the original, the rest to all", () => {
  assert.equal(routeOf("read"), "original");
  assert.equal(routeOf("originalOnly"), "original");
  assert.equal(routeOf("write"), "all");
  assert.equal(routeOf("session"), "all");
  assert.equal(routeOf("transaction"), "all");
});

Deno.test("prepared statements: keep the route and the retained Parse of each statement", () => {
  const p = new PreparedStatements();
  const parse = encodeParse("s1", "insert into t values ($1)");
  p.parsed("s1", "all", parse);
  const s = p.statement("s1");
  assert.equal(s?.route, "all");
  assert.equal(s?.parse, parse);
  assert.equal(p.statement("s2"), undefined);
});

Deno.test("prepared statements: replace a statement parsed again under the same name", () => {
  const p = new PreparedStatements();
  const first = encodeParse("", "insert into t values (1)");
  const second = encodeParse("", "select 1");
  p.parsed("", "all", first);
  p.parsed("", "original", second);
  assert.equal(p.statement("")?.route, "original");
  assert.equal(p.statement("")?.parse, second);
});

Deno.test("prepared statements: bind a portal with its statement's route", () => {
  const p = new PreparedStatements();
  p.parsed("r", "original", encodeParse("r", "select 1"));
  p.parsed("w", "all", encodeParse("w", "delete from t"));
  assert.equal(p.bound("", "r"), "original");
  assert.equal(p.portal(""), "original");
  assert.equal(p.bound("c1", "w"), "all");
  assert.equal(p.portal("c1"), "all");
  // Rebinding the unnamed portal replaces it.
  assert.equal(p.bound("", "w"), "all");
  assert.equal(p.portal(""), "all");
});

Deno.test("prepared statements: route to all when the statement or portal is unknown", () => {
  const p = new PreparedStatements();
  assert.equal(p.bound("p", "missing"), "all");
  assert.equal(p.portal("p"), "all");
  assert.equal(p.portal("never-bound"), "all");
});

Deno.test("prepared statements: forget a statement or a portal on Close", () => {
  const p = new PreparedStatements();
  p.parsed("s", "original", encodeParse("s", "select 1"));
  p.bound("p", "s");
  p.closed("P", "p");
  assert.equal(p.portal("p"), "all");
  assert.equal(p.statement("s")?.route, "original");
  p.bound("p", "s");
  p.closed("S", "s");
  assert.equal(p.statement("s"), undefined);
  // Closing a statement leaves its portals (as PostgreSQL does).
  assert.equal(p.portal("p"), "original");
});

Deno.test("prepared statements: keep the class of SQL PREPARE for EXECUTE", () => {
  const p = new PreparedStatements();
  p.sqlPrepared("q", "read");
  p.sqlPrepared("w", "write");
  assert.equal(p.sqlExecuteClass("q"), "read");
  assert.equal(p.sqlExecuteClass("w"), "write");
  assert.equal(p.sqlExecuteClass("unknown"), "write");
});

Deno.test("prepared statements: keep quoted names that differ only in case apart", () => {
  // The parser folds unquoted names, so `PREPARE foo` and `PREPARE "Foo"` are two statements.
  const p = new PreparedStatements();
  p.sqlPrepared("foo", "write");
  p.sqlPrepared("Foo", "read");
  assert.equal(p.sqlExecuteClass("foo"), "write");
  assert.equal(p.sqlExecuteClass("Foo"), "read");
  p.sqlDeallocated("Foo");
  assert.equal(p.sqlExecuteClass("foo"), "write");
});

Deno.test("prepared statements: forget SQL PREPAREs on DEALLOCATE and DEALLOCATE ALL", () => {
  const p = new PreparedStatements();
  p.sqlPrepared("a", "read");
  p.sqlPrepared("b", "read");
  p.sqlDeallocated("a");
  assert.equal(p.sqlExecuteClass("a"), "write");
  assert.equal(p.sqlExecuteClass("b"), "read");
  p.sqlDeallocated(null);
  assert.equal(p.sqlExecuteClass("b"), "write");
});
