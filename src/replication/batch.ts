/**
 * @module
 * A batch, the unit usogres routes (DESIGN.md, "Terms"): one simple Query, or an extended-protocol
 * run of messages up to and including Sync (a Query arriving before Sync also ends it, as pgJDBC
 * sends BEGIN that way), or one FunctionCall. The original receives every message of a batch as it
 * arrives; the messages copies need are retained here (copied out of the reader's buffer) from the
 * first one that makes the batch a write, and sent to the copies once the original has finished.
 */

import type { CapturedRow } from "./captured_row.ts";
import type { StatementInfo } from "./classify.ts";
import type { DmlPlan } from "./determinism.ts";

/** A statement replicated by rows: the original returns them, copies get explicit values. */
export type RowPlan = Extract<DmlPlan, { kind: "rowBased" }>;

/** Rows as text (null for SQL NULL): the replies to usogres's own queries. */
export type CapturedRows = (string | null)[][];

/** The frontend messages a batch is made of, as the reply tracker needs to tell them apart. */
export type EntryKind =
  | "Query"
  | "Parse"
  | "Bind"
  | "Describe"
  | "Execute"
  | "Close"
  | "Sync"
  | "Flush"
  | "FunctionCall";

/** One message of a batch. */
export interface BatchEntry {
  /** What the message is. */
  readonly kind: EntryKind;
  /** Retained bytes, when copies need this message; undefined for original-only messages. */
  bytes: Uint8Array | undefined;
  /** For a Query: the classified statements (their texts build the prefix after an error). */
  readonly statements?: readonly StatementInfo[];
  /** For Parse and Bind: the prepared statement's name ("" for the unnamed one). */
  readonly statement?: string;
  /**
   * For a Bind: the retained Parse of the statement it binds, as it was when the Bind came (a
   * pipelining client may close and re-parse the name before the copies run this batch).
   */
  readonly parse?: Uint8Array;
  /** For a Query: the row plan of each statement replicated by rows (undefined for the others). */
  readonly rowPlans?: readonly (RowPlan | undefined)[];
  /** For Parse, Bind, Describe and Execute of a statement replicated by rows: its plan. */
  readonly rowPlan?: RowPlan;
  /**
   * Rows of the added columns captured from the original (see `captured_row.ts`): per statement
   * for a Query, at [0] for an Execute.
   */
  captured?: CapturedRow[][];
}

/** How a batch is routed. */
export type BatchRoute =
  /** Only the original runs it (reads, LISTEN, cursors). */
  | "original"
  /** The original first, then every in-sync copy (writes, session and transaction statements). */
  | "all";

/** One batch in flight: built by the client side, consumed by the original's reply side. */
export interface Batch {
  /** Sequence number in the session, for logs. */
  readonly seq: number;
  /** Messages in order. */
  readonly entries: BatchEntry[];
  /** The kinds of `entries`, in the same order (the reply tracker reads this live array). */
  readonly kinds: EntryKind[];
  /** Where it goes; becomes "all" at the first write message and never goes back. */
  route: BatchRoute;
  /** True once its Sync (or Query, or FunctionCall) was added: no more entries will come. */
  closed: boolean;
  /** The statement text for logs (first Query or Parse that made it a write). */
  label: string;
  /** Set while a COPY FROM STDIN of this batch streams to copies. */
  copyIn: boolean;
  /** Whether the batch started a COPY ... FROM STDIN on the copies too. */
  copyStarted: boolean;
  /** Number of entries already sent to the copies when their COPY started. */
  copyEntries: number;
  /** Whether the client's CopyFail already went to the copies. */
  copyFailed: boolean;
  /** Whether some entry is replicated by rows (its replies are rewritten for the client). */
  rowBased: boolean;
  /** Set for usogres's own queries (catalog reads): their replies never reach the client. */
  internal?: {
    readonly rows: CapturedRows;
    failed: boolean;
    readonly resolve: (rows: CapturedRows | undefined) => void;
    /** For the COMMIT or ROLLBACK that ends a wrapped write: that write's completion. */
    readonly finishes?: PromiseWithResolvers<void>;
    /** Whether its CommandComplete goes to the client (it stands for the client's COMMIT). */
    readonly showComplete?: boolean;
  };
  /** When it passed the write gate (for the fan-out latency histogram). */
  startedAt?: number;
  /** Set for `BEGIN; ...; COMMIT` in one string: usogres sends the COMMIT itself, copies first. */
  splitCommit?: boolean;
  /** Set when the copies ran this batch's COMMIT before the original got it. */
  copiesCommitted?: boolean;
  /** The copies run it behind the client, after its ReadyForQuery (inside a transaction). */
  behind?: boolean;
  /** Whether it passed the write gate alone (the gate resumes when it finishes). */
  alone?: boolean;
  /** Whether it passed the write gate (and must leave it when finished). */
  gated?: boolean;
  /** Set when usogres runs this autocommit write inside a transaction (see relay.ts). */
  wrapped?: PromiseWithResolvers<void>;
}

/**
 * Starts an empty batch.
 *
 * @param seq sequence number
 * @returns the batch
 */
export function newBatch(seq: number): Batch {
  return {
    seq,
    entries: [],
    kinds: [],
    route: "original",
    closed: false,
    label: "",
    copyIn: false,
    copyStarted: false,
    copyEntries: 0,
    copyFailed: false,
    rowBased: false,
  };
}

/**
 * Whether a message kind ends a batch.
 *
 * @param kind the message kind
 * @returns true for Sync, Query and FunctionCall
 */
export function endsBatch(kind: EntryKind): boolean {
  return kind === "Sync" || kind === "Query" || kind === "FunctionCall";
}
