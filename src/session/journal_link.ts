/**
 * @module
 * A session's recorder for the journal of a recovering copy: it receives what a copy link would
 * have been sent (batches, COPY streams, transaction-status reconciliation) and hands each unit of
 * work to the journal when the session is back outside a transaction. A unit that began before
 * the journal was armed is dropped: the recovery waits for such units to end before it takes its
 * snapshot, so the snapshot holds them.
 */

import { concatBytes } from "../protocol/mod.ts";
import type { TxStatus } from "../protocol/mod.ts";
import type { CopyMessage, EntryKind, StatementLookup } from "../replication/mod.ts";
import type { Journal, JournalStep } from "./journal.ts";
import { StatementSync } from "./statement_sync.ts";

/** Records one session's units for one journal. */
export class JournalLink {
  /** The journal. */
  readonly journal: Journal;
  /** Session id. */
  readonly session: number;
  /** Transaction status a copy replaying this session would now be in. */
  status: TxStatus;
  readonly #sync = new StatementSync();
  #steps: JournalStep[] = [];
  #fromBeforeArm: boolean;
  #stream: { kinds: EntryKind[]; parts: Uint8Array[] } | undefined;

  /**
   * Starts recording.
   *
   * @param journal the armed journal
   * @param session session id
   * @param status the session's transaction status now
   * @param busy whether a unit is under way (it began before arming and will be dropped)
   */
  constructor(journal: Journal, session: number, status: TxStatus, busy: boolean) {
    this.journal = journal;
    this.session = session;
    this.status = status;
    this.#fromBeforeArm = busy || status !== "idle";
  }

  /** Whether the open unit began before the journal was armed. */
  get fromBeforeArm(): boolean {
    return this.#fromBeforeArm;
  }

  /** Steps of the open unit (replayed on a copy that joins while the unit is open). */
  get openSteps(): readonly JournalStep[] {
    return this.#steps;
  }

  /**
   * Records a batch as a copy would run it.
   *
   * @param messages the batch for copies
   * @param prepared the session's statements (for Parses the replay lacks)
   */
  messages(messages: readonly CopyMessage[], prepared: StatementLookup): void {
    if (messages.length === 0) return;
    const withParse = this.#sync.withStatements(messages, prepared);
    this.#steps.push({
      kind: "messages",
      kinds: withParse.map((m) => m.kind),
      bytes: concatBytes(withParse.map((m) => m.bytes)),
    });
  }

  /**
   * Records that the replay must reach the original's transaction status here.
   *
   * @param status the original's status
   */
  reconcile(status: TxStatus): void {
    this.#steps.push({ kind: "reconcile", status });
  }

  /**
   * Starts a COPY FROM STDIN: the batch so far; data follows.
   *
   * @param messages the batch so far
   * @param prepared the session's statements
   */
  beginStream(messages: readonly CopyMessage[], prepared: StatementLookup): void {
    const withParse = this.#sync.withStatements(messages, prepared);
    this.#stream = { kinds: withParse.map((m) => m.kind), parts: withParse.map((m) => m.bytes) };
  }

  /**
   * Adds COPY data.
   *
   * @param bytes CopyData messages
   */
  streamData(bytes: Uint8Array): void {
    this.#stream?.parts.push(bytes.slice());
  }

  /**
   * Ends a COPY: CopyDone or CopyFail, then the rest of the batch.
   *
   * @param tail the closing message
   * @param rest the batch's messages after the COPY
   */
  endStream(tail: Uint8Array | undefined, rest: readonly CopyMessage[]): void {
    const s = this.#stream;
    if (!s) return;
    this.#stream = undefined;
    if (tail) s.parts.push(tail);
    for (const m of rest) {
      s.kinds.push(m.kind);
      s.parts.push(m.bytes);
    }
    this.#steps.push({ kind: "messages", kinds: s.kinds, bytes: concatBytes(s.parts) });
  }

  /**
   * Ends a batch; when the session is outside a transaction again, the unit goes to the journal.
   *
   * @param status the status the replay ends the batch in
   */
  endBatch(status: TxStatus): void {
    this.status = status;
    if (status !== "idle") return;
    const steps = this.#steps;
    this.#steps = [];
    if (this.#fromBeforeArm) {
      this.#fromBeforeArm = false;
      return;
    }
    this.journal.append({ session: this.session, steps });
  }
}
