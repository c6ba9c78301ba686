/**
 * @module
 * Rules the relay applies to classified statements: which release locks (and so wait for the
 * copies), which cannot run inside a transaction block usogres adds, which commit, which drop
 * prepared statements on the copies, and which set a sequence outright.
 */

import { FrontendCode } from "../protocol/mod.ts";
import { ROW_STATEMENT_PREFIX, type RowPlan, type StatementInfo } from "../replication/mod.ts";

/** Statements that set a sequence's position outright (they run alone through the write gate). */
export const SETS_SEQUENCE: RegExp = /\bsetval\s*\(|\balter\s+sequence\b[\s\S]*\brestart\b/i;

/** Statements that release locks: they wait until earlier writes reached the copies. */
export function releasesLocks(st: StatementInfo): boolean {
  const a = st.transaction;
  return a === "commit" || a === "rollback" || a === "rollbackTo" || a === "prepare" ||
    a === "commitPrepared" || a === "rollbackPrepared";
}

/** Statements that cannot run inside a transaction block (or behave differently there). */
export function cannotWrap(st: StatementInfo): boolean {
  switch (st.node) {
    case "TransactionStmt":
    case "CopyStmt": // the client must be able to send CopyData while the batch is open
    case "VacuumStmt":
    case "CreatedbStmt":
    case "DropdbStmt":
    case "CreateTableSpaceStmt":
    case "DropTableSpaceStmt":
    case "AlterSystemStmt":
    case "CreateSubscriptionStmt":
    case "AlterSubscriptionStmt":
    case "DropSubscriptionStmt":
    case "DiscardStmt":
    case "LockStmt":
    case "ClusterStmt":
    case "ReindexStmt":
    case "CheckPointStmt":
      return true;
    default:
      return /\bconcurrently\b/i.test(st.text);
  }
}

/** Whether the original is getting a refusal instead of the client's statement. */
export function replacementIsRefusal(
  rowPlan: RowPlan | undefined,
  rowPlans: readonly (RowPlan | undefined)[] | undefined,
  replacement: Uint8Array | undefined,
): boolean {
  return replacement !== undefined && !rowPlan && !rowPlans;
}

/** Whether a client message belongs to the COPY sub-protocol. */
export function isCopyMessage(code: number): boolean {
  return code === FrontendCode.CopyData || code === FrontendCode.CopyDone ||
    code === FrontendCode.CopyFail;
}

/** Whether a statement drops prepared statements (DISCARD, DEALLOCATE ALL, or one of usogres's row statements). */
export function clearsPrepared(s: { node: string; deallocate?: string | null }): boolean {
  // DEALLOCATE of one of usogres's own row statements (see RowStatements) counts as well: the
  // copy would otherwise be sent a Bind of a statement it no longer has.
  return s.node === "DiscardStmt" || s.deallocate === null ||
    (s.deallocate?.startsWith(ROW_STATEMENT_PREFIX) ?? false);
}

/** An explicit COMMIT (or END) of the transaction in progress. */
export function isCommit(st: StatementInfo): boolean {
  return st.transaction === "commit";
}

/**
 * Whether a string ends with COMMIT and commits nothing earlier (`BEGIN; ...; COMMIT`).
 *
 * @returns true when the last statement is the only one that ends a transaction
 */
export function endsWithCommit(statements: readonly StatementInfo[]): boolean {
  if (statements.length < 2 || !isCommit(statements[statements.length - 1]!)) return false;
  return statements.slice(0, -1).every((st) =>
    !releasesLocks(st) && !cannotWrap(st) || st.transaction === "begin"
  );
}
