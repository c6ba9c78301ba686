import assert from "node:assert/strict";
import * as auth from "../../../src/auth/mod.ts";

Deno.test("auth mod: exports exactly the public API", () => {
  assert.deepEqual(Object.keys(auth).sort(), [
    "AuthError",
    "ScramClient",
    "ScramServer",
    "formatScramVerifier",
    "lookupPgpass",
    "makeScramVerifier",
    "md5Password",
    "md5SaltedVerifier",
    "md5Verifier",
    "parsePgpass",
    "parseScramVerifier",
    "readPgpass",
    "resolveBackendPassword",
    "saslPrep",
  ]);
  for (const value of Object.values(auth)) assert.equal(typeof value, "function");
});
