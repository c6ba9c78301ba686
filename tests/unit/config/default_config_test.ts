/**
 * @module
 * `defaultConfig` (configurations built in code) and the exports of `src/config/mod.ts`.
 */

import assert from "node:assert/strict";
import * as mod from "../../../src/config/mod.ts";
import { ConfigError, defaultConfig } from "../../../src/config/mod.ts";

Deno.test("defaultConfig: fills in every default around the given servers", () => {
  const config = defaultConfig(
    { original: { host: "127.0.0.1", port: 5433 }, copies: [{ host: "127.0.0.1", port: 5434 }] },
    { env: {}, home: "/home/u" },
  );
  assert.deepEqual(config, {
    listen: {
      host: "127.0.0.1",
      port: 5432,
      maxClients: 100,
      startupTimeoutMs: 10_000,
      maxMessageSize: 1073741823,
      shutdownTimeoutMs: 30_000,
      maxClientsPerAddress: 0,
      clientIdleTimeoutMs: 0,
      idleInTransactionTimeoutMs: 0,
      workers: 1,
    },
    original: {
      name: "original",
      host: "127.0.0.1",
      port: 5433,
      weight: 1,
      sslmode: "prefer",
      sslrootcert: "",
    },
    copies: [{
      name: "copy",
      host: "127.0.0.1",
      port: 5434,
      weight: 1,
      sslmode: "prefer",
      sslrootcert: "",
    }],
    backendAuth: {
      user: "",
      password: "",
      passfile: "/home/u/.pgpass",
      connectTimeoutMs: 10_000,
      poolSize: 10,
      poolIdleTimeoutMs: 60_000,
    },
    log: { dir: "/home/u/.usogres-log", level: "info", stderr: true },
    replication: {
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
    },
    tls: { mode: "disable", certFile: "", keyFile: "", caFile: "", minVersion: "TLSv1.2" },
    auth: {
      method: undefined,
      trustRemote: false,
      users: new Map(),
      authQuery: "",
      authUser: "",
      authDatabase: "postgres",
    },
    hba: [],
    admin: {
      users: ["postgres"],
      database: "usogres",
      allowRemote: false,
      metricsListen: "127.0.0.1:9930",
    },
    health: { intervalMs: 5000, timeoutMs: 3000, retries: 2, user: "", database: "postgres" },
  });
});

Deno.test("defaultConfig: takes settings in Config's units", () => {
  const config = defaultConfig({
    original: { host: "db" },
    listen: { port: 6432, startupTimeoutMs: 250, maxClients: 2 },
    backendAuth: { connectTimeoutMs: 1500, user: "app" },
    log: { dir: "", level: "debug" },
  }, { env: {} });
  assert.equal(config.listen.startupTimeoutMs, 250);
  assert.equal(config.listen.maxClients, 2);
  assert.equal(config.backendAuth.connectTimeoutMs, 1500);
  assert.equal(config.log.dir, "");
});

Deno.test("defaultConfig: throws every invalid value at once", () => {
  assert.throws(
    () =>
      defaultConfig({
        original: { host: "db", port: 70000 },
        copies: [{ host: "db", name: "original" }],
        listen: { maxClients: 0 },
      }, { env: {} }),
    (e: unknown) =>
      e instanceof ConfigError && e.errors.length === 3 &&
      e.errors[0]!.message === 'defaultConfig: invalid value for "listen.max_clients": ' +
          "expected an integer from 1 to 100000, got 0",
  );
});

Deno.test("config mod.ts: exports exactly the public API", () => {
  assert.deepEqual(Object.keys(mod).sort(), [
    "CONFIG_FLAGS",
    "ConfigError",
    "configFlagOptions",
    "defaultConfig",
    "defaultSearchPaths",
    "effectiveSettings",
    "formatEffectiveConfig",
    "loadConfig",
    "overridesFromFlags",
    "parseAddress",
    "parseConfigText",
    "tomlValue",
  ]);
});

Deno.test("ConfigError: aggregates several errors and keeps a single one as itself", () => {
  const a = new ConfigError({ where: "f:1", file: "f", line: 1, message: "a" });
  const b = new ConfigError({ where: "f:2", file: "f", line: 2, message: "b" });
  assert.equal(ConfigError.aggregate([a]), a);
  assert.deepEqual(a.errors, [a]);
  const both = ConfigError.aggregate([a, b]);
  assert.deepEqual(both.errors, [a, b]);
  assert.equal(both.message, "f:1: a\nf:2: b");
  assert.equal(both.name, "ConfigError");
  assert.throws(() => ConfigError.aggregate([]), RangeError);
});
