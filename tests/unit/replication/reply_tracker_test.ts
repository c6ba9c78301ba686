/**
 * @module
 * Unit tests of `src/replication/reply_tracker.ts`: realistic backend reply sequences for simple
 * and extended batches, errors and skip-until-Sync, tags, COPY, async messages and statuses.
 */

import assert from "node:assert/strict";
import {
  BIND_COMPLETE,
  CLOSE_COMPLETE,
  EMPTY_QUERY_RESPONSE,
  encodeCommandComplete,
  encodeCopyInResponse,
  encodeDataRow,
  encodeFunctionCallResponse,
  encodeNoticeResponse,
  encodeNotificationResponse,
  encodeParameterDescription,
  encodeParameterStatus,
  encodeReadyForQuery,
  encodeTextRowDescription,
  type Frame,
  NO_DATA,
  PARSE_COMPLETE,
  PgError,
  PORTAL_SUSPENDED,
  toFrame,
  type TxStatus,
} from "../../../src/protocol/mod.ts";
import type { EntryKind } from "../../../src/replication/batch.ts";
import { ReplyTracker } from "../../../src/replication/reply_tracker.ts";

const f = (bytes: Uint8Array<ArrayBuffer>): Frame => toFrame(bytes);
const cc = (tag: string): Frame => f(encodeCommandComplete(tag));
const rfq = (status: TxStatus): Frame => f(encodeReadyForQuery(status));
const err = (code: string, message = "boom"): Frame =>
  f(new PgError("ERROR", code, message).encode());
const rowDesc = (...names: string[]): Frame => f(encodeTextRowDescription(names));
const row = (...values: string[]): Frame => f(encodeDataRow(values));

function tracker(kinds: EntryKind[], wantTags = true, closed = true): ReplyTracker {
  return new ReplyTracker({ kinds, closed }, wantTags);
}

/** Feeds every frame; returns the index of the frame that reported the batch's end, or -1. */
function feedAll(t: ReplyTracker, frames: readonly Frame[]): number {
  let end = -1;
  frames.forEach((fr, i) => {
    if (t.feed(fr)) {
      assert.equal(end, -1, "only one frame ends the batch");
      end = i;
    }
  });
  return end;
}

Deno.test("reply tracker: collects one tag per statement of a simple Query", () => {
  const t = tracker(["Query"]);
  const end = feedAll(t, [
    cc("BEGIN"),
    cc("INSERT 0 2"),
    rowDesc("a", "b"),
    row("1", "x"),
    row("2", "y"),
    cc("SELECT 2"),
    f(EMPTY_QUERY_RESPONSE),
    cc("COMMIT"),
    rfq("idle"),
  ]);
  assert.equal(end, 8);
  assert.ok(t.done);
  const o = t.outcome();
  assert.deepEqual([...o.tags], [[0, ["BEGIN", "INSERT 0 2", "SELECT 2", "", "COMMIT"]]]);
  assert.equal(o.error, undefined);
  assert.equal(o.status, "idle");
});

Deno.test("reply tracker: counts the statements done before an error in a simple Query", () => {
  const t = tracker(["Query"]);
  assert.equal(t.feed(cc("BEGIN")), false);
  assert.equal(t.feed(cc("INSERT 0 1")), false);
  assert.equal(t.feed(err("23505", "duplicate key")), false);
  assert.equal(t.done, false);
  assert.deepEqual(t.error, {
    entryIndex: 0,
    statementsDone: 2,
    code: "23505",
    message: "duplicate key",
    severity: "ERROR",
  });
  assert.equal(t.feed(rfq("failed")), true);
  const o = t.outcome();
  assert.equal(o.status, "failed");
  assert.deepEqual(o.tags.get(0), ["BEGIN", "INSERT 0 1"]);
});

Deno.test("reply tracker: reports an error in the first statement of a Query with none done", () => {
  const t = tracker(["Query"]);
  feedAll(t, [err("42P01"), rfq("idle")]);
  assert.equal(t.error?.entryIndex, 0);
  assert.equal(t.error?.statementsDone, 0);
  assert.equal(t.error?.code, "42P01");
  assert.equal(t.outcome().tags.size, 0);
});

Deno.test("reply tracker: places tags at the Execute's index in an extended batch", () => {
  // Parse, Bind, Describe portal, Execute, Sync.
  const t = tracker(["Parse", "Bind", "Describe", "Execute", "Sync"]);
  const end = feedAll(t, [
    f(PARSE_COMPLETE),
    f(BIND_COMPLETE),
    rowDesc("id"),
    row("7"),
    cc("INSERT 0 1"),
    rfq("idle"),
  ]);
  assert.equal(end, 5);
  const o = t.outcome();
  assert.deepEqual([...o.tags], [[3, ["INSERT 0 1"]]]);
  assert.equal(o.error, undefined);
});

Deno.test("reply tracker: completes a Describe by NoData and ignores ParameterDescription", () => {
  // Parse, Describe statement, Bind, Describe portal, Execute, Sync
  const t = tracker(["Parse", "Describe", "Bind", "Describe", "Execute", "Sync"]);
  feedAll(t, [
    f(PARSE_COMPLETE),
    f(encodeParameterDescription([23, 25])),
    f(NO_DATA),
    f(BIND_COMPLETE),
    f(NO_DATA),
    cc("UPDATE 3"),
    rfq("inTransaction"),
  ]);
  const o = t.outcome();
  assert.deepEqual([...o.tags], [[4, ["UPDATE 3"]]]);
  assert.equal(o.status, "inTransaction");
});

Deno.test("reply tracker: completes a statement Describe by its RowDescription", () => {
  const t = tracker(["Parse", "Describe", "Bind", "Execute", "Sync"]);
  feedAll(t, [
    f(PARSE_COMPLETE),
    f(encodeParameterDescription([])),
    rowDesc("n"),
    f(BIND_COMPLETE),
    row("1"),
    cc("SELECT 1"),
    rfq("idle"),
  ]);
  assert.deepEqual([...t.outcome().tags], [[3, ["SELECT 1"]]]);
});

Deno.test("reply tracker: tracks several Executes of one batch by index", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Bind", "Execute", "Close", "Sync"]);
  feedAll(t, [
    f(PARSE_COMPLETE),
    f(BIND_COMPLETE),
    cc("INSERT 0 1"),
    f(BIND_COMPLETE),
    cc("INSERT 0 1"),
    f(CLOSE_COMPLETE),
    rfq("idle"),
  ]);
  assert.deepEqual([...t.outcome().tags], [[2, ["INSERT 0 1"]], [4, ["INSERT 0 1"]]]);
});

Deno.test("reply tracker: reports the Bind's index for an error at Bind and skips to Sync", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Parse", "Bind", "Execute", "Sync"]);
  t.feed(f(PARSE_COMPLETE));
  t.feed(err("22P02", "invalid input syntax"));
  assert.equal(t.error?.entryIndex, 1);
  assert.equal(t.error?.statementsDone, 0);
  // Whatever else arrives before ReadyForQuery is not attributed to later messages.
  t.feed(f(BIND_COMPLETE));
  t.feed(cc("INSERT 0 1"));
  t.feed(err("XX000", "second"));
  assert.equal(t.feed(rfq("idle")), true);
  const o = t.outcome();
  assert.equal(o.error?.code, "22P02");
  assert.equal(o.error?.entryIndex, 1);
  assert.equal(o.tags.size, 0);
});

Deno.test("reply tracker: reports the Execute's index for an error at Execute", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Sync"]);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), err("23503"), rfq("failed")]);
  assert.equal(t.error?.entryIndex, 2);
  assert.equal(t.outcome().status, "failed");
});

Deno.test("reply tracker: skips Flush entries when matching replies", () => {
  const t = tracker(["Flush", "Parse", "Flush", "Bind", "Flush", "Execute", "Flush", "Sync"]);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("DELETE 4"), rfq("idle")]);
  assert.deepEqual([...t.outcome().tags], [[5, ["DELETE 4"]]]);
});

Deno.test("reply tracker: reports the errored message's index when a Flush precedes it", () => {
  const t = tracker(["Parse", "Flush", "Bind", "Execute", "Sync"]);
  feedAll(t, [f(PARSE_COMPLETE), err("08P01"), rfq("idle")]);
  // The error answers the Bind (index 2), not the Flush (index 1), which has no reply.
  assert.equal(t.error?.entryIndex, 2);
});

Deno.test("reply tracker: reports a Query's index when a Flush precedes it and it fails", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Flush", "Query"]);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("INSERT 0 1"), err("42601"), rfq("idle")]);
  assert.equal(t.error?.entryIndex, 4);
  assert.equal(t.error?.statementsDone, 0);
});

Deno.test("reply tracker: records a PortalSuspended as a (suspended) tag", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Execute", "Sync"]);
  feedAll(t, [
    f(PARSE_COMPLETE),
    f(BIND_COMPLETE),
    row("1"),
    row("2"),
    f(PORTAL_SUSPENDED),
    row("3"),
    cc("SELECT 1"),
    rfq("inTransaction"),
  ]);
  assert.deepEqual([...t.outcome().tags], [[2, ["(suspended)"]], [3, ["SELECT 1"]]]);
});

Deno.test("reply tracker: sets copyIn on CopyInResponse and clears it at ReadyForQuery", () => {
  const t = tracker(["Query"]);
  assert.equal(t.copyIn, false);
  t.feed(f(encodeCopyInResponse(0, [0, 0])));
  assert.equal(t.copyIn, true);
  t.feed(cc("COPY 3"));
  assert.equal(t.feed(rfq("idle")), true);
  assert.equal(t.copyIn, false);
  assert.deepEqual(t.outcome().tags.get(0), ["COPY 3"]);
});

Deno.test("reply tracker: clears copyIn when the COPY fails", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Sync"]);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), f(encodeCopyInResponse(0, [0]))]);
  assert.equal(t.copyIn, true);
  t.feed(err("22P04", "bad copy format"));
  assert.equal(t.copyIn, false);
  assert.equal(t.error?.entryIndex, 2);
  assert.equal(t.feed(rfq("idle")), true);
});

Deno.test("reply tracker: ignores NoticeResponse, ParameterStatus and NotificationResponse", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Sync"]);
  const notice = f(encodeNoticeResponse([["S", "NOTICE"], ["C", "00000"], ["M", "hi"]]));
  const status = f(encodeParameterStatus("TimeZone", "UTC"));
  const notify = f(encodeNotificationResponse(42, "chan", "payload"));
  const end = feedAll(t, [
    notice,
    f(PARSE_COMPLETE),
    status,
    f(BIND_COMPLETE),
    notify,
    notice,
    cc("INSERT 0 1"),
    status,
    rfq("idle"),
    notify,
  ]);
  assert.equal(end, 8);
  assert.deepEqual([...t.outcome().tags], [[2, ["INSERT 0 1"]]]);
  assert.equal(t.outcome().error, undefined);
});

Deno.test("reply tracker: records no tags when wantTags is off", () => {
  const t = tracker(["Query"], false);
  feedAll(t, [cc("INSERT 0 1"), cc("UPDATE 2"), rfq("idle")]);
  assert.equal(t.outcome().tags.size, 0);
});

Deno.test("reply tracker: records tags from the point wantTags is switched on", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Bind", "Execute", "Sync"], false);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("SELECT 1"), f(BIND_COMPLETE)]);
  t.wantTags = true;
  feedAll(t, [cc("INSERT 0 1"), rfq("idle")]);
  assert.deepEqual([...t.outcome().tags], [[4, ["INSERT 0 1"]]]);
});

Deno.test("reply tracker: decodes each ReadyForQuery status", () => {
  for (const status of ["idle", "inTransaction", "failed"] as const) {
    const t = tracker(["Sync"]);
    assert.equal(t.feed(rfq(status)), true);
    assert.equal(t.outcome().status, status);
  }
});

Deno.test("reply tracker: follows a kinds array that grows while replies arrive", () => {
  const kinds: EntryKind[] = ["Parse"];
  const batch = { kinds, closed: false };
  const t = new ReplyTracker(batch, true);
  t.feed(f(PARSE_COMPLETE));
  kinds.push("Bind", "Execute");
  t.feed(f(BIND_COMPLETE));
  t.feed(cc("INSERT 0 5"));
  kinds.push("Flush", "Sync");
  batch.closed = true;
  assert.equal(t.done, false);
  assert.equal(t.feed(rfq("idle")), true);
  assert.deepEqual([...t.outcome().tags], [[2, ["INSERT 0 5"]]]);
});

Deno.test("reply tracker: completes a FunctionCall by its response", () => {
  const t = tracker(["FunctionCall"]);
  feedAll(t, [f(encodeFunctionCallResponse(new Uint8Array([1]))), rfq("idle")]);
  assert.ok(t.done);
  assert.equal(t.outcome().error, undefined);
});

Deno.test("reply tracker: goes on to Sync after a Query's own ReadyForQuery inside a batch", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Query", "Sync"]);
  assert.equal(feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("INSERT 0 1")]), -1);
  assert.equal(t.feed(cc("BEGIN")), false);
  assert.equal(t.feed(rfq("inTransaction")), false);
  assert.equal(t.done, false);
  assert.equal(t.feed(rfq("inTransaction")), true);
  assert.deepEqual([...t.outcome().tags], [[2, ["INSERT 0 1"]], [3, ["BEGIN"]]]);
});

Deno.test("reply tracker: goes on to Sync after a Query inside a batch fails", () => {
  const t = tracker(["Query", "Parse", "Bind", "Execute", "Sync"]);
  feedAll(t, [err("42601"), rfq("idle")]);
  assert.equal(t.done, false);
  assert.equal(t.error?.entryIndex, 0);
  // No skip-until-Sync after a simple Query's error: the later messages run.
  assert.equal(
    feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("INSERT 0 1"), rfq("idle")]),
    3,
  );
  assert.deepEqual([...t.outcome().tags], [[3, ["INSERT 0 1"]]]);
});

Deno.test("reply tracker: goes on to Sync after a FunctionCall inside a batch fails", () => {
  const t = tracker(["FunctionCall", "Parse", "Bind", "Execute", "Sync"]);
  feedAll(t, [err("42883"), rfq("idle")]);
  assert.equal(t.done, false);
  assert.equal(t.error?.entryIndex, 0);
  assert.equal(
    feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("INSERT 0 1"), rfq("idle")]),
    3,
  );
  assert.deepEqual([...t.outcome().tags], [[3, ["INSERT 0 1"]]]);
});

Deno.test("reply tracker: is not done before ReadyForQuery", () => {
  const t = tracker(["Parse", "Bind", "Execute", "Sync"]);
  feedAll(t, [f(PARSE_COMPLETE), f(BIND_COMPLETE), cc("INSERT 0 1")]);
  assert.equal(t.done, false);
});
