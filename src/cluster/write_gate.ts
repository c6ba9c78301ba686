/**
 * @module
 * The write gate: while paused, new write batches wait before they reach the original (clients
 * wait; they do not fail). PAUSE/RESUME in the admin console use it, and online recovery closes it
 * for the short moments it needs a fixed point (taking the snapshot, and the final catch-up).
 * Batches already running finish; reads are never held.
 */

/**
 * What the admin console's PAUSE and RESUME, SHOW STATS and `/metrics` use of the gate: one
 * {@link WriteGate}, or (with `listen.workers` > 1) the gates of every worker at once.
 */
export interface GateControl {
  /** Holds new writes; pauses nest (each needs its own {@link resume}). */
  pause(): void;
  /** Releases one {@link pause}. */
  resume(): void;
  /**
   * Waits until no write batch is in flight.
   *
   * @returns when drained
   */
  drained(): Promise<void>;
  /**
   * Waits while the gate is paused.
   *
   * @returns at once when open, else when the last pause is resumed
   */
  wait(): Promise<void>;
  /** Whether new writes are held. */
  readonly paused: boolean;
  /** Write batches past the gate and not yet finished. */
  readonly inFlight: number;
  /** Number of writes waiting at the gate. */
  readonly waiting: number;
}

/** A gate write batches pass through. */
export class WriteGate implements GateControl {
  #paused = 0;
  #waiters: (() => void)[] = [];
  #inFlight = 0;
  #drainWaiters: (() => void)[] = [];

  /**
   * Passes the gate with one write batch: waits while paused, then counts it as in flight until
   * {@link leave}.
   *
   * @returns when the batch may go
   */
  async enter(): Promise<void> {
    while (this.#paused > 0) await this.wait();
    this.#inFlight++;
  }

  /**
   * Passes the gate alone: holds every other new write, waits until those in flight finished,
   * then lets this one batch go; {@link leave} and then {@link resume} end it. For statements
   * whose effect on copies depends on the order of everything else (setval).
   *
   * @returns when the batch may go
   */
  async enterAlone(): Promise<void> {
    while (this.#paused > 0) await this.wait();
    this.pause();
    await this.drained();
    this.#inFlight++;
  }

  /** Passes at once, even while paused (a batch of a unit of work that already holds an entry). */
  enterNow(): void {
    this.#inFlight++;
  }

  /** Marks a batch that passed {@link enter} as finished (on every backend). */
  leave(): void {
    if (this.#inFlight > 0) this.#inFlight--;
    if (this.#inFlight > 0) return;
    const waiters = this.#drainWaiters.splice(0);
    for (const w of waiters) w();
  }

  /** Write batches past the gate and not yet finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Waits until no write batch is in flight (call after {@link pause} for a fixed point).
   *
   * @returns when drained
   */
  drained(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Whether new writes are held. */
  get paused(): boolean {
    return this.#paused > 0;
  }

  /** Holds new writes; pauses nest (each needs its own {@link resume}). */
  pause(): void {
    this.#paused++;
  }

  /** Releases one {@link pause}; the last one lets the waiting writes go, in order. */
  resume(): void {
    if (this.#paused === 0) return;
    this.#paused--;
    if (this.#paused > 0) return;
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
  }

  /**
   * Waits while the gate is paused.
   *
   * @returns at once when open, else when the last pause is resumed
   */
  wait(): Promise<void> {
    if (this.#paused === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Number of writes waiting at the gate. */
  get waiting(): number {
    return this.#waiters.length;
  }
}
