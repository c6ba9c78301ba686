/**
 * @module
 * Unit tests of the shared parse memo (`src/replication/_parse_memo.ts`): the tree the classifier
 * leaves for a statement's own text is the tree the parser gives that text, and the plan made
 * from it is the plan made from a fresh parse.
 */

import assert from "node:assert/strict";
import { parseSync } from "libpg-query";
import { Classifier, initClassifier } from "../../../src/replication/classify.ts";
import { parseMemo } from "../../../src/replication/_parse_memo.ts";

await initClassifier();

/** The tree without `stmt_len`, the one field a trailing semicolon may change. */
function withoutLength(tree: unknown): string {
  return JSON.stringify(tree, (k, v) => (k === "stmt_len" ? undefined : v));
}

Deno.test("parseMemo: the classifier's tree of `X;` serves `X` as the parser would parse it", () => {
  const classifier = new Classifier();
  for (
    const x of [
      "INSERT INTO h (tid, bid, aid, delta, mtime) VALUES (82, 4, 49, -42, CURRENT_TIMESTAMP)",
      "insert into t values ($1, 'a;b', $$x;$$) on conflict do nothing returning *",
      "UPDATE t SET a = random() WHERE id IN (SELECT id FROM u FOR UPDATE)",
    ]
  ) {
    const c = classifier.classify(`${x};`);
    assert.equal(c.statements[0]?.text, x);
    assert.equal(withoutLength(parseMemo(x)), withoutLength(parseSync(x)));
  }
});

Deno.test("parseMemo: a semicolon inside a trailing comment leaves nothing for a shorter text", () => {
  const classifier = new Classifier();
  const sql = "DELETE FROM t WHERE a = 1 -- note;";
  const c = classifier.classify(sql);
  assert.equal(c.statements[0]?.text, sql);
  assert.equal(
    withoutLength(parseMemo(sql.slice(0, -1))),
    withoutLength(parseSync(sql.slice(0, -1))),
  );
});
