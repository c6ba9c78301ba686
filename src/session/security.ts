/**
 * @module
 * The security state every session shares ({@link ClientSecurity}: the TLS context, the
 * per-address connection slots, the verifier lookup) and the two TLS steps of the startup
 * exchange: direct SSL before the first packet ({@link acceptDirectTls}) and the answer to an
 * SSLRequest ({@link answerSslRequest}), as `ProcessSSLStartup()` and `ProcessStartupPacket()` in
 * PostgreSQL 17's `backend_startup.c` do them.
 */

import type { Config } from "../config/mod.ts";
import type { SocketWriter } from "../backend/mod.ts";
import { type FrameReader, PgError, ProtocolError } from "../protocol/mod.ts";
import { getLogger } from "../log/mod.ts";
import { ClientSocket, loadTlsServer, PG_ALPN_PROTOCOL, type TlsServer } from "./tls.ts";
import { AddressSlots } from "./limits.ts";
import { lookupVerifier } from "./auth_query.ts";

const log = getLogger("session");
const SSL_YES = new Uint8Array([0x53]); // 'S'
const SSL_NO = new Uint8Array([0x4e]); // 'N'

/** What sessions share for TLS, authentication and connection limits. */
export interface ClientSecurity {
  /** The TLS server context; undefined when `[tls] mode = "disable"`. */
  readonly tls: TlsServer | undefined;
  /** Open connections per client address. */
  readonly slots: AddressSlots;
  /** Secret for the mock SCRAM salts of unknown roles. */
  readonly mockSecret: Uint8Array;
  /**
   * Finds a role's stored verifier (`[auth.users]`, then `auth_query` on the original), with the
   * configuration in force now (it may have been reloaded, or the original promoted).
   *
   * @param config the current configuration
   * @param user the role name
   * @returns the verifier, or undefined for an unknown role
   */
  lookupVerifier(config: Config, user: string): Promise<string | undefined>;
}

/**
 * Builds the shared security state: loads the certificate and key (so a bad file stops usogres
 * at start, not at the first client).
 *
 * @param config the effective configuration
 * @param passwordFor usogres's backend password source, for `auth_query`
 * @returns the state
 * @throws Error naming the file when a TLS file cannot be loaded
 */
export async function createClientSecurity(
  config: Config,
  passwordFor: (
    host: string,
    port: number,
    database: string,
    user: string,
  ) => Promise<string | undefined>,
): Promise<ClientSecurity> {
  // TLS files are read once, at start (a RELOAD does not read them again).
  const tls = await loadTlsServer(config.tls);
  return {
    tls,
    slots: new AddressSlots(config.listen.maxClientsPerAddress),
    mockSecret: crypto.getRandomValues(new Uint8Array(32)),
    lookupVerifier: (current, user) => {
      const original = current.original;
      return lookupVerifier(current.auth, {
        original,
        password: (database, role) => passwordFor(original.host, original.port, database, role),
        timeoutMs: current.backendAuth.connectTimeoutMs,
        maxMessageSize: current.listen.maxMessageSize,
      }, user);
    },
  };
}

/**
 * The client's address without the port, for access rules and per-address limits.
 *
 * @param socket the client socket
 * @returns an IP address, or `local`
 */
export function clientAddress(socket: ClientSocket): string {
  const addr = socket.remoteAddr;
  return addr.transport === "tcp" || addr.transport === "udp" ? addr.hostname : "local";
}

/** A handshake that failed: nothing can be said to the client, so the session just ends. */
function handshakeFailed(remote: string, e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  log.info("TLS handshake with client {remote} failed: {error}", { remote, error: message });
  return new Deno.errors.ConnectionReset(`TLS handshake failed: ${message}`);
}

/**
 * Direct SSL: when TLS is configured and the client's first bytes are a TLS ClientHello, runs
 * the handshake at once and insists on the ALPN protocol `postgresql`.
 *
 * @param socket the client socket, before anything was read from it
 * @param security the shared state
 * @param remote the client's `host:port`, for the log
 * @returns when the connection is TLS, or is plain and its first bytes are kept for the reader
 * @throws PgError FATAL 08P01 (over TLS) when the client negotiated no ALPN protocol;
 *   `Deno.errors.ConnectionReset` when the handshake fails
 */
export async function acceptDirectTls(
  socket: ClientSocket,
  security: ClientSecurity,
  remote: string,
): Promise<void> {
  if (security.tls === undefined) return;
  if (!(await socket.startsWithTls())) return;
  let alpn: string | undefined;
  try {
    alpn = (await socket.upgrade(security.tls, true)).alpn;
  } catch (e: unknown) {
    throw handshakeFailed(remote, e);
  }
  if (alpn !== PG_ALPN_PROTOCOL) {
    // PostgreSQL 17 refuses these too: without ALPN, a client of another protocol could be
    // talked into a PostgreSQL session (ALPACA-style cross-protocol attacks).
    throw new ProtocolError(
      "received direct SSL connection request without ALPN protocol negotiation extension",
    );
  }
}

/**
 * Answers an SSLRequest: 'N' when TLS is off, else 'S' and the handshake.
 *
 * @param socket the client socket
 * @param reader the session's reader (must hold no bytes past the SSLRequest)
 * @param writer the session's writer
 * @param security the shared state
 * @param remote the client's `host:port`, for the log
 * @returns when answered (and, after 'S', when the handshake is done)
 * @throws ProtocolError 08P01 when the client sent bytes after the SSLRequest before the answer;
 *   PgError 0A000 for an SSLRequest on a connection that is TLS already (as PostgreSQL, which
 *   reads it as an unknown protocol version); `Deno.errors.ConnectionReset` when the handshake
 *   fails
 */
export async function answerSslRequest(
  socket: ClientSocket,
  reader: FrameReader,
  writer: SocketWriter,
  security: ClientSecurity,
  remote: string,
): Promise<void> {
  if (socket.tls !== undefined) throw PgError.unsupportedFrontendProtocol(1234, 5679);
  if (security.tls === undefined) {
    await writer.write(SSL_NO);
    return;
  }
  if (reader.buffered > 0) {
    // The bytes would be read as plain text from a connection the client believes encrypted.
    throw new PgError("FATAL", "08P01", "received unencrypted data after SSL request", {
      detail: "This could be either a client-software bug or evidence of an attempted " +
        "man-in-the-middle attack.",
    });
  }
  await writer.write(SSL_YES);
  try {
    await socket.upgrade(security.tls, false);
  } catch (e: unknown) {
    if (e instanceof PgError) throw e;
    throw handshakeFailed(remote, e);
  }
}
