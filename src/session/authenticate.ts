/**
 * @module
 * Client authentication: where usogres decides whether a client may connect, before any backend
 * connection is made (so an unauthenticated client learns nothing about the servers, not even
 * their version). The access rules choose a method (`access_rules.ts`); the exchange runs it
 * (`client_auth.ts`) over the session's own reader and writer, TLS or not. Follows PostgreSQL's
 * `ClientAuthentication()` (`src/backend/libpq/auth.c`).
 */

import type { Config } from "../config/mod.ts";
import type { SocketWriter } from "../backend/mod.ts";
import type { Frame, FrameReader } from "../protocol/mod.ts";
import { getLogger } from "../log/mod.ts";
import { chooseMethod } from "./access_rules.ts";
import { AuthExchange } from "./client_auth.ts";
import { clientAddress, type ClientSecurity } from "./security.ts";
import type { ClientSocket } from "./tls.ts";

const log = getLogger("auth");

/** Who is connecting, as the startup packet and the socket say, and how to talk to them. */
export interface ClientIdentity {
  /** Role name from the StartupMessage. */
  readonly user: string;
  /** Database name from the StartupMessage (defaulted to the user). */
  readonly database: string;
  /** Client address, `host:port`. */
  readonly remote: string;
  /** The client socket (TLS state, address). */
  readonly socket: ClientSocket;
  /** The session's reader, past the StartupMessage. */
  readonly reader: FrameReader;
  /** The session's writer. */
  readonly writer: SocketWriter;
  /** Shared TLS and authentication state. */
  readonly security: ClientSecurity;
  /** The effective configuration (`[tls]`, `[auth]`, `[[hba]]`). */
  readonly config: Config;
}

/**
 * Authenticates a client; resolves when it may proceed. The caller then sends AuthenticationOk.
 *
 * @param client who is connecting, and the session's socket, reader and writer
 * @returns when the client is accepted
 * @throws PgError 28000 (no access rule, TLS required, certificate problem, trust refused for
 *   a remote host), 28P01 (wrong password or unknown role), 08P01 (malformed exchange), 57P03
 *   (`auth_query` could not run); `Deno.errors.ConnectionReset` when the client leaves midway
 *   (as psql does to prompt for a password)
 */
export async function authenticateClient(client: ClientIdentity): Promise<void> {
  const tls = client.socket.tls;
  const address = clientAddress(client.socket);
  const { method, rule } = chooseMethod(client.config, {
    address,
    user: client.user,
    database: client.database,
    tls: tls !== undefined,
  });
  const verifier = method === "scram-sha-256" || method === "md5"
    ? await client.security.lookupVerifier(client.config, client.user)
    : undefined;
  if ((method === "scram-sha-256" || method === "md5") && verifier === undefined) {
    // PostgreSQL logs this and runs the exchange anyway, so the client cannot tell.
    log.info("role {user} has no password verifier in usogres (client {remote})", {
      user: client.user,
      remote: client.remote,
    });
  }
  const exchange = new AuthExchange({
    user: client.user,
    method,
    verifier,
    endPoint: tls === undefined ? undefined : client.security.tls?.endPoint,
    certCommonName: tls?.clientCommonName,
    certProblem: tls?.clientCertProblem ?? "the connection does not use TLS",
    mockSecret: client.security.mockSecret,
  });
  let step = exchange.start();
  for (;;) {
    if (step.send.length > 0) await client.writer.write(step.send);
    if (step.done) break;
    step = await exchange.step(await nextFrame(client.reader));
  }
  log.debug("client {remote} authenticated as {user} by {method}{via}", {
    remote: client.remote,
    user: client.user,
    method: exchange.md5ViaScram ? "scram-sha-256 (md5 rule, SCRAM verifier)" : method,
    via: rule === undefined ? "" : ` (access rule ${rule})`,
  });
}

async function nextFrame(reader: FrameReader): Promise<Frame> {
  for (;;) {
    const f = reader.tryNext();
    if (f) return f;
    if (!(await reader.fill())) {
      throw new Deno.errors.ConnectionReset("client closed the connection during authentication");
    }
  }
}
