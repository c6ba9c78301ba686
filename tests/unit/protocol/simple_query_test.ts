import assert from "node:assert/strict";
import {
  decodeDataRow,
  decodeQuery,
  decodeRowDescription,
  encodeDataRow,
  encodeQuery,
  encodeRowDescription,
  encodeTextRowDescription,
  type FieldDescription,
  ProtocolError,
  TEXT_OID,
  toFrame,
  txStatusFromByte,
  txStatusToByte,
} from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("txStatusFromByte: maps I, T and E and back", () => {
  for (
    const [byte, status] of [[0x49, "idle"], [0x54, "inTransaction"], [0x45, "failed"]] as const
  ) {
    assert.equal(txStatusFromByte(byte), status);
    assert.equal(txStatusToByte(status), byte);
  }
});

Deno.test("txStatusFromByte: rejects any other byte with 08P01", () => {
  assert.throws(
    () => txStatusFromByte(0x58),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("decodeQuery: round-trips multi-byte UTF-8", () => {
  const sql = "SELECT '日本語', '🐘'";
  assert.equal(decodeQuery(toFrame(encodeQuery(sql))).sql, sql);
});

Deno.test("encodeQuery: rejects a NUL character in the text", () => {
  assert.throws(() => encodeQuery("SELECT 1\0"), TypeError);
});

Deno.test("decodeRowDescription: round-trips every field", () => {
  const fields: FieldDescription[] = [
    {
      name: "id",
      tableOid: 16384,
      columnAttribute: 1,
      typeOid: 23,
      typeSize: 4,
      typeModifier: -1,
      format: 0,
    },
    {
      name: "naïve",
      tableOid: 0xfffffff0,
      columnAttribute: -2,
      typeOid: 1043,
      typeSize: -1,
      typeModifier: 68,
      format: 1,
    },
  ];
  assert.deepEqual(decodeRowDescription(toFrame(encodeRowDescription(fields))), fields);
});

Deno.test("encodeTextRowDescription: describes text columns", () => {
  const fields = decodeRowDescription(toFrame(encodeTextRowDescription(["name", "state"])));
  assert.deepEqual(fields.map((f) => [f.name, f.typeOid, f.format]), [
    ["name", TEXT_OID, 0],
    ["state", TEXT_OID, 0],
  ]);
});

Deno.test("decodeDataRow: round-trips text, binary, empty and NULL values", () => {
  const values = decodeDataRow(toFrame(encodeDataRow(["héllo", bytesOf(0, 1, 255), "", null])));
  assert.deepEqual(values, [bytesOf(0x68, 0xc3, 0xa9, "llo"), bytesOf(0, 1, 255), bytesOf(), null]);
});

Deno.test("decodeDataRow: rejects a column length past the end", () => {
  const bytes = bytesOf("D", 0, 0, 0, 11, 0, 1, 0, 0, 0, 5, "ab");
  assert.throws(() => decodeDataRow(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeDataRow: rejects a negative length other than -1", () => {
  const bytes = bytesOf("D", 0, 0, 0, 10, 0, 1, 0xff, 0xff, 0xff, 0xfe);
  assert.throws(() => decodeDataRow(toFrame(bytes)), ProtocolError);
});

Deno.test("decodeRowDescription: rejects a column count larger than the message", () => {
  const bytes = bytesOf("T", 0, 0, 0, 6, 0, 3);
  assert.throws(() => decodeRowDescription(toFrame(bytes)), ProtocolError);
});
