/**
 * @module
 * The security settings: `[tls]` (mode derived from cert_file, files required), `[auth]` with
 * `[auth.users]` (verifiers only, never a password in clear, never echoed), `[[hba]]` rules
 * (normalised, every key checked), listen limits, per-backend sslmode, and check-config masking.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  defaultConfig,
  formatEffectiveConfig,
  parseConfigText,
} from "../../../src/config/mod.ts";

const OPTS = { env: {}, home: "/home/u" };
const SCRAM =
  "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$9Vw3x5F6HYfIrjVPp0mMBUZWmoSkwEUxONcTg/eXYgA=:tTh2A7yvL5T+HQTaFF8hbxTtCnK1xL9TJjCvGTv0hso=";

function errorsOf(text: string): readonly ConfigError[] {
  try {
    parseConfigText(text, "f.toml", undefined, OPTS);
  } catch (e: unknown) {
    if (e instanceof ConfigError) return e.errors;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("security config: defaults are TLS off, auth by address, no rules, no limits", () => {
  const { config } = parseConfigText('hostorg = "db"\n', "f.toml", undefined, OPTS);
  assert.equal(config.tls.mode, "disable");
  assert.equal(config.auth.method, undefined);
  assert.deepEqual(config.hba, []);
  assert.equal(config.listen.maxClientsPerAddress, 0);
  assert.equal(config.listen.clientIdleTimeoutMs, 0);
  assert.equal(config.original.sslmode, "prefer");
});

Deno.test("security config: a cert_file turns TLS on; allow/require need both files", () => {
  const { config } = parseConfigText(
    'hostorg = "db"\n[tls]\ncert_file = "/c.pem"\nkey_file = "/k.pem"\nmin_version = "TLSv1.3"\n',
    "f.toml",
    undefined,
    OPTS,
  );
  assert.equal(config.tls.mode, "allow");
  assert.equal(config.tls.minVersion, "TLSv1.3");
  const errors = errorsOf('hostorg = "db"\n[tls]\nmode = "require"\ncert_file = "/c.pem"\n');
  assert.equal(errors[0]?.message, 'f.toml:3: TLS mode "require" needs "tls.key_file"');
});

Deno.test("security config: [auth.users] takes verifiers and refuses a password unseen", () => {
  const { config } = parseConfigText(
    `hostorg = "db"\n[auth]\nmethod = "scram-sha-256"\n[auth.users]\nalice = "${SCRAM}"\n` +
      `bob = "md5${"a".repeat(32)}"\n`,
    "f.toml",
    undefined,
    OPTS,
  );
  assert.equal(config.auth.users.get("alice"), SCRAM);
  assert.equal(config.auth.users.size, 2);
  const errors = errorsOf('hostorg = "db"\n[auth.users]\ncarol = "hunter2"\n');
  assert.equal(errors.length, 1);
  assert.ok(!errors[0]!.message.includes("hunter2"));
  assert.match(errors[0]!.hint ?? "", /usogres passwd carol/);
});

Deno.test("security config: [[hba]] rules are normalised and checked key by key", () => {
  const text = 'hostorg = "db"\n[tls]\ncert_file = "/c"\nkey_file = "/k"\n' +
    '[[hba]]\naddress = "10.0.0.0/8"\ndatabase = "a, b"\nuser = ["u"]\nmethod = "md5"\n' +
    'tls = "required"\n[[hba]]\nmethod = "reject"\n';
  const { config, sources } = parseConfigText(text, "f.toml", undefined, OPTS);
  assert.deepEqual(config.hba, [
    { address: "10.0.0.0/8", database: ["a", "b"], user: ["u"], method: "md5", tls: "required" },
    { address: "all", database: "all", user: "all", method: "reject", tls: "optional" },
  ]);
  assert.deepEqual(sources.get("hba.1"), { kind: "file", file: "f.toml", line: 11 });
  const bad = errorsOf(
    'hostorg = "db"\n[[hba]]\naddress = "10.0.0.0/33"\nmethod = "trust"\n' +
      '[[hba]]\nmethod = "password"\n[[hba]]\nmethod = "trust"\nport = 1\n' +
      '[[hba]]\nmethod = "trust"\ntls = "required"\n',
  );
  assert.equal(bad.length, 4);
  assert.match(bad[0]!.message, /^f.toml:2: invalid value for "hba.0": expected an address/);
  assert.match(bad[1]!.message, /expected one of "scram-sha-256", "md5"/);
  assert.match(bad[2]!.message, /expected one of the keys address, database/);
  assert.match(bad[3]!.message, /access rule 4 requires TLS, but TLS to clients is disabled/);
});

Deno.test("security config: cert needs a client CA; auth_query needs a role", () => {
  const cert = errorsOf('hostorg = "db"\n[auth]\nmethod = "cert"\n');
  assert.match(cert[0]!.message, /authentication method "cert" needs TLS with "tls.ca_file"/);
  const query = errorsOf('hostorg = "db"\n[auth]\nauth_query = "SELECT 1"\n');
  assert.match(query[0]!.message, /"auth.auth_query" needs a role to run it as/);
  const { config } = parseConfigText(
    'hostorg = "db"\n[backend]\nuser = "pool"\n[auth]\nauth_query = "SELECT 1"\n',
    "f.toml",
    undefined,
    OPTS,
  );
  assert.equal(config.auth.authUser, "pool");
});

Deno.test("security config: sslmode per server, listen limits, and flags cannot set tables", () => {
  const { config } = parseConfigText(
    '[original]\nhost = "db"\nsslmode = "verify-full"\nsslrootcert = "~/ca.pem"\n' +
      '[[copy]]\nhost = "c"\nsslmode = "disable"\n' +
      "[listen]\nmax_clients_per_address = 3\nclient_idle_timeout = 1.5\n" +
      "idle_in_transaction_timeout = 60\n",
    "f.toml",
    undefined,
    OPTS,
  );
  assert.equal(config.original.sslrootcert, "/home/u/ca.pem");
  assert.equal(config.copies[0]?.sslmode, "disable");
  assert.equal(config.listen.maxClientsPerAddress, 3);
  assert.equal(config.listen.clientIdleTimeoutMs, 1500);
  assert.equal(config.listen.idleInTransactionTimeoutMs, 60_000);
  assert.throws(
    () => parseConfigText('hostorg = "db"\n', "f", { "auth.users": "x" }, OPTS),
    /only a TOML file can give/,
  );
});

Deno.test("security config: check-config shows role names but never verifiers", () => {
  const config = defaultConfig({
    original: { host: "db" },
    auth: { users: { alice: SCRAM } },
    log: { dir: "" },
  }, { env: {} });
  const text = formatEffectiveConfig({ config, file: undefined, sources: new Map() });
  assert.match(text, /users = \{ "alice" = "\*\*\*\*\*\*\*\*" \}/);
  assert.ok(!text.includes(SCRAM));
  assert.match(text, /\[tls\]\nmode = "disable"/);
});
