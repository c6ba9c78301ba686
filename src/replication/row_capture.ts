/**
 * @module
 * What the client sees of a statement replicated by rows. The original runs it with extra
 * RETURNING columns; this module decides, reply by reply, what reaches the client: RowDescription
 * and DataRow are cut back to the client's own columns (or dropped, or a Describe answered with
 * NoData, when the client asked for no rows), and the extra columns are kept as text for the
 * copies. Everything else passes unchanged.
 */

import {
  BackendCode,
  decodeDataRow,
  decodeRowDescription,
  encodeDataRow,
  encodeRowDescription,
  type Frame,
  NO_DATA,
} from "../protocol/mod.ts";
import type { BatchEntry, RowPlan } from "./batch.ts";

/** What to do with one reply. */
export type Verdict =
  | { readonly kind: "forward" }
  | { readonly kind: "drop" }
  | { readonly kind: "replace"; readonly bytes: Uint8Array };

const FORWARD: Verdict = { kind: "forward" };
const DROP: Verdict = { kind: "drop" };
const utf8 = new TextDecoder();

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
      const values = decodeDataRow(frame);
      const slot = entry.kind === "Query" ? statementIndex : 0;
      entry.captured ??= [];
      const rows = entry.captured[slot] ??= [];
      rows.push(values.slice(k).map((v) => (v === null ? null : utf8.decode(v))));
      if (k === 0) return DROP;
      return { kind: "replace", bytes: encodeDataRow(values.slice(0, k)) };
    }
    default:
      return FORWARD;
  }
}
