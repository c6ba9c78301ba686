/**
 * @module
 * TOML configuration files: the repository's own example, sections, `[[copy]]`, legacy keys at
 * the top level, line numbers, and every error a TOML file can produce.
 */

import assert from "node:assert/strict";
import { ConfigError, parseConfigText } from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };
const EXAMPLE = new URL("../../../usogresrc.toml", import.meta.url);

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

Deno.test("toml config: the repository's usogresrc.toml validates with every setting", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const { config, sources } = parseConfigText(text, "usogresrc.toml", undefined, OPTS);
  assert.deepEqual(config.original, {
    name: "original",
    host: "127.0.0.1",
    port: 5433,
    weight: 1,
    sslmode: "prefer",
    sslrootcert: "",
  });
  assert.deepEqual(config.copies, [{
    name: "copy",
    host: "127.0.0.1",
    port: 5434,
    weight: 1,
    sslmode: "prefer",
    sslrootcert: "",
  }]);
  assert.equal(config.listen.maxMessageSize, 1073741823);
  assert.equal(config.log.dir, "/home/u/.usogres-log");
  // Every setting is written in the example, so none comes from a default.
  for (const [path, source] of sources) {
    if (path === "backend.passfile") continue; // "" resolves to ~/.pgpass
    if (path === "auth.method") continue; // unset: trust on loopback, scram-sha-256 otherwise
    assert.equal(source.kind, "file", path);
  }
});

Deno.test("toml config: records each key's line within its section", () => {
  const text = '[listen]\nport = 6000\n\n[original]\nhost = "db"\n\n[[copy]]\nhost = "c1"\n' +
    '[[copy]]\n  host = "c2"\n  port = 7000\n';
  const { sources, config } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.deepEqual(sources.get("listen.port"), { kind: "file", file: "f.toml", line: 2 });
  assert.deepEqual(sources.get("original.host"), { kind: "file", file: "f.toml", line: 5 });
  assert.deepEqual(sources.get("copy.1.port"), { kind: "file", file: "f.toml", line: 11 });
  assert.deepEqual(config.copies.map((c) => c.name), ["copy", "copy2"]);
});

Deno.test("toml config: accepts the seed's keys at the top level", () => {
  const text = 'hostorg = "db"\nportorg = 5434\nhostcopy = "db2"\nlogdir = ""\nmax_process = 5\n';
  const { config, sources } = parseConfigText(text, "rc.toml", undefined, OPTS);
  assert.equal(config.original.port, 5434);
  assert.equal(config.copies[0]?.host, "db2");
  assert.equal(config.log.dir, "");
  assert.equal(config.listen.maxClients, 5);
  assert.deepEqual(sources.get("listen.max_clients"), {
    kind: "file",
    file: "rc.toml",
    line: 5,
    key: "max_process",
  });
});

Deno.test("toml config: accepts sizes with units, fractional seconds and inline tables", () => {
  const text = 'original = { host = "db" }\n[listen]\nmax_message_size = "64MB"\n' +
    'startup_timeout = 0.5\n[log]\nstderr = false\nlevel = "debug"\n';
  const { config } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.equal(config.listen.maxMessageSize, 64 * 1024 * 1024);
  assert.equal(config.listen.startupTimeoutMs, 500);
  assert.equal(config.log.stderr, false);
  assert.equal(config.original.host, "db");
});

Deno.test("toml config: reads a TOML file whose name has no .toml extension", () => {
  const { config } = parseConfigText(
    '[original]\nhost = "db"\n',
    "/etc/usogresrc",
    undefined,
    OPTS,
  );
  assert.equal(config.original.host, "db");
});

Deno.test("toml config: reports a syntax error with line and column", () => {
  const errors = errorsOf(() =>
    parseConfigText('[original]\nhost = "db"\nport = = 1\n', "f.toml", {}, OPTS)
  );
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.line, 3);
  assert.match(errors[0]!.message, /^f\.toml:3:\d+: syntax error: /);
});

Deno.test("toml config: reports a syntax error, not the legacy reader, when a file has sections", () => {
  const errors = errorsOf(() =>
    parseConfigText("[original]\nhost = db\n", "/etc/usogresrc", {}, OPTS)
  );
  assert.match(errors[0]!.message, /^\/etc\/usogresrc:2:\d+: syntax error/);
});

Deno.test("toml config: suggests the closest key for an unknown key in a section", () => {
  const errors = errorsOf(() =>
    parseConfigText('[original]\nhost = "db"\n[listen]\nmax_client = 3\n', "f.toml", {}, OPTS)
  );
  assert.equal(
    errors[0]?.message,
    'f.toml:4: unknown key "listen.max_client"; did you mean "listen.max_clients"?',
  );
});

Deno.test("toml config: suggests the section for a section key written at the top level", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\nmax_clients = 3\n', "f.toml", {}, OPTS)
  );
  assert.equal(
    errors[0]?.message,
    'f.toml:2: unknown key "max_clients"; did you mean "listen.max_clients"?',
  );
});

Deno.test("toml config: rejects an unknown section with a suggestion", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\n\n[lisen]\nport = 1\n[frobnicate]\n', "f.toml", {}, OPTS)
  );
  assert.deepEqual(errors.map((e) => e.message), [
    'f.toml:3: unknown section "[lisen]"; did you mean "[listen]"?',
    'f.toml:5: unknown section "[frobnicate]"',
  ]);
});

Deno.test("toml config: rejects [copy] written with one pair of brackets", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\n[copy]\nhost = "c"\n', "f.toml", {}, OPTS)
  );
  assert.equal(errors[0]?.line, 2);
  assert.match(errors[0]!.hint ?? "", /\[\[copy\]\]/);
});

Deno.test("toml config: rejects a quoted number, hinting to drop the quotes", () => {
  const errors = errorsOf(() =>
    parseConfigText('[original]\nhost = "db"\nport = "5432"\n', "f.toml", {}, OPTS)
  );
  assert.equal(
    errors[0]?.message,
    'f.toml:3: invalid value for "original.port": expected a port number 1-65535, got "5432"',
  );
  assert.equal(errors[0]?.hint, "Write numbers and booleans without quotes.");
});

Deno.test("toml config: rejects out-of-range numbers, bad enums, empty hosts and bad names", () => {
  const text = [
    "[listen]",
    "max_clients = 0",
    'max_message_size = "1GB"',
    "shutdown_timeout = -1",
    "[original]",
    'host = ""',
    "[log]",
    'level = "verbose"',
    "stderr = 1",
    "[[copy]]",
    'name = "Copy-1"',
    'host = "c"',
  ].join("\n");
  const errors = errorsOf(() => parseConfigText(text, "f.toml", {}, OPTS));
  assert.deepEqual(errors.map((e) => [e.line, e.key]), [
    [2, "listen.max_clients"],
    [3, "listen.max_message_size"],
    [4, "listen.shutdown_timeout"],
    [6, "original.host"],
    [8, "log.level"],
    [9, "log.stderr"],
    [11, "copy.0.name"],
  ]);
  assert.equal(errors[4]?.expected, 'one of "debug", "info", "warning", "error"');
});

Deno.test("toml config: rejects a key given both as a seed key and in its section", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\nport = 1\n[listen]\nport = 2\n', "f.toml", {}, OPTS)
  );
  assert.equal(errors.length, 1);
  assert.equal(
    errors[0]?.message,
    'f.toml:4: duplicate setting "listen.port": also set as "port" at line 2',
  );
});

Deno.test("toml config: rejects duplicate copy names and a copy named like the original", () => {
  const text = 'hostorg = "db"\n[[copy]]\nname = "a"\nhost = "c1"\n[[copy]]\nname = "a"\n' +
    'host = "c2"\n[[copy]]\nname = "original"\nhost = "c3"\n';
  const errors = errorsOf(() => parseConfigText(text, "f.toml", {}, OPTS));
  assert.deepEqual(errors.map((e) => [e.line, e.message.replace(/^f\.toml:\d+: /, "")]), [
    [6, 'duplicate server name "a": also the name of copy "a"'],
    [9, 'duplicate server name "original": also the name of the original'],
  ]);
});

Deno.test("toml config: rejects a copy with the original's address", () => {
  const errors = errorsOf(() =>
    parseConfigText(
      'hostorg = "db"\nportorg = 5433\nhostcopy = "db"\nportcopy = 5433\n',
      "f",
      {},
      OPTS,
    )
  );
  assert.equal(
    errors[0]?.message,
    'f:4: copy "copy" has the same address as the original ("db:5433")',
  );
});

Deno.test("toml config: rejects listening on the original's own address", () => {
  const errors = errorsOf(() =>
    parseConfigText('[original]\nhost = "127.0.0.1"\n', "f.toml", {}, OPTS)
  );
  assert.match(errors[0]!.message, /usogres would listen on the address of the original/);
});

Deno.test("toml config: rejects a copy without a host", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\n\n[[copy]]\nport = 5\n\n[[copy]]\n', "f.toml", {}, OPTS)
  );
  assert.deepEqual(errors.map((e) => e.message), [
    'f.toml:4: copy "copy" has no host',
    'f.toml:6: copy "copy2" has no host',
  ]);
});

Deno.test("toml config: reports every error of a file together, in line order", () => {
  const text = '[listen]\nport = 0\npotr = 1\n[original]\nhost = "db"\nweight = -1\n[lgo]\n';
  let caught: unknown;
  try {
    parseConfigText(text, "f.toml", {}, OPTS);
  } catch (e: unknown) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError);
  assert.deepEqual(caught.errors.map((e) => e.line), [2, 3, 6, 7]);
  assert.equal(caught.message, caught.errors.map((e) => e.message).join("\n"));
  assert.equal(caught.line, 2);
});

Deno.test("toml config: expands ~ in log.dir and backend.passfile", () => {
  const text = '[original]\nhost = "db"\n[log]\ndir = "~/logs"\n[backend]\npassfile = "~"\n';
  const { config } = parseConfigText(text, "f.toml", undefined, { env: {}, home: "/home/u/" });
  assert.equal(config.log.dir, "/home/u/logs");
  assert.equal(config.backendAuth.passfile, "/home/u");
});

Deno.test("toml config: rejects ~ when there is no home directory", () => {
  const errors = errorsOf(() =>
    parseConfigText('[original]\nhost = "db"\n[log]\ndir = "~/l"\n', "f.toml", {}, { env: {} })
  );
  assert.equal(errors[0]?.key, "log.dir");
  assert.match(errors[0]!.message, /HOME is not set/);
});

Deno.test("toml config: finds key lines past multi-line strings and quoted keys", () => {
  const text = [
    "[backend]",
    'password = """',
    "port = 1",
    '"""',
    '"user" = "app"',
    "[original]",
    'host = "db"',
    "port = 5433",
  ].join("\n");
  const { sources, config } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.equal(config.backendAuth.password, "port = 1\n");
  assert.deepEqual(sources.get("backend.user"), { kind: "file", file: "f.toml", line: 5 });
  assert.deepEqual(sources.get("original.port"), { kind: "file", file: "f.toml", line: 8 });
});

Deno.test("toml config: reports a file without an original server", () => {
  const errors = errorsOf(() => parseConfigText("[listen]\nport = 6000\n", "f.toml", {}, OPTS));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.message, "f.toml: no original server configured");
  assert.equal(errors[0]?.key, "original.host");
  assert.match(errors[0]!.hint ?? "", /--hostorg/);
});

Deno.test("toml config: gives no suggestion for a key far from every known one", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\nfrobnicate = 1\n', "f.toml", {}, OPTS)
  );
  assert.equal(errors[0]?.message, 'f.toml:2: unknown key "frobnicate"');
});

Deno.test("toml config: suggests the full path for an unknown key in a [[copy]] table", () => {
  const errors = errorsOf(() =>
    parseConfigText('hostorg = "db"\n[[copy]]\nhots = "c"\n', "f.toml", {}, OPTS)
  );
  assert.equal(
    errors[0]?.message,
    'f.toml:3: unknown key "copy.0.hots"; did you mean "copy.0.host"?',
  );
});
