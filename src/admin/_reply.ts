/**
 * @module
 * Building the admin console's answers: a result set of text columns (RowDescription, one
 * DataRow per row, CommandComplete), a bare CommandComplete, and NoticeResponses, as the
 * "Simple Query" flow of the protocol docs has them. Every value is sent as text; numbers and
 * booleans are spelled as PostgreSQL's output functions spell them.
 */

import {
  encodeCommandComplete,
  encodeDataRow,
  encodeNoticeResponse,
  encodeTextRowDescription,
} from "../protocol/mod.ts";

/** One value of a result row; null and undefined are SQL NULL. */
export type Cell = string | number | boolean | Date | null | undefined;

/** What a command sends back before the console's ReadyForQuery. */
export interface AdminReply {
  /** Messages in order: notices, rows, CommandComplete. */
  readonly messages: readonly Uint8Array[];
  /** Runs after the reply and its ReadyForQuery were written (SHUTDOWN). */
  readonly after?: () => void;
}

/**
 * Spells a value as text the way PostgreSQL's output functions would.
 *
 * @param value the value
 * @returns the text, or null for SQL NULL
 */
export function cellText(value: Cell): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return value ? "t" : "f";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : roundText(value);
  return value;
}

/** Fractions with at most 3 decimals (milliseconds), without trailing zeros. */
function roundText(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

/**
 * A whole result set with a `SHOW` command tag.
 *
 * @param columns column names
 * @param rows the rows, one cell per column
 * @param notices NoticeResponses to send before the rows
 * @returns the reply
 */
export function resultSet(
  columns: readonly string[],
  rows: readonly (readonly Cell[])[],
  notices: readonly Uint8Array[] = [],
): AdminReply {
  return {
    messages: [
      ...notices,
      encodeTextRowDescription(columns),
      ...rows.map((r) => encodeDataRow(r.map(cellText))),
      encodeCommandComplete("SHOW"),
    ],
  };
}

/**
 * A reply without rows: notices, then CommandComplete with the given tag.
 *
 * @param tag the command tag (`PAUSE`, `DETACH`, ...)
 * @param notices NoticeResponses to send first
 * @returns the reply
 */
export function done(tag: string, notices: readonly Uint8Array[] = []): AdminReply {
  return { messages: [...notices, encodeCommandComplete(tag)] };
}

/**
 * A NoticeResponse (NOTICE 00000, or WARNING 01000).
 *
 * @param message the primary message, PostgreSQL style
 * @param opts severity, DETAIL and HINT
 * @returns the message
 */
export function notice(
  message: string,
  opts: { severity?: "NOTICE" | "WARNING"; detail?: string; hint?: string } = {},
): Uint8Array {
  const severity = opts.severity ?? "NOTICE";
  const fields: [string, string][] = [
    ["S", severity],
    ["V", severity],
    ["C", severity === "WARNING" ? "01000" : "00000"],
    ["M", message],
  ];
  if (opts.detail !== undefined) fields.push(["D", opts.detail]);
  if (opts.hint !== undefined) fields.push(["H", opts.hint]);
  return encodeNoticeResponse(fields);
}
