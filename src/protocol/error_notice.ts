/**
 * @module
 * ErrorResponse and NoticeResponse, decoded into their fields ("Error and Notice Message
 * Fields" in the protocol docs; `pqGetErrorNotice3()` in libpq's `fe-protocol3.c`). Errors that
 * usogres raises itself are built with `PgError` (`errors.ts`) and its `encode()`.
 */

import { Cursor } from "./_cursor.ts";
import { encodeFieldMessage } from "./_encode.ts";
import { BackendCode } from "./codes.ts";
import type { Frame } from "./frame.ts";

/** Field type characters of ErrorResponse and NoticeResponse. */
export const ErrorField = {
  Severity: "S",
  SeverityNonLocalized: "V",
  Code: "C",
  Message: "M",
  Detail: "D",
  Hint: "H",
  Position: "P",
  InternalPosition: "p",
  InternalQuery: "q",
  Where: "W",
  SchemaName: "s",
  TableName: "t",
  ColumnName: "c",
  DataTypeName: "d",
  ConstraintName: "n",
  File: "F",
  Line: "L",
  Routine: "R",
} as const;

/** The decoded content shared by ErrorResponse and NoticeResponse. */
export interface NoticeFields {
  /** Every field, by type character, in wire order. */
  readonly fields: ReadonlyMap<string, string>;
  /** The non-localized severity ('V'), else the localized one ('S'), else "". */
  readonly severity: string;
  /** The SQLSTATE ('C'), or "". */
  readonly code: string;
  /** The primary message ('M'), or "". */
  readonly message: string;
}

/** An error; the server ends the current query (and, if FATAL, the session). */
export interface ErrorResponse extends NoticeFields {
  /** The message name. */
  readonly type: "ErrorResponse";
  /** The raw message, forwarded byte for byte. */
  readonly frame: Frame;
}

/** A warning or notice; the query goes on. */
export interface NoticeResponse extends NoticeFields {
  /** The message name. */
  readonly type: "NoticeResponse";
  /** The raw message, forwarded byte for byte. */
  readonly frame: Frame;
}

function decodeFields(frame: Frame, code: number, name: string): NoticeFields {
  const c = Cursor.of(frame, code, name);
  const fields = new Map<string, string>();
  for (;;) {
    const field = c.uint8();
    if (field === 0) break;
    fields.set(String.fromCharCode(field), c.cstring());
  }
  c.end();
  return {
    fields,
    severity: fields.get("V") ?? fields.get("S") ?? "",
    code: fields.get("C") ?? "",
    message: fields.get("M") ?? "",
  };
}

/**
 * Decodes an ErrorResponse ('E').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeErrorResponse(frame: Frame): ErrorResponse {
  return {
    type: "ErrorResponse",
    frame,
    ...decodeFields(frame, BackendCode.ErrorResponse, "ErrorResponse"),
  };
}

/**
 * Decodes a NoticeResponse ('N').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeNoticeResponse(frame: Frame): NoticeResponse {
  return {
    type: "NoticeResponse",
    frame,
    ...decodeFields(frame, BackendCode.NoticeResponse, "NoticeResponse"),
  };
}

/** Fields to encode: a map or pairs of field type character and value, in wire order. */
export type NoticeFieldsInput = ReadonlyMap<string, string> | Iterable<readonly [string, string]>;

/**
 * Encodes an ErrorResponse ('E') from its fields (for usogres's own errors prefer
 * `PgError.encode()`).
 *
 * @param fields field type character to value, in wire order
 * @returns the message
 * @throws {TypeError} when a field code is not one ASCII character or a value contains NUL
 */
export function encodeErrorResponse(fields: NoticeFieldsInput): Uint8Array<ArrayBuffer> {
  return encodeFieldMessage(BackendCode.ErrorResponse, fields);
}

/**
 * Encodes a NoticeResponse ('N') from its fields.
 *
 * @param fields field type character to value, in wire order
 * @returns the message
 * @throws {TypeError} when a field code is not one ASCII character or a value contains NUL
 */
export function encodeNoticeResponse(fields: NoticeFieldsInput): Uint8Array<ArrayBuffer> {
  return encodeFieldMessage(BackendCode.NoticeResponse, fields);
}
