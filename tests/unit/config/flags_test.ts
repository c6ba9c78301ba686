/**
 * @module
 * Command-line overrides and the environment: the flag table, parseArgs options built from it,
 * precedence (file < environment < flags) and override errors.
 */

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import {
  CONFIG_FLAGS,
  ConfigError,
  configFlagOptions,
  overridesFromFlags,
  parseConfigText,
} from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };
const FILE = 'hostorg = "db"\nport = 6000\n';

Deno.test("CONFIG_FLAGS: covers the seed's flags and the new ones", () => {
  const byFlag = new Map(CONFIG_FLAGS.map((f) => [f.flag, f.path]));
  assert.deepEqual(Object.fromEntries(byFlag), {
    host: "listen.host",
    port: "listen.port",
    hostorg: "original.host",
    portorg: "original.port",
    hostcopy: "copy.0.host",
    portcopy: "copy.0.port",
    logdir: "log.dir",
    "max-process": "listen.max_clients",
    "max-clients": "listen.max_clients",
    "log-level": "log.level",
    user: "backend.user",
  });
  assert.equal(CONFIG_FLAGS.find((f) => f.flag === "port")?.short, "p");
  for (const f of CONFIG_FLAGS) assert.ok(f.description.length > 0, f.flag);
});

Deno.test("configFlagOptions: parses a command line into overrides that win over the file", () => {
  const { values } = parseArgs({
    args: ["-p", "6500", "--portorg", "5440", "--max-clients", "7", "--log-level", "debug"],
    options: { ...configFlagOptions(), config: { type: "string" } },
  });
  const overrides = overridesFromFlags(values);
  assert.deepEqual(overrides["port"], { value: "6500", flag: "--port" });
  const { config, sources } = parseConfigText(FILE, "rc", overrides, OPTS);
  assert.equal(config.listen.port, 6500);
  assert.equal(config.original.port, 5440);
  assert.equal(config.listen.maxClients, 7);
  assert.equal(config.log.level, "debug");
  assert.deepEqual(sources.get("listen.port"), { kind: "flag", flag: "--port" });
  assert.deepEqual(sources.get("listen.max_clients"), { kind: "flag", flag: "--max-clients" });
});

Deno.test("overrides: attribute a bare value to the flag that has its key", () => {
  const { sources } = parseConfigText(FILE, "rc", { hostcopy: "c", max_process: 3 }, OPTS);
  assert.deepEqual(sources.get("copy.0.host"), { kind: "flag", flag: "--hostcopy" });
  assert.deepEqual(sources.get("listen.max_clients"), { kind: "flag", flag: "--max-process" });
});

Deno.test("overrides: accept dotted paths of copies and typed values", () => {
  const overrides = { "copy.0.host": "c", "copy.0.weight": 0, "log.stderr": false };
  const { config } = parseConfigText(FILE, "rc", overrides, OPTS);
  assert.deepEqual(config.copies, [{
    name: "copy",
    host: "c",
    port: 5432,
    weight: 0,
    sslmode: "prefer",
    sslrootcert: "",
  }]);
  assert.equal(config.log.stderr, false);
});

Deno.test("overrides: reject an unknown key with a suggestion, naming the flag", () => {
  assert.throws(
    () => parseConfigText(FILE, "rc", { "listen.prot": "1" }, OPTS),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'flag --listen.prot: unknown key "listen.prot"; did you mean "listen.port"?' &&
      e.file === undefined,
  );
});

Deno.test("overrides: reject a bad value, naming the flag", () => {
  assert.throws(
    () => parseConfigText(FILE, "rc", { port: { value: "http", flag: "-p" } }, OPTS),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'flag -p: invalid value for "port": expected a port number 1-65535, got "http"',
  );
});

Deno.test("overrides: reject two flags that set the same value", () => {
  const overrides = overridesFromFlags({ "max-process": "3", "max-clients": "4" });
  assert.throws(
    () => parseConfigText(FILE, "rc", overrides, OPTS),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message ===
        'flag --max-clients: duplicate setting "listen.max_clients": also set as "max_process" ' +
          "at flag --max-process",
  );
});

Deno.test("environment: USOGRES_LOG_LEVEL wins over the file and loses to --log-level", () => {
  const env = { USOGRES_LOG_LEVEL: "warning" };
  const text = FILE + 'log.level = "error"\n';
  const fromEnv = parseConfigText(text, "rc", undefined, { env });
  assert.equal(fromEnv.config.log.level, "warning");
  assert.deepEqual(fromEnv.sources.get("log.level"), {
    kind: "env",
    variable: "USOGRES_LOG_LEVEL",
  });
  const fromFlag = parseConfigText(text, "rc", { "log.level": "debug" }, { env });
  assert.equal(fromFlag.config.log.level, "debug");
});

Deno.test("environment: rejects a bad USOGRES_LOG_LEVEL, naming the variable", () => {
  assert.throws(
    () => parseConfigText(FILE, "rc", undefined, { env: { USOGRES_LOG_LEVEL: "loud" } }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message.startsWith(
        'environment variable USOGRES_LOG_LEVEL: invalid value for "USOGRES_LOG_LEVEL"',
      ),
  );
});

Deno.test("environment: PGPASSFILE is the passfile when none is configured", () => {
  const { config, sources } = parseConfigText(FILE, "rc", undefined, {
    env: { PGPASSFILE: "/secrets/pgpass" },
    home: "/home/u",
  });
  assert.equal(config.backendAuth.passfile, "/secrets/pgpass");
  assert.deepEqual(sources.get("backend.passfile"), { kind: "env", variable: "PGPASSFILE" });
  const none = parseConfigText(FILE, "rc", undefined, OPTS);
  assert.equal(none.config.backendAuth.passfile, "/home/u/.pgpass");
});
