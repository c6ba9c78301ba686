import assert from "node:assert/strict";
import {
  CANCEL_REQUEST_CODE,
  decodeStartupPacket,
  encodeCancelRequest,
  encodeGSSENCRequest,
  encodeSSLRequest,
  encodeStartupMessage,
  GSSENC_REQUEST,
  GSSENC_REQUEST_CODE,
  PgError,
  PROTOCOL_3_0,
  ProtocolError,
  SSL_REQUEST,
  SSL_REQUEST_CODE,
  type StartupPacket,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

function decode(bytes: Uint8Array<ArrayBuffer>): StartupPacket {
  return decodeStartupPacket(toFrame(bytes, true));
}

function is08P01(e: unknown): boolean {
  return e instanceof ProtocolError && e.code === "08P01";
}

Deno.test("decodeStartupPacket: round-trips SSLRequest", () => {
  const bytes = encodeSSLRequest();
  assert.deepEqual(bytes, bytesOf(0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f));
  assert.deepEqual(SSL_REQUEST, bytes);
  const m = decode(bytes);
  assert.equal(m.type, "SSLRequest");
  assert.equal(m.frame.code, SSL_REQUEST_CODE);
});

Deno.test("decodeStartupPacket: round-trips GSSENCRequest", () => {
  assert.deepEqual(GSSENC_REQUEST, encodeGSSENCRequest());
  const m = decode(encodeGSSENCRequest());
  assert.equal(m.type, "GSSENCRequest");
  assert.equal(m.frame.code, GSSENC_REQUEST_CODE);
});

Deno.test("decodeStartupPacket: round-trips CancelRequest", () => {
  const m = decode(encodeCancelRequest(31337, -2));
  assert.equal(m.frame.code, CANCEL_REQUEST_CODE);
  assert.deepEqual({ ...m, frame: undefined }, {
    type: "CancelRequest",
    frame: undefined,
    processId: 31337,
    secretKey: -2,
  });
});

Deno.test("decodeStartupPacket: round-trips StartupMessage with parameters and _pq_ options", () => {
  const params = new Map([
    ["user", "alice"],
    ["database", "shop"],
    ["application_name", "psql ünï"],
    ["options", "-c search_path=app"],
    ["_pq_.compression", "on"],
  ]);
  const m = decode(encodeStartupMessage(params, 2));
  assert.equal(m.type, "StartupMessage");
  if (m.type !== "StartupMessage") return;
  assert.equal(m.frame.code, PROTOCOL_3_0 + 2);
  assert.equal(m.majorVersion, 3);
  assert.equal(m.minorVersion, 2);
  assert.deepEqual(
    m.parameters,
    new Map([...params].filter(([k]) => !k.startsWith("_pq_."))),
  );
  assert.deepEqual(m.protocolOptions, ["_pq_.compression"]);
});

Deno.test("decodeStartupPacket: accepts a record of parameters and an empty list", () => {
  const m = decode(encodeStartupMessage({}));
  assert.equal(m.type, "StartupMessage");
  assert.equal(m.frame.bytes.length, 9);
  if (m.type === "StartupMessage") assert.equal(m.parameters.size, 0);
});

Deno.test("decodeStartupPacket: rejects a StartupMessage without its final terminator", () => {
  // user\0alice\0 with no trailing NUL
  const bytes = bytesOf(0, 0, 0, 19, 0, 3, 0, 0, "user", 0, "alice", 0);
  assert.throws(() => decode(bytes), is08P01);
});

Deno.test("decodeStartupPacket: rejects a StartupMessage with a name but no value", () => {
  const bytes = bytesOf(0, 0, 0, 14, 0, 3, 0, 0, "user", 0, 0);
  assert.throws(() => decode(bytes), is08P01);
});

Deno.test("decodeStartupPacket: rejects bytes after the terminator", () => {
  const bytes = bytesOf(0, 0, 0, 10, 0, 3, 0, 0, 0, 0);
  assert.throws(() => decode(bytes), is08P01);
});

Deno.test("decodeStartupPacket: rejects an SSLRequest or CancelRequest of the wrong length", () => {
  assert.throws(() => decode(bytesOf(0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0)), is08P01);
  assert.throws(() => decode(bytesOf(0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1)), is08P01);
});

Deno.test("decodeStartupPacket: rejects protocol 2.0 with FATAL 0A000", () => {
  assert.throws(
    () => decode(bytesOf(0, 0, 0, 9, 0, 2, 0, 0, 0)),
    (e: unknown) => e instanceof PgError && e.code === "0A000" && e.severity === "FATAL",
  );
});

Deno.test("decodeStartupPacket: rejects invalid UTF-8 in a parameter", () => {
  const bytes = bytesOf(0, 0, 0, 16, 0, 3, 0, 0, "user", 0, 0xff, 0, 0);
  assert.throws(() => decode(bytes), is08P01);
});

Deno.test("toFrame: rejects a startup packet whose length does not match", () => {
  assert.throws(() => toFrame(bytesOf(0, 0, 0, 9, 0, 3, 0, 0), true), is08P01);
});
