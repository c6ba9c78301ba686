/**
 * @module
 * Unit tests of RELOAD's plan (`planReload` in `src/admin/reload.ts`): live settings are taken
 * with their sources, every other change is named as needing a restart and keeps its value.
 */

import assert from "node:assert/strict";
import { LIVE_SETTINGS, planReload } from "../../../src/admin/mod.ts";
import { parseConfigText } from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/h" };
const BASE = '[original]\nhost = "db"\n[[copy]]\nhost = "c"\n';

function load(extra: string) {
  return parseConfigText(BASE + extra, "f.toml", undefined, OPTS);
}

Deno.test("planReload: nothing changed, nothing to report", () => {
  const plan = planReload(load(""), load(""));
  assert.deepEqual(plan.applied, []);
  assert.deepEqual(plan.restartNeeded, []);
});

Deno.test("planReload: applies live settings with their new sources", () => {
  const current = load("");
  const next = load(
    '[log]\nlevel = "debug"\n[health]\ninterval = 1\nretries = 5\n' +
      '[admin]\nusers = ["ops"]\nallow_remote = true\n',
  );
  const plan = planReload(current, next);
  assert.deepEqual(plan.applied.map((a) => `${a.path}=${a.value}`).sort(), [
    "admin.allow_remote=true",
    'admin.users=["ops"]',
    "health.interval=1",
    "health.retries=5",
    'log.level="debug"',
  ]);
  assert.deepEqual(plan.restartNeeded, []);
  const c = plan.loaded.config;
  assert.equal(c.log.level, "debug");
  assert.equal(c.health.intervalMs, 1000);
  assert.equal(c.health.retries, 5);
  assert.deepEqual(c.admin.users, ["ops"]);
  assert.equal(c.admin.allowRemote, true);
  assert.deepEqual(plan.loaded.sources.get("health.interval"), {
    kind: "file",
    file: "f.toml",
    line: 8,
  });
});

Deno.test("planReload: names other changes as needing a restart and keeps their values", () => {
  const current = load("");
  const next = load(
    '[listen]\nport = 6000\n[admin]\nmetrics_listen = ""\n[backend]\npassword = "new"\n' +
      '[[copy]]\nhost = "c2"\n',
  );
  const plan = planReload(current, next);
  assert.deepEqual(plan.applied, []);
  const needed = [...plan.restartNeeded].sort();
  assert.deepEqual(needed.filter((p) => !p.startsWith("copy.1.")), [
    "admin.metrics_listen",
    "backend.password",
    "listen.port",
  ]);
  assert.ok(needed.includes("copy.1.host") && needed.includes("copy.1.name"), needed.join(", "));
  assert.equal(plan.loaded.config.listen.port, 5432);
  assert.equal(plan.loaded.config.copies.length, 1);
  assert.equal(plan.loaded.config.admin.metricsListen, "127.0.0.1:9930");
  assert.equal(plan.loaded.config.backendAuth.password, "");
});

Deno.test("planReload: every live setting is a known setting", () => {
  const paths = new Set(load("").sources.keys());
  for (const p of LIVE_SETTINGS) assert.ok(paths.has(p), p);
});
