/**
 * @module
 * Unit tests of the statement fields of a classification (`src/replication/classify.ts`): text
 * slicing by UTF-8 byte offsets, node types, transaction actions, PREPARE, EXECUTE, DEALLOCATE and
 * temporary objects.
 */

import assert from "node:assert/strict";
import { Classifier, initClassifier } from "../../../src/replication/classify.ts";

await initClassifier();

const classifier = new Classifier();

Deno.test("classify: statements are sliced by UTF-8 byte offsets when text is multibyte", () => {
  const result = classifier.classify("select 'é'; insert into t values ('ü')");
  assert.equal(result.class, "write");
  assert.deepEqual(
    result.statements.map((s) => [s.node, s.class, s.text]),
    [["SelectStmt", "read", "select 'é'"], ["InsertStmt", "write", "insert into t values ('ü')"]],
  );
});

Deno.test("classify: statements are sliced without semicolons and outer whitespace", () => {
  const result = classifier.classify("  select 1 ;\n  -- note\n update t set a = '日本語😀' ;  ");
  assert.deepEqual(result.statements.map((s) => s.text), [
    "select 1",
    "-- note\n update t set a = '日本語😀'",
  ]);
  const three = classifier.classify("select '😀';select 2;select 'ß'");
  assert.deepEqual(three.statements.map((s) => s.text), ["select '😀'", "select 2", "select 'ß'"]);
});

Deno.test("classify: each statement names its parse node", () => {
  const result = classifier.classify("show a; set a = 1; vacuum; listen c; begin");
  assert.deepEqual(result.statements.map((s) => s.node), [
    "VariableShowStmt",
    "VariableSetStmt",
    "VacuumStmt",
    "ListenStmt",
    "TransactionStmt",
  ]);
});

Deno.test("classify: transaction statements carry their action", () => {
  const actions = classifier.classify(
    "begin; start transaction; commit; end; rollback; abort; savepoint a; release a; " +
      "rollback to a; prepare transaction 'g'; commit prepared 'g'; rollback prepared 'g'; " +
      "commit and chain",
  ).statements.map((s) => s.transaction);
  assert.deepEqual(actions, [
    "begin",
    "begin",
    "commit",
    "commit",
    "rollback",
    "rollback",
    "savepoint",
    "release",
    "rollbackTo",
    "prepare",
    "commitPrepared",
    "rollbackPrepared",
    "commit",
  ]);
});

Deno.test("classify: PREPARE carries the name and the class of the prepared statement", () => {
  const prepared = (sql: string) => classifier.classify(sql).statements[0]?.prepare;
  assert.deepEqual(prepared("prepare q as select 1"), { name: "q", class: "read" });
  assert.deepEqual(prepared("prepare q (int) as insert into t values ($1)"), {
    name: "q",
    class: "write",
  });
  assert.deepEqual(prepared("prepare q as select nextval('s')"), { name: "q", class: "write" });
  assert.deepEqual(prepared("prepare q as select * from t for share"), {
    name: "q",
    class: "write",
  });
  assert.equal(classifier.classify("prepare q as delete from t").hasWrite, false);
});

Deno.test("classify: EXECUTE and DEALLOCATE carry the statement name", () => {
  const execute = classifier.classify("execute q (1, 'a')").statements[0];
  assert.equal(execute?.class, "write");
  assert.equal(execute?.execute, "q");
  assert.equal(classifier.classify("deallocate q").statements[0]?.deallocate, "q");
  assert.equal(classifier.classify("deallocate prepare q").statements[0]?.deallocate, "q");
  assert.equal(classifier.classify("deallocate all").statements[0]?.deallocate, null);
  assert.equal(classifier.classify("explain analyze execute q").statements[0]?.execute, "q");
});

Deno.test("classify: temporary objects are marked when created", () => {
  const temporary = (sql: string) => classifier.classify(sql).statements[0]?.temporary;
  assert.equal(temporary("create temp table tt (a int)"), true);
  assert.equal(temporary("create temporary table tt as select 1"), true);
  assert.equal(temporary("create temp view tv as select 1"), true);
  assert.equal(temporary("create temp sequence ts"), true);
  assert.equal(temporary("select * into temp tt from t"), true);
  assert.equal(temporary("create table t (a int)"), undefined);
  assert.equal(temporary("create unlogged table t (a int)"), undefined);
  assert.equal(classifier.classify("create temp table tt (a int)").class, "write");
});
