/**
 * @module
 * The simple query sub-protocol: Query, RowDescription, DataRow, CommandComplete,
 * EmptyQueryResponse and ReadyForQuery ("Simple Query" and "Message Formats" in the protocol
 * docs), plus `TxStatus`, decoded from ReadyForQuery's status byte in exactly one place. DataRow
 * and RowDescription are never decoded on the routing path; their full decoders exist for the
 * admin console and tests.
 */

import { Cursor } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { BackendCode, FrontendCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** A simple-protocol query: one or more statements in one string. */
export interface Query extends FrameMessage<"Query"> {
  /** The query text. */
  readonly sql: string;
}

/** A backend's transaction status, from ReadyForQuery: 'I', 'T' or 'E'. */
export type TxStatus = "idle" | "inTransaction" | "failed";

/** The server is ready for a new query; ends every Query and every Sync. */
export interface ReadyForQuery extends FrameMessage<"ReadyForQuery"> {
  /** The transaction status after the batch. */
  readonly status: TxStatus;
}

/** A statement finished; the tag says what it did (`INSERT 0 1`, `SELECT 5`). */
export interface CommandComplete extends FrameMessage<"CommandComplete"> {
  /** The command tag. */
  readonly tag: string;
}

/** The query string was empty. */
export type EmptyQueryResponse = FrameMessage<"EmptyQueryResponse">;
/** Column descriptions of the rows to follow (frame only: never decoded when routing). */
export type RowDescription = FrameMessage<"RowDescription">;
/** One row (frame only: forwarded as it arrived, never decoded when routing). */
export type DataRow = FrameMessage<"DataRow">;

/** One column of a RowDescription. */
export interface FieldDescription {
  /** The column name. */
  readonly name: string;
  /** OID of the table, or 0. */
  readonly tableOid: number;
  /** Attribute number of the column in its table, or 0. */
  readonly columnAttribute: number;
  /** OID of the data type. */
  readonly typeOid: number;
  /** The type's size (`pg_type.typlen`); negative for variable width. */
  readonly typeSize: number;
  /** The type modifier (`pg_attribute.atttypmod`). */
  readonly typeModifier: number;
  /** 0 text, 1 binary. */
  readonly format: number;
}

/** OID of the `text` type, for admin result columns. */
export const TEXT_OID = 25;

/**
 * Maps ReadyForQuery's status byte to a {@link TxStatus}.
 *
 * @param byte 'I' (0x49), 'T' (0x54) or 'E' (0x45)
 * @returns the status
 * @throws {ProtocolError} on any other byte
 */
export function txStatusFromByte(byte: number): TxStatus {
  switch (byte) {
    case 0x49:
      return "idle";
    case 0x54:
      return "inTransaction";
    case 0x45:
      return "failed";
    default:
      throw new ProtocolError(`unexpected transaction status ${byte} in ReadyForQuery`);
  }
}

/**
 * Maps a {@link TxStatus} to ReadyForQuery's status byte.
 *
 * @param status the status
 * @returns 'I', 'T' or 'E' as a byte
 */
export function txStatusToByte(status: TxStatus): number {
  switch (status) {
    case "idle":
      return 0x49;
    case "inTransaction":
      return 0x54;
    case "failed":
      return 0x45;
  }
}

/**
 * Decodes a Query ('Q').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed or not UTF-8
 */
export function decodeQuery(frame: Frame): Query {
  const c = Cursor.of(frame, FrontendCode.Query, "Query");
  const sql = c.cstring();
  c.end();
  return { type: "Query", frame, sql };
}

/**
 * Encodes a Query ('Q').
 *
 * @param sql the query text
 * @returns the message
 * @throws {TypeError} when the text contains NUL
 */
export function encodeQuery(sql: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.Query).cstring(sql).end().finish();
}

/**
 * Decodes a ReadyForQuery ('Z').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeReadyForQuery(frame: Frame): ReadyForQuery {
  const c = Cursor.of(frame, BackendCode.ReadyForQuery, "ReadyForQuery");
  const status = txStatusFromByte(c.uint8());
  c.end();
  return { type: "ReadyForQuery", frame, status };
}

/**
 * Encodes a ReadyForQuery ('Z').
 *
 * @param status the transaction status
 * @returns the message
 */
export function encodeReadyForQuery(status: TxStatus): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.ReadyForQuery).int8(txStatusToByte(status)).end()
    .finish();
}

/**
 * Decodes a CommandComplete ('C').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeCommandComplete(frame: Frame): CommandComplete {
  const c = Cursor.of(frame, BackendCode.CommandComplete, "CommandComplete");
  const tag = c.cstring();
  c.end();
  return { type: "CommandComplete", frame, tag };
}

/**
 * Encodes a CommandComplete ('C').
 *
 * @param tag the command tag, such as `SELECT 1`
 * @returns the message
 */
export function encodeCommandComplete(tag: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.CommandComplete).cstring(tag).end().finish();
}

/**
 * Encodes an EmptyQueryResponse ('I').
 *
 * @returns the message
 */
export function encodeEmptyQueryResponse(): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.EmptyQueryResponse).end().finish();
}

/**
 * Decodes every field of a RowDescription ('T'); not for the routing path.
 *
 * @param frame the message
 * @returns the column descriptions
 * @throws {ProtocolError} when malformed
 */
export function decodeRowDescription(frame: Frame): FieldDescription[] {
  const c = Cursor.of(frame, BackendCode.RowDescription, "RowDescription");
  const count = c.uint16();
  const fields: FieldDescription[] = [];
  for (let i = 0; i < count; i++) {
    fields.push({
      name: c.cstring(),
      tableOid: c.uint32(),
      columnAttribute: c.int16(),
      typeOid: c.uint32(),
      typeSize: c.int16(),
      typeModifier: c.int32(),
      format: c.int16(),
    });
  }
  c.end();
  return fields;
}

/**
 * Encodes a RowDescription ('T').
 *
 * @param fields the column descriptions
 * @returns the message
 */
export function encodeRowDescription(fields: readonly FieldDescription[]): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.RowDescription).int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name).int32(f.tableOid).int16(f.columnAttribute).int32(f.typeOid)
      .int16(f.typeSize).int32(f.typeModifier).int16(f.format);
  }
  return w.end().finish();
}

/**
 * Encodes a RowDescription of text columns, as the admin console returns them.
 *
 * @param names the column names
 * @returns the message
 */
export function encodeTextRowDescription(names: readonly string[]): Uint8Array<ArrayBuffer> {
  return encodeRowDescription(names.map((name) => ({
    name,
    tableOid: 0,
    columnAttribute: 0,
    typeOid: TEXT_OID,
    typeSize: -1,
    typeModifier: -1,
    format: 0,
  })));
}

/**
 * Decodes the column values of a DataRow ('D'); not for the routing path.
 *
 * @param frame the message
 * @returns each value as a view into `frame.bytes`, or null for SQL NULL
 * @throws {ProtocolError} when malformed
 */
export function decodeDataRow(frame: Frame): (Uint8Array<ArrayBuffer> | null)[] {
  const c = Cursor.of(frame, BackendCode.DataRow, "DataRow");
  const count = c.uint16();
  const values: (Uint8Array<ArrayBuffer> | null)[] = [];
  for (let i = 0; i < count; i++) {
    const len = c.int32();
    if (len < -1) throw new ProtocolError("invalid message format");
    values.push(len === -1 ? null : c.bytes(len));
  }
  c.end();
  return values;
}

/**
 * Where value `k` of a DataRow ('D') starts, found by the values' lengths without decoding them;
 * the whole message is checked as {@link decodeDataRow} checks it. The value count is the 16-bit
 * integer at byte 5; each value is a 32-bit length (-1 for NULL) and its bytes, from byte 7.
 *
 * @param frame the message
 * @param k the value's index
 * @returns its offset in `frame.bytes` (the message's length when the row has k values or fewer)
 * @throws {ProtocolError} when malformed
 */
export function dataRowOffset(frame: Frame, k: number): number {
  const c = Cursor.of(frame, BackendCode.DataRow, "DataRow");
  const count = c.uint16();
  const size = frame.bytes.length;
  let at = size;
  for (let i = 0; i < count; i++) {
    if (i === k) at = size - c.remaining;
    const len = c.int32();
    if (len < -1) throw new ProtocolError("invalid message format");
    if (len > 0) c.skip(len);
  }
  c.end();
  return at;
}

/**
 * Encodes a DataRow ('D'); strings are sent as UTF-8 text.
 *
 * @param values the column values; null is SQL NULL
 * @returns the message
 */
export function encodeDataRow(
  values: readonly (string | Uint8Array | null)[],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.DataRow).int16(values.length);
  for (const v of values) {
    if (v === null) {
      w.int32(-1);
    } else if (typeof v === "string") {
      // The length is back-patched like a message length, after the UTF-8 is written.
      const at = w.length;
      w.int32(0).string(v);
      w.patchInt32(at, w.length - at - 4);
    } else {
      w.int32(v.length).bytes(v);
    }
  }
  return w.end().finish();
}

/** ReadyForQuery with status idle, pre-encoded (do not mutate). */
export const READY_FOR_QUERY_IDLE: Uint8Array<ArrayBuffer> = encodeReadyForQuery("idle");
/** ReadyForQuery with status in transaction, pre-encoded (do not mutate). */
export const READY_FOR_QUERY_IN_TRANSACTION: Uint8Array<ArrayBuffer> = encodeReadyForQuery(
  "inTransaction",
);
/** ReadyForQuery with status failed, pre-encoded (do not mutate). */
export const READY_FOR_QUERY_FAILED: Uint8Array<ArrayBuffer> = encodeReadyForQuery("failed");
/** EmptyQueryResponse, pre-encoded (do not mutate). */
export const EMPTY_QUERY_RESPONSE: Uint8Array<ArrayBuffer> = encodeEmptyQueryResponse();
