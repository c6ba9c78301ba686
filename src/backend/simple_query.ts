/**
 * @module
 * A minimal SQL client over one {@link BackendConnection}: send one simple-protocol Query, collect
 * the rows of its last statement as text, and wait for ReadyForQuery, as libpq's `PQexec()` does
 * ("Simple Query" in the protocol docs). Tools such as `usogres verify` use it to talk to a
 * server directly; the proxy's own paths never do, because they forward frames instead.
 *
 * An ErrorResponse becomes a {@link SimpleQueryError} carrying the server's SQLSTATE, thrown only
 * after the server's ReadyForQuery, so the connection stays usable. COPY is not supported: a
 * COPY FROM STDIN is failed with CopyFail and the server's resulting error is thrown.
 */

import {
  BackendCode,
  decodeBackend,
  decodeDataRow,
  decodeRowDescription,
  encodeCopyFail,
  encodeQuery,
  type ErrorResponse,
} from "../protocol/mod.ts";
import type { BackendConnection } from "./connection.ts";
import { BackendError } from "./errors.ts";

/** What one simple query returned: the rows and tag of its last statement. */
export interface SimpleQueryResult {
  /** Column names of the last statement that returned rows ([] when none did). */
  readonly columns: readonly string[];
  /** Rows of that statement, each value as text or null for SQL NULL. */
  readonly rows: readonly (readonly (string | null)[])[];
  /** Command tag of the last statement (`SELECT 3`, `BEGIN`), or "" for an empty query. */
  readonly tag: string;
}

/** The server answered a simple query with an ErrorResponse. */
export class SimpleQueryError extends Error {
  /** Name of the backend that raised it. */
  readonly backend: string;
  /** The server's SQLSTATE (`42501`, `42P01`, ...). */
  readonly sqlstate: string;
  /** The server's DETAIL, or "". */
  readonly detail: string;
  /** The server's HINT, or "". */
  readonly hint: string;

  /**
   * Builds the error from the server's ErrorResponse.
   *
   * @param backend name of the backend
   * @param response the decoded ErrorResponse
   */
  constructor(backend: string, response: ErrorResponse) {
    super(`backend "${backend}": ${response.message} (SQLSTATE ${response.code})`);
    this.name = "SimpleQueryError";
    this.backend = backend;
    this.sqlstate = response.code;
    this.detail = response.fields.get("D") ?? "";
    this.hint = response.fields.get("H") ?? "";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Runs one simple query (one or more `;`-separated statements) and returns the last statement's
 * rows as text. The connection must be idle or in a transaction, and must not be shared with
 * another query in flight.
 *
 * @param conn an authenticated connection
 * @param sql the query text (no NUL)
 * @returns the columns, rows and command tag of the last statement
 * @throws {SimpleQueryError} when the server reports an error (after its ReadyForQuery)
 * @throws {BackendError} when the connection breaks or the server violates the protocol
 * @throws {TypeError} when `sql` contains NUL
 */
export async function simpleQuery(
  conn: BackendConnection,
  sql: string,
): Promise<SimpleQueryResult> {
  await conn.write(encodeQuery(sql));
  let columns: string[] = [];
  let rows: (string | null)[][] = [];
  let tag = "";
  let error: ErrorResponse | undefined;
  for (;;) {
    const frame = conn.reader.tryNext();
    if (!frame) {
      if (await conn.reader.fill()) continue;
      // A FATAL error (shutdown, terminated backend) is followed by EOF, not ReadyForQuery.
      if (error) throw new SimpleQueryError(conn.target.name, error);
      throw new BackendError(conn.target.name, { kind: "closed" });
    }
    // Frames are views into the reader's buffer: everything kept is decoded into strings now.
    switch (frame.code) {
      case BackendCode.RowDescription:
        columns = decodeRowDescription(frame).map((f) => f.name);
        rows = [];
        continue;
      case BackendCode.DataRow:
        rows.push(decodeDataRow(frame).map((v) => (v === null ? null : utf8.decode(v))));
        continue;
    }
    const m = decodeBackend(frame);
    switch (m.type) {
      case "CommandComplete":
        tag = m.tag;
        break;
      case "EmptyQueryResponse":
        tag = "";
        break;
      case "ErrorResponse":
        // Keep the first error: the server skips the rest of the query string after it.
        error ??= { ...m, frame: { code: m.frame.code, bytes: m.frame.bytes.slice() } };
        break;
      case "CopyInResponse":
        await conn.write(encodeCopyFail("COPY is not supported here"));
        break;
      case "ReadyForQuery":
        conn.txStatus = m.status;
        if (error) throw new SimpleQueryError(conn.target.name, error);
        return { columns, rows, tag };
      case "CopyOutResponse":
      case "CopyData":
      case "CopyDone":
      case "NoticeResponse":
      case "ParameterStatus":
      case "NotificationResponse":
        break;
      default:
        throw new BackendError(conn.target.name, {
          kind: "protocol",
          detail: `unexpected ${m.type} in reply to a simple query`,
        });
    }
  }
}
