/**
 * @module
 * The messages between the main thread and its workers (`listen.workers` > 1), as discriminated
 * unions. Plain data only: each message crosses `postMessage`'s structured clone. Calls (a
 * question that waits for its answer) carry an id; {@link Calls} matches answers to them.
 *
 * One message is not a `postMessage` round trip: a worker's backend state change
 * (`stateChange`) is answered through a `SharedArrayBuffer` while the worker blocks, so the state
 * file is written before that worker routes another write (see `cluster/membership_replica.ts`).
 */

import type { Config } from "../config/mod.ts";
import type {
  HistogramSnapshot,
  MemberCounters,
  MembershipSnapshot,
  MemberState,
} from "../cluster/mod.ts";
import type { ClientInfo, ProxyStats } from "../session/context.ts";
import type { AdminSession } from "../admin/mod.ts";

/** What a worker gets at start. */
export interface WorkerInit {
  /** Its number, 0 to `listen.workers` - 1. */
  readonly worker: number;
  /** How many workers there are. */
  readonly workers: number;
  /** The configuration (with the original of the state file). */
  readonly config: Config;
  /** The port to listen on with `reusePort` (resolved when the configuration says 0). */
  readonly port: number;
  /** The process-wide admission count (`max_clients`). */
  readonly admission: SharedArrayBuffer;
  /** Two Int32 cells: [answer ready, answer] of the worker's blocking state changes. */
  readonly stateAnswer: SharedArrayBuffer;
  /** Backend states now. */
  readonly membership: MembershipSnapshot;
}

/** What a worker reports when the main thread refreshes its numbers. */
export interface WorkerReport {
  /** The worker's number. */
  readonly worker: number;
  /** Its counters. */
  readonly stats: ProxyStats;
  /** Its connections. */
  readonly clients: readonly ClientInfo[];
  /** Its per-backend counters. */
  readonly members: readonly MemberCounters[];
  /** Its write fan-out latency. */
  readonly fanout: HistogramSnapshot;
  /** Its write gate. */
  readonly gate: { readonly inFlight: number; readonly waiting: number };
}

/** Questions the main thread asks a worker. */
export type MainCall =
  | { readonly kind: "report" }
  /** Answered once no write batch is in flight in the worker (PAUSE, a worker's setval). */
  | { readonly kind: "drain" };

/** A worker's answers to {@link MainCall}s. */
export type MainCallAnswer =
  | { readonly kind: "report"; readonly report: WorkerReport }
  | { readonly kind: "drained" };

/** Questions a worker asks the main thread. */
export type WorkerCall =
  | { readonly kind: "adminHello" }
  | { readonly kind: "adminExecute"; readonly sql: string; readonly session: AdminSession }
  /** A batch that must run alone (setval): every other worker's writes are paused and drained. */
  | { readonly kind: "aloneAcquire" };

/** The main thread's answers to {@link WorkerCall}s. */
export type WorkerCallAnswer =
  | { readonly kind: "adminHello"; readonly serverVersion: string | undefined }
  | {
    readonly kind: "adminExecute";
    readonly messages: readonly Uint8Array[];
    /** Set when the reply has an action to run once it was sent (SHUTDOWN). */
    readonly afterId: number | undefined;
  }
  | { readonly kind: "aloneGranted" };

/** Main thread to worker. */
export type MainToWorker =
  | { readonly kind: "init"; readonly init: WorkerInit }
  | { readonly kind: "membership"; readonly snapshot: MembershipSnapshot }
  | { readonly kind: "config"; readonly config: Config }
  | { readonly kind: "gate"; readonly op: "pause" | "resume" }
  | { readonly kind: "cancel"; readonly processId: number; readonly secretKey: number }
  | { readonly kind: "catalogClear" }
  | { readonly kind: "shutdown" }
  | { readonly kind: "kill" }
  | { readonly kind: "call"; readonly id: number; readonly call: MainCall }
  | { readonly kind: "answer"; readonly id: number; readonly answer: WorkerCallAnswer };

/** Worker to main thread. */
export type WorkerToMain =
  | { readonly kind: "listening"; readonly port: number }
  | { readonly kind: "failed"; readonly name: string; readonly message: string }
  | { readonly kind: "stateChange"; readonly name: string; readonly next: MemberState }
  | { readonly kind: "cancel"; readonly processId: number; readonly secretKey: number }
  | { readonly kind: "catalogClear" }
  | { readonly kind: "adminAfter"; readonly afterId: number }
  | { readonly kind: "aloneRelease" }
  | { readonly kind: "stopped" }
  | { readonly kind: "call"; readonly id: number; readonly call: WorkerCall }
  | { readonly kind: "answer"; readonly id: number; readonly answer: MainCallAnswer };

/** Answers of a blocking state change, in the second cell of `stateAnswer`. */
export const STATE_ANSWER = { unchanged: 1, changed: 2, refused: 3 } as const;

/** Calls waiting for their answers, by id. */
export class Calls<A> {
  #next = 0;
  readonly #waiting = new Map<number, (answer: A) => void>();

  /**
   * Opens a call.
   *
   * @returns its id and the promise of its answer
   */
  open(): { id: number; answer: Promise<A> } {
    const id = ++this.#next;
    const answer = new Promise<A>((resolve) => this.#waiting.set(id, resolve));
    return { id, answer };
  }

  /**
   * Delivers an answer.
   *
   * @param id the call's id
   * @param answer the answer
   */
  settle(id: number, answer: A): void {
    const resolve = this.#waiting.get(id);
    this.#waiting.delete(id);
    resolve?.(answer);
  }
}
