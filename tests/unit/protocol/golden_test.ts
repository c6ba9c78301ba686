/**
 * Golden bytes: sequences exactly as a PostgreSQL 15 server (and psql) put them on the wire,
 * written out by hand from the protocol docs and captured sessions.
 */
import assert from "node:assert/strict";
import {
  backendMaxLength,
  type BackendMessage,
  decodeAuthentication,
  decodeBackend,
  decodeDataRow,
  decodeRowDescription,
  decodeStartupPacket,
  type Frame,
  FrameReader,
  frontendMaxLength,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { bytesOf, ChunkedSource, concat, drain } from "./_support.ts";

const READY_FOR_QUERY = bytesOf("Z", 0, 0, 0, 5, "I");
const AUTH_MD5 = bytesOf("R", 0, 0, 0, 12, 0, 0, 0, 5, 0x9c, 0x1e, 0x02, 0x7f);
const AUTH_SASL = bytesOf("R", 0, 0, 0, 23, 0, 0, 0, 10, "SCRAM-SHA-256", 0, 0);
const AUTH_OK = bytesOf("R", 0, 0, 0, 8, 0, 0, 0, 0);
const PARAMETER_STATUS = bytesOf("S", 0, 0, 0, 24, "server_version", 0, "15.4", 0);
const BACKEND_KEY_DATA = bytesOf("K", 0, 0, 0, 12, 0, 0, 0x30, 0x39, 0x8a, 0x1b, 0x2c, 0x3d);
const INSERT_0_1 = bytesOf("C", 0, 0, 0, 15, "INSERT 0 1", 0);
// deno-fmt-ignore
const ERROR_42P01 = bytesOf(
  "E", 0, 0, 0, 103,
  "SERROR", 0, "VERROR", 0, "C42P01", 0, 'Mrelation "nope" does not exist', 0, "P15", 0,
  "Fparse_relation.c", 0, "L1392", 0, "RparserOpenTable", 0, 0,
);
// deno-fmt-ignore
const NOTICE_42P07 = bytesOf(
  "N", 0, 0, 0, 110,
  "SNOTICE", 0, "VNOTICE", 0, "C42P07", 0, 'Mrelation "t" already exists, skipping', 0,
  "Fparse_utilcmd.c", 0, "L207", 0, "RtransformCreateStmt", 0, 0,
);
// SELECT 1: RowDescription, DataRow, CommandComplete, ReadyForQuery.
// deno-fmt-ignore
const ROW_DESCRIPTION = bytesOf(
  "T", 0, 0, 0, 0x21, 0, 1,
  "?column?", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
);
const DATA_ROW = bytesOf("D", 0, 0, 0, 11, 0, 1, 0, 0, 0, 1, "1");
const SELECT_1 = bytesOf("C", 0, 0, 0, 13, "SELECT 1", 0);
// psql's StartupMessage.
// deno-fmt-ignore
const PSQL_STARTUP = bytesOf(
  0, 0, 0, 84, 0, 3, 0, 0,
  "user", 0, "postgres", 0, "database", 0, "postgres", 0, "application_name", 0, "psql", 0,
  "client_encoding", 0, "UTF8", 0, 0,
);

function content(m: BackendMessage): Record<string, unknown> {
  const { frame: _frame, ...rest } = m;
  return rest;
}

Deno.test("golden: ReadyForQuery idle", () => {
  assert.deepEqual(content(decodeBackend(toFrame(READY_FOR_QUERY))), {
    type: "ReadyForQuery",
    status: "idle",
  });
});

Deno.test("golden: AuthenticationMD5Password carries its salt", () => {
  assert.deepEqual(content(decodeAuthentication(toFrame(AUTH_MD5))), {
    type: "AuthenticationMD5Password",
    salt: bytesOf(0x9c, 0x1e, 0x02, 0x7f),
  });
});

Deno.test("golden: AuthenticationSASL offers SCRAM-SHA-256", () => {
  assert.deepEqual(content(decodeBackend(toFrame(AUTH_SASL))), {
    type: "AuthenticationSASL",
    mechanisms: ["SCRAM-SHA-256"],
  });
  assert.equal(decodeBackend(toFrame(AUTH_OK)).type, "AuthenticationOk");
});

Deno.test("golden: CommandComplete INSERT 0 1", () => {
  assert.deepEqual(content(decodeBackend(toFrame(INSERT_0_1))), {
    type: "CommandComplete",
    tag: "INSERT 0 1",
  });
});

Deno.test("golden: ErrorResponse for a missing relation", () => {
  const m = decodeBackend(toFrame(ERROR_42P01));
  assert.equal(m.type, "ErrorResponse");
  if (m.type !== "ErrorResponse") return;
  assert.equal(m.severity, "ERROR");
  assert.equal(m.code, "42P01");
  assert.equal(m.message, 'relation "nope" does not exist');
  assert.equal(m.fields.get("P"), "15");
  assert.equal(m.fields.get("R"), "parserOpenTable");
  assert.deepEqual([...m.fields.keys()], ["S", "V", "C", "M", "P", "F", "L", "R"]);
});

Deno.test("golden: NoticeResponse for CREATE TABLE IF NOT EXISTS", () => {
  const m = decodeBackend(toFrame(NOTICE_42P07));
  assert.equal(m.type, "NoticeResponse");
  if (m.type === "NoticeResponse") assert.equal(m.code, "42P07");
});

Deno.test("golden: ParameterStatus and BackendKeyData", () => {
  assert.deepEqual(content(decodeBackend(toFrame(PARAMETER_STATUS))), {
    type: "ParameterStatus",
    name: "server_version",
    value: "15.4",
  });
  assert.deepEqual(content(decodeBackend(toFrame(BACKEND_KEY_DATA))), {
    type: "BackendKeyData",
    processId: 12345,
    secretKey: 0x8a1b2c3d | 0,
  });
});

Deno.test("golden: SELECT 1 response stream through the reader", async () => {
  const stream = concat(ROW_DESCRIPTION, DATA_ROW, SELECT_1, READY_FOR_QUERY);
  const reader = new FrameReader(new ChunkedSource(stream, [7]), {
    maxLength: backendMaxLength(),
  });
  const { frames, truncated } = await drain(reader);
  assert.equal(truncated, false);
  assert.deepEqual(frames.map((f: Frame) => decodeBackend(f).type), [
    "RowDescription",
    "DataRow",
    "CommandComplete",
    "ReadyForQuery",
  ]);
  const [field] = decodeRowDescription(frames[0]!);
  assert.deepEqual(field, {
    name: "?column?",
    tableOid: 0,
    columnAttribute: 0,
    typeOid: 23,
    typeSize: 4,
    typeModifier: -1,
    format: 0,
  });
  assert.deepEqual(decodeDataRow(frames[1]!), [bytesOf("1")]);
});

Deno.test("golden: psql StartupMessage", async () => {
  const reader = new FrameReader(new ChunkedSource(PSQL_STARTUP, [1]), {
    maxLength: frontendMaxLength(),
    startup: true,
  });
  const { frames } = await drain(reader);
  const m = decodeStartupPacket(frames[0]!);
  assert.equal(m.type, "StartupMessage");
  if (m.type !== "StartupMessage") return;
  assert.deepEqual(Object.fromEntries(m.parameters), {
    user: "postgres",
    database: "postgres",
    application_name: "psql",
    client_encoding: "UTF8",
  });
  assert.deepEqual(m.protocolOptions, []);
});
