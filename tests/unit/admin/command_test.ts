/**
 * @module
 * Unit tests of the admin console's grammar (`src/admin/command.ts`): every command, case
 * folding and quoting of names, semicolons, and the 42601 errors with PostgreSQL's wording.
 */

import assert from "node:assert/strict";
import { type AdminCommand, parseCommands } from "../../../src/admin/mod.ts";

function commands(sql: string): readonly AdminCommand[] {
  const r = parseCommands(sql);
  if (!r.ok) assert.fail(`${sql}: ${r.error.message}`);
  return r.commands;
}

function error(sql: string): { code: string; message: string; hint: string | undefined } {
  const r = parseCommands(sql);
  if (r.ok) assert.fail(`${sql}: parsed as ${JSON.stringify(r.commands)}`);
  return { code: r.error.code, message: r.error.message, hint: r.error.hint };
}

Deno.test("parseCommands: reads every command, keywords in any case", () => {
  const cases: [string, AdminCommand][] = [
    ["SHOW BACKENDS", { kind: "show", what: "backends" }],
    ["show clients", { kind: "show", what: "clients" }],
    ["Show Stats", { kind: "show", what: "stats" }],
    ["SHOW config", { kind: "show", what: "config" }],
    ["show VERSION", { kind: "show", what: "version" }],
    ["PAUSE", { kind: "pause" }],
    ["resume", { kind: "resume" }],
    ["RELOAD", { kind: "reload" }],
    ["shutdown", { kind: "shutdown" }],
    ["DETACH copy", { kind: "detach", backend: "copy" }],
    ["ATTACH copy", { kind: "attach", backend: "copy", force: false }],
    ["attach copy force", { kind: "attach", backend: "copy", force: true }],
    ["RECOVER copy2", { kind: "recover", backend: "copy2" }],
    ["PROMOTE copy", { kind: "promote", backend: "copy" }],
  ];
  for (const [sql, expected] of cases) assert.deepEqual(commands(sql), [expected], sql);
});

Deno.test("parseCommands: folds unquoted names to lower case and keeps quoted ones", () => {
  assert.deepEqual(commands("DETACH Copy"), [{ kind: "detach", backend: "copy" }]);
  assert.deepEqual(commands('DETACH "Copy"'), [{ kind: "detach", backend: "Copy" }]);
  assert.deepEqual(commands('ATTACH "a""b" FORCE'), [
    { kind: "attach", backend: 'a"b', force: true },
  ]);
  // A quoted FORCE is a name, not the keyword.
  assert.equal(error('ATTACH copy "FORCE"').message, 'syntax error at or near ""FORCE""');
});

Deno.test("parseCommands: takes an optional trailing semicolon, blanks and several commands", () => {
  assert.deepEqual(commands("  show stats ;  "), [{ kind: "show", what: "stats" }]);
  assert.deepEqual(commands("\tSHOW\nBACKENDS;SHOW VERSION;"), [
    { kind: "show", what: "backends" },
    { kind: "show", what: "version" },
  ]);
  assert.deepEqual(commands(""), []);
  assert.deepEqual(commands(" ; ;"), []);
});

Deno.test("parseCommands: reports an unknown command as 42601 near its first word, listing commands", () => {
  const e = error("SELECT 1");
  assert.equal(e.code, "42601");
  assert.equal(e.message, 'syntax error at or near "SELECT"');
  assert.match(e.hint ?? "", /^Commands are SHOW BACKENDS, .* RELOAD and SHUTDOWN\.$/);
});

Deno.test("parseCommands: reports missing and extra words as PostgreSQL's parser does", () => {
  const cases: [string, string][] = [
    ["SHOW", "syntax error at end of input"],
    ["SHOW POOLS", 'syntax error at or near "POOLS"'],
    ["SHOW STATS now", 'syntax error at or near "now"'],
    ["PAUSE copy", 'syntax error at or near "copy"'],
    ["DETACH", "syntax error at end of input"],
    ["DETACH a b", 'syntax error at or near "b"'],
    ["ATTACH", "syntax error at end of input"],
    ["ATTACH copy now", 'syntax error at or near "now"'],
    ["ATTACH copy FORCE now", 'syntax error at or near "now"'],
    ["SHOW BACKENDS; BOGUS", 'syntax error at or near "BOGUS"'],
    ["DETACH copy-2", 'syntax error at or near "-"'],
    ["DETACH 'copy'", `syntax error at or near "'"`],
  ];
  for (const [sql, message] of cases) {
    const e = error(sql);
    assert.equal(e.code, "42601", sql);
    assert.equal(e.message, message, sql);
  }
  assert.equal(error("DETACH").hint, "DETACH takes a server name, as in DETACH copy.");
  assert.equal(error("SHOW x").hint, "SHOW takes BACKENDS, CLIENTS, STATS, CONFIG or VERSION.");
});

Deno.test("parseCommands: rejects unterminated and empty quoted names", () => {
  assert.equal(error('DETACH "copy').message, 'unterminated quoted identifier at or near ""copy"');
  assert.equal(error('DETACH ""').message, 'zero-length delimited identifier at or near """"');
});
