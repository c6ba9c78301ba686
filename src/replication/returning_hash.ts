/**
 * @module
 * A hash of the rows a statement returns (issue 4, item 7; `replication.returning_hash`): a
 * divergence check stronger than the row counts of command tags. Each row is hashed over its
 * values as the DataRow message carries them (per value: a 32-bit length, -1 for NULL, then the
 * bytes), with two 32-bit FNV-1a lanes of different offsets; the rows' hashes are summed, so the
 * order in which a server returns them does not matter (an UPDATE ... FROM may visit them in
 * another order on a copy). Not cryptographic: it catches a copy whose rows differ by accident
 * (a trigger, a changed default, a drifted sequence), not an adversary.
 */

import { BackendCode, encodeDataRow, type Frame } from "../protocol/mod.ts";
import { type CapturedRow, RawRow } from "./captured_row.ts";

/** The digest of no rows. */
export const NO_ROWS = "0";

const FNV_PRIME = 0x01000193;
const OFFSET_A = 0x811c9dc5;
/** The second lane starts elsewhere, so the pair behaves like a 64-bit hash. */
const OFFSET_B = 0x2f6b1d37;

/** Accumulates the rows of one statement. */
export class RowsHash {
  #rows = 0;
  #a = 0;
  #b = 0;

  /**
   * Adds one DataRow message.
   *
   * @param frame the DataRow
   * @throws RangeError when the frame is not a DataRow
   */
  addDataRow(frame: Frame): void {
    if (frame.code !== BackendCode.DataRow) throw new RangeError("not a DataRow");
    // The payload after type byte and length: field count, then each value with its length.
    this.#add(frame.bytes, 5);
  }

  /**
   * Adds one row given as text values (rows captured from the original).
   *
   * @param values the row's values, null for NULL
   */
  addTextRow(values: readonly (string | null)[]): void {
    this.#add(encodeDataRow(values.map((v) => (v === null ? null : utf8.encode(v)))), 5);
  }

  /**
   * Adds one row captured in wire form: hashed as the DataRow it came from would be, had it held
   * only these values.
   *
   * @param row the row
   */
  addRawRow(row: RawRow): void {
    const n = row.length;
    const a = Math.imul(
      Math.imul(OFFSET_A ^ ((n >>> 8) & 0xff), FNV_PRIME) ^ (n & 0xff),
      FNV_PRIME,
    );
    const b = Math.imul(
      Math.imul(OFFSET_B ^ ((n >>> 8) & 0xff), FNV_PRIME) ^ (n & 0xff),
      FNV_PRIME,
    );
    this.#add(row.bytes, 0, a, b);
  }

  #add(bytes: Uint8Array, from: number, a = OFFSET_A, b = OFFSET_B): void {
    for (let i = from; i < bytes.length; i++) {
      const byte = bytes[i]!;
      a = Math.imul(a ^ byte, FNV_PRIME);
      b = Math.imul(b ^ byte, FNV_PRIME);
    }
    this.#rows++;
    this.#a = (this.#a + (a >>> 0)) >>> 0;
    this.#b = (this.#b + (b >>> 0)) >>> 0;
  }

  /**
   * The digest: the row count and both lanes' sums.
   *
   * @returns e.g. `3:1a2b3c4d:5e6f7a8b`, or {@link NO_ROWS}
   */
  digest(): string {
    if (this.#rows === 0) return NO_ROWS;
    return `${this.#rows}:${this.#a.toString(16)}:${this.#b.toString(16)}`;
  }
}

const utf8 = new TextEncoder();

/**
 * The digest of captured rows (in wire form, or as text).
 *
 * @param rows the rows
 * @returns their digest
 */
export function textRowsDigest(rows: readonly CapturedRow[]): string {
  const hash = new RowsHash();
  for (const row of rows) {
    if (row instanceof RawRow) hash.addRawRow(row);
    else hash.addTextRow(row);
  }
  return hash.digest();
}

/**
 * Whether a command tag is of a statement whose RETURNING rows are compared: INSERT, UPDATE,
 * DELETE and MERGE. The rows of a read in the same batch are not (a copy may compute `now()`
 * differently in a SELECT, which changes nothing).
 *
 * @param tag the CommandComplete tag
 * @returns true for a write's tag
 */
export function comparesRows(tag: string): boolean {
  return /^(INSERT|UPDATE|DELETE|MERGE) /.test(tag);
}
