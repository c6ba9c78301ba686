/**
 * @module
 * Access rules: address parsing and ranges, loopback, and the method each connection gets, with
 * the refusals' SQLSTATEs (28000 every time).
 */

import assert from "node:assert/strict";
import type { AuthMethod, HbaRule } from "../../../src/config/mod.ts";
import { PgError } from "../../../src/protocol/mod.ts";
import {
  type AccessSettings,
  addressMatches,
  chooseMethod,
  type ConnectionFacts,
  isLoopback,
  parseIp,
} from "../../../src/session/access_rules.ts";

function rule(r: Partial<HbaRule> & { method: AuthMethod }): HbaRule {
  return { address: "all", database: "all", user: "all", tls: "optional", ...r };
}

function settings(s: Partial<AccessSettings> = {}): AccessSettings {
  return {
    tls: { mode: "allow" },
    auth: { method: undefined, trustRemote: false },
    hba: [],
    ...s,
  };
}

const facts = (f: Partial<ConnectionFacts> = {}): ConnectionFacts => ({
  address: "127.0.0.1",
  user: "alice",
  database: "app",
  tls: false,
  ...f,
});

function refusal(fn: () => unknown): PgError {
  try {
    fn();
  } catch (e: unknown) {
    if (e instanceof PgError) return e;
    throw e;
  }
  assert.fail("expected a PgError");
}

Deno.test("parseIp: reads IPv4, IPv6, compressed and mapped forms and refuses the rest", () => {
  assert.deepEqual([...parseIp("10.1.2.3")!.subarray(10)], [0xff, 0xff, 10, 1, 2, 3]);
  assert.equal(parseIp("::1")![15], 1);
  assert.deepEqual(parseIp("::ffff:127.0.0.1"), parseIp("127.0.0.1"));
  assert.deepEqual(parseIp("fe80:0:0:0:0:0:0:1"), parseIp("fe80::1"));
  for (const bad of ["256.0.0.1", "1.2.3", "::1::2", "1:2:3:4:5:6:7:8:9", "g::1", "local", ""]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("addressMatches: CIDR ranges for IPv4 and IPv6, exact addresses, and all", () => {
  assert.ok(addressMatches("10.1.2.3", "10.0.0.0/8"));
  assert.ok(!addressMatches("11.1.2.3", "10.0.0.0/8"));
  assert.ok(addressMatches("192.168.1.77", "192.168.1.64/26"));
  assert.ok(!addressMatches("192.168.1.128", "192.168.1.64/26"));
  assert.ok(addressMatches("127.0.0.1", "127.0.0.1"));
  assert.ok(!addressMatches("127.0.0.2", "127.0.0.1"));
  assert.ok(addressMatches("127.0.0.2", "0.0.0.0/0"));
  assert.ok(!addressMatches("::1", "0.0.0.0/0"));
  assert.ok(addressMatches("2001:db8::5", "2001:db8::/32"));
  assert.ok(!addressMatches("2001:db9::5", "2001:db8::/32"));
  assert.ok(addressMatches("local", "all"));
  assert.ok(!addressMatches("local", "127.0.0.1/32"));
});

Deno.test("isLoopback: 127.0.0.0/8, ::1, mapped loopback and Unix sockets only", () => {
  for (const a of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "local"]) {
    assert.ok(isLoopback(a), a);
  }
  for (const a of ["10.0.0.1", "::2", "0.0.0.0", "::", "128.0.0.1"]) assert.ok(!isLoopback(a), a);
});

Deno.test("chooseMethod: trust on loopback and scram-sha-256 elsewhere when nothing is configured", () => {
  assert.equal(chooseMethod(settings(), facts()).method, "trust");
  assert.equal(chooseMethod(settings(), facts({ address: "10.0.0.9" })).method, "scram-sha-256");
  const md5 = settings({ auth: { method: "md5", trustRemote: false } });
  assert.equal(chooseMethod(md5, facts()).method, "md5");
  assert.equal(chooseMethod(md5, facts({ address: "10.0.0.9" })).method, "md5");
});

Deno.test("chooseMethod: the first matching rule wins", () => {
  const s = settings({
    hba: [
      rule({ address: "10.0.0.0/8", user: ["bob"], method: "md5" }),
      rule({ database: ["app"], method: "scram-sha-256", tls: "required" }),
      rule({ address: "127.0.0.1/32", method: "trust" }),
      rule({ method: "cert" }),
    ],
  });
  assert.deepEqual(chooseMethod(s, facts({ address: "10.2.3.4", user: "bob" })), {
    method: "md5",
    rule: 1,
  });
  assert.deepEqual(chooseMethod(s, facts({ tls: true })), { method: "scram-sha-256", rule: 2 });
  // Without TLS, rule 2 does not apply (hostssl) and the loopback rule does.
  assert.deepEqual(chooseMethod(s, facts()), { method: "trust", rule: 3 });
  assert.deepEqual(chooseMethod(s, facts({ address: "10.2.3.4", database: "x" })), {
    method: "cert",
    rule: 4,
  });
});

Deno.test("chooseMethod: no matching rule is FATAL 28000 naming host, user, database, encryption", () => {
  const s = settings({ hba: [rule({ address: "10.0.0.0/8", method: "trust" })] });
  const e = refusal(() => chooseMethod(s, facts({ address: "192.168.0.5", tls: true })));
  assert.equal(e.code, "28000");
  assert.equal(e.severity, "FATAL");
  assert.equal(
    e.message,
    'no usogres access rule for host "192.168.0.5", user "alice", database "app", SSL encryption',
  );
});

Deno.test("chooseMethod: tls mode require refuses plain text before any rule", () => {
  const s = settings({ tls: { mode: "require" }, hba: [rule({ method: "trust" })] });
  const e = refusal(() => chooseMethod(s, facts()));
  assert.equal(e.code, "28000");
  assert.match(e.message, /no encryption$/);
  assert.equal(chooseMethod(s, facts({ tls: true })).method, "trust");
});

Deno.test("chooseMethod: reject, and trust from a remote host without trust_remote, are 28000", () => {
  const reject = settings({ hba: [rule({ method: "reject" })] });
  assert.equal(refusal(() => chooseMethod(reject, facts())).code, "28000");
  const trust = settings({ auth: { method: "trust", trustRemote: false } });
  const e = refusal(() => chooseMethod(trust, facts({ address: "10.0.0.1" })));
  assert.equal(e.code, "28000");
  assert.match(e.message, /trust authentication is not allowed/);
  const allowed = settings({ auth: { method: "trust", trustRemote: true } });
  assert.equal(chooseMethod(allowed, facts({ address: "10.0.0.1" })).method, "trust");
});
