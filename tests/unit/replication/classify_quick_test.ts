import assert from "node:assert/strict";
import { Classifier, initClassifier } from "../../../src/replication/mod.ts";
import { quickClassify } from "../../../src/replication/_classify_quick.ts";

await initClassifier();

const SAFE = [
  "BEGIN;",
  "begin",
  "END;",
  "COMMIT",
  "ROLLBACK;",
  "abort",
  "start transaction",
  "SELECT abalance FROM pgbench_accounts WHERE aid = 41273;",
  "select 1",
  "UPDATE pgbench_accounts SET abalance = abalance + -4010 WHERE aid = 41273;",
  "UPDATE pgbench_tellers SET tbalance = tbalance + 12 WHERE tid = 3",
  "DELETE FROM t WHERE id = 5",
  "delete from t using u where t.id = u.id",
];

const RISKY = [
  "SELECT now()",
  "SELECT * FROM t FOR UPDATE",
  "SELECT a INTO b FROM t",
  "UPDATE t SET at = CURRENT_TIMESTAMP WHERE id = 1",
  "UPDATE t SET v = 1 WHERE CURRENT OF c",
  "UPDATE t SET v = u.v FROM u WHERE t.id = u.id",
  "UPDATE t SET v = DEFAULT",
  "DELETE FROM t WHERE ctid = '(0,1)'",
  "UPDATE t SET v = 'now'",
  "UPDATE t SET v = 1; DELETE FROM t",
  "UPDATE t SET v = 1 -- comment",
  "UPDATE t SET v = 1 RETURNING *",
  "BEGIN ISOLATION LEVEL SERIALIZABLE",
  "INSERT INTO t VALUES (1)",
  "SET search_path TO x",
];

Deno.test("quickClassify: agrees with PostgreSQL's parser on the statements it recognises", () => {
  const parser = new Classifier({ cacheSize: 0 });
  for (const sql of SAFE) {
    const quick = quickClassify(sql);
    assert.ok(quick, `recognised: ${sql}`);
    // A trailing comment sends the same statement through the parser.
    const parsed = parser.classify(`${sql} /* parser */`);
    assert.equal(quick.class, parsed.class, sql);
    assert.equal(quick.hasWrite, parsed.hasWrite, sql);
    assert.equal(quick.statements.length, 1, sql);
    const [q, p] = [quick.statements[0]!, parsed.statements[0]!];
    assert.equal(q.node, p.node, sql);
    assert.equal(q.transaction, p.transaction, sql);
    assert.equal(q.text, p.text.replace(/\s*\/\* parser \*\/$/, ""), sql);
  }
});

Deno.test("quickClassify: leaves to the parser anything that could compute a value or change class", () => {
  for (const sql of RISKY) assert.equal(quickClassify(sql), undefined, sql);
});

Deno.test("quickClassify: marks recognised writes deterministic, so the planner skips them", () => {
  const c = quickClassify("UPDATE a SET b = b + 1 WHERE id = 2")!;
  assert.equal(c.statements[0]!.deterministic, true);
  assert.equal(quickClassify("SELECT 1")!.statements[0]!.deterministic, undefined);
});

Deno.test("quickClassify: a transaction statement longer than 40 characters goes to the parser, which still knows it", () => {
  const padded = `START${" ".repeat(40)}TRANSACTION;`;
  assert.equal(quickClassify(padded), undefined);
  assert.equal(quickClassify("  start   transaction ;")?.statements[0]?.transaction, "begin");
  const c = new Classifier().classify(padded);
  assert.equal(c.class, "transaction");
  assert.equal(c.statements[0]?.transaction, "begin");
});
