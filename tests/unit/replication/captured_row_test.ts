/**
 * @module
 * Unit tests of rows captured in wire form (`src/replication/captured_row.ts`) and the paths that
 * use their bytes as they are: the copy's Bind of its prepared row statement (the same bytes as a
 * Bind of the values as strings), the returning_hash digest (the same as of the strings), the
 * literal form (the same text), the client's DataRow cut back to its own columns, and the protocol
 * helpers behind them (`dataRowOffset`, `bindResultsText`, `encodeBindWire`). Values cover NULL,
 * the empty string and non-ASCII text.
 */

import assert from "node:assert/strict";
import {
  bindResultsText,
  dataRowOffset,
  decodeBindFull,
  decodeDataRow,
  encodeBind,
  encodeBindWire,
  encodeDataRow,
  encodeDescribe,
  type Frame,
  ProtocolError,
  toFrame,
} from "../../../src/protocol/mod.ts";
import { initClassifier } from "../../../src/replication/classify.ts";
import { RawRow, rawRow, rowTexts } from "../../../src/replication/captured_row.ts";
import { copyStatement } from "../../../src/replication/determinism.ts";
import { textRowsDigest } from "../../../src/replication/returning_hash.ts";
import { transformReply } from "../../../src/replication/row_capture.ts";
import { RowStatements } from "../../../src/replication/row_statement.ts";
import type { BatchEntry } from "../../../src/replication/batch.ts";
import { rowBased } from "./_determinism_tables.ts";

await initClassifier();

const utf8 = new TextEncoder();

/** Values that stress the encoding: NULL, empty, multi-byte UTF-8 (2, 3 and 4 bytes), quotes. */
const ODD = ["", null, "héllo — 日本語 🐘", 'it\'s \\ "q"'] as const;

function dataRow(values: readonly (string | null)[]): Frame {
  return toFrame(encodeDataRow(values.map((v) => (v === null ? null : utf8.encode(v)))));
}

Deno.test("RawRow: from a DataRow, leaving out the client's columns, keeps NULL, '' and UTF-8", () => {
  const values = ["client 1", "client 2", "7", ...ODD];
  const row = RawRow.fromDataRow(dataRow(values), 2);
  assert.equal(row.length, 5);
  assert.deepEqual(row.texts(), ["7", ...ODD]);
  // The bytes are the DataRow's values from the third on, copied.
  const frame = dataRow(values);
  const all = RawRow.fromDataRow(frame, 0);
  assert.deepEqual(all.texts(), values);
  assert.deepEqual(all.bytes, frame.bytes.subarray(7));
  assert.notEqual(all.bytes.buffer, frame.bytes.buffer);
  // As many client columns as the row has, or more: an empty row.
  assert.equal(RawRow.fromDataRow(dataRow(["a"]), 1).length, 0);
  assert.equal(RawRow.fromDataRow(dataRow(["a"]), 3).length, 0);
});

Deno.test("RawRow: fromTexts gives the bytes a DataRow carries, and span measures values", () => {
  const values = ["7", ...ODD];
  const a = RawRow.fromTexts(values);
  const b = RawRow.fromDataRow(dataRow(values), 0);
  assert.deepEqual(a.bytes, b.bytes);
  assert.equal(a.length, b.length);
  assert.deepEqual(a.texts(), values);
  assert.equal(b.span(0), 0);
  assert.equal(b.span(1), 4 + 1); // "7"
  assert.equal(b.span(2), 4 + 1 + 4); // then ""
  assert.equal(b.span(3), 4 + 1 + 4 + 4); // then NULL: no bytes
  assert.equal(b.span(values.length), b.bytes.length);
  assert.throws(() => b.span(values.length + 1), RangeError);
  assert.deepEqual(RawRow.fromTexts([]).bytes, new Uint8Array(0));
  assert.deepEqual(rowTexts(b), values);
  assert.deepEqual(rowTexts(values), values);
  assert.equal(rawRow(b), b);
  assert.deepEqual(rawRow(values).bytes, b.bytes);
});

Deno.test("RawRow: a malformed DataRow is a protocol error", () => {
  const good = encodeDataRow([utf8.encode("1"), null]);
  const short = good.slice(0, good.length - 1);
  short[4] = short.length - 1; // the declared length matches, a value runs past the end
  assert.throws(() => RawRow.fromDataRow(toFrame(short), 0), ProtocolError);
  const bad = good.slice();
  bad[7] = 0xff; // the first value's length: negative, below -1
  bad[8] = 0xff;
  bad[9] = 0xff;
  bad[10] = 0xfe;
  assert.throws(() => RawRow.fromDataRow(toFrame(bad), 0), ProtocolError);
  assert.throws(() => dataRowOffset(toFrame(encodeDescribe("S", "x")), 0), ProtocolError);
});

Deno.test("dataRowOffset: where each value starts", () => {
  const frame = dataRow(["ab", null, ""]);
  assert.equal(dataRowOffset(frame, 0), 7);
  assert.equal(dataRowOffset(frame, 1), 7 + 4 + 2);
  assert.equal(dataRowOffset(frame, 2), 7 + 4 + 2 + 4);
  assert.equal(dataRowOffset(frame, 3), frame.bytes.length);
  assert.equal(dataRowOffset(frame, 9), frame.bytes.length);
});

Deno.test("RowStatements: the Bind of captured bytes equals the Bind of the values as strings", () => {
  const p = rowBased("INSERT INTO t (x) VALUES ('a')");
  const rows = [["1", "", "0", null], ["2", "héllo — 日本語 🐘", "-3", "2020-01-01 00:00:00+00"]];
  const raw = rows.map((r) => RawRow.fromDataRow(dataRow(["client", ...r]), 1));
  const strings = new RowStatements();
  const wire = new RowStatements();
  const fromStrings = strings.messages(p, rows, 0) ?? [];
  const fromWire = wire.messages(p, raw, 0) ?? [];
  assert.equal(fromWire.length, 3);
  assert.deepEqual(fromWire.map((m) => m.kind), ["Parse", "Bind", "Execute"]);
  assert.deepEqual(fromWire.map((m) => m.bytes), fromStrings.map((m) => m.bytes));
  const expected = encodeBind({ statement: "usogres_row_1", params: rows.flat() });
  assert.deepEqual(fromWire[1]!.bytes, expected);
  const bind = decodeBindFull(toFrame(fromWire[1]!.bytes.slice()));
  const dec = new TextDecoder();
  assert.deepEqual(bind.params.map((v) => (v === null ? null : dec.decode(v))), rows.flat());
  assert.deepEqual(bind.paramFormats, []);
  assert.deepEqual(bind.resultFormats, []);
  // The next execution of the shape (two rows): Bind and Execute only.
  const next = [RawRow.fromTexts(["3", null, "0", ""]), RawRow.fromTexts(["4", "x", "0", null])];
  const again = wire.messages(p, next, 4) ?? [];
  assert.deepEqual(again.map((m) => [m.kind, m.source]), [["Bind", -1], ["Execute", 4]]);
});

Deno.test("RowStatements: a DELETE binds only the key's bytes of each captured row", () => {
  // A DELETE's plan adds the key only; with another column after it, as the template allows,
  // the Bind must stop at the key's bytes.
  const key = rowBased("DELETE FROM t WHERE at < now()");
  const p = { ...key, addedColumns: [...key.addedColumns, "x"] };
  const width = p.addedColumns.length;
  assert.equal(width, 2);
  const rows = [["1", ...Array(width - 1).fill("é")], ["2", ...Array(width - 1).fill(null)]];
  const raw = rows.map((r) => RawRow.fromTexts(r));
  const out = new RowStatements().messages(p, raw, 0) ?? [];
  const bind = decodeBindFull(toFrame(out.at(-2)!.bytes.slice()));
  const dec = new TextDecoder();
  assert.deepEqual(bind.params.map((v) => (v === null ? null : dec.decode(v))), ["1", "2"]);
  assert.deepEqual(
    out.map((m) => m.bytes),
    (new RowStatements().messages(p, rows, 0) ?? []).map((m) => m.bytes),
  );
});

Deno.test("captured bytes: the literal form and the returning_hash digest match the strings'", () => {
  const p = rowBased("INSERT INTO t (x) VALUES ('a')");
  const rows = [["1", "it's", "0", null], ["2", "", "0", "héllo — 日本語 🐘"]];
  const raw = rows.map((r) => RawRow.fromDataRow(dataRow(r), 0));
  assert.equal(copyStatement(p, raw), copyStatement(p, rows));
  assert.equal(copyStatement(p, raw, true), copyStatement(p, rows, true));
  assert.equal(textRowsDigest(raw), textRowsDigest(rows));
  assert.equal(textRowsDigest([raw[0]!, rows[1]!]), textRowsDigest(rows));
  assert.notEqual(textRowsDigest(raw.slice(0, 1)), textRowsDigest(rows));
});

Deno.test("transformReply: captures a DataRow's added columns as bytes and cuts the client's row", () => {
  const insert = rowBased("INSERT INTO t (x) VALUES ('a') RETURNING x");
  assert.equal(insert.clientColumns, 1);
  const execute: BatchEntry = { kind: "Execute", bytes: undefined, rowPlan: insert };
  const values = ["héllo", "1", "", "0", null];
  const verdict = transformReply(execute, 0, dataRow(values));
  assert.equal(verdict.kind, "replace");
  const client = verdict.kind === "replace" ? verdict.bytes : new Uint8Array();
  assert.deepEqual(client, encodeDataRow([utf8.encode("héllo")]));
  assert.deepEqual(decodeDataRow(toFrame(client.slice())), [utf8.encode("héllo")]);
  const captured = execute.captured?.[0] ?? [];
  assert.equal(captured.length, 1);
  assert.ok(captured[0] instanceof RawRow);
  assert.deepEqual(rowTexts(captured[0]!), ["1", "", "0", null]);

  // The client asked for no rows: the DataRow is dropped, the row still captured.
  const silent = rowBased("INSERT INTO t (x) VALUES ('a')");
  const quiet: BatchEntry = { kind: "Execute", bytes: undefined, rowPlan: silent };
  assert.equal(transformReply(quiet, 0, dataRow(["1", "a", "0", null])).kind, "drop");
  assert.deepEqual(rowTexts(quiet.captured![0]![0]!), ["1", "a", "0", null]);

  // A row with fewer values than the client's columns (a server answering otherwise than asked)
  // reaches the client as it came, and captures nothing of use.
  const two = rowBased("INSERT INTO t (x) VALUES ('a') RETURNING x, n");
  const odd: BatchEntry = { kind: "Execute", bytes: undefined, rowPlan: two };
  const one = dataRow(["x"]);
  const cut = transformReply(odd, 0, one);
  assert.deepEqual(cut.kind === "replace" ? cut.bytes : undefined, one.bytes);
  assert.equal(odd.captured![0]![0]!.length, 0);
});

Deno.test("bindResultsText: text only without format codes or with zeros, else false", () => {
  const params = ["a", null, ""];
  assert.equal(bindResultsText(toFrame(encodeBind({ statement: "s", params }))), true);
  assert.equal(bindResultsText(toFrame(encodeBind({ params, resultFormats: [0] }))), true);
  assert.equal(bindResultsText(toFrame(encodeBind({ params, resultFormats: [0, 0] }))), true);
  assert.equal(bindResultsText(toFrame(encodeBind({ params, resultFormats: [1] }))), false);
  assert.equal(bindResultsText(toFrame(encodeBind({ resultFormats: [0, 1] }))), false);
  assert.equal(
    bindResultsText(toFrame(encodeBind({ paramFormats: [1], params: [new Uint8Array(3)] }))),
    true,
  );
  const good = encodeBind({ params: ["abc"], resultFormats: [0] });
  const trailing = new Uint8Array(good.length + 1);
  trailing.set(good);
  trailing[4] = trailing.length - 1;
  assert.throws(() => bindResultsText(toFrame(trailing)), ProtocolError);
  const cut = good.slice(0, good.length - 2);
  cut[4] = cut.length - 1;
  assert.throws(() => bindResultsText(toFrame(cut)), ProtocolError);
});

Deno.test("encodeBindWire: the same message as encodeBind of the decoded values", () => {
  const values = ["1", null, "", "日本語"];
  const chunks = [
    RawRow.fromTexts(values.slice(0, 2)).bytes,
    RawRow.fromTexts(values.slice(2)).bytes,
  ];
  assert.deepEqual(
    encodeBindWire("usogres_row_9", 4, chunks),
    encodeBind({ statement: "usogres_row_9", params: values }),
  );
  assert.deepEqual(encodeBindWire("s", 0, []), encodeBind({ statement: "s" }));
});
