/**
 * @module
 * Private to `src/protocol/`: `Cursor`, a bounds-checked reader over one frame's payload, the
 * TypeScript counterpart of PostgreSQL's `pq_getmsg*` functions (`pqformat.c`), with the same
 * error wording. Every failure is a {@link ProtocolError}.
 */

import { ProtocolError } from "./errors.ts";
import type { Frame } from "./frame.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 strictly.
 *
 * @param bytes the bytes
 * @returns the string
 * @throws {ProtocolError} on an invalid byte sequence
 */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length === 0) return ""; // the unnamed statement or portal: no decoder call
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ProtocolError('invalid byte sequence for encoding "UTF8"');
  }
}

/** A bounds-checked reader over one frame's payload. */
export class Cursor {
  readonly #b: Uint8Array<ArrayBuffer>;
  #pos: number;
  readonly #end: number;

  /**
   * Positions a cursor at byte `at` of `bytes` (a startup packet whose length the caller checked).
   *
   * @param bytes the whole message
   * @param at the first byte to read
   */
  constructor(bytes: Uint8Array<ArrayBuffer>, at: number) {
    this.#b = bytes;
    this.#pos = at;
    this.#end = bytes.length;
  }

  /**
   * Positions a cursor after the header of `frame`, checking its type byte and length.
   *
   * @param frame the frame to read
   * @param code the type byte the frame must have
   * @param name the message name, for errors
   * @returns the cursor
   * @throws {ProtocolError} when the code or declared length is wrong
   */
  static of(frame: Frame, code: number, name: string): Cursor {
    const b = frame.bytes;
    if (frame.code !== code || b[0] !== code) throw new ProtocolError(`expected ${name} message`);
    const c = new Cursor(b, 1);
    if (b.length < 5 || c.uint32() !== b.length - 1) {
      throw new ProtocolError("invalid message length");
    }
    return c;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number): number {
    const p = this.#pos;
    if (n < 0 || p + n > this.#end) throw new ProtocolError("insufficient data left in message");
    this.#pos = p + n;
    return p;
  }

  /**
   * Reads one unsigned byte.
   *
   * @returns the byte
   * @throws {ProtocolError} at the end of the message
   */
  uint8(): number {
    return this.#b[this.#need(1)] ?? 0;
  }

  /**
   * Returns the next byte without consuming it.
   *
   * @returns the byte, or -1 at the end of the message
   */
  peek(): number {
    return this.#pos < this.#end ? this.#b[this.#pos] ?? -1 : -1;
  }

  /**
   * Reads a big-endian unsigned 16-bit integer (a count, as `pq_getmsgint(msg, 2)` reads it).
   *
   * @returns the value
   * @throws {ProtocolError} at the end of the message
   */
  uint16(): number {
    const p = this.#need(2), b = this.#b;
    return ((b[p] ?? 0) << 8) | (b[p + 1] ?? 0);
  }

  /**
   * Reads a big-endian signed 16-bit integer.
   *
   * @returns the value
   * @throws {ProtocolError} at the end of the message
   */
  int16(): number {
    const p = this.#need(2), b = this.#b;
    return (((b[p] ?? 0) << 24) | ((b[p + 1] ?? 0) << 16)) >> 16;
  }

  /**
   * Reads a big-endian signed 32-bit integer.
   *
   * @returns the value
   * @throws {ProtocolError} at the end of the message
   */
  int32(): number {
    const p = this.#need(4), b = this.#b;
    return ((b[p] ?? 0) << 24) | ((b[p + 1] ?? 0) << 16) | ((b[p + 2] ?? 0) << 8) | (b[p + 3] ?? 0);
  }

  /**
   * Reads a big-endian unsigned 32-bit integer (an OID, a length).
   *
   * @returns the value
   * @throws {ProtocolError} at the end of the message
   */
  uint32(): number {
    return this.int32() >>> 0;
  }

  /**
   * Reads `n` bytes as a view (no copy).
   *
   * @param n how many bytes
   * @returns the bytes
   * @throws {ProtocolError} when fewer are left
   */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const p = this.#need(n);
    return this.#b.subarray(p, p + n);
  }

  /**
   * Skips `n` bytes.
   *
   * @param n how many bytes
   * @throws {ProtocolError} when fewer are left
   */
  skip(n: number): void {
    this.#need(n);
  }

  /**
   * Skips a NUL-terminated string without decoding it.
   *
   * @throws {ProtocolError} when the terminator is missing
   */
  skipCString(): void {
    const nul = this.#b.indexOf(0, this.#pos);
    if (nul < 0 || nul >= this.#end) throw new ProtocolError("invalid string in message");
    this.#pos = nul + 1;
  }

  /**
   * Reads everything left as a view.
   *
   * @returns the bytes
   */
  rest(): Uint8Array<ArrayBuffer> {
    return this.bytes(this.remaining);
  }

  /**
   * Reads a NUL-terminated UTF-8 string.
   *
   * @returns the string
   * @throws {ProtocolError} when the terminator is missing or the UTF-8 is invalid
   */
  cstring(): string {
    const p = this.#pos;
    const nul = this.#b.indexOf(0, p);
    if (nul < 0 || nul >= this.#end) throw new ProtocolError("invalid string in message");
    this.#pos = nul + 1;
    return decodeUtf8(this.#b.subarray(p, nul));
  }

  /**
   * Checks that the whole message was read, as `pq_getmsgend()`.
   *
   * @throws {ProtocolError} when bytes are left over
   */
  end(): void {
    if (this.#pos !== this.#end) throw new ProtocolError("invalid message format");
  }
}

/**
 * Decodes a message that has no body (Sync, Flush, ParseComplete, ...): checks code and length.
 *
 * @param frame the message
 * @param code the type byte it must have
 * @param type the message name
 * @returns the message
 * @throws {ProtocolError} when the code is wrong or the body is not empty
 */
export function decodeEmpty<T extends string>(
  frame: Frame,
  code: number,
  type: T,
): { readonly type: T; readonly frame: Frame } {
  Cursor.of(frame, code, type).end();
  return { type, frame };
}
