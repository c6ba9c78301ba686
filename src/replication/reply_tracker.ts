/**
 * @module
 * Follows one backend's replies to one batch: which message each reply answers, where the first
 * error happened, the CommandComplete tags, and the final transaction status. It looks only at the
 * type byte of each reply (decoding just CommandComplete, ErrorResponse and ReadyForQuery), so it
 * can sit on the hot path. PgDog's `backend/protocol/state.rs` is the model: an expected-reply
 * queue with PostgreSQL's skip-until-Sync rule after an error (postgres.c, `ignore_till_sync`).
 *
 * Replies per message: Parse -> ParseComplete; Bind -> BindComplete; Close -> CloseComplete;
 * Describe -> [ParameterDescription] then RowDescription or NoData; Execute -> rows then
 * CommandComplete, EmptyQueryResponse or PortalSuspended; FunctionCall -> FunctionCallResponse;
 * Query -> per statement [RowDescription, rows] CommandComplete or EmptyQueryResponse, then
 * ReadyForQuery; Sync -> ReadyForQuery; Flush -> nothing.
 */

import { BackendCode, decodeBackend, type Frame, type TxStatus } from "../protocol/mod.ts";
import type { EntryKind } from "./batch.ts";
import { NO_ROWS, RowsHash } from "./returning_hash.ts";

/** The messages a tracker follows: their kinds, and whether more may still be added. */
export interface TrackedMessages {
  /** Message kinds in order (a live array while the batch is open). */
  readonly kinds: readonly EntryKind[];
  /** True once the last message was added. */
  readonly closed: boolean;
}

/** The first error a backend reported in a batch. */
export interface BatchError {
  /** Index of the message it answered (in the tracked entry list). */
  readonly entryIndex: number;
  /** For a Query: how many of its statements completed before the error. */
  readonly statementsDone: number;
  /** SQLSTATE. */
  readonly code: string;
  /** Primary message. */
  readonly message: string;
  /** Severity (ERROR, FATAL, ...). */
  readonly severity: string;
}

/** What a backend did with a batch, once its ReadyForQuery arrived. */
export interface BatchOutcome {
  /** CommandComplete tags per message index ("" for EmptyQueryResponse, "(suspended)"). */
  readonly tags: ReadonlyMap<number, readonly string[]>;
  /** The first error, if any. */
  readonly error: BatchError | undefined;
  /** Transaction status from ReadyForQuery. */
  readonly status: TxStatus;
  /**
   * With `wantHashes`: per message index, the digest of each statement's DataRows (see
   * `returning_hash.ts`), in the order of `tags`.
   */
  readonly hashes?: ReadonlyMap<number, readonly string[]>;
}

/** Tracks one backend's replies to a list of messages. */
export class ReplyTracker {
  readonly #batch: TrackedMessages;
  #index = 0;
  #statementsDone = 0;
  #skipping = false;
  #tags = new Map<number, string[]>();
  #hashes: Map<number, string[]> | undefined;
  #rows: RowsHash | undefined;
  #error: BatchError | undefined;
  #status: TxStatus = "idle";
  #done = false;
  /** True after a CopyInResponse: the backend waits for CopyData. */
  copyIn = false;
  /**
   * Whether to decode CommandComplete tags (needed only to compare with copies); may be switched
   * on while the batch is still being built, before the replies it concerns arrive.
   */
  wantTags: boolean;
  /** Whether to hash DataRows per statement (`replication.returning_hash`); needs `wantTags`. */
  wantHashes = false;

  /**
   * Starts tracking.
   *
   * @param batch the messages sent, in order; the arrays may still grow while `closed` is false
   * @param wantTags whether to decode CommandComplete tags (needed only to compare with copies)
   */
  constructor(batch: TrackedMessages, wantTags: boolean) {
    this.#batch = batch;
    this.wantTags = wantTags;
  }

  /** Whether the batch's ReadyForQuery has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Which message the next reply answers: its index and, for a Query, how many of its statements
   * have completed. Undefined while skipping until Sync after an error.
   *
   * @returns the position, or undefined
   */
  position(): { readonly index: number; readonly statementsDone: number } | undefined {
    if (this.#skipping || this.#current() === undefined) return undefined;
    return { index: this.#index, statementsDone: this.#statementsDone };
  }

  /** The first error so far. */
  get error(): BatchError | undefined {
    return this.#error;
  }

  /**
   * The outcome; meaningful once {@link done}.
   *
   * @returns tags, error and status
   */
  outcome(): BatchOutcome {
    const outcome = { tags: this.#tags, error: this.#error, status: this.#status };
    return this.#hashes ? { ...outcome, hashes: this.#hashes } : outcome;
  }

  #list(): readonly EntryKind[] {
    return this.#batch.kinds;
  }

  #current(): EntryKind | undefined {
    const list = this.#list();
    while (this.#index < list.length && list[this.#index] === "Flush") this.#index++;
    return list[this.#index];
  }

  #complete(): void {
    this.#index++;
    this.#statementsDone = 0;
  }

  #tag(tag: string): void {
    if (!this.wantTags) return;
    const list = this.#tags.get(this.#index);
    if (list) list.push(tag);
    else this.#tags.set(this.#index, [tag]);
    if (this.wantHashes) {
      this.#hashes ??= new Map();
      const digest = this.#rows?.digest() ?? NO_ROWS;
      this.#rows = undefined;
      const hashes = this.#hashes.get(this.#index);
      if (hashes) hashes.push(digest);
      else this.#hashes.set(this.#index, [digest]);
    }
  }

  /**
   * Feeds one reply.
   *
   * @param frame the backend message
   * @returns true when it was the batch's ReadyForQuery
   */
  feed(frame: Frame): boolean {
    const code = frame.code;
    switch (code) {
      case BackendCode.DataRow:
        if (this.wantHashes && !this.#skipping) (this.#rows ??= new RowsHash()).addDataRow(frame);
        return false;
      case BackendCode.CopyData:
      case BackendCode.CopyDone:
      case BackendCode.NoticeResponse:
      case BackendCode.NotificationResponse:
      case BackendCode.ParameterStatus:
      case BackendCode.ParameterDescription:
        return false;
      case BackendCode.ReadyForQuery: {
        const m = decodeBackend(frame);
        if (m.type === "ReadyForQuery") this.#status = m.status;
        this.copyIn = false;
        const current = this.#current();
        const last = this.#index === this.#list().length - 1 && this.#batch.closed;
        if ((current === "Query" || current === "FunctionCall") && !last && !this.#skipping) {
          // A simple Query (or FunctionCall) in the middle of an extended batch answers with its
          // own ReadyForQuery; the batch goes on to its Sync.
          this.#complete();
          return false;
        }
        this.#done = true;
        return true;
      }
      case BackendCode.ErrorResponse: {
        const m = decodeBackend(frame);
        // Step over Flush entries first: the error answers the next message that has replies.
        const current = this.#current();
        if (!this.#error && m.type === "ErrorResponse") {
          this.#error = {
            entryIndex: this.#index,
            statementsDone: this.#statementsDone,
            code: m.code,
            message: m.message,
            severity: m.severity,
          };
        }
        this.copyIn = false;
        // Only extended-protocol messages start PostgreSQL's skip-until-Sync (postgres.c sets
        // doing_extended_query_message for them alone); Query and FunctionCall do not.
        if (current !== "Query" && current !== "FunctionCall") this.#skipping = true;
        return false;
      }
      case BackendCode.CopyInResponse:
        this.copyIn = true;
        return false;
      case BackendCode.CopyOutResponse:
      case BackendCode.CopyBothResponse:
        return false;
    }
    if (this.#skipping) return false;
    const current = this.#current();
    switch (code) {
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
      case BackendCode.NoData:
      case BackendCode.FunctionCallResponse:
        this.#complete();
        break;
      case BackendCode.RowDescription:
        if (current === "Describe") this.#complete();
        break;
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended: {
        let tag = "";
        if (code === BackendCode.PortalSuspended) tag = "(suspended)";
        else if (code === BackendCode.CommandComplete && this.wantTags) {
          const m = decodeBackend(frame);
          if (m.type === "CommandComplete") tag = m.tag;
        }
        this.#tag(tag);
        if (current === "Query") this.#statementsDone++;
        else this.#complete();
        break;
      }
    }
    return false;
  }
}
