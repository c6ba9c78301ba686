/**
 * @module
 * The `[replication]` section: defaults, values, the state file's default beside the log, every
 * invalid value, suggestions for misspelt keys, arrays refused by text sources, `check-config`
 * output and `defaultConfig`.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  defaultConfig,
  formatEffectiveConfig,
  parseConfigText,
  type ParseOptions,
} from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };
const ORIGINAL = '[original]\nhost = "db"\n';

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

/** Parses `ORIGINAL` plus a `[replication]` section holding `body`, and returns its errors. */
function replicationErrors(body: string, options: ParseOptions = OPTS): readonly ConfigError[] {
  return errorsOf(() =>
    parseConfigText(`${ORIGINAL}[replication]\n${body}\n`, "f.toml", undefined, options)
  );
}

Deno.test("replication config: defaults to no balancing, no lists, 30 s and a state file beside the log", () => {
  const { config, sources } = parseConfigText(ORIGINAL, "f.toml", undefined, OPTS);
  assert.deepEqual(config.replication, {
    loadBalance: false,
    readOnlyFunctions: [],
    writeFunctions: [],
    stateFile: "/home/u/.usogres-log/usogres.state",
    copyTimeoutMs: 30_000,
    unknownFunctions: "refuse",
    deterministicFunctions: [],
    failover: "manual",
    autoRecover: false,
    returningHash: false,
  });
  for (
    const leaf of [
      "load_balance",
      "read_only_functions",
      "write_functions",
      "state_file",
      "unknown_functions",
      "deterministic_functions",
    ]
  ) {
    assert.deepEqual(sources.get(`replication.${leaf}`), { kind: "default" }, leaf);
  }
  assert.deepEqual(sources.get("replication.copy_timeout"), { kind: "default" });
});

Deno.test("replication config: reads every key, lower-cases function names and expands ~", () => {
  const text = ORIGINAL + "[replication]\nload_balance = true\n" +
    'read_only_functions = ["App.Price_Of", "lookup$rate", "_f"]\n' +
    'write_functions = ["pg_catalog.NEXTVAL"]\nstate_file = "~/state/usogres.state"\n' +
    'copy_timeout = 2.5\nunknown_functions = "mark_stale"\n' +
    'deterministic_functions = ["App.Slug", "tax"]\n';
  const { config, sources } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.deepEqual(config.replication, {
    loadBalance: true,
    readOnlyFunctions: ["app.price_of", "lookup$rate", "_f"],
    writeFunctions: ["pg_catalog.nextval"],
    stateFile: "/home/u/state/usogres.state",
    copyTimeoutMs: 2500,
    unknownFunctions: "mark_stale",
    deterministicFunctions: ["app.slug", "tax"],
    failover: "manual",
    autoRecover: false,
    returningHash: false,
  });
  assert.deepEqual(sources.get("replication.unknown_functions"), {
    kind: "file",
    file: "f.toml",
    line: 9,
  });
  assert.deepEqual(sources.get("replication.read_only_functions"), {
    kind: "file",
    file: "f.toml",
    line: 5,
  });
  assert.deepEqual(sources.get("replication.copy_timeout"), {
    kind: "file",
    file: "f.toml",
    line: 8,
  });
});

Deno.test("replication config: accepts copy_timeout 0 (no limit) and 3600", () => {
  for (const [seconds, ms] of [[0, 0], [3600, 3_600_000]] as const) {
    const text = `${ORIGINAL}[replication]\ncopy_timeout = ${seconds}\n`;
    assert.equal(
      parseConfigText(text, "f.toml", undefined, OPTS).config.replication.copyTimeoutMs,
      ms,
    );
  }
});

Deno.test("replication config: derives state_file from log.dir wherever log.dir comes from", () => {
  const stateFile = (text: string, overrides?: Record<string, string>): string =>
    parseConfigText(ORIGINAL + text, "f.toml", overrides, OPTS).config.replication.stateFile;
  assert.equal(stateFile('[log]\ndir = "/var/log/usogres/"\n'), "/var/log/usogres/usogres.state");
  assert.equal(stateFile('[log]\ndir = "~/logs"\n'), "/home/u/logs/usogres.state");
  assert.equal(stateFile("", { logdir: "/tmp/l" }), "/tmp/l/usogres.state");
  // No log directory: nothing is persisted, unless a state file is named.
  assert.equal(stateFile('[log]\ndir = ""\n'), "");
  assert.equal(stateFile('[log]\ndir = ""\n[replication]\nstate_file = "/s"\n'), "/s");
  assert.equal(stateFile('[log]\ndir = "/l"\n[replication]\nstate_file = "rel/s"\n'), "rel/s");
});

Deno.test("replication config: rejects a non-boolean load_balance, hinting at quotes", () => {
  const [e, ...rest] = replicationErrors('load_balance = "true"');
  assert.equal(rest.length, 0);
  assert.equal(e?.key, "replication.load_balance");
  assert.equal(e?.line, 4);
  assert.equal(e?.expected, "true or false");
  assert.equal(e?.hint, "Write numbers and booleans without quotes.");
});

Deno.test("replication config: rejects a function list that is not an array, hinting at one", () => {
  const [e] = replicationErrors('read_only_functions = "now"');
  assert.equal(e?.key, "replication.read_only_functions");
  assert.equal(e?.actual, '"now"');
  assert.match(e?.expected ?? "", /^an array of function names/);
  assert.equal(e?.hint, 'Write an array, as in ["now"].');
  assert.equal(replicationErrors("write_functions = 5")[0]?.actual, "5");
  assert.equal(replicationErrors("write_functions = { a = 1 }")[0]?.actual, "a table");
});

Deno.test("replication config: rejects a bad function name, naming its index", () => {
  const cases: [string, string][] = [
    ['["ok", 7]', "7 at index 1"],
    ['[""]', '"" at index 0'],
    ['["ok", "fine", "a.b.c"]', '"a.b.c" at index 2'],
    ['["1abc"]', '"1abc" at index 0'],
    ['["has space"]', '"has space" at index 0'],
    ['["schema."]', '"schema." at index 0'],
    ['[["nested"]]', "an array at index 0"],
  ];
  for (const [list, actual] of cases) {
    for (const key of ["read_only_functions", "write_functions", "deterministic_functions"]) {
      const errors = replicationErrors(`${key} = ${list}`);
      assert.equal(errors.length, 1, `${key} = ${list}`);
      const e = errors[0]!;
      assert.equal(e.key, `replication.${key}`);
      assert.equal(e.actual, actual);
      const index = actual.slice(actual.lastIndexOf(" ") + 1);
      assert.match(e.expected, new RegExp(`^a function name .* at index ${index}$`));
      assert.ok(e.message.startsWith(`f.toml:4: invalid value for "replication.${key}": `));
      assert.ok(e.message.endsWith(`got ${actual}`), e.message);
    }
  }
});

Deno.test("replication config: rejects copy_timeout outside 0-3600 or quoted", () => {
  for (const value of ["-1", "3600.5", "inf", "true"]) {
    const [e, ...rest] = replicationErrors(`copy_timeout = ${value}`);
    assert.equal(rest.length, 0, value);
    assert.equal(e?.key, "replication.copy_timeout");
    assert.equal(e?.expected, "a number of seconds from 0 to 3600");
  }
  assert.equal(
    replicationErrors('copy_timeout = "30"')[0]?.hint,
    "Write numbers and booleans without quotes.",
  );
});

Deno.test("replication config: rejects a non-string state_file and ~ without a home directory", () => {
  const [e] = replicationErrors("state_file = 5");
  assert.equal(e?.key, "replication.state_file");
  assert.equal(e?.expected, "a string");
  const [noHome] = replicationErrors('state_file = "~/s"', { env: {} });
  assert.match(noHome?.expected ?? "", /HOME is not set/);
});

Deno.test("replication config: suggests the right key or section for a misspelling", () => {
  const suggestion = (text: string): string | undefined =>
    errorsOf(() => parseConfigText(ORIGINAL + text, "f.toml", undefined, OPTS))[0]?.expected;
  assert.equal(suggestion("[replication]\nload_balnce = true\n"), '"replication.load_balance"');
  assert.equal(
    suggestion("[replication]\nread_only_function = []\n"),
    '"replication.read_only_functions"',
  );
  const [section] = errorsOf(() =>
    parseConfigText(ORIGINAL + "[replicaton]\nload_balance = true\n", "f.toml", undefined, OPTS)
  );
  assert.equal(
    section?.message,
    'f.toml:3: unknown section "[replicaton]"; did you mean "[replication]"?',
  );
  const top = errorsOf(() => parseConfigText("copy_timeout = 5\n" + ORIGINAL, "f.toml"))[0];
  assert.equal(
    top?.message,
    'f.toml:1: unknown key "copy_timeout"; did you mean ' +
      '"replication.copy_timeout"?',
  );
});

Deno.test("replication config: the legacy rc format reads scalars but refuses the arrays", () => {
  const legacy = 'hostorg = "db"\nreplication.load_balance = on\nreplication.copy_timeout = 5\n';
  const { config } = parseConfigText(legacy, "usogresrc", undefined, OPTS);
  assert.equal(config.replication.loadBalance, true);
  assert.equal(config.replication.copyTimeoutMs, 5000);
  for (const value of ['["now"]', "[]", "now"]) {
    const text = `${legacy}replication.write_functions = ${value}\n`;
    const errors = errorsOf(() => parseConfigText(text, "usogresrc", undefined, OPTS));
    assert.equal(errors.length, 1, value);
    assert.equal(
      errors[0]?.message,
      'usogresrc:4: "replication.write_functions" takes an array, which the legacy rc format ' +
        "cannot hold",
    );
    assert.equal(errors[0]?.line, 4);
    assert.match(errors[0]?.hint ?? "", /TOML/);
  }
});

Deno.test("replication config: a flag cannot give a function list", () => {
  const [e] = errorsOf(() =>
    parseConfigText(ORIGINAL, "f.toml", { "replication.read_only_functions": "now" }, OPTS)
  );
  assert.equal(e?.key, "replication.read_only_functions");
  assert.ok(e?.message.startsWith("flag --replication.read_only_functions: invalid value"));
  assert.match(e?.expected ?? "", /only a TOML file can give/);
  const flagged = parseConfigText(ORIGINAL, "f.toml", { "replication.copy_timeout": "0.5" }, OPTS);
  assert.equal(flagged.config.replication.copyTimeoutMs, 500);
});

Deno.test("formatEffectiveConfig: prints [replication] with arrays, and it parses back", () => {
  const text = ORIGINAL + "[replication]\nload_balance = true\n" +
    'read_only_functions = ["app.f", "g"]\ncopy_timeout = 0.25\n';
  const loaded = parseConfigText(text, "f.toml", undefined, OPTS);
  const out = formatEffectiveConfig(loaded);
  const lines = out.split("\n");
  for (
    const expected of [
      "[replication]",
      "load_balance = true  # f.toml:4",
      'read_only_functions = ["app.f", "g"]  # f.toml:5',
      "write_functions = []  # default",
      'state_file = "/home/u/.usogres-log/usogres.state"  # default',
      "copy_timeout = 0.25  # f.toml:6",
      'unknown_functions = "refuse"  # default',
      "deterministic_functions = []  # default",
    ]
  ) {
    assert.ok(lines.includes(expected), `missing line: ${expected}`);
  }
  assert.ok(lines.indexOf("[replication]") > lines.indexOf("[log]"));
  const again = parseConfigText(out, "out.toml", undefined, OPTS);
  assert.deepEqual(again.config, loaded.config);
});

Deno.test("defaultConfig: takes replication settings in Config's units and checks them", () => {
  const config = defaultConfig({
    original: { host: "db" },
    log: { dir: "/l" },
    replication: {
      loadBalance: true,
      readOnlyFunctions: ["A.B"],
      copyTimeoutMs: 1500,
      unknownFunctions: "trust",
      deterministicFunctions: ["S.F"],
      failover: "manual",
      autoRecover: false,
      returningHash: false,
    },
  }, { env: {} });
  assert.deepEqual(config.replication, {
    loadBalance: true,
    readOnlyFunctions: ["a.b"],
    writeFunctions: [],
    stateFile: "/l/usogres.state",
    copyTimeoutMs: 1500,
    unknownFunctions: "trust",
    deterministicFunctions: ["s.f"],
    failover: "manual",
    autoRecover: false,
    returningHash: false,
  });
  assert.equal(
    defaultConfig({ original: { host: "db" }, log: { dir: "" } }, { env: {} }).replication
      .stateFile,
    "",
  );
  const [e] = errorsOf(() =>
    defaultConfig({ original: { host: "db" }, replication: { writeFunctions: ["ok", "x-y"] } }, {
      env: {},
      home: "/h",
    })
  );
  assert.equal(
    e?.message,
    'defaultConfig: invalid value for "replication.write_functions": expected a function name ' +
      '(letters, digits, _ and $, optionally schema-qualified) at index 1, got "x-y" at index 1',
  );
});

Deno.test("replication config: unknown_functions takes refuse, mark_stale or trust only", () => {
  for (const policy of ["refuse", "mark_stale", "trust"] as const) {
    const text = `${ORIGINAL}[replication]\nunknown_functions = "${policy}"\n`;
    assert.equal(
      parseConfigText(text, "f.toml", undefined, OPTS).config.replication.unknownFunctions,
      policy,
    );
  }
  for (const bad of ['"Refuse"', '"stale"', "true", "1"]) {
    const [e, ...rest] = replicationErrors(`unknown_functions = ${bad}`);
    assert.equal(rest.length, 0, bad);
    assert.equal(e?.key, "replication.unknown_functions");
    assert.equal(e?.expected, 'one of "refuse", "mark_stale", "trust"');
  }
  const flagged = parseConfigText(ORIGINAL, "f.toml", {
    "replication.unknown_functions": "trust",
  }, OPTS);
  assert.equal(flagged.config.replication.unknownFunctions, "trust");
});

Deno.test("replication config: deterministic_functions is an array only TOML can give", () => {
  const [e] = errorsOf(() =>
    parseConfigText(ORIGINAL, "f.toml", { "replication.deterministic_functions": "f" }, OPTS)
  );
  assert.equal(e?.key, "replication.deterministic_functions");
  assert.match(e?.expected ?? "", /only a TOML file can give/);
});
