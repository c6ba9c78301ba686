/**
 * @module
 * `listen.workers`: default 1, range 1-64, and the settings refused with more than one worker
 * (`replication.failover = "auto"`, `replication.auto_recover`, `listen.max_clients_per_address`),
 * each reported at its own file and line.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  defaultConfig,
  formatEffectiveConfig,
  parseConfigText,
} from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };

function errorsOf(text: string): readonly ConfigError[] {
  try {
    parseConfigText(text, "f.toml", undefined, OPTS);
  } catch (e: unknown) {
    if (e instanceof ConfigError) return e.errors;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("workers config: defaults to 1 and reads a number of workers", () => {
  const base = parseConfigText('hostorg = "db"\n', "f.toml", undefined, OPTS).config;
  assert.equal(base.listen.workers, 1);
  const { config, sources } = parseConfigText(
    '[original]\nhost = "db"\n[listen]\nworkers = 4\n',
    "f.toml",
    undefined,
    OPTS,
  );
  assert.equal(config.listen.workers, 4);
  assert.deepEqual(sources.get("listen.workers"), { kind: "file", file: "f.toml", line: 4 });
  assert.equal(
    defaultConfig({ original: { host: "db" }, listen: { workers: 2 } }).listen.workers,
    2,
  );
});

Deno.test("workers config: rejects 0, 65 and fractions with file:line, key and expected value", () => {
  for (const bad of ["0", "65", "1.5", '"two"']) {
    const errors = errorsOf(`[original]\nhost = "db"\n[listen]\nworkers = ${bad}\n`);
    assert.equal(errors.length, 1, bad);
    assert.match(
      errors[0]!.message,
      /^f\.toml:4: invalid value for "listen.workers": expected an integer from 1 to 64, got /,
    );
    assert.equal(errors[0]!.line, 4);
  }
});

Deno.test("workers config: failover = auto, auto_recover and per-address limits need 1 worker", () => {
  const errors = errorsOf(
    '[original]\nhost = "db"\n[listen]\nworkers = 2\nmax_clients_per_address = 3\n' +
      '[replication]\nfailover = "auto"\nauto_recover = true\n',
  );
  assert.deepEqual(errors.map((e) => [e.line, e.key]), [
    [5, "listen.max_clients_per_address"],
    [7, "replication.failover"],
    [8, "replication.auto_recover"],
  ]);
  assert.equal(
    errors[1]!.message,
    'f.toml:7: "replication.failover" = "auto" needs listen.workers = 1 (it is 2)',
  );
  // With one worker the same settings are fine.
  parseConfigText(
    '[original]\nhost = "db"\n[listen]\nworkers = 1\nmax_clients_per_address = 3\n' +
      '[replication]\nfailover = "auto"\nauto_recover = true\n',
    "f.toml",
    undefined,
    OPTS,
  );
});

Deno.test("workers config: check-config prints listen.workers", () => {
  const loaded = parseConfigText(
    '[original]\nhost = "db"\n[listen]\nworkers = 2\n',
    "f.toml",
    undefined,
    OPTS,
  );
  assert.match(formatEffectiveConfig(loaded), /^workers = 2 {2}# f\.toml:4$/m);
});
