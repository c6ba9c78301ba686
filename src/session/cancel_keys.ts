/**
 * @module
 * The BackendKeyData usogres hands to each client, and the map back to the session that owns it.
 * Clients never see a backend's own key: a CancelRequest carrying usogres's key is translated into
 * CancelRequests to every backend running that client's statement (protocol docs, "Canceling
 * Requests in Progress").
 */

/** Something a CancelRequest can reach. */
export interface Cancelable {
  /** Cancels whatever the session is running on its backends. */
  cancel(): Promise<void>;
}

/** A process id and secret key pair, as sent in BackendKeyData. */
export interface CancelKey {
  /** The "process id" usogres reports (not a real pid). */
  readonly processId: number;
  /** The secret key. */
  readonly secretKey: number;
}

/** Issues unique cancel keys and resolves CancelRequests to sessions. */
export class CancelKeys {
  #sessions = new Map<number, { key: number; session: Cancelable }>();

  /**
   * Gives a session a fresh key.
   *
   * @param session the session to reach on cancel
   * @returns the key to send to its client
   */
  register(session: Cancelable): CancelKey {
    const words = new Uint32Array(2);
    for (;;) {
      crypto.getRandomValues(words);
      // Positive 31-bit ids, like real PIDs, since some clients print or parse them as such.
      const processId = (words[0]! & 0x7fffffff) || 1;
      if (this.#sessions.has(processId)) continue;
      const secretKey = words[1]! | 0;
      this.#sessions.set(processId, { key: secretKey, session });
      return { processId, secretKey };
    }
  }

  /**
   * Forgets a key when its session ends.
   *
   * @param key the key that {@link register} returned
   */
  unregister(key: CancelKey): void {
    const entry = this.#sessions.get(key.processId);
    if (entry && entry.key === key.secretKey) this.#sessions.delete(key.processId);
  }

  /**
   * Finds the session a CancelRequest is for.
   *
   * @param processId from the CancelRequest
   * @param secretKey from the CancelRequest
   * @returns the session, or undefined when the pair matches none (the request is then ignored,
   *   as PostgreSQL ignores it)
   */
  lookup(processId: number, secretKey: number): Cancelable | undefined {
    const entry = this.#sessions.get(processId);
    if (!entry || entry.key !== (secretKey | 0)) return undefined;
    return entry.session;
  }

  /** Number of live sessions with a key. */
  get size(): number {
    return this.#sessions.size;
  }
}
