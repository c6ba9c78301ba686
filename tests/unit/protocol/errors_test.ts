import assert from "node:assert/strict";
import {
  decodeErrorResponse,
  PgError,
  ProtocolError,
  toClientError,
  toFrame,
} from "../../../src/protocol/mod.ts";

const CONSTRUCTORS: readonly [string, PgError, string, string][] = [
  ["protocolViolation", PgError.protocolViolation("invalid message length"), "FATAL", "08P01"],
  ["featureNotSupported", PgError.featureNotSupported("x", "D.", "H."), "ERROR", "0A000"],
  ["unsupportedFrontendProtocol", PgError.unsupportedFrontendProtocol(2, 0), "FATAL", "0A000"],
  ["tooManyConnections", PgError.tooManyConnections(), "FATAL", "53300"],
  ["cannotConnectNow", PgError.cannotConnectNow("the original is down"), "FATAL", "57P03"],
  ["connectionFailure", PgError.connectionFailure("lost the original"), "FATAL", "08006"],
  ["adminShutdown", PgError.adminShutdown(), "FATAL", "57P01"],
  ["idleSessionTimeout", PgError.idleSessionTimeout(), "FATAL", "57P05"],
  ["invalidPassword", PgError.invalidPassword("bob"), "FATAL", "28P01"],
  ["invalidAuthorization", PgError.invalidAuthorization("role not allowed"), "FATAL", "28000"],
  ["invalidCatalogName", PgError.invalidCatalogName("shop"), "FATAL", "3D000"],
  ["configurationLimitExceeded", PgError.configurationLimitExceeded("x"), "ERROR", "54000"],
  ["internal", PgError.internal("internal error"), "ERROR", "XX000"],
];

for (const [name, error, severity, code] of CONSTRUCTORS) {
  Deno.test(`PgError.${name}: has severity ${severity} and SQLSTATE ${code}`, () => {
    assert.equal(error.severity, severity);
    assert.equal(error.code, code);
    assert.ok(error instanceof Error);
    assert.doesNotMatch(error.message, /\.$/);
  });
}

Deno.test("PgError: encodes an ErrorResponse with S, V, C, M, D and H", () => {
  const e = PgError.featureNotSupported(
    "statement cannot be replicated",
    "It calls a volatile function.",
    "Run it on the original.",
  );
  const m = decodeErrorResponse(toFrame(e.encode()));
  assert.deepEqual([...m.fields], [
    ["S", "ERROR"],
    ["V", "ERROR"],
    ["C", "0A000"],
    ["M", "statement cannot be replicated"],
    ["D", "It calls a volatile function."],
    ["H", "Run it on the original."],
  ]);
});

Deno.test("PgError: omits D and H when absent", () => {
  const m = decodeErrorResponse(toFrame(PgError.tooManyConnections().encode()));
  assert.deepEqual([...m.fields.keys()], ["S", "V", "C", "M"]);
  assert.equal(m.message, "sorry, too many clients already");
});

Deno.test("ProtocolError: is always FATAL 08P01", () => {
  const e = new ProtocolError("invalid message format");
  assert.ok(e instanceof PgError);
  assert.equal(e.severity, "FATAL");
  assert.equal(e.code, "08P01");
});

Deno.test("toClientError: passes a PgError through", () => {
  const e = PgError.adminShutdown();
  assert.equal(toClientError(e), e);
});

Deno.test("toClientError: maps anything else to XX000 without leaking its message", () => {
  const cause = new TypeError("secret internals at /etc/usogres");
  const e = toClientError(cause);
  assert.equal(e.code, "XX000");
  assert.equal(e.message, "internal error");
  assert.equal(e.cause, cause);
  assert.equal(toClientError("a string").code, "XX000");
});

Deno.test("PgError: encodes a message quoting a NUL from a client instead of throwing", () => {
  const e = new PgError("FATAL", "08P01", 'unsupported SCRAM channel-binding type "a\0b"', {
    detail: "x\0y",
  });
  const text = new TextDecoder().decode(e.encode());
  assert.match(text, /Munsupported SCRAM channel-binding type "a\\0b"\0/);
  assert.match(text, /Dx\\0y\0/);
});
