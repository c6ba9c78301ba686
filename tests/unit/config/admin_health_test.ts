/**
 * @module
 * The `[admin]` and `[health]` sections: defaults, values and their sources, every invalid value
 * (role lists, names, listening addresses, seconds and retries), arrays refused by text sources,
 * `check-config` output that parses back, `effectiveSettings` and `defaultConfig`.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  defaultConfig,
  effectiveSettings,
  formatEffectiveConfig,
  parseConfigText,
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

/** Parses `ORIGINAL` plus `[section]` holding `body`, and returns its errors. */
function sectionErrors(section: string, body: string): readonly ConfigError[] {
  return errorsOf(() =>
    parseConfigText(`${ORIGINAL}[${section}]\n${body}\n`, "f.toml", undefined, OPTS)
  );
}

Deno.test("admin config: defaults to postgres on loopback, database usogres, metrics on 9930", () => {
  const { config, sources } = parseConfigText(ORIGINAL, "f.toml", undefined, OPTS);
  assert.deepEqual(config.admin, {
    users: ["postgres"],
    database: "usogres",
    allowRemote: false,
    metricsListen: "127.0.0.1:9930",
  });
  assert.deepEqual(config.health, {
    intervalMs: 5000,
    timeoutMs: 3000,
    retries: 2,
    user: "",
    database: "postgres",
  });
  for (const path of ["admin.users", "admin.metrics_listen", "health.interval", "health.user"]) {
    assert.deepEqual(sources.get(path), { kind: "default" }, path);
  }
});

Deno.test("admin config: reads every key, keeping the case of role names", () => {
  const text = ORIGINAL + '[admin]\nusers = ["Ops", "postgres"]\ndatabase = "pgadmin"\n' +
    'allow_remote = true\nmetrics_listen = "[::1]:9187"\n' +
    '[health]\ninterval = 0.5\ntimeout = 0.25\nretries = 5\nuser = "monitor"\ndatabase = "app"\n';
  const { config, sources } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.deepEqual(config.admin, {
    users: ["Ops", "postgres"],
    database: "pgadmin",
    allowRemote: true,
    metricsListen: "[::1]:9187",
  });
  assert.deepEqual(config.health, {
    intervalMs: 500,
    timeoutMs: 250,
    retries: 5,
    user: "monitor",
    database: "app",
  });
  assert.deepEqual(sources.get("admin.users"), { kind: "file", file: "f.toml", line: 4 });
  assert.deepEqual(sources.get("health.retries"), { kind: "file", file: "f.toml", line: 11 });
});

Deno.test("admin config: an empty metrics_listen, an empty users list and interval 0 are allowed", () => {
  const text = ORIGINAL + '[admin]\nusers = []\nmetrics_listen = ""\n[health]\ninterval = 0\n';
  const { config } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.deepEqual(config.admin.users, []);
  assert.equal(config.admin.metricsListen, "");
  assert.equal(config.health.intervalMs, 0);
});

Deno.test("admin config: rejects a metrics_listen that is not host:port", () => {
  for (
    const value of ['"9930"', '"localhost"', '"::1:9930"', '"h:0"', '"h:65536"', '"a b:1"', "9930"]
  ) {
    const [e, ...rest] = sectionErrors("admin", `metrics_listen = ${value}`);
    assert.equal(rest.length, 0, value);
    assert.equal(e?.key, "admin.metrics_listen", value);
    assert.equal(e?.expected, 'an address "host:port" (IPv6 as "[::1]:port"), or "" for none');
  }
  for (const ok of ["localhost:1", "0.0.0.0:65535", "[::]:80", "[::ffff:127.0.0.1]:9"]) {
    const text = `${ORIGINAL}[admin]\nmetrics_listen = "${ok}"\n`;
    assert.equal(parseConfigText(text, "f.toml", undefined, OPTS).config.admin.metricsListen, ok);
  }
});

Deno.test("admin config: rejects a users list that is not an array of names, naming the index", () => {
  const [notArray] = sectionErrors("admin", 'users = "postgres"');
  assert.equal(notArray?.key, "admin.users");
  assert.equal(notArray?.hint, 'Write an array, as in ["postgres"].');
  const cases: [string, string][] = [
    ['["ok", 7]', "7 at index 1"],
    ['[""]', '"" at index 0'],
    [`["ok", "${"x".repeat(64)}"]`, `"${"x".repeat(64)}" at index 1`],
  ];
  for (const [list, actual] of cases) {
    const [e, ...rest] = sectionErrors("admin", `users = ${list}`);
    assert.equal(rest.length, 0, list);
    assert.equal(e?.actual, actual);
    assert.match(e?.expected ?? "", /^a role name of 1 to 63 bytes at index \d$/);
  }
});

Deno.test("admin config: rejects empty or too long database names", () => {
  for (const [section, key] of [["admin", "database"], ["health", "database"]] as const) {
    for (const value of ['""', `"${"d".repeat(64)}"`, "5"]) {
      const [e] = sectionErrors(section, `${key} = ${value}`);
      assert.equal(e?.key, `${section}.${key}`, value);
      assert.equal(e?.expected, "a name of 1 to 63 bytes");
    }
  }
});

Deno.test("health config: rejects intervals, timeouts and retries out of range", () => {
  const cases: [string, string][] = [
    ["interval = -1", "a number of seconds from 0 to 3600"],
    ["interval = 3601", "a number of seconds from 0 to 3600"],
    ["timeout = 0", "a number of seconds greater than 0 and at most 3600"],
    ["retries = 0", "an integer from 1 to 1000"],
    ["retries = 1.5", "an integer from 1 to 1000"],
  ];
  for (const [line, expected] of cases) {
    const [e, ...rest] = sectionErrors("health", line);
    assert.equal(rest.length, 0, line);
    assert.equal(e?.expected, expected, line);
  }
  assert.equal(
    sectionErrors("health", 'retries = "3"')[0]?.hint,
    "Write numbers and booleans without quotes.",
  );
});

Deno.test("admin config: text sources give scalars but not the users array", () => {
  const legacy = 'hostorg = "db"\nadmin.allow_remote = on\nhealth.interval = 2\n';
  const { config } = parseConfigText(legacy, "usogresrc", { "health.retries": "4" }, OPTS);
  assert.equal(config.admin.allowRemote, true);
  assert.equal(config.health.intervalMs, 2000);
  assert.equal(config.health.retries, 4);
  const [e] = errorsOf(() =>
    parseConfigText(legacy + "admin.users = [postgres]\n", "usogresrc", undefined, OPTS)
  );
  assert.equal(
    e?.message,
    'usogresrc:4: "admin.users" takes an array, which the legacy rc format cannot hold',
  );
  const [flag] = errorsOf(() =>
    parseConfigText(ORIGINAL, "f.toml", { "admin.users": "postgres" }, OPTS)
  );
  assert.match(flag?.expected ?? "", /^an array of role names, which only a TOML file can give/);
});

Deno.test("admin config: suggests the right key for a misspelling", () => {
  const [e] = sectionErrors("admin", 'metric_listen = ""');
  assert.equal(e?.expected, '"admin.metrics_listen"');
  const [h] = sectionErrors("health", "retrys = 3");
  assert.equal(h?.expected, '"health.retries"');
});

Deno.test("formatEffectiveConfig: prints [admin] and [health] last, and it parses back", () => {
  const text = ORIGINAL + '[admin]\nusers = ["a", "b"]\n[health]\ntimeout = 0.5\n' +
    '[[copy]]\nhost = "c1"\n[[copy]]\nhost = "c2"\n';
  const loaded = parseConfigText(text, "f.toml", undefined, OPTS);
  const out = formatEffectiveConfig(loaded);
  const lines = out.split("\n");
  for (
    const expected of [
      "[admin]",
      'users = ["a", "b"]  # f.toml:4',
      'metrics_listen = "127.0.0.1:9930"  # default',
      "[health]",
      "timeout = 0.5  # f.toml:6",
      "retries = 2  # default",
    ]
  ) {
    assert.ok(lines.includes(expected), `missing line: ${expected}`);
  }
  assert.equal(lines.filter((l) => l === "[[copy]]").length, 2);
  assert.ok(lines.indexOf("[admin]") > lines.indexOf("[replication]"));
  assert.ok(lines.indexOf("[health]") > lines.indexOf("[admin]"));
  const again = parseConfigText(out, "out.toml", undefined, OPTS);
  assert.deepEqual(again.config, loaded.config);
});

Deno.test("effectiveSettings: lists every value with its path, section and source, password masked", () => {
  const text = ORIGINAL + '[backend]\npassword = "secret"\n[[copy]]\nhost = "c1"\n';
  const rows = effectiveSettings(parseConfigText(text, "f.toml", undefined, OPTS));
  const byPath = new Map(rows.map((r) => [r.path, r]));
  assert.deepEqual(byPath.get("original.host"), {
    path: "original.host",
    section: "[original]",
    leaf: "host",
    value: "db",
    source: "f.toml:2",
  });
  assert.equal(byPath.get("backend.password")?.value, "********");
  assert.equal(byPath.get("copy.0.host")?.section, "[[copy]]");
  assert.equal(byPath.get("health.interval")?.value, 5);
  assert.equal(byPath.get("health.interval")?.source, "default");
  assert.ok(!rows.some((r) => JSON.stringify(r.value).includes("secret")));
});

Deno.test("defaultConfig: takes admin and health settings in Config's units", () => {
  const config = defaultConfig({
    original: { host: "db" },
    admin: { users: ["ops"], metricsListen: "", allowRemote: true },
    health: { intervalMs: 250, timeoutMs: 100, retries: 1 },
  }, { env: {}, home: "/h" });
  assert.deepEqual(config.admin, {
    users: ["ops"],
    database: "usogres",
    allowRemote: true,
    metricsListen: "",
  });
  assert.deepEqual(config.health, {
    intervalMs: 250,
    timeoutMs: 100,
    retries: 1,
    user: "",
    database: "postgres",
  });
  const [e] = errorsOf(() =>
    defaultConfig({ original: { host: "db" }, admin: { metricsListen: "nope" } }, { env: {} })
  );
  assert.equal(e?.key, "admin.metrics_listen");
});
