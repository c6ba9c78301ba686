/**
 * @module
 * Client authentication: where usogres decides whether a client may connect, before any backend
 * connection is made. For now every client is trusted, which is safe only when usogres listens on
 * loopback (the default `listen.host`); SCRAM-SHA-256, md5, client certificates and hba-style
 * access rules plug in here (TODO(#7)).
 */

/** Who is connecting, as the startup packet and the socket say. */
export interface ClientIdentity {
  /** Role name from the StartupMessage. */
  readonly user: string;
  /** Database name from the StartupMessage (defaulted to the user). */
  readonly database: string;
  /** Client address, `host:port`. */
  readonly remote: string;
}

/**
 * Authenticates a client; resolves when it may proceed.
 *
 * @param _client who is connecting
 * @returns when the client is accepted
 * @throws PgError (28000 or 28P01) when it is not; trust never throws
 */
export function authenticateClient(_client: ClientIdentity): Promise<void> {
  return Promise.resolve();
}
