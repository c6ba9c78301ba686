/**
 * @module
 * `listen.max_clients` for the whole process: a count of admitted sessions that every worker
 * shares. With one worker it is a plain number; with several it lives in a `SharedArrayBuffer`
 * changed with `Atomics`, so the limit is exact across threads.
 */

/** Admission of client sessions against `listen.max_clients`. */
export class Admission {
  readonly #count: Int32Array;
  readonly #max: number;

  /**
   * Creates a count, in a new buffer or in one another thread made.
   *
   * @param max most sessions at once
   * @param buffer a buffer from {@link buffer} of another thread's admission
   */
  constructor(max: number, buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.#count = new Int32Array(buffer);
    this.#max = max;
  }

  /** The shared memory, to hand to a worker. */
  get buffer(): SharedArrayBuffer {
    return this.#count.buffer as SharedArrayBuffer;
  }

  /**
   * Claims a slot.
   *
   * @returns false when `max` sessions are already admitted
   */
  admit(): boolean {
    if (Atomics.add(this.#count, 0, 1) < this.#max) return true;
    Atomics.sub(this.#count, 0, 1);
    return false;
  }

  /** Returns a slot claimed by {@link admit}. */
  release(): void {
    Atomics.sub(this.#count, 0, 1);
  }

  /** Sessions admitted and not yet ended, in every thread. */
  get count(): number {
    return Atomics.load(this.#count, 0);
  }
}
