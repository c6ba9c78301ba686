import assert from "node:assert/strict";
import {
  decodeBind,
  decodeBindFull,
  decodeParameterDescription,
  encodeBind,
  encodeParameterDescription,
  ProtocolError,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("decodeBindFull: round-trips formats, parameters and result formats", () => {
  const bytes = encodeBind({
    portal: "p",
    statement: "s",
    paramFormats: [0, 1, 0],
    params: ["42", bytesOf(0, 0, 0, 7), null],
    resultFormats: [1],
  });
  const m = decodeBindFull(toFrame(bytes));
  assert.deepEqual({ ...m, frame: undefined }, {
    type: "Bind",
    frame: undefined,
    portal: "p",
    statement: "s",
    paramFormats: [0, 1, 0],
    params: [bytesOf("42"), bytesOf(0, 0, 0, 7), null],
    resultFormats: [1],
  });
});

Deno.test("decodeBind: reads the same names as decodeBindFull", () => {
  const bytes = encodeBind({ portal: "", statement: "stmt_1", params: ["x"] });
  const routing = decodeBind(toFrame(bytes));
  assert.equal(routing.portal, "");
  assert.equal(routing.statement, "stmt_1");
});

Deno.test("decodeBindFull: rejects a parameter count beyond the message", () => {
  // portal "", statement "", 0 formats, 2 params, one NULL only
  const bytes = bytesOf("B", 0, 0, 0, 14, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff);
  assert.throws(() => decodeBindFull(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeBindFull: accepts 65,535 NULL parameters (count read as unsigned)", () => {
  const params = new Array<null>(65535).fill(null);
  const m = decodeBindFull(toFrame(encodeBind({ params })));
  assert.equal(m.params.length, 65535);
});

Deno.test("decodeParameterDescription: round-trips OIDs", () => {
  const oids = [23, 25, 0xffffffff];
  assert.deepEqual(decodeParameterDescription(toFrame(encodeParameterDescription(oids))), oids);
});
