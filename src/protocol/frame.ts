/**
 * @module
 * `Frame`: one complete protocol message as raw bytes, the unit the framer hands out and
 * usogres forwards unchanged ("Message Formats" in the PostgreSQL protocol docs).
 */

import { isStartupCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";

/** One complete message: forward `bytes` as-is; decode only when routing needs to. */
export interface Frame {
  /** The type byte, or for a startup packet its 32-bit request or protocol code. */
  readonly code: number;
  /**
   * The whole message: type byte, length and payload (startup packets: length, code and
   * payload). From a {@link FrameReader} this is a view, valid until its next `fill()`.
   */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

/** A message with nothing decoded beyond its type: the frame is the content. */
export interface FrameMessage<T extends string> {
  /** The message name, as in the protocol docs. */
  readonly type: T;
  /** The raw message. */
  readonly frame: Frame;
}

/**
 * Copies a frame so it owns its bytes, for anything kept past the reader's next `fill()`
 * (a held batch, a Parse saved for a copy).
 *
 * @param frame the frame, usually a view into a reader's buffer
 * @returns an equal frame whose bytes are a fresh buffer
 */
export function retain(frame: Frame): Frame {
  return { code: frame.code, bytes: frame.bytes.slice() };
}

/**
 * The length of a frame's header: 5 (type byte and length) or 8 (startup packet: length and
 * code). A startup packet is recognised by a code that cannot be a type byte.
 *
 * @param frame the frame
 * @returns 5 or 8
 */
export function headerLength(frame: Frame): number {
  return isStartupCode(frame.code) ? 8 : 5;
}

/**
 * The message body after the header: a view, no copy.
 *
 * @param frame the frame
 * @returns the payload bytes
 */
export function payload(frame: Frame): Uint8Array<ArrayBuffer> {
  return frame.bytes.subarray(headerLength(frame));
}

function int32At(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) |
    (b[at + 3] ?? 0);
}

/**
 * Wraps one encoded message (as an `encodeX` function returns it) in a frame, checking that its
 * declared length matches.
 *
 * @param bytes exactly one message
 * @param startup true for a startup packet (no type byte)
 * @returns the frame, sharing `bytes`
 * @throws {ProtocolError} when the declared length does not match the bytes
 */
export function toFrame(bytes: Uint8Array<ArrayBuffer>, startup = false): Frame {
  if (startup) {
    if (bytes.length < 8 || int32At(bytes, 0) !== bytes.length) {
      throw new ProtocolError("invalid length of startup packet");
    }
    return { code: int32At(bytes, 4), bytes };
  }
  if (bytes.length < 5 || int32At(bytes, 1) !== bytes.length - 1) {
    throw new ProtocolError("invalid message length");
  }
  return { code: bytes[0] ?? 0, bytes };
}

/**
 * Joins encoded messages into one buffer, for a single socket write; a single part is returned
 * as it is (no copy).
 *
 * @param parts the messages, in order
 * @returns one buffer holding them all
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
