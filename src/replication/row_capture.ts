/**
 * @module
 * What the client sees of a statement replicated by rows. The original runs it with extra
 * RETURNING columns; this module decides, reply by reply, what reaches the client: RowDescription
 * and DataRow are cut back to the client's own columns (or dropped, or a Describe answered with
 * NoData, when the client asked for no rows), and the extra columns are kept for the copies, as
 * the bytes the DataRow carried them in (`captured_row.ts`). Everything else passes unchanged.
 */

import {
  BackendCode,
  dataRowOffset,
  decodeRowDescription,
  encodeRowDescription,
  type Frame,
  NO_DATA,
} from "../protocol/mod.ts";
import type { BatchEntry, RowPlan } from "./batch.ts";
import { RawRow } from "./captured_row.ts";

/** What to do with one reply. */
export type Verdict =
  | { readonly kind: "forward" }
  | { readonly kind: "drop" }
  | { readonly kind: "replace"; readonly bytes: Uint8Array };

const FORWARD: Verdict = { kind: "forward" };
const DROP: Verdict = { kind: "drop" };

/**
 * The plan a reply concerns, if any.
 *
 * @param entry the message the reply answers
 * @param statementIndex for a Query, which of its statements is running
 * @returns the row plan, or undefined
 */
export function planFor(entry: BatchEntry, statementIndex: number): RowPlan | undefined {
  if (entry.kind === "Query") return entry.rowPlans?.[statementIndex];
  return entry.rowPlan;
}

/**
 * Decides what the client gets of one reply, capturing rows for the copies.
 *
 * @param entry the message the reply answers (its `captured` is appended to)
 * @param statementIndex for a Query, which of its statements is running
 * @param frame the reply
 * @returns forward, drop or replace
 */
export function transformReply(entry: BatchEntry, statementIndex: number, frame: Frame): Verdict {
  const plan = planFor(entry, statementIndex);
  if (!plan) return FORWARD;
  const k = plan.clientColumns;
  switch (frame.code) {
    case BackendCode.RowDescription: {
      if (entry.kind !== "Query" && entry.kind !== "Describe") return FORWARD;
      if (k === 0) return entry.kind === "Describe" ? { kind: "replace", bytes: NO_DATA } : DROP;
      const fields = decodeRowDescription(frame);
      return { kind: "replace", bytes: encodeRowDescription(fields.slice(0, k)) };
    }
    case BackendCode.DataRow: {
      if (entry.kind !== "Query" && entry.kind !== "Execute") return FORWARD;
      const at = dataRowOffset(frame, k);
      const row = RawRow.fromDataRow(frame, k, at);
      const slot = entry.kind === "Query" ? statementIndex : 0;
      entry.captured ??= [];
      (entry.captured[slot] ??= []).push(row);
      if (k === 0) return DROP;
      return { kind: "replace", bytes: leadingValues(frame, k, at) };
    }
    default:
      return FORWARD;
  }
}

/**
 * A DataRow (checked by `dataRowOffset`) cut back to its first `k` values, which end at byte
 * `end` (or all of them, when it has no more).
 */
function leadingValues(frame: Frame, k: number, end: number): Uint8Array {
  const b = frame.bytes;
  k = Math.min(k, (b[5]! << 8) | b[6]!);
  const out = b.slice(0, end);
  const len = end - 1;
  out[1] = len >>> 24;
  out[2] = len >>> 16;
  out[3] = len >>> 8;
  out[4] = len;
  out[5] = k >>> 8;
  out[6] = k;
  return out;
}
