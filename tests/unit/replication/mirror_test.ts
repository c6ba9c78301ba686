/**
 * @module
 * Unit tests of `src/replication/mirror.ts`: the messages copies run for a successful and a failed
 * batch, the status reconciliation table and the comparison of outcomes.
 */

import assert from "node:assert/strict";
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeQuery,
  encodeBind,
  encodeExecute,
  encodeParse,
  encodeQuery,
  FLUSH,
  SYNC,
  toFrame,
  type TxStatus,
} from "../../../src/protocol/mod.ts";
import type { BatchEntry } from "../../../src/replication/batch.ts";
import type { StatementInfo } from "../../../src/replication/classify.ts";
import {
  compareOutcomes,
  type CopyMessage,
  copyMessages,
  FORCED_ERROR_SQL,
  mirrorFailedBatch,
  reconcileStep,
} from "../../../src/replication/mirror.ts";
import type { BatchOutcome } from "../../../src/replication/reply_tracker.ts";

function stmt(text: string, cls: StatementInfo["class"] = "write"): StatementInfo {
  return { class: cls, node: "InsertStmt", text };
}

function queryEntry(...texts: string[]): BatchEntry {
  return {
    kind: "Query",
    bytes: encodeQuery(texts.join("; ")),
    statements: texts.map((t) => stmt(t)),
  };
}

function sqlOf(m: CopyMessage | undefined): string {
  assert.ok(m);
  return decodeQuery(toFrame(m.bytes as Uint8Array<ArrayBuffer>)).sql;
}

function outcome(
  tags: [number, string[]][],
  status: TxStatus = "idle",
  error?: BatchOutcome["error"],
): BatchOutcome {
  return { tags: new Map(tags), error, status };
}

/** An extended batch: Parse s1 (retained), Describe (original-only), Bind, Execute, Sync. */
function extendedEntries(): BatchEntry[] {
  return [
    { kind: "Parse", bytes: encodeParse("s1", "insert into t values ($1)"), statement: "s1" },
    { kind: "Describe", bytes: undefined },
    { kind: "Bind", bytes: encodeBind({ statement: "s1", params: ["1"] }), statement: "s1" },
    { kind: "Execute", bytes: encodeExecute() },
    { kind: "Flush", bytes: FLUSH },
    { kind: "Bind", bytes: encodeBind({ statement: "s1", params: ["2"] }), statement: "s1" },
    { kind: "Execute", bytes: encodeExecute() },
    { kind: "Sync", bytes: SYNC },
  ];
}

Deno.test("copyMessages: keeps only retained entries with their source index and statement", () => {
  const entries = extendedEntries();
  const out = copyMessages(entries);
  assert.deepEqual(
    out.map((m) => [m.kind, m.source, m.statement]),
    [
      ["Parse", 0, "s1"],
      ["Bind", 2, "s1"],
      ["Execute", 3, undefined],
      ["Flush", 4, undefined],
      ["Bind", 5, "s1"],
      ["Execute", 6, undefined],
      ["Sync", 7, undefined],
    ],
  );
  assert.equal(out[0]?.bytes, entries[0]?.bytes);
  assert.ok(out.filter((m) => m.statement === undefined).every((m) => !("statement" in m)));
});

Deno.test("copyMessages: returns nothing when no entry was retained", () => {
  const entries: BatchEntry[] = [
    { kind: "Describe", bytes: undefined },
    { kind: "Execute", bytes: undefined },
    { kind: "Sync", bytes: undefined },
  ];
  assert.deepEqual(copyMessages(entries), []);
});

Deno.test("mirrorFailedBatch: sends the completed statements and the forced error as one Query", () => {
  const entries = [queryEntry("begin", "insert into t values (1)", "insert into t values (1)")];
  const out = mirrorFailedBatch(entries, 0, 2);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.kind, "Query");
  assert.equal(out[0]?.source, 0);
  assert.equal(sqlOf(out[0]), `begin;\ninsert into t values (1);\n${FORCED_ERROR_SQL}`);
});

Deno.test("mirrorFailedBatch: returns nothing when the Query's first statement failed", () => {
  assert.deepEqual(mirrorFailedBatch([queryEntry("insert into t values (1)")], 0, 0), []);
});

Deno.test("mirrorFailedBatch: returns nothing when the failing Query was not retained", () => {
  const entry: BatchEntry = { ...queryEntry("select 1", "select 2"), bytes: undefined };
  assert.deepEqual(mirrorFailedBatch([entry], 0, 1), []);
});

Deno.test("mirrorFailedBatch: replays the retained entries before a failing Execute", () => {
  const entries = extendedEntries();
  const out = mirrorFailedBatch(entries, 6, 0);
  assert.deepEqual(
    out.map((m) => [m.kind, m.source]),
    [
      ["Parse", 0],
      ["Bind", 2],
      ["Execute", 3],
      ["Flush", 4],
      ["Bind", 5],
      ["Parse", -1],
      ["Bind", -1],
      ["Execute", -1],
      ["Sync", -1],
    ],
  );
  // The forced error's Parse and Bind name the unnamed statement it replaces on the copy.
  assert.deepEqual(out.slice(-4).map((m) => m.statement), ["", "", undefined, undefined]);
  const tail = out.slice(-4).map((m) => toFrame(m.bytes as Uint8Array<ArrayBuffer>));
  const parse = decodeParse(tail[0]!);
  assert.equal(parse.statement, "");
  assert.equal(parse.sql, FORCED_ERROR_SQL);
  assert.equal(decodeBind(tail[1]!).statement, "");
  assert.equal(decodeBind(tail[1]!).portal, "");
  assert.equal(decodeExecute(tail[2]!).portal, "");
  assert.deepEqual(tail[3]!.bytes, SYNC);
});

Deno.test("mirrorFailedBatch: drops an earlier Sync of the batch", () => {
  const entries: BatchEntry[] = [
    { kind: "Parse", bytes: encodeParse("", "insert into t values (1)"), statement: "" },
    { kind: "Sync", bytes: SYNC },
    { kind: "Bind", bytes: encodeBind({}), statement: "" },
  ];
  const out = mirrorFailedBatch(entries, 2, 0);
  assert.deepEqual(out.map((m) => [m.kind, m.source]), [
    ["Parse", 0],
    ["Parse", -1],
    ["Bind", -1],
    ["Execute", -1],
    ["Sync", -1],
  ]);
});

Deno.test("mirrorFailedBatch: returns nothing when nothing before an extended error was retained", () => {
  const entries = extendedEntries();
  assert.deepEqual(mirrorFailedBatch(entries, 0, 0), []);
  entries[0]!.bytes = undefined;
  assert.deepEqual(mirrorFailedBatch(entries, 2, 0), []);
});

Deno.test("mirrorFailedBatch: ends with the Query prefix when a Query inside a batch fails", () => {
  const entries: BatchEntry[] = [
    { kind: "Parse", bytes: encodeParse("", "insert into t values (1)"), statement: "" },
    { kind: "Bind", bytes: encodeBind({}), statement: "" },
    { kind: "Execute", bytes: encodeExecute() },
    queryEntry("update t set a = 2", "delete from t"),
    { kind: "Sync", bytes: SYNC },
  ];
  const out = mirrorFailedBatch(entries, 3, 1);
  assert.deepEqual(out.map((m) => [m.kind, m.source]), [
    ["Parse", 0],
    ["Bind", 1],
    ["Execute", 2],
    ["Query", 3],
  ]);
  assert.equal(sqlOf(out[3]), `update t set a = 2;\n${FORCED_ERROR_SQL}`);
});

Deno.test("reconcileStep: answers every pair of statuses", () => {
  const table: [TxStatus, TxStatus, ReturnType<typeof reconcileStep>][] = [
    ["idle", "idle", undefined],
    ["idle", "inTransaction", { sql: "ROLLBACK" }],
    ["idle", "failed", { sql: "ROLLBACK" }],
    ["inTransaction", "idle", "diverged"],
    ["inTransaction", "inTransaction", undefined],
    ["inTransaction", "failed", "diverged"],
    ["failed", "idle", "diverged"],
    ["failed", "inTransaction", { sql: FORCED_ERROR_SQL }],
    ["failed", "failed", undefined],
  ];
  for (const [original, copy, want] of table) {
    assert.deepEqual(reconcileStep(original, copy), want, `${original} vs ${copy}`);
  }
});

Deno.test("compareOutcomes: returns undefined when the outcomes agree", () => {
  const messages = copyMessages(extendedEntries());
  const original = outcome([[3, ["INSERT 0 1"]], [6, ["INSERT 0 1"]]], "inTransaction");
  // The copy's tags are indexed by its own messages: Execute at 2 and 5.
  const copy = outcome([[2, ["INSERT 0 1"]], [5, ["INSERT 0 1"]]], "inTransaction");
  assert.equal(compareOutcomes(original, copy, messages), undefined);
});

Deno.test("compareOutcomes: reports a copy's error with its SQLSTATE", () => {
  const messages = copyMessages([queryEntry("insert into t values (1)")]);
  const d = compareOutcomes(
    outcome([[0, ["INSERT 0 1"]]]),
    outcome([], "idle", {
      entryIndex: 0,
      statementsDone: 0,
      code: "23505",
      message: "duplicate key",
      severity: "ERROR",
    }),
    messages,
  );
  assert.ok(d);
  assert.match(d, /23505/);
});

Deno.test("compareOutcomes: reports a tag mismatch", () => {
  const messages = copyMessages([queryEntry("update t set a = 1", "delete from t")]);
  const d = compareOutcomes(
    outcome([[0, ["UPDATE 3", "DELETE 3"]]]),
    outcome([[0, ["UPDATE 3", "DELETE 2"]]]),
    messages,
  );
  assert.ok(d);
  assert.match(d, /DELETE 3/);
  assert.match(d, /DELETE 2/);
});

Deno.test("compareOutcomes: reports a missing tag on the copy", () => {
  const messages = copyMessages([queryEntry("update t set a = 1")]);
  assert.ok(compareOutcomes(outcome([[0, ["UPDATE 1"]]]), outcome([]), messages));
});

Deno.test("compareOutcomes: ignores the tags of messages usogres added", () => {
  const messages: CopyMessage[] = [
    { kind: "Parse", bytes: encodeParse("s1", "insert into t values (1)"), source: -1 },
    ...copyMessages([
      { kind: "Bind", bytes: encodeBind({ statement: "s1" }), statement: "s1" },
      { kind: "Execute", bytes: encodeExecute() },
      { kind: "Sync", bytes: SYNC },
    ]),
    { kind: "Query", bytes: encodeQuery("select 1"), source: -1 },
  ];
  const original = outcome([[1, ["INSERT 0 1"]]]);
  const copy = outcome([[2, ["INSERT 0 1"]], [4, ["SELECT 1"]]]);
  assert.equal(compareOutcomes(original, copy, messages), undefined);
});

Deno.test("compareOutcomes: reports a transaction status mismatch", () => {
  const messages = copyMessages([queryEntry("begin")]);
  const d = compareOutcomes(
    outcome([[0, ["BEGIN"]]], "inTransaction"),
    outcome([[0, ["BEGIN"]]], "idle"),
    messages,
  );
  assert.ok(d);
  assert.match(d, /inTransaction/);
});
