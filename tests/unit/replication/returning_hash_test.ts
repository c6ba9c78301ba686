/**
 * @module
 * Unit tests of the returned-rows comparison (`replication.returning_hash`): the digest of rows
 * (order-independent, sensitive to any value, NULL and empty string apart), the reply tracker's
 * digests per statement, and `compareOutcomes` comparing them, for a write replicated as its text
 * and one replicated by rows (the copy's rows against those captured from the original).
 */

import assert from "node:assert/strict";
import {
  BIND_COMPLETE,
  encodeCommandComplete,
  encodeDataRow,
  encodeReadyForQuery,
  type Frame,
  toFrame,
} from "../../../src/protocol/mod.ts";
import type { BatchEntry, EntryKind } from "../../../src/replication/batch.ts";
import { initClassifier } from "../../../src/replication/classify.ts";
import { compareOutcomes, type CopyMessage } from "../../../src/replication/mirror.ts";
import { ReplyTracker } from "../../../src/replication/reply_tracker.ts";
import {
  comparesRows,
  NO_ROWS,
  RowsHash,
  textRowsDigest,
} from "../../../src/replication/returning_hash.ts";
import { rowBased } from "./_determinism_tables.ts";

await initClassifier();

const row = (...values: (string | null)[]): Frame => toFrame(encodeDataRow(values));

function digestOf(...rows: (string | null)[][]): string {
  const hash = new RowsHash();
  for (const r of rows) hash.addDataRow(row(...r));
  return hash.digest();
}

Deno.test("RowsHash: the same rows in any order give the same digest", () => {
  const a = digestOf(["1", "x"], ["2", null]);
  assert.equal(a, digestOf(["2", null], ["1", "x"]));
  assert.match(a, /^2:[0-9a-f]+:[0-9a-f]+$/);
  assert.equal(new RowsHash().digest(), NO_ROWS);
  assert.equal(textRowsDigest([["1", "x"], ["2", null]]), a);
});

Deno.test("RowsHash: any different value, a NULL or a moved boundary changes the digest", () => {
  const base = digestOf(["1", "x"]);
  for (const other of [["1", "y"], ["1", null], ["1", ""], ["1x", ""], ["1", "x", ""]]) {
    assert.notEqual(digestOf(other), base, JSON.stringify(other));
  }
  assert.notEqual(digestOf(["1"], ["1"]), digestOf(["2"], ["0"]));
});

Deno.test("comparesRows: only the tags of writes", () => {
  assert.ok(comparesRows("INSERT 0 1"));
  assert.ok(comparesRows("UPDATE 3"));
  assert.ok(comparesRows("DELETE 0"));
  assert.ok(comparesRows("MERGE 2"));
  assert.ok(!comparesRows("SELECT 1"));
  assert.ok(!comparesRows("(suspended)"));
});

/** Runs a tracker over replies and returns its outcome. */
function outcomeOf(kinds: EntryKind[], frames: Frame[], hash = true) {
  const t = new ReplyTracker({ kinds, closed: true }, true);
  t.wantHashes = hash;
  for (const fr of frames) t.feed(fr);
  return t.outcome();
}

const cc = (tag: string): Frame => toFrame(encodeCommandComplete(tag));
const idle = toFrame(encodeReadyForQuery("idle"));

Deno.test("reply tracker: a digest per statement, in the order of the tags", () => {
  const o = outcomeOf(["Query"], [
    row("1"),
    cc("INSERT 0 1"),
    cc("UPDATE 0"),
    row("a"),
    row("b"),
    cc("SELECT 2"),
    idle,
  ]);
  assert.deepEqual(o.tags.get(0), ["INSERT 0 1", "UPDATE 0", "SELECT 2"]);
  assert.deepEqual(o.hashes?.get(0), [digestOf(["1"]), NO_ROWS, digestOf(["a"], ["b"])]);
  assert.equal(outcomeOf(["Query"], [row("1"), cc("INSERT 0 1"), idle], false).hashes, undefined);
});

Deno.test("compareOutcomes: rows a text-replicated write returned must match", () => {
  const query: BatchEntry = { kind: "Query", bytes: new Uint8Array([81]) };
  const messages: CopyMessage[] = [{ kind: "Query", bytes: new Uint8Array([81]), source: 0 }];
  const original = outcomeOf(["Query"], [
    row("5"),
    cc("UPDATE 1"),
    row("now"),
    cc("SELECT 1"),
    idle,
  ]);
  const same = outcomeOf(["Query"], [row("5"), cc("UPDATE 1"), row("later"), cc("SELECT 1"), idle]);
  // The SELECT's rows may differ (a read), the UPDATE's may not.
  assert.equal(compareOutcomes(original, same, messages, [query]), undefined);
  const other = outcomeOf(["Query"], [row("6"), cc("UPDATE 1"), row("now"), cc("SELECT 1"), idle]);
  assert.match(
    compareOutcomes(original, other, messages, [query]) ?? "",
    /^rows returned differ for "UPDATE 1"/,
  );
  // Without the entries (returning_hash off), the tags alone decide.
  assert.equal(compareOutcomes(original, other, messages), undefined);
});

Deno.test("compareOutcomes: a copy's rows of a write replicated by rows match the captured rows", () => {
  const plan = rowBased("INSERT INTO t (x) VALUES ($1)");
  const execute: BatchEntry = {
    kind: "Execute",
    bytes: new Uint8Array([69]),
    rowPlan: plan,
    captured: [[["7", "a", "0", "2020-01-01 00:00:00+00"]]],
  };
  // The original's DataRow also holds the client's own columns: not what is compared.
  const original = outcomeOf(["Execute", "Sync"], [
    row("7", "7", "a", "0", "2020-01-01 00:00:00+00"),
    cc("INSERT 0 1"),
    idle,
  ]);
  const messages: CopyMessage[] = [
    { kind: "Bind", bytes: new Uint8Array([66]), source: -1 },
    { kind: "Execute", bytes: new Uint8Array([69]), source: 0 },
    { kind: "Sync", bytes: new Uint8Array([83]), source: 1 },
  ];
  const copy = (...values: string[]) =>
    outcomeOf(["Bind", "Execute", "Sync"], [
      toFrame(BIND_COMPLETE),
      row(...values),
      cc("INSERT 0 1"),
      idle,
    ]);
  const entries = [execute, { kind: "Sync" as const, bytes: new Uint8Array([83]) }];
  assert.equal(
    compareOutcomes(original, copy("7", "a", "0", "2020-01-01 00:00:00+00"), messages, entries),
    undefined,
  );
  assert.match(
    compareOutcomes(original, copy("7", "a", "1", "2020-01-01 00:00:00+00"), messages, entries) ??
      "",
    /rows returned differ for "INSERT 0 1"/,
  );
});
