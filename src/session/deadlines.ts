/**
 * @module
 * Deadlines checked by one periodic sweep instead of one timer each: the startup timeout of every
 * client in startup, the idle timeout of every pooled server connection set, and the deadline of
 * every reset in progress. A timer per connection cost a create and a clear per connection
 * (node-compatible `Timeout` objects in Deno 2), a visible share of a `pgbench -C` connection's
 * CPU; a sweep costs one wake-up per period while anything is due. A deadline fires at the
 * earliest when it is due and at the latest one period later; the period is a tenth of the
 * shortest timeout added (at most one second), as PostgreSQL's own timeouts are checked on
 * signals, not to the millisecond.
 */

const MAX_PERIOD_MS = 1000;

/** Items with a deadline each, expired by one sweep timer. */
export class DeadlineSweep<T> {
  readonly #due = new Map<T, number>();
  readonly #onExpire: (item: T) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #period = Number.POSITIVE_INFINITY;

  /**
   * Creates an empty sweep; no timer runs until something is added.
   *
   * @param onExpire called once for each item whose deadline passed (it is removed first)
   */
  constructor(onExpire: (item: T) => void) {
    this.#onExpire = onExpire;
  }

  /**
   * Sets (or replaces) an item's deadline.
   *
   * @param item the item
   * @param afterMs milliseconds from now
   */
  add(item: T, afterMs: number): void {
    this.#due.set(item, performance.now() + afterMs);
    const period = Math.max(1, Math.min(MAX_PERIOD_MS, Math.floor(afterMs / 10)));
    if (this.#timer !== undefined && period >= this.#period) return;
    this.#stop();
    this.#period = period;
    this.#timer = setInterval(() => this.#sweep(), period);
  }

  /**
   * Forgets an item (it was dealt with in time). The timer stops at its next sweep when nothing
   * is left, so a steady stream of short-lived items keeps one timer running instead of starting
   * one each.
   *
   * @param item the item
   * @returns true when it was there
   */
  delete(item: T): boolean {
    return this.#due.delete(item);
  }

  /**
   * Whether an item has a deadline.
   *
   * @param item the item
   * @returns true when it was added and has neither expired nor been deleted
   */
  has(item: T): boolean {
    return this.#due.has(item);
  }

  /** Items waiting for their deadline. */
  get size(): number {
    return this.#due.size;
  }

  /** Forgets every item and stops the timer (shutdown). */
  close(): void {
    this.#due.clear();
    this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#period = Number.POSITIVE_INFINITY;
  }

  #sweep(): void {
    const now = performance.now();
    for (const [item, at] of this.#due) {
      if (at > now) continue;
      this.#due.delete(item);
      this.#onExpire(item);
    }
    if (this.#due.size === 0) this.#stop();
  }
}
