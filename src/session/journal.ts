/**
 * @module
 * The journal of a copy being recovered online (DESIGN.md, "Failure and recovery"): every unit of
 * work (a transaction, or a write outside one) that ends on the original after the recovery's
 * snapshot, as the exact messages a copy link would have received, in the order the units ended.
 * Sessions record their units while recovery is armed ({@link RecoveryState}); the recovery
 * replays them onto the copy after restoring the snapshot.
 *
 * Units also go to a file in `logdir` as they are appended, so a recovery's progress can be
 * inspected; the file is not needed to resume: a restarted usogres finds the copy stale and
 * recovery starts over.
 */

import type { EntryKind } from "../replication/mod.ts";
import type { TxStatus } from "../protocol/mod.ts";

/** One step of a journaled unit. */
export type JournalStep =
  /** Messages to send as one batch (kinds drive the reply tracking). */
  | { readonly kind: "messages"; readonly kinds: readonly EntryKind[]; readonly bytes: Uint8Array }
  /** Bring the replaying connection to this transaction status (after an error on the original). */
  | { readonly kind: "reconcile"; readonly status: TxStatus };

/** How to open the replaying connection for one session. */
export interface SessionHeader {
  /** Role name. */
  readonly user: string;
  /** Database name. */
  readonly database: string;
  /** Startup parameters of the client's session. */
  readonly parameters: ReadonlyMap<string, string>;
  /** Session state to set first (SET statements run before the recovery was armed). */
  readonly state: readonly JournalStep[];
}

/** One unit of work of one session. */
export interface JournalUnit {
  /** Session id (for the replaying connection). */
  readonly session: number;
  /** Steps in order. */
  readonly steps: readonly JournalStep[];
}

/** The journal of one recovering copy. */
export class Journal {
  /** The copy being recovered. */
  readonly copy: string;
  readonly #headers = new Map<number, SessionHeader>();
  #units: JournalUnit[] = [];
  #accepting = false;
  #closed = false;
  #appended = 0;
  #file: Deno.FsFile | undefined;
  #waiters: (() => void)[] = [];

  /**
   * Creates an empty journal; units are kept only after {@link accept}.
   *
   * @param copy name of the copy
   * @param path file to append units to ("" for none)
   */
  constructor(copy: string, path: string) {
    this.copy = copy;
    if (path !== "") {
      try {
        this.#file = Deno.openSync(path, { create: true, write: true, truncate: true });
      } catch {
        this.#file = undefined; // the journal works from memory; the file is for inspection
      }
    }
  }

  /**
   * Registers how to replay a session's units.
   *
   * @param session session id
   * @param header its connection parameters and prior session state
   */
  register(session: number, header: SessionHeader): void {
    this.#headers.set(session, header);
  }

  /**
   * The header of a session.
   *
   * @param session session id
   * @returns the header, or undefined for an unknown session
   */
  header(session: number): SessionHeader | undefined {
    return this.#headers.get(session);
  }

  /** Starts keeping units: everything ending from now on is after the snapshot. */
  accept(): void {
    this.#accepting = true;
  }

  /** Whether the journal was closed (recovery finished or failed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether units are kept. */
  get accepting(): boolean {
    return this.#accepting && !this.#closed;
  }

  /**
   * Appends a unit that just ended on the original; ignored before {@link accept} (the snapshot
   * has it) and after {@link close}.
   *
   * @param unit the unit
   */
  append(unit: JournalUnit): void {
    if (!this.accepting || unit.steps.length === 0) return;
    this.#units.push(unit);
    this.#appended++;
    if (this.#file) {
      try {
        const header = new TextEncoder().encode(
          JSON.stringify({ session: unit.session, steps: unit.steps.length }) + "\n",
        );
        this.#file.writeSync(header);
      } catch {
        // Inspection only: the units are in memory.
      }
    }
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
  }

  /**
   * Removes and returns the units not yet replayed, oldest first.
   *
   * @returns the units
   */
  take(): JournalUnit[] {
    const units = this.#units;
    this.#units = [];
    return units;
  }

  /** Units waiting to be replayed. */
  get backlog(): number {
    return this.#units.length;
  }

  /** Units appended so far. */
  get appended(): number {
    return this.#appended;
  }

  /**
   * Waits for a new unit, or the timeout.
   *
   * @param ms the timeout
   * @returns when a unit arrived or the time passed
   */
  waitForUnits(ms: number): Promise<void> {
    if (this.#units.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Stops keeping units and closes the file. */
  close(): void {
    this.#closed = true;
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.#file = undefined;
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
  }
}

/** What a session tells the recovery about itself. */
export interface RecoveringSession {
  /** Session id. */
  readonly id: number;
  /** Whether a unit that began before the journal was armed is still open. */
  unitFromBeforeArm(): boolean;
  /** Whether the session holds temporary objects (it could not join a recovered copy). */
  hasTemporaryObjects(): boolean;
  /** Called when a journal is armed: the session starts recording its units. */
  arm(journal: Journal): void;
}

/** Process-wide recovery state: the armed journal and the sessions that record into it. */
export class RecoveryState {
  /** The armed journal, while a recovery runs. */
  journal: Journal | undefined;
  readonly #sessions = new Set<RecoveringSession>();

  /**
   * Adds a session (when it starts); it is armed at once if a recovery runs.
   *
   * @param s the session
   */
  add(s: RecoveringSession): void {
    this.#sessions.add(s);
    if (this.journal) s.arm(this.journal);
  }

  /**
   * Removes a session (when it ends).
   *
   * @param s the session
   */
  remove(s: RecoveringSession): void {
    this.#sessions.delete(s);
  }

  /** The live sessions. */
  get sessions(): readonly RecoveringSession[] {
    return [...this.#sessions];
  }

  /**
   * Arms a journal: every session records its units from now on.
   *
   * @param journal the journal
   */
  arm(journal: Journal): void {
    this.journal = journal;
    for (const s of this.#sessions) s.arm(journal);
  }

  /** Disarms the journal (recovery finished or failed). */
  disarm(): void {
    this.journal?.close();
    this.journal = undefined;
  }
}
