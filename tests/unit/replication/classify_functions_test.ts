/**
 * @module
 * Unit tests of the function lists of the classifier (`src/replication/read_only_functions.ts`
 * and the configured `readOnlyFunctions` and `writeFunctions`): which calls make a SELECT a write.
 */

import assert from "node:assert/strict";
import { Classifier, initClassifier } from "../../../src/replication/classify.ts";
import {
  ALWAYS_WRITE_FUNCTIONS,
  ORIGINAL_ONLY_FUNCTIONS,
  READ_ONLY_FUNCTIONS,
} from "../../../src/replication/read_only_functions.ts";

await initClassifier();

const classifier = new Classifier();

Deno.test("classify: a user function is read-only when configured so", () => {
  const c = new Classifier({ readOnlyFunctions: ["myfunc", "MySchema.Score"] });
  assert.equal(c.classify("select myfunc()").class, "read");
  assert.equal(c.classify("select public.myfunc()").class, "read"); // a bare entry: any schema
  assert.equal(c.classify("select myschema.score(1)").class, "read");
  assert.equal(c.classify("select score(1)").class, "write"); // search_path is unknown
  assert.equal(c.classify("select other.score(1)").class, "write");
  assert.equal(c.classify("select otherfunc()").class, "write");
});

Deno.test("classify: a configured write function overrides the built-in read-only list", () => {
  const c = new Classifier({ writeFunctions: ["lower", "myschema.f"] });
  const lower = c.classify("select lower('a')");
  assert.equal(lower.class, "write");
  assert.equal(lower.statements[0]?.reason, 'calls function "lower"');
  assert.equal(c.classify("select pg_catalog.lower('a')").class, "write");
  assert.equal(c.classify("select upper('a')").class, "read");
  assert.equal(c.classify("select myschema.f()").class, "write");
  assert.equal(new Classifier().classify("select lower('a')").class, "read");
});

Deno.test("classify: always-write functions stay writes when configured read-only", () => {
  const c = new Classifier({ readOnlyFunctions: ["nextval", "pg_catalog.set_config"] });
  assert.equal(c.classify("select nextval('s')").class, "write");
  assert.equal(c.classify("select set_config('a.b', '1', true)").class, "write");
});

Deno.test("classify: configured names ignore case and a pg_catalog prefix", () => {
  const c = new Classifier({ readOnlyFunctions: ["MyFunc"], writeFunctions: ["PG_CATALOG.Upper"] });
  assert.equal(c.classify("select myfunc()").class, "read");
  assert.equal(c.classify("select upper('a')").class, "write");
});

Deno.test("classify: a quoted mixed-case name is not the built-in", () => {
  assert.equal(classifier.classify(`select "LOWER"('a')`).class, "write");
});

Deno.test("read-only functions: hold the catalog's stable and immutable built-ins", () => {
  assert.ok(READ_ONLY_FUNCTIONS.size > 1900, `${READ_ONLY_FUNCTIONS.size} names`);
  for (const name of ["lower", "count", "row_number", "now", "random", "pg_sleep", "jsonb_set"]) {
    assert.ok(READ_ONLY_FUNCTIONS.has(name), name);
  }
  for (const name of ALWAYS_WRITE_FUNCTIONS) assert.ok(!READ_ONLY_FUNCTIONS.has(name), name);
  for (const name of ["nextval", "txid_current", "ts_rewrite", "query_to_xml", "int4recv"]) {
    assert.ok(!READ_ONLY_FUNCTIONS.has(name), name);
  }
  for (const name of ORIGINAL_ONLY_FUNCTIONS) assert.ok(!ALWAYS_WRITE_FUNCTIONS.has(name), name);
});
