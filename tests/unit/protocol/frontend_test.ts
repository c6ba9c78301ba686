import assert from "node:assert/strict";
import {
  COPY_DONE,
  decodeFrontend,
  encodeBind,
  encodeClose,
  encodeCopyData,
  encodeCopyDone,
  encodeCopyFail,
  encodeDescribe,
  encodeExecute,
  encodeFunctionCall,
  encodeParse,
  encodePasswordMessage,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeTerminate,
  FLUSH,
  type FrontendMessage,
  ProtocolError,
  SYNC,
  TERMINATE,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

/** Drops `frame` so the decoded content can be compared. */
function content(m: FrontendMessage): Record<string, unknown> {
  const { frame: _frame, ...rest } = m;
  return rest;
}

function decode(bytes: Uint8Array<ArrayBuffer>): FrontendMessage {
  const m = decodeFrontend(toFrame(bytes));
  assert.equal(m.frame.bytes, bytes, "decoded message carries its frame");
  return m;
}

const CASES: readonly [string, Uint8Array<ArrayBuffer>, Record<string, unknown>][] = [
  ["Query", encodeQuery("SELECT 'é' AS x"), { type: "Query", sql: "SELECT 'é' AS x" }],
  ["Parse", encodeParse("st", "SELECT $1, $2", [23, 0xffffffff]), {
    type: "Parse",
    statement: "st",
    sql: "SELECT $1, $2",
    paramTypes: [23, 0xffffffff],
  }],
  ["Bind", encodeBind({ portal: "p1", statement: "st", params: ["1", null] }), {
    type: "Bind",
    portal: "p1",
    statement: "st",
  }],
  ["Execute", encodeExecute("p1", 100), { type: "Execute", portal: "p1", maxRows: 100 }],
  ["Describe S", encodeDescribe("S", "st"), { type: "Describe", kind: "S", name: "st" }],
  ["Describe P", encodeDescribe("P", ""), { type: "Describe", kind: "P", name: "" }],
  ["Close S", encodeClose("S", "st"), { type: "Close", kind: "S", name: "st" }],
  ["Close P", encodeClose("P", "p1"), { type: "Close", kind: "P", name: "p1" }],
  ["Sync", SYNC, { type: "Sync" }],
  ["Flush", FLUSH, { type: "Flush" }],
  ["Terminate", encodeTerminate(), { type: "Terminate" }],
  ["CopyData", encodeCopyData(bytesOf("1\tx\n")), { type: "CopyData" }],
  ["CopyDone", encodeCopyDone(), { type: "CopyDone" }],
  ["CopyFail", encodeCopyFail("aborted by user"), { type: "CopyFail", message: "aborted by user" }],
  ["FunctionCall", encodeFunctionCall(1598, [bytesOf("x"), null]), {
    type: "FunctionCall",
    functionOid: 1598,
  }],
  ["PasswordMessage", encodePasswordMessage("secret"), { type: "PasswordMessage" }],
  ["SASLInitialResponse as PasswordMessage", encodeSASLInitialResponse("SCRAM-SHA-256", null), {
    type: "PasswordMessage",
  }],
  ["SASLResponse as PasswordMessage", encodeSASLResponse(bytesOf("c=biws")), {
    type: "PasswordMessage",
  }],
];

for (const [name, bytes, want] of CASES) {
  Deno.test(`decodeFrontend: round-trips ${name}`, () => {
    assert.deepEqual(content(decode(bytes)), want);
  });
}

Deno.test("decodeFrontend: pre-encoded constants equal their encoders", () => {
  assert.deepEqual(TERMINATE, encodeTerminate());
  assert.deepEqual(COPY_DONE, encodeCopyDone());
  assert.deepEqual(SYNC, bytesOf("S", 0, 0, 0, 4));
  assert.deepEqual(FLUSH, bytesOf("H", 0, 0, 0, 4));
});

Deno.test("decodeFrontend: rejects an unknown type byte with 08P01", () => {
  assert.throws(
    () => decodeFrontend(toFrame(bytesOf("Z", 0, 0, 0, 5, "I"))),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("decodeFrontend: rejects a message whose string lacks its NUL terminator", () => {
  for (const bytes of [bytesOf("Q", 0, 0, 0, 5, "x"), bytesOf("P", 0, 0, 0, 6, "s", 0)]) {
    assert.throws(() => decodeFrontend(toFrame(bytes)), ProtocolError);
  }
});

Deno.test("decodeFrontend: rejects trailing bytes after the last field", () => {
  const bytes = bytesOf("Q", 0, 0, 0, 7, "x", 0, "y");
  assert.throws(() => decodeFrontend(toFrame(bytes)), ProtocolError);
  assert.throws(() => decodeFrontend(toFrame(bytesOf("S", 0, 0, 0, 5, 0))), ProtocolError);
});

Deno.test("decodeFrontend: rejects invalid UTF-8 with 08P01", () => {
  const bytes = bytesOf("Q", 0, 0, 0, 7, 0xc3, 0x28, 0);
  assert.throws(
    () => decodeFrontend(toFrame(bytes)),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("decodeFrontend: rejects an unknown Describe or Close subtype", () => {
  assert.throws(() => decodeFrontend(toFrame(bytesOf("D", 0, 0, 0, 6, "X", 0))), ProtocolError);
  assert.throws(() => decodeFrontend(toFrame(bytesOf("C", 0, 0, 0, 6, "X", 0))), ProtocolError);
});

Deno.test("decodeFrontend: rejects a Parse whose parameter count exceeds its length", () => {
  const bytes = bytesOf("P", 0, 0, 0, 12, 0, "x", 0, 0, 2, 0, 0, 0, 23);
  assert.throws(() => decodeFrontend(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeFrontend: decodes Bind routing fields without looking at malformed parameters", () => {
  // Portal and statement are intact; the parameter section is garbage: routing does not care.
  const bytes = bytesOf("B", 0, 0, 0, 9, "p", 0, "s", 0, 0xff);
  const m = decodeFrontend(toFrame(bytes));
  assert.deepEqual(content(m), { type: "Bind", portal: "p", statement: "s" });
});
