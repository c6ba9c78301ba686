/**
 * @module
 * One session's connection to one copy. It runs the batches the original completed, consuming and
 * tracking the copy's replies (clients never see them), and keeps the copy's prepared statements
 * in step: before a batch binds a named statement the copy lacks, it sends that statement's Parse.
 * It also records usogres's own prepared statements for writes replicated by rows.
 */

import { concatBytes, encodeQuery, type TxStatus } from "../protocol/mod.ts";
import { StatementSync } from "./statement_sync.ts";
import type { BackendConnection } from "../backend/mod.ts";
import {
  type BatchOutcome,
  type CopyMessage,
  ReplyTracker,
  RowStatements,
  type StatementLookup,
} from "../replication/mod.ts";
import { DeadlineSweep } from "./deadlines.ts";

/**
 * `replication.copy_timeout` of every batch on a copy, checked by one sweep rather than a timer
 * per batch (a create and a clear per write showed in profiles); it fires at most a tenth of the
 * timeout (at most 1 s) late.
 */
const RUN_DEADLINES = new DeadlineSweep<() => void>((expire) => expire());

/** A session's link to one copy. */
export class CopyLink {
  /** The connection. */
  readonly conn: BackendConnection;
  /** Transaction status after the last batch. */
  status: TxStatus = "idle";
  /** Named statements this copy has. */
  readonly #statements = new StatementSync();
  /** usogres's own prepared statements for writes replicated by rows (see `row_statement.ts`). */
  readonly rowStatements = new RowStatements();
  #pending: Promise<BatchOutcome> | undefined;
  #pipelined: Promise<BatchOutcome> | undefined;
  /** Batches held back by {@link pipeline} (`hold`), sent with the next bytes for the copy. */
  #held: Uint8Array[] = [];
  /** Settles when the held batches have been written (or their write failed). */
  #heldSent: PromiseWithResolvers<void> | undefined;
  /** Whether anything was written to the copy since the connection was made or last reset. */
  #written = false;

  /**
   * Wraps an authenticated connection.
   *
   * @param conn the copy connection
   */
  constructor(conn: BackendConnection) {
    this.conn = conn;
    this.status = conn.txStatus;
  }

  /** The copy's configured name. */
  get name(): string {
    return this.conn.target.name;
  }

  /**
   * Adds the Parse messages the copy lacks for the statements the batch binds.
   *
   * @param messages the batch for this copy
   * @param prepared the session's statements
   * @returns the messages to send, injected ones first (source -1)
   */
  withStatements(messages: readonly CopyMessage[], prepared: StatementLookup): CopyMessage[] {
    return this.#statements.withStatements(messages, prepared);
  }

  /** Forgets every prepared statement (after DISCARD ALL or DEALLOCATE ALL ran on the copy). */
  forgetStatements(): void {
    this.#statements.forget();
    this.rowStatements.forget();
  }

  /**
   * Sends messages and starts reading the replies in the background.
   *
   * @param messages what to send
   * @param timeoutMs how long the copy may take (0 = no limit)
   * @param hashRows whether to hash the rows each statement returns (`returning_hash`)
   * @returns when the messages are written
   * @throws the socket's error when the copy connection is broken
   */
  async start(
    messages: readonly CopyMessage[],
    timeoutMs: number,
    hashRows = false,
  ): Promise<void> {
    const tracker = new ReplyTracker({ kinds: messages.map((m) => m.kind), closed: true }, true);
    tracker.wantHashes = hashRows;
    this.#pending = this.#collect(tracker, timeoutMs);
    // Attach a handler now; the caller awaits finish() later.
    this.#pending.catch(() => {});
    await this.#send(concatBytes(messages.map((m) => m.bytes)));
  }

  /**
   * Sends a batch at once, behind any batches still pipelined on this link, and resolves with
   * its outcome once its replies (which follow theirs) have arrived. Not mixed with
   * {@link start}/{@link run}: the caller lets pipelined batches finish first.
   *
   * @param messages what to send
   * @param timeoutMs how long the copy may take once the batches before it are done (0 = no
   *   limit)
   * @param hashRows whether to hash the rows each statement returns (`returning_hash`)
   * @param hold whether to keep the batch back until the link sends anything else, or
   *   {@link flush} is called (a lone `BEGIN`, which gives the copy nothing to do before the
   *   statements after it: one write to the copy instead of two); its timeout starts when it
   *   is sent
   * @returns the copy's outcome
   * @throws Error when the copy failed, closed, or timed out (or a batch before it did)
   */
  pipeline(
    messages: readonly CopyMessage[],
    timeoutMs: number,
    hashRows = false,
    hold = false,
  ): Promise<BatchOutcome> {
    const tracker = new ReplyTracker({ kinds: messages.map((m) => m.kind), closed: true }, true);
    tracker.wantHashes = hashRows;
    const before = this.#pipelined;
    const bytes = concatBytes(messages.map((m) => m.bytes));
    let sent: Promise<void> | undefined;
    if (hold) {
      this.#held.push(bytes);
      this.#heldSent ??= Promise.withResolvers<void>();
      sent = this.#heldSent.promise;
    }
    const outcome = (async () => {
      // Replies come in order: read this batch's only after the batch before it has its own.
      if (before !== undefined) await before.catch(() => {});
      const o = await this.#collect(tracker, timeoutMs, sent);
      this.status = o.status;
      return o;
    })();
    outcome.catch(() => {});
    this.#pipelined = outcome;
    if (hold) return outcome;
    return this.#send(bytes).then(() => outcome);
  }

  /**
   * Sends the batches {@link pipeline} holds back, if any (before waiting for their outcome).
   *
   * @returns when written
   * @throws the socket's error
   */
  flush(): Promise<void> {
    return this.#held.length === 0 ? Promise.resolve() : this.#send(new Uint8Array(0));
  }

  /**
   * Whether anything was written to the copy since its connection was made or last reset
   * ({@link wasReset}): a session that never wrote to it cannot have changed its state, and its
   * connection needs no reset before the next client gets it.
   */
  get written(): boolean {
    return this.#written;
  }

  /** Notes that the connection was just reset (`DISCARD ALL`): it is as fresh as a new one. */
  wasReset(): void {
    this.#written = false;
    this.forgetStatements();
  }

  /** Writes bytes to the copy, after the batches held back. */
  #send(bytes: Uint8Array): Promise<void> {
    this.#written = true;
    const sent = this.#heldSent;
    if (sent === undefined) return this.conn.write(bytes);
    const all = concatBytes([...this.#held, bytes]);
    this.#held = [];
    this.#heldSent = undefined;
    const done = this.conn.write(all);
    // The held batches' timeouts start now; a failed write ends them by the closed socket.
    void done.then(() => sent.resolve(), () => sent.resolve());
    return done;
  }

  /**
   * Writes more bytes into a running batch (COPY data, the delayed CopyDone).
   *
   * @param bytes protocol messages
   * @returns when written
   * @throws the socket's error
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#send(bytes);
  }

  /**
   * Waits for the batch started by {@link start} to end.
   *
   * @returns the copy's outcome
   * @throws Error when the copy failed, closed, or timed out
   */
  async finish(): Promise<BatchOutcome> {
    const p = this.#pending;
    if (!p) throw new Error("no batch running on this copy");
    this.#pending = undefined;
    const outcome = await p;
    this.status = outcome.status;
    return outcome;
  }

  /**
   * Runs messages as one batch and waits for its outcome.
   *
   * @param messages what to send
   * @param timeoutMs how long the copy may take (0 = no limit)
   * @param hashRows whether to hash the rows each statement returns (`returning_hash`)
   * @returns the copy's outcome
   * @throws Error when the copy failed, closed, or timed out
   */
  async run(
    messages: readonly CopyMessage[],
    timeoutMs: number,
    hashRows = false,
  ): Promise<BatchOutcome> {
    await this.start(messages, timeoutMs, hashRows);
    return await this.finish();
  }

  /**
   * Runs pre-encoded messages as one batch (a journal step) and waits for its outcome.
   *
   * @param kinds the kinds of the messages in `bytes`, in order
   * @param bytes the messages
   * @param timeoutMs how long the copy may take (0 = no limit)
   * @returns the copy's outcome
   * @throws Error when the copy failed, closed, or timed out
   */
  async runRaw(
    kinds: readonly CopyMessage["kind"][],
    bytes: Uint8Array,
    timeoutMs: number,
  ): Promise<BatchOutcome> {
    const tracker = new ReplyTracker({ kinds, closed: true }, true);
    this.#pending = this.#collect(tracker, timeoutMs);
    this.#pending.catch(() => {});
    await this.#send(bytes);
    return await this.finish();
  }

  /**
   * Runs one simple query (used to reconcile transaction status).
   *
   * @param sql the statement
   * @param timeoutMs how long the copy may take
   * @returns the copy's outcome
   * @throws Error when the copy failed, closed, or timed out
   */
  query(sql: string, timeoutMs: number): Promise<BatchOutcome> {
    return this.run([{ kind: "Query", bytes: encodeQuery(sql), source: -1 }], timeoutMs);
  }

  async #collect(
    tracker: ReplyTracker,
    timeoutMs: number,
    sent?: Promise<void>,
  ): Promise<BatchOutcome> {
    const reader = this.conn.reader;
    let timedOut = false;
    let done = false;
    const expire = () => {
      timedOut = true;
      this.conn.close();
    };
    if (timeoutMs > 0) {
      if (sent === undefined) RUN_DEADLINES.add(expire, timeoutMs);
      else {
        void sent.then(() => {
          if (!done) RUN_DEADLINES.add(expire, timeoutMs);
        });
      }
    }
    try {
      for (;;) {
        let frame;
        while ((frame = reader.tryNext())) {
          if (tracker.feed(frame)) return tracker.outcome();
        }
        let more: boolean;
        try {
          more = await reader.fill();
        } catch (e: unknown) {
          if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
          throw e;
        }
        if (!more) {
          if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
          const err = tracker.error;
          throw new Error(
            err ? `connection closed after ${err.code} ${err.message}` : "connection closed",
          );
        }
      }
    } finally {
      done = true;
      RUN_DEADLINES.delete(expire);
    }
  }

  /** Closes the connection (Terminate, best effort). */
  async close(): Promise<void> {
    await this.conn.terminate();
  }
}
