/**
 * @module
 * Pins the public exports of the root `mod.ts`, and checks that importing it does not start the
 * command line (the CLI runs only when `import.meta.main` is true).
 */

import assert from "node:assert/strict";
import * as mod from "../../mod.ts";

/** The runtime exports of the package (types are erased and not listed). */
const EXPORTS = [
  "ConfigError",
  "ExitCode",
  "Membership",
  "PgError",
  "ProtocolError",
  "ProxyServer",
  "VERSION",
  "WriteGate",
  "defaultConfig",
  "formatEffectiveConfig",
  "loadConfig",
  "main",
];

Deno.test("mod: exports exactly the public API", () => {
  assert.deepEqual(Object.keys(mod).sort(), [...EXPORTS].sort());
});

Deno.test("mod: exports usable values", () => {
  assert.equal(typeof mod.main, "function");
  assert.equal(typeof mod.loadConfig, "function");
  assert.equal(typeof mod.ProxyServer.start, "function");
  assert.equal(typeof mod.VERSION, "string");
  assert.ok(new mod.ProtocolError("x") instanceof mod.PgError);
});

Deno.test("mod: importing does not start the command line", async () => {
  // In this file, a started CLI would have exited the test runner or left a listener open. Check
  // it also in a fresh process that only imports the module: it must print nothing else and exit.
  const url = new URL("../../mod.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `await import(${JSON.stringify(url)}); console.log("imported");`],
    cwd: new URL("../..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout), "imported\n");
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});
