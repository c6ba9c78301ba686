/**
 * @module
 * The replay of an online recovery's journal onto the copy: one connection per client session
 * (opened with the session's role, database and startup parameters, its earlier SET statements
 * run first), each unit's messages sent as the copy link would have sent them, units in the order
 * they ended on the original.
 */

import type { BackendConnection, BackendTarget } from "../backend/mod.ts";
import { encodeQuery, type TxStatus } from "../protocol/mod.ts";
import { type EntryKind, reconcileStep, ReplyTracker } from "../replication/mod.ts";
import type { Journal, JournalUnit } from "../session/journal.ts";

/** Replays journal units onto the copy, one connection per client session. */
export class Replayer {
  readonly #journal: Journal;
  readonly #target: BackendTarget;
  readonly #connect: (
    t: BackendTarget,
    db: string,
    p: Map<string, string>,
  ) => Promise<BackendConnection>;
  readonly #timeout: number;
  readonly #conns = new Map<number, { conn: BackendConnection; status: TxStatus }>();

  /**
   * Creates a replayer; it connects to the copy as sessions first appear in the units.
   *
   * @param journal the journal (for the sessions' headers)
   * @param target the copy
   * @param connect opens a connection to the copy with a session's database and parameters
   * @param timeout milliseconds one batch may take on the copy (0: no limit)
   */
  constructor(
    journal: Journal,
    target: BackendTarget,
    connect: (t: BackendTarget, db: string, p: Map<string, string>) => Promise<BackendConnection>,
    timeout: number,
  ) {
    this.#journal = journal;
    this.#target = target;
    this.#connect = connect;
    this.#timeout = timeout;
  }

  /**
   * Applies units to the copy, in order.
   *
   * @param units the units
   * @returns when each one has ended on the copy
   * @throws Error when a unit does not end as it did on the original, or the copy fails
   */
  async replay(units: readonly JournalUnit[]): Promise<void> {
    for (const unit of units) {
      const session = await this.#session(unit.session);
      for (const step of unit.steps) await this.#step(session, step);
      if (session.status !== "idle") {
        throw new Error(
          `replayed unit of session ${unit.session} ended in status ${session.status}`,
        );
      }
    }
  }

  async #session(id: number): Promise<{ conn: BackendConnection; status: TxStatus }> {
    const known = this.#conns.get(id);
    if (known) return known;
    const header = this.#journal.header(id);
    if (!header) throw new Error(`no header for session ${id} in the journal`);
    const conn = await this.#connect(this.#target, header.database, new Map(header.parameters));
    const session = { conn, status: "idle" as TxStatus };
    this.#conns.set(id, session);
    for (const step of header.state) await this.#step(session, step);
    return session;
  }

  async #step(
    session: { conn: BackendConnection; status: TxStatus },
    step: JournalUnit["steps"][number],
  ): Promise<void> {
    if (step.kind === "messages") {
      session.status = await runRaw(session.conn, step.kinds, step.bytes, this.#timeout);
      return;
    }
    for (let i = 0; i < 3; i++) {
      const next = reconcileStep(step.status, session.status);
      if (next === undefined) return;
      if (next === "diverged") throw new Error(`cannot reach transaction status ${step.status}`);
      session.status = await runRaw(session.conn, ["Query"], encodeQuery(next.sql), this.#timeout);
    }
  }

  /** Closes every replaying connection. */
  close(): void {
    for (const { conn } of this.#conns.values()) conn.close();
    this.#conns.clear();
  }
}

/** Sends messages and follows the replies to the batch's ReadyForQuery. */
async function runRaw(
  conn: BackendConnection,
  kinds: readonly EntryKind[],
  bytes: Uint8Array,
  timeoutMs: number,
): Promise<TxStatus> {
  const tracker = new ReplyTracker({ kinds, closed: true }, false);
  const timer = timeoutMs > 0 ? setTimeout(() => conn.close(), timeoutMs) : undefined;
  try {
    await conn.write(bytes);
    for (;;) {
      let frame;
      while ((frame = conn.reader.tryNext())) {
        if (tracker.feed(frame)) return tracker.outcome().status;
      }
      if (!(await conn.reader.fill())) throw new Error("copy closed the replay connection");
    }
  } finally {
    clearTimeout(timer);
  }
}
