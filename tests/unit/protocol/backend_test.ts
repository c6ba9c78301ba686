import assert from "node:assert/strict";
import {
  AUTHENTICATION_OK,
  type BackendMessage,
  BIND_COMPLETE,
  CLOSE_COMPLETE,
  COPY_DONE,
  decodeBackend,
  EMPTY_QUERY_RESPONSE,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationGSS,
  encodeAuthenticationGSSContinue,
  encodeAuthenticationKerberosV5,
  encodeAuthenticationMD5Password,
  encodeAuthenticationOk,
  encodeAuthenticationSASL,
  encodeAuthenticationSASLContinue,
  encodeAuthenticationSASLFinal,
  encodeAuthenticationSSPI,
  encodeBackendKeyData,
  encodeCommandComplete,
  encodeCopyBothResponse,
  encodeCopyData,
  encodeCopyInResponse,
  encodeCopyOutResponse,
  encodeDataRow,
  encodeErrorResponse,
  encodeFunctionCallResponse,
  encodeNegotiateProtocolVersion,
  encodeNoticeResponse,
  encodeNotificationResponse,
  encodeParameterDescription,
  encodeParameterStatus,
  encodeReadyForQuery,
  encodeTextRowDescription,
  NO_DATA,
  PARSE_COMPLETE,
  PORTAL_SUSPENDED,
  ProtocolError,
  READY_FOR_QUERY_FAILED,
  READY_FOR_QUERY_IDLE,
  READY_FOR_QUERY_IN_TRANSACTION,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

function content(m: BackendMessage): Record<string, unknown> {
  const { frame: _frame, ...rest } = m;
  return rest;
}

const ERROR_FIELDS = new Map([
  ["S", "ERROR"],
  ["V", "ERROR"],
  ["C", "42P01"],
  ["M", 'relation "nope" does not exist'],
  ["P", "15"],
]);
const NOTICE_FIELDS = new Map([["S", "NOTICE"], ["C", "00000"], ["M", "hello"]]);

const CASES: readonly [string, Uint8Array<ArrayBuffer>, Record<string, unknown>][] = [
  ["AuthenticationOk", encodeAuthenticationOk(), { type: "AuthenticationOk" }],
  ["AuthenticationKerberosV5", encodeAuthenticationKerberosV5(), {
    type: "AuthenticationKerberosV5",
  }],
  ["AuthenticationCleartextPassword", encodeAuthenticationCleartextPassword(), {
    type: "AuthenticationCleartextPassword",
  }],
  ["AuthenticationMD5Password", encodeAuthenticationMD5Password(bytesOf(1, 2, 3, 4)), {
    type: "AuthenticationMD5Password",
    salt: bytesOf(1, 2, 3, 4),
  }],
  ["AuthenticationGSS", encodeAuthenticationGSS(), { type: "AuthenticationGSS" }],
  ["AuthenticationGSSContinue", encodeAuthenticationGSSContinue(bytesOf(9, 8)), {
    type: "AuthenticationGSSContinue",
    data: bytesOf(9, 8),
  }],
  ["AuthenticationSSPI", encodeAuthenticationSSPI(), { type: "AuthenticationSSPI" }],
  ["AuthenticationSASL", encodeAuthenticationSASL(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]), {
    type: "AuthenticationSASL",
    mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
  }],
  ["AuthenticationSASLContinue", encodeAuthenticationSASLContinue(bytesOf("r=abc,s=xyz,i=4096")), {
    type: "AuthenticationSASLContinue",
    data: bytesOf("r=abc,s=xyz,i=4096"),
  }],
  ["AuthenticationSASLFinal", encodeAuthenticationSASLFinal(bytesOf("v=sig")), {
    type: "AuthenticationSASLFinal",
    data: bytesOf("v=sig"),
  }],
  ["BackendKeyData", encodeBackendKeyData(4242, -123456789), {
    type: "BackendKeyData",
    processId: 4242,
    secretKey: -123456789,
  }],
  ["BindComplete", BIND_COMPLETE, { type: "BindComplete" }],
  ["CloseComplete", CLOSE_COMPLETE, { type: "CloseComplete" }],
  ["CommandComplete", encodeCommandComplete("INSERT 0 1"), {
    type: "CommandComplete",
    tag: "INSERT 0 1",
  }],
  ["CopyInResponse", encodeCopyInResponse(0, [0, 0]), {
    type: "CopyInResponse",
    format: 0,
    columnFormats: [0, 0],
  }],
  ["CopyOutResponse", encodeCopyOutResponse(1, [1]), {
    type: "CopyOutResponse",
    format: 1,
    columnFormats: [1],
  }],
  ["CopyBothResponse", encodeCopyBothResponse(0, []), {
    type: "CopyBothResponse",
    format: 0,
    columnFormats: [],
  }],
  ["CopyData", encodeCopyData(bytesOf("a\n")), { type: "CopyData" }],
  ["CopyDone", COPY_DONE, { type: "CopyDone" }],
  ["DataRow", encodeDataRow(["1", null]), { type: "DataRow" }],
  ["EmptyQueryResponse", EMPTY_QUERY_RESPONSE, { type: "EmptyQueryResponse" }],
  ["ErrorResponse", encodeErrorResponse(ERROR_FIELDS), {
    type: "ErrorResponse",
    fields: ERROR_FIELDS,
    severity: "ERROR",
    code: "42P01",
    message: 'relation "nope" does not exist',
  }],
  ["FunctionCallResponse", encodeFunctionCallResponse(bytesOf("t")), {
    type: "FunctionCallResponse",
  }],
  ["NegotiateProtocolVersion", encodeNegotiateProtocolVersion(0, ["_pq_.foo"]), {
    type: "NegotiateProtocolVersion",
    minorVersion: 0,
    unrecognized: ["_pq_.foo"],
  }],
  ["NoData", NO_DATA, { type: "NoData" }],
  ["NoticeResponse", encodeNoticeResponse(NOTICE_FIELDS), {
    type: "NoticeResponse",
    fields: NOTICE_FIELDS,
    severity: "NOTICE",
    code: "00000",
    message: "hello",
  }],
  ["NotificationResponse", encodeNotificationResponse(77, "jobs", '{"id":1}'), {
    type: "NotificationResponse",
    processId: 77,
    channel: "jobs",
    payload: '{"id":1}',
  }],
  ["ParameterDescription", encodeParameterDescription([23, 25]), {
    type: "ParameterDescription",
  }],
  ["ParameterStatus", encodeParameterStatus("TimeZone", "Europe/Paris"), {
    type: "ParameterStatus",
    name: "TimeZone",
    value: "Europe/Paris",
  }],
  ["ParseComplete", PARSE_COMPLETE, { type: "ParseComplete" }],
  ["PortalSuspended", PORTAL_SUSPENDED, { type: "PortalSuspended" }],
  ["ReadyForQuery idle", encodeReadyForQuery("idle"), { type: "ReadyForQuery", status: "idle" }],
  ["ReadyForQuery inTransaction", encodeReadyForQuery("inTransaction"), {
    type: "ReadyForQuery",
    status: "inTransaction",
  }],
  ["ReadyForQuery failed", encodeReadyForQuery("failed"), {
    type: "ReadyForQuery",
    status: "failed",
  }],
  ["RowDescription", encodeTextRowDescription(["a", "b"]), { type: "RowDescription" }],
];

for (const [name, bytes, want] of CASES) {
  Deno.test(`decodeBackend: round-trips ${name}`, () => {
    const m = decodeBackend(toFrame(bytes));
    assert.equal(m.frame.bytes, bytes);
    assert.deepEqual(content(m), want);
  });
}

Deno.test("decodeBackend: pre-encoded constants decode to their messages", () => {
  assert.deepEqual(AUTHENTICATION_OK, encodeAuthenticationOk());
  assert.deepEqual(READY_FOR_QUERY_IDLE, bytesOf("Z", 0, 0, 0, 5, "I"));
  assert.deepEqual(READY_FOR_QUERY_IN_TRANSACTION, bytesOf("Z", 0, 0, 0, 5, "T"));
  assert.deepEqual(READY_FOR_QUERY_FAILED, bytesOf("Z", 0, 0, 0, 5, "E"));
});

Deno.test("decodeBackend: rejects an unknown type byte with 08P01", () => {
  assert.throws(
    () => decodeBackend(toFrame(bytesOf("Q", 0, 0, 0, 4))),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("decodeBackend: rejects an unknown transaction status", () => {
  assert.throws(() => decodeBackend(toFrame(bytesOf("Z", 0, 0, 0, 5, "X"))), ProtocolError);
});

Deno.test("decodeBackend: rejects an unknown authentication request", () => {
  assert.throws(() => decodeBackend(toFrame(bytesOf("R", 0, 0, 0, 8, 0, 0, 0, 99))), ProtocolError);
});

Deno.test("decodeBackend: rejects a fixed-size message with a body", () => {
  for (const code of ["1", "2", "3", "n", "s", "I", "c"]) {
    assert.throws(() => decodeBackend(toFrame(bytesOf(code, 0, 0, 0, 5, 0))), ProtocolError);
  }
  assert.throws(() => decodeBackend(toFrame(bytesOf("K", 0, 0, 0, 8, 0, 0, 0, 1))), ProtocolError);
});

Deno.test("decodeBackend: rejects an ErrorResponse without its final terminator", () => {
  const bytes = bytesOf("E", 0, 0, 0, 11, "S", "ERROR", 0);
  assert.throws(() => decodeBackend(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeBackend: does not look into DataRow, RowDescription or CopyData", () => {
  // Garbage bodies are accepted: the type byte alone decides, and the bytes are forwarded.
  for (const code of ["D", "T", "d", "t", "V"]) {
    const m = decodeBackend(toFrame(bytesOf(code, 0, 0, 0, 6, 0xff, 0xff)));
    assert.equal(m.frame.bytes.length, 7);
  }
});
