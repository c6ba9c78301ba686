/**
 * @module
 * The function call sub-protocol: FunctionCall ('F') and FunctionCallResponse ('V')
 * ("Function Call" and "Message Formats" in the protocol docs; `HandleFunctionRequest()` in
 * PostgreSQL's `fastpath.c`). Only the function OID is decoded for routing.
 */

import { Cursor } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { BackendCode, FrontendCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** A client calls a function by OID (routing fields only). */
export interface FunctionCall extends FrameMessage<"FunctionCall"> {
  /** The function's OID. */
  readonly functionOid: number;
}

/** A FunctionCall with every field decoded. */
export interface FunctionCallFull extends FunctionCall {
  /** Argument format codes (none, one for all, or one per argument). */
  readonly argFormats: readonly number[];
  /** Arguments as views into the frame; null is SQL NULL. */
  readonly args: readonly (Uint8Array<ArrayBuffer> | null)[];
  /** The result's format code. */
  readonly resultFormat: number;
}

/** The result of a FunctionCall (frame only on the routing path). */
export type FunctionCallResponse = FrameMessage<"FunctionCallResponse">;

function values(c: Cursor): (Uint8Array<ArrayBuffer> | null)[] {
  const n = c.uint16();
  const out: (Uint8Array<ArrayBuffer> | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = c.int32();
    if (len < -1) throw new ProtocolError("invalid message format");
    out.push(len === -1 ? null : c.bytes(len));
  }
  return out;
}

/**
 * Decodes the routing field of a FunctionCall ('F'): the function OID.
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when too short
 */
export function decodeFunctionCall(frame: Frame): FunctionCall {
  const c = Cursor.of(frame, FrontendCode.FunctionCall, "FunctionCall");
  return { type: "FunctionCall", frame, functionOid: c.uint32() };
}

/**
 * Decodes every field of a FunctionCall ('F').
 *
 * @param frame the message
 * @returns the message with formats and arguments
 * @throws {ProtocolError} when malformed
 */
export function decodeFunctionCallFull(frame: Frame): FunctionCallFull {
  const c = Cursor.of(frame, FrontendCode.FunctionCall, "FunctionCall");
  const functionOid = c.uint32();
  const n = c.uint16();
  const argFormats: number[] = [];
  for (let i = 0; i < n; i++) argFormats.push(c.int16());
  const args = values(c);
  const resultFormat = c.int16();
  c.end();
  return { type: "FunctionCall", frame, functionOid, argFormats, args, resultFormat };
}

/**
 * Encodes a FunctionCall ('F').
 *
 * @param functionOid the function's OID
 * @param args the arguments; null is SQL NULL
 * @param argFormats argument format codes (default none: all text)
 * @param resultFormat the result's format code (default 0, text)
 * @returns the message
 */
export function encodeFunctionCall(
  functionOid: number,
  args: readonly (Uint8Array | null)[],
  argFormats: readonly number[] = [],
  resultFormat = 0,
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(FrontendCode.FunctionCall).int32(functionOid)
    .int16(argFormats.length);
  for (const f of argFormats) w.int16(f);
  w.int16(args.length);
  for (const a of args) {
    if (a === null) w.int32(-1);
    else w.int32(a.length).bytes(a);
  }
  return w.int16(resultFormat).end().finish();
}

/**
 * Decodes the result of a FunctionCallResponse ('V').
 *
 * @param frame the message
 * @returns the result as a view into the frame, or null for SQL NULL
 * @throws {ProtocolError} when malformed
 */
export function decodeFunctionCallResponse(frame: Frame): Uint8Array<ArrayBuffer> | null {
  const c = Cursor.of(frame, BackendCode.FunctionCallResponse, "FunctionCallResponse");
  const len = c.int32();
  if (len < -1) throw new ProtocolError("invalid message format");
  const value = len === -1 ? null : c.bytes(len);
  c.end();
  return value;
}

/**
 * Encodes a FunctionCallResponse ('V').
 *
 * @param value the result, or null for SQL NULL
 * @returns the message
 */
export function encodeFunctionCallResponse(value: Uint8Array | null): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.FunctionCallResponse);
  if (value === null) w.int32(-1);
  else w.int32(value.length).bytes(value);
  return w.end().finish();
}
