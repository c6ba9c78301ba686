/**
 * @module
 * What copies run when the original reported an error (DESIGN.md, "Transactions"): the failing
 * statement is never sent to copies, but they must end in the same state. They get the part of
 * the batch that succeeded on the original, then a statement that fails on purpose at the point
 * where the original failed, so implicit and explicit transactions roll back (or abort) exactly as
 * on the original. Then {@link reconcileStep} closes any remaining gap in transaction status, and
 * {@link compareOutcomes} decides whether a copy diverged.
 */

import {
  encodeBind,
  encodeExecute,
  encodeParse,
  encodeQuery,
  SYNC,
  type TxStatus,
} from "../protocol/mod.ts";
import type { BatchEntry } from "./batch.ts";
import { copyStatement } from "./determinism.ts";
import type { BatchOutcome } from "./reply_tracker.ts";
import type { RowStatements } from "./row_statement.ts";
import { comparesRows, textRowsDigest } from "./returning_hash.ts";

/** A statement that always fails: it puts a copy where the original's error left the original. */
export const FORCED_ERROR_SQL =
  "DO $usogres$BEGIN RAISE EXCEPTION 'usogres: the original server reported an error here'; END$usogres$";

/** One message for a copy, with the kind the copy's reply tracker needs. */
export interface CopyMessage {
  /** Message kind. */
  readonly kind: BatchEntry["kind"];
  /** Encoded message. */
  readonly bytes: Uint8Array;
  /** Index of the original's entry it mirrors, or -1 for messages usogres added. */
  readonly source: number;
  /** For Parse and Bind: the statement name. */
  readonly statement?: string;
  /** For a Bind: the Parse of the statement version it binds (see BatchEntry.parse). */
  readonly parse?: Uint8Array;
}

/**
 * The messages a copy runs for a batch that succeeded on the original: every retained entry.
 * Given the copy connection's prepared row statements, a statement replicated by rows becomes a
 * Bind and Execute of a prepared statement (see `row_statement.ts`); without them (the journal,
 * COPY streams), the statement built with literals.
 *
 * @param entries the batch's entries
 * @param rows the prepared row statements of the connection the messages are for
 * @param returning whether statements replicated by rows return the rows they write (to compare
 *   them with the original's: `replication.returning_hash`)
 * @returns the copy's messages
 */
export function copyMessages(
  entries: readonly BatchEntry[],
  rows?: RowStatements,
  returning = false,
): CopyMessage[] {
  const only = entries.length === 1 ? entries[0] : undefined;
  const plan = only?.kind === "Query" && only.statements?.length === 1
    ? only.rowPlans?.[0]
    : undefined;
  if (rows !== undefined && plan !== undefined && only?.bytes) {
    // A simple Query of one statement, alone in its batch: as Parse/Bind/Execute/Sync it runs in
    // the same implicit transaction and gives the same tag and transaction status.
    const forms = rows.messages(plan, only.captured?.[0] ?? [], 0, returning);
    if (forms !== undefined) return [...forms, { kind: "Sync", bytes: SYNC, source: -1 }];
  }
  const out: CopyMessage[] = [];
  entries.forEach((e, i) => out.push(...copyForms(e, i, { rows, returning })));
  return out;
}

/**
 * What copies run for one retained entry: the entry itself, or, for a statement replicated by
 * rows, the statement built from the rows the original returned (its Parse, Bind and Describe are
 * not needed on copies; each Execute becomes Bind and Execute of the connection's prepared row
 * statement, or Parse, Bind and Execute of the statement built with literals).
 */
function copyForms(
  e: BatchEntry,
  i: number,
  opts: {
    readonly statementsDone?: number;
    readonly rows?: RowStatements | undefined;
    readonly returning?: boolean;
  } = {},
): CopyMessage[] {
  const { statementsDone, rows, returning = false } = opts;
  if (!e.bytes) return [];
  if (e.kind === "Query" && e.rowPlans?.some((p) => p !== undefined)) {
    const statements = (e.statements ?? []).slice(0, statementsDone);
    const sql = statements.map((s, j) => {
      const plan = e.rowPlans?.[j];
      return plan ? copyStatement(plan, e.captured?.[j] ?? [], returning) : s.text;
    });
    if (statementsDone !== undefined) sql.push(FORCED_ERROR_SQL);
    return [{ kind: "Query", bytes: encodeQuery(sql.join(";\n")), source: i }];
  }
  if (e.rowPlan) {
    if (e.kind !== "Execute") return [];
    const prepared = rows?.messages(e.rowPlan, e.captured?.[0] ?? [], i, returning);
    if (prepared !== undefined) return prepared;
    const sql = copyStatement(e.rowPlan, e.captured?.[0] ?? [], returning);
    return [
      { kind: "Parse", bytes: encodeParse("", sql), source: -1, statement: "" },
      { kind: "Bind", bytes: encodeBind({}), source: -1, statement: "" },
      { kind: "Execute", bytes: encodeExecute(), source: i },
    ];
  }
  return [toCopyMessage(e, e.bytes, i)];
}

/**
 * The messages a copy runs for a batch that failed on the original: the retained entries before
 * the failing one, then a forced error in the same sub-protocol. Empty when nothing before the
 * error ran on a copy (then only {@link reconcileStep} matters).
 *
 * @param entries the batch's entries
 * @param failedAt index of the entry the original's error answered
 * @param statementsDone for a failing Query, how many of its statements completed first
 * @returns the copy's messages
 */
export function mirrorFailedBatch(
  entries: readonly BatchEntry[],
  failedAt: number,
  statementsDone: number,
): CopyMessage[] {
  const out: CopyMessage[] = [];
  for (let i = 0; i < failedAt && i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind !== "Sync") out.push(...copyForms(e, i));
  }
  const failed = entries[failedAt];
  if (failed?.kind === "Query" && failed.bytes) {
    if (statementsDone === 0 && out.length === 0) return [];
    if (failed.rowPlans?.some((p) => p !== undefined)) {
      out.push(...copyForms(failed, failedAt, { statementsDone }));
      return out;
    }
    const done = (failed.statements ?? []).slice(0, statementsDone).map((s) => s.text);
    const sql = [...done, FORCED_ERROR_SQL].join(";\n");
    out.push({ kind: "Query", bytes: encodeQuery(sql), source: failedAt });
    return out;
  }
  if (out.length === 0) return [];
  out.push(...forcedErrorExtended());
  return out;
}

function toCopyMessage(e: BatchEntry, bytes: Uint8Array, source: number): CopyMessage {
  if (e.statement === undefined) return { kind: e.kind, bytes, source };
  return e.parse === undefined
    ? { kind: e.kind, bytes, source, statement: e.statement }
    : { kind: e.kind, bytes, source, statement: e.statement, parse: e.parse };
}

/** Parse, Bind, Execute and Sync of {@link FORCED_ERROR_SQL} (unnamed statement and portal). */
function forcedErrorExtended(): CopyMessage[] {
  return [
    // Named "" so the copy's link records that its unnamed statement was replaced.
    { kind: "Parse", bytes: encodeParse("", FORCED_ERROR_SQL), source: -1, statement: "" },
    { kind: "Bind", bytes: encodeBind({}), source: -1, statement: "" },
    { kind: "Execute", bytes: encodeExecute(), source: -1 },
    { kind: "Sync", bytes: SYNC, source: -1 },
  ];
}

/**
 * The next message that moves a copy's transaction status towards the original's, or undefined
 * when none can (the copy has then diverged) or none is needed.
 *
 * @param original the original's status after the batch
 * @param copy the copy's status
 * @returns a Query to send, "diverged", or undefined when they agree
 */
export function reconcileStep(
  original: TxStatus,
  copy: TxStatus,
): { readonly sql: string } | "diverged" | undefined {
  if (original === copy) return undefined;
  if (original === "idle") return { sql: "ROLLBACK" }; // the original's transaction ended in error
  if (original === "failed" && copy === "inTransaction") return { sql: FORCED_ERROR_SQL };
  return "diverged";
}

/**
 * Compares a copy's outcome with the original's for a batch the original completed without error.
 *
 * @param original the original's outcome
 * @param copy the copy's outcome
 * @param messages the copy's messages (to map its tags back to the original's entries)
 * @param entries the batch's entries: given, and both outcomes hashed their rows, the rows each
 *   write returned are compared too (for a write replicated by rows, the copy's with the rows
 *   captured from the original)
 * @returns a one-line description of the divergence, or undefined when they agree
 */
export function compareOutcomes(
  original: BatchOutcome,
  copy: BatchOutcome,
  messages: readonly CopyMessage[],
  entries?: readonly BatchEntry[],
): string | undefined {
  if (copy.error) {
    return `copy failed where the original succeeded: ${copy.error.code} ${copy.error.message}`;
  }
  for (let i = 0; i < messages.length; i++) {
    const source = messages[i]!.source;
    if (source < 0) continue;
    const want = original.tags.get(source) ?? [];
    const got = copy.tags.get(i) ?? [];
    if (want.length !== got.length || want.some((t, k) => t !== got[k])) {
      return `command tags differ: original "${want.join(", ")}", copy "${got.join(", ")}"`;
    }
    if (entries !== undefined && original.hashes !== undefined && copy.hashes !== undefined) {
      const entry = entries[source];
      const mine = original.hashes.get(source) ?? [];
      const theirs = copy.hashes.get(i) ?? [];
      for (const [k, tag] of want.entries()) {
        if (!comparesRows(tag)) continue;
        const plan = entry?.kind === "Query" ? entry.rowPlans?.[k] : entry?.rowPlan;
        const slot = entry?.kind === "Query" ? k : 0;
        const expected = plan ? textRowsDigest(entry?.captured?.[slot] ?? []) : mine[k];
        if (expected !== theirs[k]) {
          return `rows returned differ for "${tag}": original ${expected ?? "none"}, copy ${
            theirs[k] ?? "none"
          }`;
        }
      }
    }
  }
  if (original.status !== copy.status) {
    return `transaction status differs: original ${original.status}, copy ${copy.status}`;
  }
  return undefined;
}
