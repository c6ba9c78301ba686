/**
 * @module
 * What the relay owes the client from one read of the original's socket, gathered so that it
 * leaves in one socket write: the frames it forwards (views into the reader's buffer, kept as one
 * contiguous run where they are adjacent) and the replies it writes instead of some of them. A
 * statement's results and its ReadyForQuery then reach the client in one TCP segment, so the
 * client wakes once per statement instead of twice (which cost a scheduling delay per statement
 * on a busy machine).
 */

import { concatBytes } from "../protocol/mod.ts";

/** Bytes pending for the client, in order. */
export class ReplyBuffer {
  #pieces: Uint8Array[] = [];
  #run: Uint8Array | undefined;
  #runLength = 0;
  #size = 0;

  /** Bytes pending. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends bytes. A view that directly follows the previous one in the same buffer extends it
   * without copying.
   *
   * @param bytes the bytes (a frame view stays valid only until the reader's next fill)
   */
  add(bytes: Uint8Array): void {
    this.#size += bytes.length;
    const run = this.#run;
    if (
      run !== undefined && bytes.buffer === run.buffer &&
      bytes.byteOffset === run.byteOffset + this.#runLength
    ) {
      this.#runLength += bytes.length;
      return;
    }
    this.#closeRun();
    this.#run = bytes;
    this.#runLength = bytes.length;
  }

  /**
   * Copies what is pending into memory of its own, so it survives the reader's next fill (the
   * results of a write whose ReadyForQuery comes from a later reply).
   */
  hold(): void {
    const bytes = this.take();
    if (bytes !== undefined) this.add(bytes.slice());
  }

  /**
   * Takes everything pending as one array (a view when it is one run).
   *
   * @returns the bytes, or undefined when nothing is pending
   */
  take(): Uint8Array | undefined {
    this.#closeRun();
    const pieces = this.#pieces;
    this.#pieces = [];
    this.#size = 0;
    if (pieces.length === 0) return undefined;
    return concatBytes(pieces);
  }

  #closeRun(): void {
    const run = this.#run;
    if (run === undefined) return;
    this.#pieces.push(
      run.length === this.#runLength
        ? run
        : new Uint8Array(run.buffer, run.byteOffset, this.#runLength),
    );
    this.#run = undefined;
    this.#runLength = 0;
  }
}
