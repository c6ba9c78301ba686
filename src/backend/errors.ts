/**
 * @module
 * Why a backend connection failed, as a value the session can turn into the right client error:
 * a server's own ErrorResponse is forwarded byte for byte; a network failure becomes 57P03 at
 * connect or 08006 mid-statement (see STYLE.md, "Errors and SQLSTATEs").
 */

import type { Frame } from "../protocol/mod.ts";

/** The ways a backend connection can fail. */
export type BackendFailure =
  /** TCP connect failed, timed out, or the socket broke. */
  | { readonly kind: "unreachable"; readonly detail: string }
  /** The server answered with an ErrorResponse (during startup: bad password, no such database). */
  | {
    readonly kind: "rejected";
    readonly sqlstate: string;
    readonly message: string;
    readonly frame: Frame;
  }
  /** The server asked for a password and usogres has none for this user. */
  | { readonly kind: "noPassword"; readonly user: string }
  /** The server asked for an authentication method usogres cannot perform. */
  | { readonly kind: "unsupportedAuth"; readonly method: string }
  /** The server sent something the protocol does not allow at this point. */
  | { readonly kind: "protocol"; readonly detail: string }
  /** The server closed the connection. */
  | { readonly kind: "closed" };

/** A failed backend connection: which backend, and why. */
export class BackendError extends Error {
  /** Name of the backend (`original`, `copy`, ...). */
  readonly backend: string;
  /** What went wrong. */
  readonly failure: BackendFailure;

  /**
   * Builds the error; the message names the backend and the failure.
   *
   * @param backend name of the backend
   * @param failure what went wrong
   * @param options the underlying error, if any
   */
  constructor(backend: string, failure: BackendFailure, options?: { cause?: unknown }) {
    super(`backend "${backend}": ${describeFailure(failure)}`, options);
    this.name = "BackendError";
    this.backend = backend;
    this.failure = failure;
  }
}

/**
 * One-line description of a failure, for logs.
 *
 * @param f the failure
 * @returns lower-case text without a final period
 */
export function describeFailure(f: BackendFailure): string {
  switch (f.kind) {
    case "unreachable":
      return `could not connect: ${f.detail}`;
    case "rejected":
      return `server error ${f.sqlstate}: ${f.message}`;
    case "noPassword":
      return `server requested a password for user "${f.user}" and none is configured`;
    case "unsupportedAuth":
      return `server requested unsupported authentication method ${f.method}`;
    case "protocol":
      return `protocol violation: ${f.detail}`;
    case "closed":
      return "server closed the connection unexpectedly";
  }
}
