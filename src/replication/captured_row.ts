/**
 * @module
 * A row captured from the original for the copies of a write replicated by rows (issue 4, item
 * 3). {@link RawRow} keeps the added RETURNING columns' values exactly as the original's DataRow
 * carried them, in wire form (per value: a 32-bit big-endian length, -1 for NULL, then the bytes
 * in the session's client encoding), which is also how a Bind carries text-format parameters: the
 * copy's Bind of its prepared row statement is written from these bytes as they are, and the
 * returning_hash digests them directly. Only the literal form of the copies' statement (the
 * journal, batches that failed on the original, shapes that cannot be prepared) decodes them to
 * strings, once, on demand.
 *
 * Rows given as arrays of strings (tests, older callers) are accepted wherever a captured row is:
 * see {@link CapturedRow}.
 */

import { dataRowOffset, type Frame } from "../protocol/mod.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The added columns of one row the original returned, in wire form. */
export class RawRow {
  /** The values in wire form; owned by the row, not to be changed. */
  readonly bytes: Uint8Array;
  /** How many values. */
  readonly length: number;
  #texts: readonly (string | null)[] | undefined;

  private constructor(bytes: Uint8Array, length: number) {
    this.bytes = bytes;
    this.length = length;
  }

  /**
   * Captures the values from index `k` on of a DataRow, copying their bytes out of the frame
   * (whose buffer the reader reuses). The message is checked as `decodeDataRow` checks it.
   *
   * @param frame a DataRow
   * @param k how many leading values to leave out (the client's own columns)
   * @param at where value `k` starts, when the caller already has `dataRowOffset(frame, k)`
   * @returns the row (empty when the DataRow has k values or fewer)
   * @throws {ProtocolError} when the DataRow is malformed
   */
  static fromDataRow(frame: Frame, k: number, at: number = dataRowOffset(frame, k)): RawRow {
    const b = frame.bytes;
    const count = (b[5]! << 8) | b[6]!;
    return new RawRow(b.slice(at), Math.max(0, count - k));
  }

  /**
   * A row of the given values, encoded as UTF-8.
   *
   * @param values the values, null for NULL
   * @returns the row
   */
  static fromTexts(values: readonly (string | null)[]): RawRow {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (const v of values) {
      const bytes = v === null ? undefined : encoder.encode(v);
      parts.push(bytes ?? EMPTY);
      size += 4 + (bytes?.length ?? 0);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const [i, bytes] of parts.entries()) {
      const len = values[i] === null ? -1 : bytes.length;
      out[at] = len >>> 24;
      out[at + 1] = len >>> 16;
      out[at + 2] = len >>> 8;
      out[at + 3] = len;
      out.set(bytes, at + 4);
      at += 4 + bytes.length;
    }
    const row = new RawRow(out, values.length);
    row.#texts = values.slice();
    return row;
  }

  /**
   * How many bytes the first `n` values take in wire form.
   *
   * @param n how many values (at most {@link length})
   * @returns the byte count
   * @throws RangeError when the row has fewer values
   */
  span(n: number): number {
    if (n > this.length) throw new RangeError(`row has ${this.length} values, not ${n}`);
    if (n === this.length) return this.bytes.length;
    const b = this.bytes;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const len = (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
      at += 4 + (len > 0 ? len : 0);
    }
    return at;
  }

  /**
   * The values as strings, decoded as UTF-8 (invalid sequences replaced, as `TextDecoder` does);
   * computed once.
   *
   * @returns the values, null for NULL
   */
  texts(): readonly (string | null)[] {
    if (this.#texts !== undefined) return this.#texts;
    const b = this.bytes;
    const out: (string | null)[] = [];
    let at = 0;
    for (let i = 0; i < this.length; i++) {
      const len = (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
      at += 4;
      if (len < 0) out.push(null);
      else {
        out.push(decoder.decode(b.subarray(at, at + len)));
        at += len;
      }
    }
    return this.#texts = out;
  }
}

const EMPTY = new Uint8Array(0);

/** A captured row: in wire form, or as strings (null for NULL). */
export type CapturedRow = RawRow | readonly (string | null)[];

/**
 * A captured row's values as strings.
 *
 * @param row the row
 * @returns its values, null for NULL
 */
export function rowTexts(row: CapturedRow): readonly (string | null)[] {
  return row instanceof RawRow ? row.texts() : row;
}

/**
 * A captured row in wire form.
 *
 * @param row the row
 * @returns the row itself, or its values encoded as UTF-8
 */
export function rawRow(row: CapturedRow): RawRow {
  return row instanceof RawRow ? row : RawRow.fromTexts(row);
}
