import assert from "node:assert/strict";
import { Classifier, initClassifier, isPlainSelect } from "../../../src/replication/mod.ts";
import { quickClassify } from "../../../src/replication/_classify_quick.ts";
import { encodeQuery } from "../../../src/protocol/mod.ts";

await initClassifier();

const PLAIN = [
  "SELECT abalance FROM pgbench_accounts WHERE aid = 41273;",
  "select 1",
  "  SELECT a, b FROM t WHERE c = 1 ;  \n",
  "SeLeCt * FROM t",
  "select*from t",
  "SELECT",
  "SELECT;",
  "SELECT format FROM t", // `for` only as a whole word
  "SELECT x FROM intolerant WHERE withheld = 1 AND locked = 2",
  "SELECT a FROM t WHERE b = 1 ORDER BY a LIMIT 5 OFFSET 2",
  "SELECT a FROM t a1 JOIN u ON a1.id = u.id",
];

const NOT_PLAIN = [
  "SELECT now()", // a function call
  "SELECT * FROM t FOR UPDATE",
  "SELECT * FROM t for share",
  "SELECT a INTO b FROM t",
  "WITH x AS (SELECT 1) SELECT * FROM x",
  "SELECT a FROM t; DELETE FROM t",
  "SELECT a FROM t -- comment",
  "SELECT a FROM t /* comment */",
  "SELECT 'x'",
  'SELECT "a" FROM t',
  "SELECT $$x$$",
  "SELECT a FROM t WHERE b = E'\\\\'",
  "SELECT nextval FROM t", // not a call, but the word alone sends it to the classifier
  "SELECT a FROM t WHERE b = 1 FOR", // a risky word right at the end
  "SELECT a FROM t WHERE b = 1 lock;",
  "SELECTION",
  "select_x FROM t",
  "UPDATE t SET a = 1",
  "BEGIN",
  "TABLE t",
  "SELECT 'é'",
  "SELECT a FROM t WHERE b = 'é'",
  "SELECT é FROM t", // outside ASCII: the classifier decides
  `SELECT a FROM t WHERE b = 1${" OR b = 1".repeat(300)}`, // longer than 2,000 bytes
];

Deno.test("isPlainSelect: recognises plain reads, which the classifier calls reads too", () => {
  const parser = new Classifier({ cacheSize: 0 });
  for (const sql of PLAIN) {
    assert.equal(isPlainSelect(encodeQuery(sql)), true, sql);
    assert.equal(quickClassify(sql)?.class, "read", sql);
    assert.equal(parser.classify(`${sql.replace(/;\s*$/, "")} /* parser */`).class, "read", sql);
  }
});

Deno.test("isPlainSelect: leaves everything else to the classifier", () => {
  for (const sql of NOT_PLAIN) assert.equal(isPlainSelect(encodeQuery(sql)), false, sql);
});

Deno.test("isPlainSelect: a zero byte inside the text is not plain", () => {
  const bytes = encodeQuery("SELECT 1 x");
  bytes[bytes.length - 2] = 0; // `SELECT 1 \0` then the terminator
  assert.equal(isPlainSelect(bytes), false);
});

Deno.test("isPlainSelect: never says plain where the lexical classifier would not say read", () => {
  // Every SELECT-like text built from these pieces: whatever isPlainSelect accepts,
  // quickClassify must classify as a read.
  const pieces = ["SELECT", " a", " FROM t", " for", " (", ";", " ;", " x", "--", "'", " INTO"];
  const texts: string[] = [];
  let level = [""];
  for (let depth = 0; depth < 4; depth++) {
    level = level.flatMap((t) => pieces.map((p) => t + p));
    texts.push(...level);
  }
  let accepted = 0;
  for (const sql of texts) {
    if (!isPlainSelect(encodeQuery(sql))) continue;
    accepted++;
    assert.equal(quickClassify(sql)?.class, "read", sql);
  }
  assert.ok(accepted > 10, `only ${accepted} accepted`);
});
