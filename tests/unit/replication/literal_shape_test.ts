import assert from "node:assert/strict";
import { Classifier, initClassifier, planStatement } from "../../../src/replication/mod.ts";
import { literalShape } from "../../../src/replication/_literal_shape.ts";

await initClassifier();

Deno.test("literalShape: replaces numbers that stand on their own, and nothing else", () => {
  assert.equal(
    literalShape("INSERT INTO h (tid, aid, delta) VALUES (7, 41273, -4010);"),
    "INSERT INTO h (tid, aid, delta) VALUES ($, $, -$);",
  );
  assert.equal(
    literalShape("select t1.a from t1 where x = 1.5e3 and y=2."),
    "select t1.a from t1 where x = $ and y=$",
  );
  assert.equal(
    literalShape("UPDATE t2 SET v = v + 1 WHERE id = 10"),
    "UPDATE t2 SET v = v + $ WHERE id = $",
  );
});

Deno.test("literalShape: no shape for texts without numbers or where one could hide", () => {
  for (
    const sql of [
      "SELECT a FROM t",
      "SELECT '1'",
      'SELECT "1" FROM t',
      "SELECT $1",
      "SELECT $$1$$",
      "SELECT 1 -- 2",
      "SELECT 1 /* 2 */",
      "SELECT E'\\\\1'",
      "SELECT 1, 'é'",
      "SELECT é1 FROM t WHERE x = 1",
      "EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 1",
    ]
  ) {
    assert.equal(literalShape(sql), undefined, sql);
  }
});

const VARIANTS: readonly (readonly string[])[] = [
  [
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 41273, -4010, CURRENT_TIMESTAMP);",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (10, 2, 5, -4999, CURRENT_TIMESTAMP);",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, -1.5e3, CURRENT_TIMESTAMP);",
  ],
  [
    "  UPDATE pgbench_branches SET bbalance = bbalance + abs(-1) WHERE bid = 1 ; ",
    "  UPDATE pgbench_branches SET bbalance = bbalance + abs(-300) WHERE bid = 22 ; ",
  ],
  ["SELECT nextval(5)", "SELECT nextval(123456)"],
  [
    "SELECT a FROM t WHERE id IN (1, 2) FOR UPDATE",
    "SELECT a FROM t WHERE id IN (30, 40) FOR UPDATE",
  ],
  ["PREPARE p1 AS SELECT abs(1)", "PREPARE p1 AS SELECT abs(22)"],
  ["EXECUTE p1(5)", "EXECUTE p1(77)"],
  ["FETCH 5 FROM c1", "FETCH 100 FROM c1"],
];

Deno.test("Classifier: a statement's shape gives the parser's own verdict for every text of it", () => {
  const parser = new Classifier({ cacheSize: 0 });
  for (const group of VARIANTS) {
    const shaped = new Classifier();
    for (const sql of group) shaped.classify(sql);
    assert.equal(shaped.stats.shapeHits, group.length - 1, group[0]);
    // The same texts again, in reverse: every one a shape hit, each with its own text.
    for (const sql of [...group].reverse()) {
      assert.deepEqual(shaped.classify(sql), parser.classify(sql), sql);
    }
    assert.equal(shaped.stats.shapeHits, 2 * group.length - 1, group[0]);
  }
});

Deno.test("Classifier: a string of several statements is cached by its exact text, not its shape", () => {
  const c = new Classifier();
  const a = c.classify("UPDATE t SET v = 1 WHERE id = 2; SELECT abs(3)");
  const b = c.classify("UPDATE t SET v = 5 WHERE id = 6; SELECT abs(7)");
  assert.equal(c.stats.shapeHits, 0);
  assert.equal(b.statements[0]!.text, "UPDATE t SET v = 5 WHERE id = 6");
  assert.equal(a.statements[1]!.text, "SELECT abs(3)");
});

Deno.test("Classifier: EXPLAIN (ANALYZE 0) and (ANALYZE 1) of the same write are told apart", () => {
  const c = new Classifier();
  assert.equal(c.classify("EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1").class, "write");
  assert.equal(c.classify("EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 2").class, "read");
  assert.equal(c.classify("EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 3").class, "write");
});

Deno.test("planStatement: a row-based plan serves its shape with each text's own values", () => {
  const column = (name: string, type: string) => ({
    name,
    type,
    generated: false,
    identity: "" as const,
    defaultExpr: null,
    sequence: null,
    primaryKey: name === "id",
  });
  const table = {
    relation: '"public"."shape_t"',
    columns: [column("id", "integer"), column("v", "integer"), column("at", "timestamp")],
  };
  const texts = [
    "INSERT INTO shape_t (id, v, at) VALUES (1, -2, CURRENT_TIMESTAMP)",
    "INSERT INTO shape_t (id, v, at) VALUES (30, -40, CURRENT_TIMESTAMP)",
    "UPDATE shape_t SET at = now() WHERE id = 5",
    "UPDATE shape_t SET at = now() WHERE id = 6",
  ];
  const plans = texts.map((sql) => planStatement(sql, table));
  for (const [i, plan] of plans.entries()) {
    assert.equal(plan.kind, "rowBased", texts[i]);
    if (plan.kind !== "rowBased") continue;
    assert.ok(plan.originalSql.startsWith(`${texts[i]}\n`), plan.originalSql);
    const other = plans[i ^ 1]!;
    assert.ok(other.kind === "rowBased");
    // Same shape: everything but the text is the same plan.
    assert.deepEqual(
      { ...plan, originalSql: plan.originalSql.slice(texts[i]!.length) },
      { ...other, originalSql: other.originalSql.slice(texts[i ^ 1]!.length) },
    );
  }
});
