/**
 * @module
 * Private to `src/protocol/`: the scratch {@link Writer} behind the pure `encodeX` functions,
 * and the field-list encoding shared by ErrorResponse and NoticeResponse ("Error and Notice
 * Message Fields" in the protocol docs).
 */

import { Writer } from "./writer.ts";

const scratch = new Writer({ initialSize: 4096, maxRetainedSize: 64 * 1024 });

/**
 * Returns the module's scratch writer, reset. Only for synchronous encoders that end with
 * `finish()` (which copies): nothing may await, or call another encoder, in between.
 *
 * @returns the reset scratch writer
 */
export function scratchWriter(): Writer {
  return scratch.reset();
}

/**
 * Encodes an ErrorResponse or NoticeResponse from its fields.
 *
 * @param code 'E' or 'N'
 * @param fields field type character to value, in wire order
 * @returns the encoded message
 * @throws {TypeError} when a field code is not one character or a value contains NUL
 */
export function encodeFieldMessage(
  code: number,
  fields: Iterable<readonly [string, string]>,
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(code);
  for (const [field, value] of fields) {
    const c = field.charCodeAt(0);
    if (field.length !== 1 || c === 0 || c > 0x7f) {
      throw new TypeError(`invalid error field code "${field}"`);
    }
    w.int8(c).cstring(value);
  }
  return w.int8(0).end().finish();
}
