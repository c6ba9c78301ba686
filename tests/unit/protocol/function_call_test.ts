import assert from "node:assert/strict";
import {
  decodeFunctionCallFull,
  decodeFunctionCallResponse,
  encodeFunctionCall,
  encodeFunctionCallResponse,
  ProtocolError,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("decodeFunctionCallFull: round-trips every field", () => {
  const bytes = encodeFunctionCall(952, [bytesOf(0, 0, 0, 1), null], [1], 1);
  const m = decodeFunctionCallFull(toFrame(bytes));
  assert.deepEqual({ ...m, frame: undefined }, {
    type: "FunctionCall",
    frame: undefined,
    functionOid: 952,
    argFormats: [1],
    args: [bytesOf(0, 0, 0, 1), null],
    resultFormat: 1,
  });
});

Deno.test("decodeFunctionCallFull: rejects a missing result format", () => {
  const bytes = bytesOf("F", 0, 0, 0, 12, 0, 0, 3, 0xb8, 0, 0, 0, 0);
  assert.throws(() => decodeFunctionCallFull(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeFunctionCallResponse: round-trips a value and NULL", () => {
  assert.deepEqual(
    decodeFunctionCallResponse(toFrame(encodeFunctionCallResponse(bytesOf("ok")))),
    bytesOf("ok"),
  );
  assert.equal(decodeFunctionCallResponse(toFrame(encodeFunctionCallResponse(null))), null);
});
