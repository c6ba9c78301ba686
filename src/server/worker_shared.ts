/**
 * @module
 * The worker's versions of three process-wide objects whose effect must reach every worker
 * (`listen.workers` > 1):
 *
 * - {@link WorkerWriteGate}: a batch that must run alone (setval) holds every worker's writes,
 *   not only this worker's; the main thread pauses and drains the others first. PAUSE from the
 *   console reaches the gate through {@link WorkerWriteGate.remotePause}.
 * - {@link WorkerCancelKeys}: a CancelRequest arrives on a new connection, which the kernel may
 *   give to another worker than the one serving the session; a key not found here is passed on.
 * - {@link WorkerCatalogCache}: DDL seen in one worker clears the table definitions of all.
 */

import { WriteGate } from "../cluster/mod.ts";
import { CatalogCache } from "../replication/mod.ts";
import { type Cancelable, CancelKeys } from "../session/cancel_keys.ts";

/** A worker's write gate. */
export class WorkerWriteGate extends WriteGate {
  readonly #acquire: () => Promise<void>;
  readonly #release: () => void;
  #alone = 0;

  /**
   * Creates the gate.
   *
   * @param acquire asks the main thread to hold every other worker's writes
   * @param release lets them go again
   */
  constructor(acquire: () => Promise<void>, release: () => void) {
    super();
    this.#acquire = acquire;
    this.#release = release;
  }

  /**
   * Passes the gate alone in the whole process: this worker's writes are held and drained,
   * then the other workers' (through the main thread), then the batch goes.
   *
   * @returns when the batch may go
   */
  override async enterAlone(): Promise<void> {
    while (this.paused) await this.wait();
    this.pause();
    await this.drained();
    // Not in flight while waiting: the main thread may drain this worker for another's batch.
    await this.#acquire();
    this.enterNow();
    this.#alone++;
  }

  /** Releases a pause; after a batch that ran alone, also the other workers'. */
  override resume(): void {
    if (this.#alone > 0) {
      this.#alone--;
      this.#release();
    }
    super.resume();
  }

  /** A pause asked for by the main thread (PAUSE, another worker's batch alone). */
  remotePause(): void {
    super.pause();
  }

  /** Releases a {@link remotePause}. */
  remoteResume(): void {
    super.resume();
  }
}

/** A worker's cancel keys. */
export class WorkerCancelKeys extends CancelKeys {
  readonly #forward: (processId: number, secretKey: number) => void;

  /**
   * Creates the table.
   *
   * @param forward passes a CancelRequest for a key not issued here to the other workers
   */
  constructor(forward: (processId: number, secretKey: number) => void) {
    super();
    this.#forward = forward;
  }

  /**
   * Finds the session here, or else a stand-in that passes the request on.
   *
   * @param processId from the CancelRequest
   * @param secretKey from the CancelRequest
   * @returns the session, or the stand-in
   */
  override lookup(processId: number, secretKey: number): Cancelable {
    const local = super.lookup(processId, secretKey);
    if (local) return local;
    return {
      cancel: () => {
        this.#forward(processId, secretKey);
        return Promise.resolve();
      },
    };
  }

  /**
   * Finds a session of this worker only (a request passed on by another worker).
   *
   * @param processId from the CancelRequest
   * @param secretKey from the CancelRequest
   * @returns the session, or undefined
   */
  lookupLocal(processId: number, secretKey: number): Cancelable | undefined {
    return super.lookup(processId, secretKey);
  }
}

/** A worker's table definitions cache. */
export class WorkerCatalogCache extends CatalogCache {
  readonly #broadcast: () => void;

  /**
   * Creates the cache.
   *
   * @param broadcast tells the other workers to clear theirs
   */
  constructor(broadcast: () => void) {
    super();
    this.#broadcast = broadcast;
  }

  /** Forgets everything here and in every other worker (after DDL). */
  override clear(): void {
    super.clear();
    this.#broadcast();
  }

  /** Forgets everything here only (DDL seen by another worker). */
  clearLocal(): void {
    super.clear();
  }
}
