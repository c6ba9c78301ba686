import assert from "node:assert/strict";
import {
  decodeCopyFail,
  decodeCopyResponse,
  encodeCopyData,
  encodeCopyFail,
  encodeCopyInResponse,
  payload,
  ProtocolError,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("encodeCopyData: the payload is the data, unchanged", () => {
  const data = bytesOf(1, 0, 255, "\\N\n");
  assert.deepEqual(payload(toFrame(encodeCopyData(data))), data);
});

Deno.test("decodeCopyFail: round-trips the message", () => {
  assert.equal(decodeCopyFail(toFrame(encodeCopyFail("client gave up"))).message, "client gave up");
});

Deno.test("decodeCopyResponse: rejects a column count beyond the message", () => {
  const bytes = bytesOf("G", 0, 0, 0, 9, 0, 0, 3, 0, 0);
  assert.throws(() => decodeCopyResponse(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeCopyResponse: rejects another message type", () => {
  assert.throws(() => decodeCopyResponse(toFrame(encodeCopyFail("x"))), ProtocolError);
  assert.equal(decodeCopyResponse(toFrame(encodeCopyInResponse(0, [0]))).type, "CopyInResponse");
});
