/**
 * @module
 * A worker's copy of the backend states (`listen.workers` > 1). The main thread's
 * {@link Membership} is the one authority: it checks every change, writes the state file and
 * tells every worker ({@link Membership.applySnapshot}). A session in a worker that marks a copy
 * stale or down asks the main thread through `authority`, which blocks this worker until the
 * main thread has written the state file, so that, as with one process, the state is on disk
 * before this worker routes another write; then the change is applied here at once, and the
 * other workers drop the copy when the main thread's snapshot reaches them.
 */

import { getLogger } from "../log/mod.ts";
import { Membership, type MemberState } from "./membership.ts";

const log = getLogger("cluster");

/** What the main thread answered to a state change. */
export type AuthorityAnswer = "changed" | "unchanged" | "refused" | "timeout";

/**
 * Sends one state change to the main thread and waits (blocking) for its answer.
 *
 * @param name backend name
 * @param next the state asked for
 * @returns the main thread's answer
 */
export type Authority = (name: string, next: MemberState) => AuthorityAnswer;

/** Backend states in a worker: read locally, changed through the main thread. */
export class MembershipReplica extends Membership {
  readonly #authority: Authority;

  /**
   * Creates the table; apply the main thread's snapshot before use.
   *
   * @param original name of the original
   * @param copies names of the copies
   * @param authority asks the main thread to make a change
   */
  constructor(original: string, copies: readonly string[], authority: Authority) {
    super(original, copies, "");
    this.#authority = authority;
  }

  /**
   * Asks the main thread for the change, then applies it here (the main thread's snapshot that
   * follows changes nothing more).
   *
   * @param name backend name
   * @param next the new state
   * @returns true when the state changed here
   */
  override transition(name: string, next: MemberState): boolean {
    const from = this.get(name).state.kind;
    if (from === next.kind) return false; // nothing to ask (stale to stale: the first reason wins)
    const answer = this.#authority(name, next);
    if (answer === "timeout") {
      log.error('the main thread did not confirm backend "{name}" {state} in time', {
        name,
        state: next.kind,
      });
    }
    if (answer === "refused") return false;
    try {
      return super.transition(name, next);
    } catch {
      return false; // this view was behind the main thread's; its snapshot follows
    }
  }

  /**
   * Refused in a worker: only the main thread forces a copy in sync (ATTACH FORCE).
   *
   * @returns never
   * @throws Error always
   */
  override forceInSync(): boolean {
    throw new Error("ATTACH FORCE runs on the main thread");
  }

  /**
   * Refused in a worker: only the main thread promotes.
   *
   * @throws Error always
   */
  override promote(): void {
    throw new Error("PROMOTE runs on the main thread");
  }
}
