/**
 * @module
 * Ordered, complete writes to one socket. `Deno.Conn.write` may write only part of a buffer, and two
 * tasks (a relay loop and an error path, say) may write to the same socket: this serialises them so
 * messages never interleave, and resolves only when every byte has gone out, which is what gives
 * the relay loops their back-pressure (a loop reads again only after its last write completed).
 */

/** The part of `Deno.Conn` a {@link SocketWriter} needs. */
export interface ByteSink {
  /** Writes some prefix of `p` and returns its length. */
  write(p: Uint8Array): Promise<number>;
}

/** A write waiting for the ones before it. */
interface Queued {
  readonly bytes: Uint8Array;
  readonly done: PromiseWithResolvers<void>;
}

/** Serialising writer over one socket; counts the bytes written. */
export class SocketWriter {
  #sink: ByteSink;
  /** True while a write is in progress; later ones wait in `#queue`. */
  #busy = false;
  #queue: Queued[] = [];
  /** Total bytes written so far. */
  bytesWritten = 0;

  /**
   * Wraps a socket.
   *
   * @param sink the socket to write to
   */
  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  /**
   * Writes all of `bytes`, after any writes already queued. A write that fails rejects its own
   * promise only: the ones queued behind it are still attempted, in order.
   *
   * The caller must not change `bytes` until the returned promise settles.
   *
   * @param bytes the bytes to write
   * @returns when every byte has been handed to the kernel
   * @throws the socket's error (for example `Deno.errors.BrokenPipe`)
   */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#busy) {
      const done = Promise.withResolvers<void>();
      this.#queue.push({ bytes, done });
      return done.promise;
    }
    this.#busy = true;
    return this.#writeAll(bytes);
  }

  /** Writes every byte, then starts the next queued write. One promise per write. */
  async #writeAll(bytes: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < bytes.length) {
        off += await this.#sink.write(off === 0 ? bytes : bytes.subarray(off));
      }
      this.bytesWritten += bytes.length;
    } finally {
      const next = this.#queue.shift();
      if (next === undefined) this.#busy = false;
      else this.#writeAll(next.bytes).then(next.done.resolve, next.done.reject);
    }
  }
}
