/**
 * @module
 * The seed's legacy rc format: its own file verbatim, the reader's grammar, and its errors.
 */

import assert from "node:assert/strict";
import { ConfigError, parseConfigText } from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };

/** The seed's own usogresrc, byte for byte. */
const SEED = `host = "10.1.1.20"
port = 5432
hostorg = "10.1.1.20"
portorg = 5434
hostcopy = "10.1.1.21"
portcopy = 5434
logdir = ~/.usogres-log
max_process = 32
`;

/** Runs `fn`, which must throw a ConfigError, and returns its individual errors. */
function errorsOf(fn: () => unknown): readonly ConfigError[] {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof ConfigError) return e.errors;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("legacy config: loads the seed's file unchanged", () => {
  const { config } = parseConfigText(SEED, "/usr/local/etc/usogresrc", undefined, OPTS);
  assert.equal(config.listen.host, "10.1.1.20");
  assert.equal(config.listen.port, 5432);
  assert.equal(config.listen.maxClients, 32);
  assert.deepEqual(config.original, {
    name: "original",
    host: "10.1.1.20",
    port: 5434,
    weight: 1,
    sslmode: "prefer",
    sslrootcert: "",
  });
  assert.deepEqual(config.copies, [{
    name: "copy",
    host: "10.1.1.21",
    port: 5434,
    weight: 1,
    sslmode: "prefer",
    sslrootcert: "",
  }]);
  assert.equal(config.log.dir, "/home/u/.usogres-log");
  assert.equal(config.listen.startupTimeoutMs, 10_000);
  assert.equal(config.log.level, "info");
});

Deno.test("legacy config: records the line and legacy key of every value", () => {
  const { sources, file } = parseConfigText(SEED, "/usr/local/etc/usogresrc", undefined, OPTS);
  const f = "/usr/local/etc/usogresrc";
  assert.equal(file, f);
  assert.deepEqual(sources.get("listen.host"), { kind: "file", file: f, line: 1, key: "host" });
  assert.deepEqual(sources.get("original.port"), {
    kind: "file",
    file: f,
    line: 4,
    key: "portorg",
  });
  assert.deepEqual(sources.get("copy.0.host"), { kind: "file", file: f, line: 5, key: "hostcopy" });
  assert.deepEqual(sources.get("log.dir"), { kind: "file", file: f, line: 7, key: "logdir" });
  assert.deepEqual(sources.get("listen.max_clients"), {
    kind: "file",
    file: f,
    line: 8,
    key: "max_process",
  });
  assert.deepEqual(sources.get("listen.startup_timeout"), { kind: "default" });
  assert.deepEqual(sources.get("copy.0.name"), { kind: "default" });
});

Deno.test("legacy config: accepts comments, blank lines, both quotes and dotted keys", () => {
  const text = [
    "# usogres",
    "",
    "  hostorg = 'db1'   # the original",
    'hostcopy = "db\\"2"',
    "portcopy=6000",
    "log.level = debug",
    "backend.password = pa#ss",
  ].join("\n");
  const { config } = parseConfigText(text, "rc", undefined, OPTS);
  assert.equal(config.original.host, "db1");
  assert.equal(config.copies[0]?.host, 'db"2');
  assert.equal(config.copies[0]?.port, 6000);
  assert.equal(config.log.level, "debug");
  assert.equal(config.backendAuth.password, "pa#ss");
});

Deno.test("legacy config: reads CRLF line endings", () => {
  const { config } = parseConfigText(SEED.replaceAll("\n", "\r\n"), "rc", undefined, OPTS);
  assert.equal(config.log.dir, "/home/u/.usogres-log");
});

Deno.test("legacy config: reports a malformed line with its line number", () => {
  const errors = errorsOf(() =>
    parseConfigText("hostorg = db1\nportorg 5434\nlogdir = ~/x\n", "/etc/usogresrc", {}, OPTS)
  );
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.line, 2);
  assert.equal(errors[0]?.file, "/etc/usogresrc");
  assert.match(errors[0]!.message, /^\/etc\/usogresrc:2: malformed line/);
});

Deno.test("legacy config: reports a missing value, an open quote and trailing text", () => {
  const text = 'hostorg = db1\nhostcopy =\nlogdir = "~/x\nport = 54 32\n';
  const errors = errorsOf(() => parseConfigText(text, "rc", {}, OPTS));
  assert.deepEqual(errors.map((e) => [e.line, e.key]), [
    [2, "hostcopy"],
    [3, "logdir"],
    [4, "port"],
  ]);
  assert.match(errors[0]!.message, /missing value/);
  assert.match(errors[1]!.message, /unterminated quoted value/);
  assert.match(errors[2]!.message, /unexpected text after the value: "32"/);
});

Deno.test("legacy config: reports a bad port in PostgreSQL's words", () => {
  const errors = errorsOf(() =>
    parseConfigText("hostorg = db1\nportorg = 54x\n", "/etc/usogresrc", {}, OPTS)
  );
  assert.equal(
    errors[0]?.message,
    '/etc/usogresrc:2: invalid value for "portorg": expected a port number 1-65535, got "54x"',
  );
  assert.equal(errors[0]?.key, "portorg");
  assert.equal(errors[0]?.expected, "a port number 1-65535");
  assert.equal(errors[0]?.actual, '"54x"');
});

Deno.test("legacy config: suggests the closest key for an unknown one", () => {
  const errors = errorsOf(() => parseConfigText("hostorg = db1\npotorg = 5\n", "rc", {}, OPTS));
  assert.equal(errors[0]?.message, 'rc:2: unknown key "potorg"; did you mean "portorg"?');
  assert.equal(errors[0]?.line, 2);
});

Deno.test("legacy config: rejects a key given twice, naming both lines", () => {
  const errors = errorsOf(() =>
    parseConfigText("hostorg = db1\nport = 1\nlisten.port = 2\n", "rc", {}, OPTS)
  );
  assert.equal(errors.length, 1);
  assert.equal(
    errors[0]?.message,
    'rc:3: duplicate setting "listen.port": also set as "port" at line 2',
  );
});

Deno.test("legacy config: is not tried for a file named .toml", () => {
  const errors = errorsOf(() => parseConfigText(SEED, "/etc/usogresrc.toml", {}, OPTS));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.line, 7);
  assert.match(errors[0]!.message, /^\/etc\/usogresrc\.toml:7:\d+: syntax error/);
});

Deno.test("legacy config: does not repeat a misspelt hostorg as a missing original", () => {
  const errors = errorsOf(() => parseConfigText("hostrog = db1\n", "rc", {}, OPTS));
  assert.deepEqual(errors.map((e) => e.message), [
    'rc:1: unknown key "hostrog"; did you mean "hostorg"?',
  ]);
});

Deno.test("legacy config: does not compare addresses whose port is invalid", () => {
  // With portorg unusable, its default 5432 would clash with the listener's: not reported.
  const errors = errorsOf(() =>
    parseConfigText("hostorg = 127.0.0.1\nportorg = 54x\n", "rc", {}, OPTS)
  );
  assert.deepEqual(errors.map((e) => e.line), [2]);
});
