/**
 * @module
 * Limits that protect usogres from its clients: connections per client address
 * (`listen.max_clients_per_address`, counted from accept so that unauthenticated connections
 * count too), and the idle timers (`listen.client_idle_timeout` and
 * `listen.idle_in_transaction_timeout`, PostgreSQL's `idle_session_timeout` and
 * `idle_in_transaction_session_timeout`, with their SQLSTATEs 57P05 and 25P03).
 */

import { PgError, type TxStatus } from "../protocol/mod.ts";

/** Open connections per client address, up to a limit. */
export class AddressSlots {
  readonly #limit: number;
  readonly #open = new Map<string, number>();

  /**
   * Creates the counter.
   *
   * @param limit most connections per address; 0 for no limit
   */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Claims a slot for an address.
   *
   * @param address the client's address (no port)
   * @returns false when the address already has `limit` connections
   */
  acquire(address: string): boolean {
    const n = this.#open.get(address) ?? 0;
    if (this.#limit > 0 && n >= this.#limit) return false;
    this.#open.set(address, n + 1);
    return true;
  }

  /**
   * Returns a slot claimed by {@link acquire}.
   *
   * @param address the same address
   */
  release(address: string): void {
    const n = (this.#open.get(address) ?? 1) - 1;
    if (n <= 0) this.#open.delete(address);
    else this.#open.set(address, n);
  }

  /**
   * Connections open from an address.
   *
   * @param address the address
   * @returns the count
   */
  count(address: string): number {
    return this.#open.get(address) ?? 0;
  }
}

/**
 * The error for a client over `listen.max_clients_per_address` (FATAL 53300, as PostgreSQL's
 * "too many connections for role").
 *
 * @param address the client's address
 * @param limit the configured limit
 * @returns the error
 */
export function tooManyFromAddress(address: string, limit: number): PgError {
  return new PgError("FATAL", "53300", `too many connections from host "${address}"`, {
    detail: `usogres allows ${limit} connection${limit === 1 ? "" : "s"} at once per client ` +
      "address (listen.max_clients_per_address).",
  });
}

/** The idle timeouts, in milliseconds (0: off). */
export interface IdleTimeouts {
  /** Outside a transaction. */
  readonly idleMs: number;
  /** Inside a transaction (or a failed one). */
  readonly inTransactionMs: number;
}

/**
 * Fires when a session stays idle too long after a ReadyForQuery: {@link arm} at each
 * ReadyForQuery the client gets, {@link disarm} whenever the client sends bytes. `isIdle` is
 * asked before firing, so a session still running a pipelined batch is never cut off.
 */
export class IdleTimer {
  readonly #timeouts: IdleTimeouts;
  readonly #isIdle: () => boolean;
  readonly #fire: (error: PgError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Creates a timer; nothing runs until {@link arm}.
   *
   * @param timeouts the two timeouts
   * @param isIdle whether no batch is in flight
   * @param fire ends the session with the error
   */
  constructor(timeouts: IdleTimeouts, isIdle: () => boolean, fire: (error: PgError) => void) {
    this.#timeouts = timeouts;
    this.#isIdle = isIdle;
    this.#fire = fire;
  }

  /**
   * Starts the timeout that applies to a transaction status, replacing any running one.
   *
   * @param tx the status the last ReadyForQuery reported
   */
  arm(tx: TxStatus): void {
    this.disarm();
    const inTx = tx !== "idle";
    const ms = inTx ? this.#timeouts.inTransactionMs : this.#timeouts.idleMs;
    if (ms <= 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#isIdle()) return; // a batch is running: the next ReadyForQuery re-arms
      this.#fire(inTx ? idleInTransactionTimeout() : PgError.idleSessionTimeout());
    }, ms);
  }

  /** Stops the running timeout, if any. */
  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * FATAL 25P03 idle_in_transaction_session_timeout, worded as PostgreSQL 17.
 *
 * @returns the error
 */
export function idleInTransactionTimeout(): PgError {
  return new PgError(
    "FATAL",
    "25P03",
    "terminating connection due to idle-in-transaction timeout",
  );
}
