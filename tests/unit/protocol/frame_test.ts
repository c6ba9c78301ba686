import assert from "node:assert/strict";
import {
  encodeQuery,
  encodeSSLRequest,
  headerLength,
  payload,
  ProtocolError,
  retain,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("retain: copies the bytes so the frame outlives its buffer", () => {
  const bytes = encodeQuery("SELECT 1");
  const frame = toFrame(bytes);
  const kept = retain(frame);
  bytes.fill(0);
  assert.equal(kept.code, 0x51);
  assert.deepEqual(kept.bytes, encodeQuery("SELECT 1"));
  assert.notEqual(kept.bytes.buffer, bytes.buffer);
});

Deno.test("payload: skips 5 header bytes of a message and 8 of a startup packet", () => {
  const query = toFrame(encodeQuery("x"));
  assert.equal(headerLength(query), 5);
  assert.deepEqual(payload(query), bytesOf("x", 0));
  const ssl = toFrame(encodeSSLRequest(), true);
  assert.equal(headerLength(ssl), 8);
  assert.equal(payload(ssl).length, 0);
});

Deno.test("toFrame: rejects bytes whose declared length does not match", () => {
  assert.throws(() => toFrame(bytesOf("S", 0, 0, 0, 5)), ProtocolError);
  assert.throws(() => toFrame(bytesOf("S", 0, 0)), ProtocolError);
});
