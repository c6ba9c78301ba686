import assert from "node:assert/strict";
import {
  decodeAuthentication,
  decodeGSSResponse,
  decodePassword,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  encodeAuthenticationMD5Password,
  encodeGSSResponse,
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  ProtocolError,
  saslText,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("decodePassword: round-trips a PasswordMessage", () => {
  const bytes = encodePasswordMessage("md5a3556571e93b0d20722ba62be61e8c2d");
  assert.equal(decodePassword(toFrame(bytes)), "md5a3556571e93b0d20722ba62be61e8c2d");
});

Deno.test("decodePassword: rejects bytes after the password", () => {
  const bytes = bytesOf("p", 0, 0, 0, 8, "pw", 0, "x");
  assert.throws(() => decodePassword(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeSASLInitialResponse: round-trips with data", () => {
  const data = bytesOf("n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  const m = decodeSASLInitialResponse(toFrame(encodeSASLInitialResponse("SCRAM-SHA-256", data)));
  assert.equal(m.type, "SASLInitialResponse");
  assert.equal(m.mechanism, "SCRAM-SHA-256");
  assert.deepEqual(m.data, data);
  assert.equal(saslText(m.data ?? new Uint8Array()), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
});

Deno.test("decodeSASLInitialResponse: round-trips without data (length -1)", () => {
  const m = decodeSASLInitialResponse(toFrame(encodeSASLInitialResponse("SCRAM-SHA-256", null)));
  assert.equal(m.data, null);
});

Deno.test("decodeSASLInitialResponse: rejects a data length past the end", () => {
  const bytes = bytesOf("p", 0, 0, 0, 12, "M", 0, 0, 0, 0, 9, "ab");
  assert.throws(() => decodeSASLInitialResponse(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeSASLResponse: round-trips", () => {
  const data = bytesOf("c=biws,r=abc,p=xyz");
  const m = decodeSASLResponse(toFrame(encodeSASLResponse(data)));
  assert.equal(m.type, "SASLResponse");
  assert.deepEqual(m.data, data);
});

Deno.test("decodeGSSResponse: round-trips", () => {
  const m = decodeGSSResponse(toFrame(encodeGSSResponse(bytesOf(1, 2, 3))));
  assert.deepEqual(m.data, bytesOf(1, 2, 3));
});

Deno.test("decodeAuthentication: copies the MD5 salt out of the frame", () => {
  const bytes = encodeAuthenticationMD5Password(bytesOf(1, 2, 3, 4));
  const m = decodeAuthentication(toFrame(bytes));
  bytes.fill(0);
  assert.equal(m.type, "AuthenticationMD5Password");
  if (m.type === "AuthenticationMD5Password") assert.deepEqual(m.salt, bytesOf(1, 2, 3, 4));
});

Deno.test("decodeAuthentication: rejects an MD5 request without a full salt", () => {
  const bytes = bytesOf("R", 0, 0, 0, 10, 0, 0, 0, 5, 1, 2);
  assert.throws(() => decodeAuthentication(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeAuthentication: rejects a SASL mechanism list without its terminator", () => {
  const bytes = bytesOf("R", 0, 0, 0, 22, 0, 0, 0, 10, "SCRAM-SHA-256", 0);
  assert.throws(() => decodeAuthentication(toFrame(bytes)), ProtocolError);
});

Deno.test("saslText: rejects invalid UTF-8 with 08P01", () => {
  assert.throws(
    () => saslText(bytesOf(0xe2, 0x82)),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("encodeAuthenticationMD5Password: rejects a salt that is not 4 bytes", () => {
  assert.throws(() => encodeAuthenticationMD5Password(bytesOf(1, 2, 3)), RangeError);
});
