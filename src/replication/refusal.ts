/**
 * @module
 * Statements usogres refuses because it cannot replicate them safely (STYLE.md: "unsafe to
 * replicate 0A000 with DETAIL and HINT"). The refusal is produced by the original itself: usogres
 * sends it a statement that raises exactly this error, so the error reaches the client in order
 * with everything else, and the transaction fails on the original as it would for any error (the
 * copies are then brought to the same state like after any other error).
 */

import type { StatementInfo } from "./classify.ts";

/** Why a statement is refused. */
export interface Refusal {
  /** Primary message. */
  readonly message: string;
  /** DETAIL sentence. */
  readonly detail: string;
  /** HINT sentence. */
  readonly hint: string;
}

/**
 * Finds the first statement of a Query that cannot be replicated safely.
 *
 * @param statements the classified statements
 * @returns the refusal, or undefined when every statement is safe
 */
export function findUnsafe(statements: readonly StatementInfo[]): Refusal | undefined {
  for (const s of statements) {
    if (s.reason === "WHERE CURRENT OF") {
      return {
        message: "WHERE CURRENT OF cannot be replicated by usogres",
        detail:
          "Cursors exist only on the original server, so the copies cannot find the row the cursor points at.",
        hint: "Update the row by its primary key instead.",
      };
    }
    if (s.node === "DeclareCursorStmt" && s.reason !== undefined) {
      return {
        message: "a cursor whose query writes cannot be replicated by usogres",
        detail:
          `Cursors run only on the original server, and this cursor's query writes (${s.reason}).`,
        hint: "Run the query without a cursor, or make its function calls read-only.",
      };
    }
  }
  return undefined;
}

/**
 * A statement that raises the refusal as an ERROR with SQLSTATE 0A000.
 *
 * @param r the refusal
 * @returns SQL for the original to run
 */
export function refusalSql(r: Refusal): string {
  const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
  return `DO $usogres$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = ${
    lit(r.message)
  }, DETAIL = ${lit(r.detail)}, HINT = ${lit(r.hint)}; END$usogres$`;
}
