/**
 * @module
 * Passwords never reach a log line: `redactSecrets`, which the log formatter applies to every
 * value, hides SQL password literals (plain, escaped, doubled quotes, dollar-quoted),
 * `password=` in connection strings and URL passwords, and leaves other text alone.
 */

import assert from "node:assert/strict";
import { redactSecrets } from "../../../src/log/mod.ts";

Deno.test("redactSecrets: hides passwords in SQL, connection strings and URLs", () => {
  const cases: [string, string][] = [
    ["ALTER ROLE a PASSWORD 'x'", "ALTER ROLE a PASSWORD '********'"],
    [
      "CREATE ROLE b ENCRYPTED PASSWORD 'it''s' VALID UNTIL 'infinity'",
      "CREATE ROLE b ENCRYPTED PASSWORD '********' VALID UNTIL 'infinity'",
    ],
    ["alter user c with password E'a\\'b'", "alter user c with password E'********'"],
    ["ALTER ROLE d PASSWORD $q$dollar$q$", "ALTER ROLE d PASSWORD $q$********$q$"],
    ["host=db password=hunter2 user=x", "host=db password=******** user=x"],
    ["postgresql://u:pw@host/db", "postgresql://u:********@host/db"],
    ["OPTIONS (user 'x', password 'y')", "OPTIONS (user 'x', password '********')"],
  ];
  for (const [input, expected] of cases) assert.equal(redactSecrets(input), expected, input);
  for (const keep of ["SELECT 'password' AS col", "UPDATE t SET v = 1", "password"]) {
    assert.equal(redactSecrets(keep), keep);
  }
});
