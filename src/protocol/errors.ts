/**
 * @module
 * `PgError`, the one error type clients ever see, with named constructors for every SQLSTATE
 * usogres raises (codes from PostgreSQL's `src/backend/utils/errcodes.txt`), `ProtocolError`
 * (08P01) for malformed or oversized messages, and `toClientError()`. Messages follow the
 * "Error Message Style Guide": lower case, no final period; DETAIL and HINT are sentences.
 */

import { encodeFieldMessage } from "./_encode.ts";

/** Non-localized severities, as in the 'V' field of ErrorResponse and NoticeResponse. */
export type Severity =
  | "ERROR"
  | "FATAL"
  | "PANIC"
  | "WARNING"
  | "NOTICE"
  | "DEBUG"
  | "INFO"
  | "LOG";

/** Optional parts of a {@link PgError}. */
export interface PgErrorOptions {
  /** DETAIL: a full sentence with facts. */
  readonly detail?: string;
  /** HINT: a full sentence suggesting what to do. */
  readonly hint?: string;
  /** The underlying error, for logs (never sent to the client). */
  readonly cause?: unknown;
}

const ERROR_RESPONSE = 0x45; // 'E'

/**
 * An error reported to a client as an ErrorResponse.
 *
 * @example
 * ```ts
 * declare const client: Deno.Conn;
 * const e = PgError.invalidCatalogName("shop"); // FATAL 3D000 database "shop" does not exist
 * await client.write(e.encode());
 * ```
 */
export class PgError extends Error {
  /** The severity; FATAL ends the session after the error is sent. */
  readonly severity: Severity;
  /** The five-character SQLSTATE. */
  readonly code: string;
  /** DETAIL, when there is one. */
  readonly detail: string | undefined;
  /** HINT, when there is one. */
  readonly hint: string | undefined;

  /**
   * Creates an error; prefer the named constructors.
   *
   * @param severity the severity
   * @param code the SQLSTATE
   * @param message the primary message, PostgreSQL style
   * @param options detail, hint and cause
   */
  constructor(severity: Severity, code: string, message: string, options: PgErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PgError";
    this.severity = severity;
    this.code = code;
    this.detail = options.detail;
    this.hint = options.hint;
  }

  /**
   * Encodes this error as an ErrorResponse with the S, V, C, M, D and H fields.
   *
   * @returns the encoded message, owned by the caller
   */
  encode(): Uint8Array<ArrayBuffer> {
    // Messages may quote what a client sent (a SCRAM attribute, a name); a NUL in it would end
    // the field early, so it is shown escaped rather than refused (encoding must never fail).
    const clean = (text: string) => text.replaceAll("\0", "\\0");
    const fields: [string, string][] = [
      ["S", this.severity],
      ["V", this.severity],
      ["C", this.code],
      ["M", clean(this.message)],
    ];
    if (this.detail !== undefined) fields.push(["D", clean(this.detail)]);
    if (this.hint !== undefined) fields.push(["H", clean(this.hint)]);
    return encodeFieldMessage(ERROR_RESPONSE, fields);
  }

  /**
   * A malformed or oversized message (FATAL 08P01 protocol_violation).
   *
   * @param message what was wrong
   * @returns a {@link ProtocolError}
   */
  static protocolViolation(message: string): ProtocolError {
    return new ProtocolError(message);
  }

  /**
   * Something usogres does not support (ERROR 0A000 feature_not_supported).
   *
   * @param message what is not supported
   * @param detail why, as a sentence
   * @param hint what to do instead, as a sentence
   * @returns the error
   */
  static featureNotSupported(message: string, detail?: string, hint?: string): PgError {
    return new PgError("ERROR", "0A000", message, opts(detail, hint));
  }

  /**
   * A startup packet asking for a protocol version usogres does not speak (FATAL 0A000), worded
   * as `ProcessStartupPacket()` in PostgreSQL's `backend_startup.c`.
   *
   * @param major the requested major version
   * @param minor the requested minor version
   * @returns the error
   */
  static unsupportedFrontendProtocol(major: number, minor: number): PgError {
    return new PgError(
      "FATAL",
      "0A000",
      `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`,
    );
  }

  /**
   * The client limit is reached (FATAL 53300 too_many_connections).
   *
   * @returns the error
   */
  static tooManyConnections(): PgError {
    return new PgError("FATAL", "53300", "sorry, too many clients already");
  }

  /**
   * usogres cannot serve now, such as no original at connect (FATAL 57P03 cannot_connect_now).
   *
   * @param message why
   * @returns the error
   */
  static cannotConnectNow(message: string): PgError {
    return new PgError("FATAL", "57P03", message);
  }

  /**
   * The original was lost mid-statement (FATAL 08006 connection_failure).
   *
   * @param message what failed
   * @returns the error
   */
  static connectionFailure(message: string): PgError {
    return new PgError("FATAL", "08006", message);
  }

  /**
   * usogres is shutting down (FATAL 57P01 admin_shutdown).
   *
   * @returns the error
   */
  static adminShutdown(): PgError {
    return new PgError("FATAL", "57P01", "terminating connection due to administrator command");
  }

  /**
   * The session was idle too long (FATAL 57P05 idle_session_timeout).
   *
   * @returns the error
   */
  static idleSessionTimeout(): PgError {
    return new PgError("FATAL", "57P05", "terminating connection due to idle-session timeout");
  }

  /**
   * Password authentication failed (FATAL 28P01 invalid_password).
   *
   * @param user the user name
   * @returns the error
   */
  static invalidPassword(user: string): PgError {
    return new PgError("FATAL", "28P01", `password authentication failed for user "${user}"`);
  }

  /**
   * The role may not connect (FATAL 28000 invalid_authorization_specification).
   *
   * @param message why
   * @returns the error
   */
  static invalidAuthorization(message: string): PgError {
    return new PgError("FATAL", "28000", message);
  }

  /**
   * The database does not exist (FATAL 3D000 invalid_catalog_name).
   *
   * @param database the database name
   * @returns the error
   */
  static invalidCatalogName(database: string): PgError {
    return new PgError("FATAL", "3D000", `database "${database}" does not exist`);
  }

  /**
   * A configured limit was exceeded (ERROR 54000 program_limit_exceeded).
   *
   * @param message which limit
   * @returns the error
   */
  static configurationLimitExceeded(message: string): PgError {
    return new PgError("ERROR", "54000", message);
  }

  /**
   * A bug in usogres (ERROR XX000 internal_error); log the cause, do not send it.
   *
   * @param message a generic description
   * @param cause the underlying error, kept for logs
   * @returns the error
   */
  static internal(message: string, cause?: unknown): PgError {
    return new PgError("ERROR", "XX000", message, cause === undefined ? {} : { cause });
  }
}

function opts(detail: string | undefined, hint: string | undefined): PgErrorOptions {
  return {
    ...(detail === undefined ? {} : { detail }),
    ...(hint === undefined ? {} : { hint }),
  };
}

/**
 * A message that breaks the protocol: bad length, missing terminator, invalid UTF-8, unknown
 * type. Always FATAL 08P01 protocol_violation; the connection closes after it is sent.
 */
export class ProtocolError extends PgError {
  /**
   * Creates a protocol violation.
   *
   * @param message what was wrong, PostgreSQL style ("invalid message length")
   */
  constructor(message: string) {
    super("FATAL", "08P01", message);
    this.name = "ProtocolError";
  }
}

/**
 * Maps any thrown value to the error a client may see: a `PgError` passes through; anything else
 * becomes XX000 "internal error", keeping the original as `cause` for the caller to log (its
 * message is never sent, so internals do not leak).
 *
 * @param e the caught value
 * @returns the error to send
 */
export function toClientError(e: unknown): PgError {
  if (e instanceof PgError) return e;
  return PgError.internal("internal error", e);
}
