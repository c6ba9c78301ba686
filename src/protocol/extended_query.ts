/**
 * @module
 * The extended query sub-protocol: Parse, Bind, Describe, Execute, Close, Sync and Flush from
 * clients; ParseComplete, BindComplete, CloseComplete, NoData, ParameterDescription and
 * PortalSuspended from servers ("Extended Query" and "Message Formats" in the protocol docs;
 * the checks mirror `exec_parse_message()`, `exec_bind_message()` and `PostgresMain()` in
 * PostgreSQL's `postgres.c`). Bind's parameters are not decoded on the routing path
 * (`decodeBind`); `decodeBindFull` decodes them.
 */

import { Cursor, decodeEmpty } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { BackendCode, FrontendCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** Creates a prepared statement. */
export interface Parse extends FrameMessage<"Parse"> {
  /** The statement name; "" is the unnamed statement. */
  readonly statement: string;
  /** The query text (one statement). */
  readonly sql: string;
  /** Parameter type OIDs the client specified (0 = unspecified). */
  readonly paramTypes: readonly number[];
}

/** Binds parameters to a statement, creating a portal (routing fields only). */
export interface Bind extends FrameMessage<"Bind"> {
  /** The portal name; "" is the unnamed portal. */
  readonly portal: string;
  /** The source statement name. */
  readonly statement: string;
}

/** A Bind with every field decoded. */
export interface BindFull extends Bind {
  /** Parameter format codes: none (all text), one (for all), or one per parameter. */
  readonly paramFormats: readonly number[];
  /** Parameter values as views into the frame; null is SQL NULL. */
  readonly params: readonly (Uint8Array<ArrayBuffer> | null)[];
  /** Result column format codes, with the same convention as `paramFormats`. */
  readonly resultFormats: readonly number[];
}

/** What to run in a Bind encoder. */
export interface BindInput {
  /** The portal name (default ""). */
  readonly portal?: string;
  /** The statement name (default ""). */
  readonly statement?: string;
  /** Parameter format codes (default none: all text). */
  readonly paramFormats?: readonly number[];
  /** Parameter values; strings are sent as UTF-8, null as SQL NULL. */
  readonly params?: readonly (string | Uint8Array | null)[];
  /** Result column format codes (default none: all text). */
  readonly resultFormats?: readonly number[];
}

/** Runs a portal. */
export interface Execute extends FrameMessage<"Execute"> {
  /** The portal name. */
  readonly portal: string;
  /** The most rows to return; 0 means no limit. */
  readonly maxRows: number;
}

/** 'S' for a prepared statement, 'P' for a portal. */
export type TargetKind = "S" | "P";

/** Asks for a statement's or portal's description. */
export interface Describe extends FrameMessage<"Describe"> {
  /** Statement or portal. */
  readonly kind: TargetKind;
  /** Its name. */
  readonly name: string;
}

/** Closes a statement or portal. */
export interface Close extends FrameMessage<"Close"> {
  /** Statement or portal. */
  readonly kind: TargetKind;
  /** Its name. */
  readonly name: string;
}

/** Ends an extended-protocol batch; the server answers ReadyForQuery. */
export type Sync = FrameMessage<"Sync">;
/** Asks the server to send what it has. */
export type Flush = FrameMessage<"Flush">;
/** Parse succeeded. */
export type ParseComplete = FrameMessage<"ParseComplete">;
/** Bind succeeded. */
export type BindComplete = FrameMessage<"BindComplete">;
/** Close succeeded. */
export type CloseComplete = FrameMessage<"CloseComplete">;
/** The described statement or portal returns no rows. */
export type NoData = FrameMessage<"NoData">;
/** Execute stopped at its row limit; the portal can be run again. */
export type PortalSuspended = FrameMessage<"PortalSuspended">;
/** A statement's parameter types (frame only: decode with `decodeParameterDescription`). */
export type ParameterDescription = FrameMessage<"ParameterDescription">;

function targetKind(byte: number, message: string): TargetKind {
  if (byte === 0x53) return "S";
  if (byte === 0x50) return "P";
  throw new ProtocolError(`invalid ${message} message subtype ${byte}`);
}

function formats(c: Cursor): number[] {
  const n = c.uint16();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(c.int16());
  return out;
}

/**
 * Decodes a Parse ('P').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed or not UTF-8
 */
export function decodeParse(frame: Frame): Parse {
  const c = Cursor.of(frame, FrontendCode.Parse, "Parse");
  const statement = c.cstring();
  const sql = c.cstring();
  const n = c.uint16();
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(c.uint32());
  c.end();
  return { type: "Parse", frame, statement, sql, paramTypes };
}

/**
 * Encodes a Parse ('P').
 *
 * @param statement the statement name ("" for unnamed)
 * @param sql the query text
 * @param paramTypes parameter type OIDs (default none)
 * @returns the message
 */
export function encodeParse(
  statement: string,
  sql: string,
  paramTypes: readonly number[] = [],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(FrontendCode.Parse).cstring(statement).cstring(sql)
    .int16(paramTypes.length);
  for (const oid of paramTypes) w.int32(oid);
  return w.end().finish();
}

/**
 * Decodes the routing fields of a Bind ('B'): portal and statement names only; the parameters
 * are left undecoded (the server validates them).
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when the names are malformed
 */
export function decodeBind(frame: Frame): Bind {
  const c = Cursor.of(frame, FrontendCode.Bind, "Bind");
  const portal = c.cstring();
  const statement = c.cstring();
  return { type: "Bind", frame, portal, statement };
}

/**
 * Decodes every field of a Bind ('B').
 *
 * @param frame the message
 * @returns the message with formats and parameters
 * @throws {ProtocolError} when malformed
 */
export function decodeBindFull(frame: Frame): BindFull {
  const c = Cursor.of(frame, FrontendCode.Bind, "Bind");
  const portal = c.cstring();
  const statement = c.cstring();
  const paramFormats = formats(c);
  const n = c.uint16();
  const params: (Uint8Array<ArrayBuffer> | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = c.int32();
    if (len < -1) throw new ProtocolError("invalid message format");
    params.push(len === -1 ? null : c.bytes(len));
  }
  const resultFormats = formats(c);
  c.end();
  return { type: "Bind", frame, portal, statement, paramFormats, params, resultFormats };
}

/**
 * Whether a Bind ('B') asks for every result column in text format (no result format codes, or
 * only 0): its parameters are skipped by their lengths, not decoded, and the message is checked
 * as {@link decodeBindFull} checks it (its names are not decoded: see {@link decodeBind}).
 *
 * @param frame the message
 * @returns true when the results come back in text only
 * @throws {ProtocolError} when malformed
 */
export function bindResultsText(frame: Frame): boolean {
  const c = Cursor.of(frame, FrontendCode.Bind, "Bind");
  c.skipCString();
  c.skipCString();
  c.skip(2 * c.uint16());
  const n = c.uint16();
  for (let i = 0; i < n; i++) {
    const len = c.int32();
    if (len < -1) throw new ProtocolError("invalid message format");
    if (len > 0) c.skip(len);
  }
  const formats = c.uint16();
  let text = true;
  for (let i = 0; i < formats; i++) if (c.int16() !== 0) text = false;
  c.end();
  return text;
}

/**
 * Encodes a Bind ('B').
 *
 * @param input portal, statement, formats and parameters
 * @returns the message
 */
export function encodeBind(input: BindInput): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(FrontendCode.Bind).cstring(input.portal ?? "")
    .cstring(input.statement ?? "");
  const paramFormats = input.paramFormats ?? [];
  w.int16(paramFormats.length);
  for (const f of paramFormats) w.int16(f);
  const params = input.params ?? [];
  w.int16(params.length);
  for (const v of params) {
    if (v === null) {
      w.int32(-1);
    } else if (typeof v === "string") {
      const at = w.length;
      w.int32(0).string(v);
      w.patchInt32(at, w.length - at - 4);
    } else {
      w.int32(v.length).bytes(v);
    }
  }
  const resultFormats = input.resultFormats ?? [];
  w.int16(resultFormats.length);
  for (const f of resultFormats) w.int16(f);
  return w.end().finish();
}

/**
 * Encodes a Bind ('B') of a named statement to the unnamed portal, every parameter and result in
 * text format, with the parameters given already in their wire form: for each, a 32-bit length
 * (-1 for NULL) and its bytes, as a DataRow carries its values. The chunks are written one after
 * the other; the caller vouches that together they hold exactly `count` values.
 *
 * @param statement the statement name
 * @param count how many parameters the chunks hold
 * @param chunks the parameters in wire form
 * @returns the message
 */
export function encodeBindWire(
  statement: string,
  count: number,
  chunks: readonly Uint8Array[],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(FrontendCode.Bind).int8(0).cstring(statement).int16(0)
    .int16(count);
  for (const chunk of chunks) w.bytes(chunk);
  return w.int16(0).end().finish();
}

/**
 * Decodes an Execute ('E').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeExecute(frame: Frame): Execute {
  const c = Cursor.of(frame, FrontendCode.Execute, "Execute");
  const portal = c.cstring();
  const maxRows = c.int32();
  c.end();
  return { type: "Execute", frame, portal, maxRows };
}

/**
 * Encodes an Execute ('E').
 *
 * @param portal the portal name (default "")
 * @param maxRows the row limit (default 0, none)
 * @returns the message
 */
export function encodeExecute(portal = "", maxRows = 0): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.Execute).cstring(portal).int32(maxRows).end()
    .finish();
}

/**
 * Decodes a Describe ('D').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed or of an unknown subtype
 */
export function decodeDescribe(frame: Frame): Describe {
  const c = Cursor.of(frame, FrontendCode.Describe, "Describe");
  const kind = targetKind(c.uint8(), "DESCRIBE");
  const name = c.cstring();
  c.end();
  return { type: "Describe", frame, kind, name };
}

/**
 * Encodes a Describe ('D').
 *
 * @param kind 'S' statement or 'P' portal
 * @param name its name
 * @returns the message
 */
export function encodeDescribe(kind: TargetKind, name: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.Describe).int8(kind.charCodeAt(0)).cstring(name).end()
    .finish();
}

/**
 * Decodes a Close ('C').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed or of an unknown subtype
 */
export function decodeClose(frame: Frame): Close {
  const c = Cursor.of(frame, FrontendCode.Close, "Close");
  const kind = targetKind(c.uint8(), "CLOSE");
  const name = c.cstring();
  c.end();
  return { type: "Close", frame, kind, name };
}

/**
 * Encodes a Close ('C').
 *
 * @param kind 'S' statement or 'P' portal
 * @param name its name
 * @returns the message
 */
export function encodeClose(kind: TargetKind, name: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.Close).int8(kind.charCodeAt(0)).cstring(name).end()
    .finish();
}

/**
 * Decodes a ParameterDescription ('t'); not for the routing path.
 *
 * @param frame the message
 * @returns the parameter type OIDs
 * @throws {ProtocolError} when malformed
 */
export function decodeParameterDescription(frame: Frame): number[] {
  const c = Cursor.of(frame, BackendCode.ParameterDescription, "ParameterDescription");
  const n = c.uint16();
  const oids: number[] = [];
  for (let i = 0; i < n; i++) oids.push(c.uint32());
  c.end();
  return oids;
}

/**
 * Encodes a ParameterDescription ('t').
 *
 * @param paramTypes the parameter type OIDs
 * @returns the message
 */
export function encodeParameterDescription(
  paramTypes: readonly number[],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.ParameterDescription).int16(paramTypes.length);
  for (const oid of paramTypes) w.int32(oid);
  return w.end().finish();
}

/**
 * Encodes a message with no body, such as Sync or ParseComplete.
 *
 * @param code the type byte
 * @returns the 5-byte message
 */
export function encodeEmptyMessage(code: number): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(code).end().finish();
}

/**
 * Decodes a Sync ('S').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when it has a body
 */
export function decodeSync(frame: Frame): Sync {
  return decodeEmpty(frame, FrontendCode.Sync, "Sync");
}

/**
 * Decodes a Flush ('H').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when it has a body
 */
export function decodeFlush(frame: Frame): Flush {
  return decodeEmpty(frame, FrontendCode.Flush, "Flush");
}

/** Sync, pre-encoded (do not mutate). */
export const SYNC: Uint8Array<ArrayBuffer> = encodeEmptyMessage(FrontendCode.Sync);
/** Flush, pre-encoded (do not mutate). */
export const FLUSH: Uint8Array<ArrayBuffer> = encodeEmptyMessage(FrontendCode.Flush);
/** ParseComplete, pre-encoded (do not mutate). */
export const PARSE_COMPLETE: Uint8Array<ArrayBuffer> = encodeEmptyMessage(
  BackendCode.ParseComplete,
);
/** BindComplete, pre-encoded (do not mutate). */
export const BIND_COMPLETE: Uint8Array<ArrayBuffer> = encodeEmptyMessage(BackendCode.BindComplete);
/** CloseComplete, pre-encoded (do not mutate). */
export const CLOSE_COMPLETE: Uint8Array<ArrayBuffer> = encodeEmptyMessage(
  BackendCode.CloseComplete,
);
/** NoData, pre-encoded (do not mutate). */
export const NO_DATA: Uint8Array<ArrayBuffer> = encodeEmptyMessage(BackendCode.NoData);
/** PortalSuspended, pre-encoded (do not mutate). */
export const PORTAL_SUSPENDED: Uint8Array<ArrayBuffer> = encodeEmptyMessage(
  BackendCode.PortalSuspended,
);
