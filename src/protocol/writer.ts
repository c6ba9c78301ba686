/**
 * @module
 * `Writer`: builds protocol messages in a reusable, growable buffer and back-patches each
 * message's length, like PostgreSQL's `pq_beginmessage`/`pq_endmessage` (`pqformat.c`) and
 * postgres.js's `bytes.js`. Integers are big-endian ("network byte order"), strings UTF-8.
 *
 * Ownership: `view()` returns a view into the writer's buffer, valid until the next call that
 * changes the writer (`start`, `reset`, any append, `finish`); `finish()` returns a copy the
 * caller owns. A writer belongs to one connection (or one synchronous encode call); never share
 * one across an `await` between `start()` and `view()`/`finish()`.
 */

const encoder = new TextEncoder();

/** Options for a {@link Writer}. */
export interface WriterOptions {
  /** Initial buffer size in bytes (default 1024). */
  readonly initialSize?: number;
  /** `reset()` drops a buffer grown beyond this many bytes (default 1 MiB). */
  readonly maxRetainedSize?: number;
}

/**
 * Builds one or more messages back to back in a growable buffer.
 *
 * @example
 * ```ts
 * declare const conn: Deno.Conn;
 * const w = new Writer();
 * w.start(0x51).cstring("SELECT 1").end(); // Query
 * await conn.write(w.view()); // a real caller loops until all bytes are written
 * w.reset();
 * ```
 */
export class Writer {
  #buf: Uint8Array<ArrayBuffer>;
  #pos = 0;
  #lengthAt = -1;
  readonly #initialSize: number;
  readonly #maxRetainedSize: number;

  /**
   * Creates an empty writer.
   *
   * @param options initial and retained buffer sizes
   */
  constructor(options: WriterOptions = {}) {
    this.#initialSize = Math.max(16, options.initialSize ?? 1024);
    this.#maxRetainedSize = Math.max(this.#initialSize, options.maxRetainedSize ?? 1 << 20);
    this.#buf = new Uint8Array(this.#initialSize);
  }

  /** Bytes written so far (all messages since the last reset). */
  get length(): number {
    return this.#pos;
  }

  #ensure(extra: number): void {
    const need = this.#pos + extra;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  /**
   * Begins a message with a type byte and a length placeholder.
   *
   * @param code the message type byte
   * @returns this writer
   * @throws {Error} when the previous message was not ended
   */
  start(code: number): this {
    this.#assertEnded();
    this.#ensure(5);
    this.#buf[this.#pos] = code;
    this.#lengthAt = this.#pos + 1;
    this.#pos += 5;
    return this;
  }

  /**
   * Begins a startup packet (no type byte): only the length placeholder.
   *
   * @returns this writer
   * @throws {Error} when the previous message was not ended
   */
  startStartup(): this {
    this.#assertEnded();
    this.#ensure(4);
    this.#lengthAt = this.#pos;
    this.#pos += 4;
    return this;
  }

  #assertEnded(): void {
    if (this.#lengthAt >= 0) throw new Error("writer: previous message was not ended");
  }

  /**
   * Appends one byte.
   *
   * @param v the value (its low 8 bits)
   * @returns this writer
   */
  int8(v: number): this {
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
    return this;
  }

  /**
   * Appends a big-endian 16-bit integer (signed or unsigned).
   *
   * @param v the value (its low 16 bits)
   * @returns this writer
   */
  int16(v: number): this {
    this.#ensure(2);
    const b = this.#buf, p = this.#pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.#pos = p + 2;
    return this;
  }

  /**
   * Appends a big-endian 32-bit integer (signed or unsigned, such as an OID).
   *
   * @param v the value (its low 32 bits)
   * @returns this writer
   */
  int32(v: number): this {
    this.#ensure(4);
    const b = this.#buf, p = this.#pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.#pos = p + 4;
    return this;
  }

  /**
   * Appends raw bytes.
   *
   * @param u8 the bytes
   * @returns this writer
   */
  bytes(u8: Uint8Array): this {
    this.#ensure(u8.length);
    this.#buf.set(u8, this.#pos);
    this.#pos += u8.length;
    return this;
  }

  /**
   * Appends a string as UTF-8, without a terminator.
   *
   * @param str the string
   * @returns this writer
   */
  string(str: string): this {
    this.#ensure(str.length * 3);
    const { written } = encoder.encodeInto(str, this.#buf.subarray(this.#pos));
    this.#pos += written;
    return this;
  }

  /**
   * Appends a string as UTF-8 followed by a NUL terminator.
   *
   * @param str the string
   * @returns this writer
   * @throws {TypeError} when the string contains a NUL character, which would end it early
   */
  cstring(str: string): this {
    this.#ensure(str.length * 3 + 1);
    const { written } = encoder.encodeInto(str, this.#buf.subarray(this.#pos));
    const nul = this.#buf.subarray(this.#pos, this.#pos + written).indexOf(0);
    if (nul >= 0) throw new TypeError("string contains a NUL character");
    this.#pos += written;
    this.#buf[this.#pos++] = 0;
    return this;
  }

  /**
   * Overwrites 4 bytes already written with a big-endian integer, for lengths known only after
   * their data was written (such as a DataRow column).
   *
   * @param at the offset, as `length` returned before the placeholder was written
   * @param v the value
   * @returns this writer
   * @throws {RangeError} when the 4 bytes were not written yet
   */
  patchInt32(at: number, v: number): this {
    if (at < 0 || at + 4 > this.#pos) throw new RangeError("writer: patch outside written bytes");
    const b = this.#buf;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
    return this;
  }

  /**
   * Ends the current message: writes its length (counting itself, not the type byte).
   *
   * @returns this writer
   * @throws {Error} when no message was started
   */
  end(): this {
    const at = this.#lengthAt;
    if (at < 0) throw new Error("writer: no message was started");
    this.patchInt32(at, this.#pos - at);
    this.#lengthAt = -1;
    return this;
  }

  /**
   * Returns a view of everything written since the last reset: no copy, valid until this writer
   * is next changed.
   *
   * @returns a view into the writer's buffer
   * @throws {Error} when a message was started but not ended
   */
  view(): Uint8Array<ArrayBuffer> {
    this.#assertEnded();
    return this.#buf.subarray(0, this.#pos);
  }

  /**
   * Returns a copy of everything written since the last reset, then resets the writer.
   *
   * @returns bytes the caller owns
   * @throws {Error} when a message was started but not ended
   */
  finish(): Uint8Array<ArrayBuffer> {
    this.#assertEnded();
    const out = this.#buf.slice(0, this.#pos);
    this.reset();
    return out;
  }

  /**
   * Discards everything written (and an unfinished message); a buffer grown beyond the
   * retained size is dropped so one huge message does not pin memory.
   *
   * @returns this writer
   */
  reset(): this {
    this.#pos = 0;
    this.#lengthAt = -1;
    if (this.#buf.length > this.#maxRetainedSize) this.#buf = new Uint8Array(this.#initialSize);
    return this;
  }
}
