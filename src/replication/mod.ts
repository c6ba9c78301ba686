/**
 * @module
 * Replication logic, pure and socket-free: classification of SQL, batches, reply tracking, what
 * copies run after an error, and outcome comparison. The only entry point of `src/replication/`.
 */

export {
  type Classification,
  Classifier,
  type ClassifierOptions,
  initClassifier,
  type StatementClass,
  type StatementInfo,
  type TransactionAction,
} from "./classify.ts";
export {
  type Batch,
  type BatchEntry,
  type BatchRoute,
  type CapturedRows,
  endsBatch,
  type EntryKind,
  newBatch,
  type RowPlan,
} from "./batch.ts";
export {
  type BatchError,
  type BatchOutcome,
  ReplyTracker,
  type TrackedMessages,
} from "./reply_tracker.ts";
export {
  compareOutcomes,
  type CopyMessage,
  copyMessages,
  FORCED_ERROR_SQL,
  mirrorFailedBatch,
  reconcileStep,
} from "./mirror.ts";
export {
  type PreparedStatement,
  PreparedStatements,
  routeOf,
  type StatementLookup,
} from "./prepared.ts";
export { findUnsafe, type Refusal, refusalSql } from "./refusal.ts";
export { isPlainSelect } from "./plain_read.ts";
export { CatalogCache } from "./catalog_cache.ts";
export { planFor, transformReply, type Verdict } from "./row_capture.ts";
export { type CapturedRow, RawRow, rawRow, rowTexts } from "./captured_row.ts";
export {
  catalogQuery,
  type ColumnInfo,
  copyStatement,
  type DeterminismOptions,
  type DmlPlan,
  parseCatalogRows,
  planStatement,
  type TableInfo,
  unknownCallPolicy,
} from "./determinism.ts";
export { quoteIdent, quoteLiteral } from "./sql_quote.ts";
export {
  MAX_PARAMETERISED_ROWS,
  type ParameterisedStatement,
  parameterisedStatement,
  ROW_STATEMENT_PREFIX,
  RowStatements,
} from "./row_statement.ts";
