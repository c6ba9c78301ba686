/**
 * @module
 * Decoding what the admin console writes, for its unit tests: messages split from bytes, and a
 * result set read into columns, rows and tag.
 */

import {
  BackendCode,
  backendMaxLength,
  type BackendMessage,
  decodeBackend,
  decodeDataRow,
  decodeRowDescription,
  FrameReader,
} from "../../../src/protocol/mod.ts";
import { ChunkedSource, drain } from "../protocol/_support.ts";

/** One decoded message, with the rows of a DataRow as text. */
export type Decoded =
  | BackendMessage
  | { readonly type: "RowDescriptionColumns"; readonly columns: string[] }
  | { readonly type: "DataRowValues"; readonly values: (string | null)[] };

/**
 * Splits bytes into messages and decodes them.
 *
 * @param bytes what the console wrote
 * @returns the messages in order
 */
export async function decodeAll(bytes: Uint8Array): Promise<Decoded[]> {
  const reader = new FrameReader(new ChunkedSource(bytes), { maxLength: backendMaxLength() });
  const { frames, truncated } = await drain(reader);
  if (truncated) throw new Error("truncated message");
  const text = new TextDecoder();
  return frames.map((f): Decoded => {
    if (f.code === BackendCode.RowDescription) {
      return { type: "RowDescriptionColumns", columns: decodeRowDescription(f).map((c) => c.name) };
    }
    if (f.code === BackendCode.DataRow) {
      return {
        type: "DataRowValues",
        values: decodeDataRow(f).map((v) => (v === null ? null : text.decode(v))),
      };
    }
    return decodeBackend(f);
  });
}

/** A result set read back. */
export interface Result {
  /** Column names. */
  readonly columns: string[];
  /** Rows as text. */
  readonly rows: (string | null)[][];
  /** Command tags, in order. */
  readonly tags: string[];
  /** SQLSTATEs of ErrorResponses, in order. */
  readonly errors: { code: string; message: string; detail: string; hint: string }[];
  /** Notices: severity and message. */
  readonly notices: { severity: string; message: string }[];
}

/**
 * Reads the messages of a reply into one result.
 *
 * @param bytes the reply's messages, concatenated
 * @returns columns, rows, tags, errors and notices
 */
export async function readResult(messages: readonly Uint8Array[]): Promise<Result> {
  let n = 0;
  for (const m of messages) n += m.length;
  const all = new Uint8Array(n);
  let off = 0;
  for (const m of messages) {
    all.set(m, off);
    off += m.length;
  }
  const r: Result = { columns: [], rows: [], tags: [], errors: [], notices: [] };
  for (const m of await decodeAll(all)) {
    switch (m.type) {
      case "RowDescriptionColumns":
        r.columns.push(...m.columns);
        break;
      case "DataRowValues":
        r.rows.push(m.values);
        break;
      case "CommandComplete":
        r.tags.push(m.tag);
        break;
      case "ErrorResponse":
        r.errors.push({
          code: m.code,
          message: m.message,
          detail: m.fields.get("D") ?? "",
          hint: m.fields.get("H") ?? "",
        });
        break;
      case "NoticeResponse":
        r.notices.push({ severity: m.fields.get("V") ?? "", message: m.fields.get("M") ?? "" });
        break;
    }
  }
  return r;
}
