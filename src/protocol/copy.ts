/**
 * @module
 * The COPY sub-protocol: CopyInResponse, CopyOutResponse and CopyBothResponse from servers;
 * CopyData and CopyDone in both directions; CopyFail from clients ("COPY Operations" and
 * "Message Formats" in the protocol docs). CopyData is never decoded: its frame is forwarded.
 */

import { Cursor } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { BackendCode, FrontendCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** A chunk of COPY data, in either direction (frame only: the payload is the data). */
export type CopyData = FrameMessage<"CopyData">;
/** The end of COPY data, in either direction. */
export type CopyDone = FrameMessage<"CopyDone">;

/** A client aborts COPY FROM STDIN. */
export interface CopyFail extends FrameMessage<"CopyFail"> {
  /** Why. */
  readonly message: string;
}

/** The fields shared by the three COPY responses. */
export interface CopyResponseFields {
  /** 0 text, 1 binary (the overall format). */
  readonly format: number;
  /** Per-column format codes. */
  readonly columnFormats: readonly number[];
}

/** The server is ready for COPY FROM STDIN data. */
export interface CopyInResponse extends FrameMessage<"CopyInResponse">, CopyResponseFields {}
/** The server starts COPY TO STDOUT data. */
export interface CopyOutResponse extends FrameMessage<"CopyOutResponse">, CopyResponseFields {}
/** The server starts a bidirectional copy (streaming replication). */
export interface CopyBothResponse extends FrameMessage<"CopyBothResponse">, CopyResponseFields {}

/** Any of the three COPY responses. */
export type CopyResponse = CopyInResponse | CopyOutResponse | CopyBothResponse;

const RESPONSE_TYPE = {
  [BackendCode.CopyInResponse]: "CopyInResponse",
  [BackendCode.CopyOutResponse]: "CopyOutResponse",
  [BackendCode.CopyBothResponse]: "CopyBothResponse",
} as const;

/**
 * Decodes a CopyInResponse ('G'), CopyOutResponse ('H') or CopyBothResponse ('W').
 *
 * @param frame the message
 * @returns the response
 * @throws {ProtocolError} when malformed or of another type
 */
export function decodeCopyResponse(frame: Frame): CopyResponse {
  const code = frame.code;
  if (
    code !== BackendCode.CopyInResponse && code !== BackendCode.CopyOutResponse &&
    code !== BackendCode.CopyBothResponse
  ) {
    throw new ProtocolError("expected COPY response message");
  }
  const type = RESPONSE_TYPE[code];
  const c = Cursor.of(frame, code, type);
  const format = c.uint8();
  const n = c.uint16();
  const columnFormats: number[] = [];
  for (let i = 0; i < n; i++) columnFormats.push(c.int16());
  c.end();
  return { type, frame, format, columnFormats };
}

function encodeCopyResponse(
  code: number,
  format: number,
  columnFormats: readonly number[],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(code).int8(format).int16(columnFormats.length);
  for (const f of columnFormats) w.int16(f);
  return w.end().finish();
}

/**
 * Encodes a CopyInResponse ('G').
 *
 * @param format 0 text, 1 binary
 * @param columnFormats per-column format codes
 * @returns the message
 */
export function encodeCopyInResponse(
  format: number,
  columnFormats: readonly number[],
): Uint8Array<ArrayBuffer> {
  return encodeCopyResponse(BackendCode.CopyInResponse, format, columnFormats);
}

/**
 * Encodes a CopyOutResponse ('H').
 *
 * @param format 0 text, 1 binary
 * @param columnFormats per-column format codes
 * @returns the message
 */
export function encodeCopyOutResponse(
  format: number,
  columnFormats: readonly number[],
): Uint8Array<ArrayBuffer> {
  return encodeCopyResponse(BackendCode.CopyOutResponse, format, columnFormats);
}

/**
 * Encodes a CopyBothResponse ('W').
 *
 * @param format 0 text, 1 binary
 * @param columnFormats per-column format codes
 * @returns the message
 */
export function encodeCopyBothResponse(
  format: number,
  columnFormats: readonly number[],
): Uint8Array<ArrayBuffer> {
  return encodeCopyResponse(BackendCode.CopyBothResponse, format, columnFormats);
}

/**
 * Encodes a CopyData ('d'), in either direction.
 *
 * @param data the chunk
 * @returns the message
 */
export function encodeCopyData(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.CopyData).bytes(data).end().finish();
}

/**
 * Encodes a CopyDone ('c'), in either direction.
 *
 * @returns the message
 */
export function encodeCopyDone(): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.CopyDone).end().finish();
}

/**
 * Decodes a CopyFail ('f').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeCopyFail(frame: Frame): CopyFail {
  const c = Cursor.of(frame, FrontendCode.CopyFail, "CopyFail");
  const message = c.cstring();
  c.end();
  return { type: "CopyFail", frame, message };
}

/**
 * Encodes a CopyFail ('f').
 *
 * @param message why the copy is aborted
 * @returns the message
 */
export function encodeCopyFail(message: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.CopyFail).cstring(message).end().finish();
}

/** CopyDone, pre-encoded (do not mutate). */
export const COPY_DONE: Uint8Array<ArrayBuffer> = encodeCopyDone();
