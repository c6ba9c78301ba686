import assert from "node:assert/strict";
import {
  decodeErrorResponse,
  decodeNoticeResponse,
  encodeErrorResponse,
  encodeNoticeResponse,
  ErrorField,
  toFrame,
} from "../../../src/protocol/mod.ts";

Deno.test("decodeErrorResponse: prefers the non-localized severity", () => {
  const m = decodeErrorResponse(
    toFrame(encodeErrorResponse([["S", "FEHLER"], ["V", "ERROR"], ["C", "22012"], ["M", "x"]])),
  );
  assert.equal(m.severity, "ERROR");
  assert.equal(m.fields.get(ErrorField.Severity), "FEHLER");
});

Deno.test("decodeNoticeResponse: falls back to empty strings for missing fields", () => {
  const m = decodeNoticeResponse(toFrame(encodeNoticeResponse([])));
  assert.deepEqual([m.severity, m.code, m.message, m.fields.size], ["", "", "", 0]);
});

Deno.test("encodeErrorResponse: rejects a field code that is not one ASCII character", () => {
  assert.throws(() => encodeErrorResponse([["SS", "x"]]), TypeError);
  assert.throws(() => encodeErrorResponse([["", "x"]]), TypeError);
});
