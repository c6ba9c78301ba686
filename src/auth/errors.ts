/**
 * @module
 * The one error type of `src/auth/`. It carries the SQLSTATE that PostgreSQL would use for the
 * same failure (`src/backend/libpq/auth-scram.c`, `src/interfaces/libpq/fe-auth-scram.c`), so the
 * layers above can turn it into a `PgError` without guessing. It stays local to this folder on
 * purpose: `auth` must not depend on `protocol/errors.ts`.
 */

/**
 * SQLSTATEs an authentication step can fail with: `28P01` invalid_password (wrong password, bad
 * proof or server signature, a server-reported SCRAM error), `08P01` protocol_violation (a
 * malformed or out-of-order message), `0A000` feature_not_supported (a SCRAM feature PostgreSQL
 * does not support either, such as an authorization identity).
 */
export type AuthErrorCode = "28P01" | "08P01" | "0A000";

/** Options for {@linkcode AuthError}. */
export interface AuthErrorOptions {
  /** A full sentence with specifics, as PostgreSQL puts in DETAIL. */
  readonly detail?: string;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * An authentication failure with a SQLSTATE, worded PostgreSQL's way.
 *
 * @example
 * ```ts
 * import { AuthError } from "./errors.ts";
 * const e = new AuthError("08P01", "malformed SCRAM message", { detail: "Empty message." });
 * console.assert(e.code === "08P01");
 * ```
 */
export class AuthError extends Error {
  /** The SQLSTATE to report. */
  readonly code: AuthErrorCode;
  /** DETAIL text, a full sentence, if any. */
  readonly detail: string | undefined;

  /**
   * Creates an authentication error.
   *
   * @param code The SQLSTATE.
   * @param message Lower case, no final period, PostgreSQL style.
   * @param options DETAIL and cause.
   */
  constructor(code: AuthErrorCode, message: string, options: AuthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuthError";
    this.code = code;
    this.detail = options.detail;
  }
}

/**
 * Builds the `08P01` error PostgreSQL raises for a SCRAM message it cannot parse.
 *
 * @param detail What was wrong, as a full sentence.
 * @returns The error, for the caller to throw.
 */
export function malformedScram(detail: string): AuthError {
  return new AuthError("08P01", "malformed SCRAM message", { detail });
}

/**
 * Builds the error for a SCRAM step called in a state that does not accept it.
 *
 * @param step The method that was called.
 * @param state The state the exchange was in.
 * @returns The error (`08P01`: the peer sent a message out of order), for the caller to throw.
 */
export function unexpectedStep(step: string, state: string): AuthError {
  return new AuthError("08P01", `unexpected SCRAM step "${step}" in state "${state}"`);
}
