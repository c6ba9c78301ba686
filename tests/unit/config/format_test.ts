/**
 * @module
 * `formatEffectiveConfig` (`usogres check-config`): every value with its source, and never the
 * password.
 */

import assert from "node:assert/strict";
import { formatEffectiveConfig, parseConfigText } from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };
const SEED = `host = "10.1.1.20"
port = 5432
hostorg = "10.1.1.20"
portorg = 5434
hostcopy = "10.1.1.21"
portcopy = 5434
logdir = ~/.usogres-log
max_process = 32
`;

Deno.test("formatEffectiveConfig: prints each value with its file line, legacy key or default", () => {
  const loaded = parseConfigText(SEED, "/etc/usogresrc", { port: "6000" }, OPTS);
  const lines = formatEffectiveConfig(loaded).split("\n");
  for (
    const expected of [
      "# configuration file: /etc/usogresrc",
      "[listen]",
      'host = "10.1.1.20"  # /etc/usogresrc:1',
      "port = 6000  # flag --port",
      "max_clients = 32  # /etc/usogresrc:8 (max_process)",
      "startup_timeout = 10  # default",
      "[original]",
      "port = 5434  # /etc/usogresrc:4 (portorg)",
      "[[copy]]",
      'name = "copy"  # default',
      'host = "10.1.1.21"  # /etc/usogresrc:5 (hostcopy)',
      'dir = "/home/u/.usogres-log"  # /etc/usogresrc:7 (logdir)',
      'password = ""  # default',
    ]
  ) {
    assert.ok(lines.includes(expected), `missing line: ${expected}`);
  }
});

Deno.test("formatEffectiveConfig: prints output that parses back to the same configuration", () => {
  const loaded = parseConfigText(SEED, "/etc/usogresrc", undefined, OPTS);
  const again = parseConfigText(formatEffectiveConfig(loaded), "out.toml", undefined, OPTS);
  assert.deepEqual(again.config, loaded.config);
});

Deno.test("formatEffectiveConfig: never prints the password", () => {
  const secret = "s3cr3t-Passw0rd";
  const text = SEED + `backend.password = "${secret}"\n`;
  const out = formatEffectiveConfig(parseConfigText(text, "rc", { "backend.user": "app" }, OPTS));
  assert.ok(!out.includes(secret));
  assert.ok(out.includes('password = "********"  # rc:9'));
  assert.ok(out.includes('user = "app"  # flag --user'));
});

Deno.test("formatEffectiveConfig: says when no file was read", () => {
  const loaded = { ...parseConfigText(SEED, "rc", undefined, OPTS), file: undefined };
  assert.match(formatEffectiveConfig(loaded), /^# no configuration file found/);
});
