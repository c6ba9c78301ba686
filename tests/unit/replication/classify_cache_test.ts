/**
 * @module
 * Unit tests of the classifier's cache (`src/replication/classify.ts`): shared frozen results,
 * hit and miss counters, the bound and its options, and initialisation.
 */

import assert from "node:assert/strict";
import { Classifier, initClassifier } from "../../../src/replication/classify.ts";

await initClassifier();

const classifier = new Classifier();

Deno.test("classify: results are frozen and shared between callers", () => {
  const a = classifier.classify("select 42; prepare z as select 1");
  const b = classifier.classify("select 42; prepare z as select 1");
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  assert.ok(Object.isFrozen(a.statements));
  assert.ok(a.statements.every((s) => Object.isFrozen(s)));
  assert.ok(Object.isFrozen(a.statements[1]?.prepare));
});

Deno.test("classifier: counts a hit when the same text comes again", () => {
  const c = new Classifier();
  c.classify("select (x1)");
  c.classify("select (x1)");
  c.classify("select  (x1)"); // another text: another entry
  c.classify("select (x1)");
  assert.deepEqual(c.stats, { hits: 2, misses: 2, shapeHits: 0 });
});

Deno.test("classifier: counts a shape hit for a text that differs only in its numbers", () => {
  const c = new Classifier();
  c.classify("select abs(1) from t where id = 2");
  c.classify("select abs(30) from t where id = 40");
  c.classify("select abs(30) from t where id = x"); // another shape
  assert.deepEqual(c.stats, { hits: 0, misses: 3, shapeHits: 1 });
});

Deno.test("classifier: does not cache what the lexical shortcut classifies", () => {
  // Such texts vary in their literals (pgbench's `... WHERE aid = 41273`): caching them would
  // only push out the texts worth keeping.
  const c = new Classifier();
  c.classify("select abalance from pgbench_accounts where aid = 1");
  c.classify("select abalance from pgbench_accounts where aid = 1");
  assert.deepEqual(c.stats, { hits: 0, misses: 2, shapeHits: 0 });
});

Deno.test("classifier: drops the older generation when the cache is full", () => {
  // cacheSize 4: two generations of two entries each.
  const c = new Classifier({ cacheSize: 4 });
  for (const sql of ["select (x1)", "select (x2)", "select (x3)", "select (x4)"]) c.classify(sql);
  assert.deepEqual(c.stats, { hits: 0, misses: 4, shapeHits: 0 });
  c.classify("select (x4)");
  c.classify("select (x2)");
  assert.deepEqual(c.stats, { hits: 2, misses: 4, shapeHits: 0 });
  c.classify("select (x5)"); // the young generation (3, 4) becomes the old; (1, 2) are dropped
  c.classify("select (x1)");
  assert.deepEqual(c.stats, { hits: 2, misses: 6, shapeHits: 0 });
  c.classify("select (x3)");
  assert.deepEqual(c.stats, { hits: 3, misses: 6, shapeHits: 0 });
});

Deno.test("classifier: never holds more entries than its bound", () => {
  const c = new Classifier({ cacheSize: 50 });
  for (let i = 0; i < 500; i++) c.classify(`select (x${i})`);
  let hits = 0;
  for (let i = 0; i < 500; i++) {
    const before = c.stats.hits;
    c.classify(`select (x${i})`);
    hits += c.stats.hits - before;
  }
  assert.ok(hits <= 50, `${hits} hits from a cache of 50`);
});

Deno.test("classifier: caches nothing when cacheSize is 0", () => {
  const c = new Classifier({ cacheSize: 0 });
  c.classify("select (x1)");
  c.classify("select (x1)");
  assert.deepEqual(c.stats, { hits: 0, misses: 2, shapeHits: 0 });
});

Deno.test("classifier: does not cache a text longer than maxCachedTextLength", () => {
  const c = new Classifier({ maxCachedTextLength: 20 });
  const long = `insert into t values ${Array.from({ length: 10 }, (_, i) => `(x${i})`).join(", ")}`;
  c.classify(long);
  assert.equal(c.classify(long).class, "write");
  c.classify("select (x1)");
  c.classify("select (x1)");
  assert.deepEqual(c.stats, { hits: 1, misses: 3, shapeHits: 0 });
});

Deno.test("classifier: rejects a negative or fractional cache size", () => {
  assert.throws(() => new Classifier({ cacheSize: -1 }), RangeError);
  assert.throws(() => new Classifier({ cacheSize: 1.5 }), RangeError);
  assert.throws(() => new Classifier({ maxCachedTextLength: Number.NaN }), RangeError);
});

Deno.test("initClassifier: returns the same promise when called again", async () => {
  assert.equal(initClassifier(), initClassifier());
  await initClassifier();
});
