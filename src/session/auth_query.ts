/**
 * @module
 * Where a client's password verifier comes from: `[auth.users]` first, then `auth_query` run on
 * the original. The query runs on a connection of its own, as `auth_user`, with `search_path`
 * fixed to `pg_catalog, pg_temp` in the StartupMessage (no client parameter ever reaches it:
 * PgBouncer's CVE-2025-12819 was a client-controlled `search_path` on that connection), and the
 * role name travels as a Bind parameter, never spliced into SQL text.
 */

import { BackendConnection, type BackendTarget } from "../backend/mod.ts";
import {
  BackendCode,
  decodeDataRow,
  decodeErrorResponse,
  encodeBind,
  encodeExecute,
  encodeParse,
  PgError,
  SYNC,
} from "../protocol/mod.ts";
import type { AuthConfig } from "../config/mod.ts";
import { getLogger } from "../log/mod.ts";

const log = getLogger("auth");
const decoder = new TextDecoder();

/** How to reach the original for `auth_query`. */
export interface AuthQueryTarget {
  /** The original server. */
  readonly original: BackendTarget;
  /** Finds usogres's password for a backend connection (config, PGPASSWORD, .pgpass). */
  readonly password: (database: string, user: string) => Promise<string | undefined>;
  /** Connect and query timeout, milliseconds. */
  readonly timeoutMs: number;
  /** Largest message accepted from the server. */
  readonly maxMessageSize: number;
}

/** The startup parameters of the auth_query connection: nothing from the client. */
export const AUTH_QUERY_PARAMETERS: ReadonlyMap<string, string> = new Map([
  ["search_path", "pg_catalog, pg_temp"],
  ["application_name", "usogres auth_query"],
]);

/**
 * Finds the stored verifier of a role.
 *
 * @param auth `[auth]`
 * @param target how to run `auth_query`
 * @param user the role name the client gave
 * @returns the verifier, or undefined when the role is unknown (or has no password)
 * @throws PgError FATAL 57P03 when `auth_query` cannot run (the cause is logged, not sent: an
 *   unauthenticated client learns nothing about the servers)
 */
export async function lookupVerifier(
  auth: AuthConfig,
  target: AuthQueryTarget,
  user: string,
): Promise<string | undefined> {
  const configured = auth.users.get(user);
  if (configured !== undefined || auth.authQuery === "") return configured;
  try {
    return await runAuthQuery(auth, target, user);
  } catch (e: unknown) {
    log.error("auth_query for role {user} failed: {error}", {
      user,
      error: e instanceof Error ? e.message : String(e),
    });
    throw new PgError("FATAL", "57P03", `could not look up the password of role "${user}"`, {
      hint: "The administrator can find the cause in the usogres log.",
    });
  }
}

/**
 * Runs `auth_query` once with the role name as `$1`.
 *
 * @param auth `[auth]`
 * @param target how to reach the original
 * @param user the role name
 * @returns the last column of the first row, or undefined for no row or NULL
 * @throws BackendError when the original cannot be reached; Error with the server's message
 *   when the query fails
 */
export async function runAuthQuery(
  auth: AuthConfig,
  target: AuthQueryTarget,
  user: string,
): Promise<string | undefined> {
  const conn = await BackendConnection.connect(target.original, {
    user: auth.authUser,
    database: auth.authDatabase,
    parameters: AUTH_QUERY_PARAMETERS,
    password: () => target.password(auth.authDatabase, auth.authUser),
  }, { connectTimeoutMs: target.timeoutMs, maxMessageSize: target.maxMessageSize });
  const timer = setTimeout(() => conn.close(), target.timeoutMs);
  try {
    const parts = [
      encodeParse("", auth.authQuery),
      encodeBind({ params: [user] }),
      encodeExecute("", 1),
      SYNC,
    ];
    let n = 0;
    for (const p of parts) n += p.length;
    const batch = new Uint8Array(n);
    n = 0;
    for (const p of parts) {
      batch.set(p, n);
      n += p.length;
    }
    await conn.write(batch);
    let value: string | undefined;
    let rows = 0;
    let failure: string | undefined;
    for (;;) {
      const frame = conn.reader.tryNext();
      if (frame === undefined) {
        if (!(await conn.reader.fill())) throw new Error("the original closed the connection");
        continue;
      }
      if (frame.code === BackendCode.DataRow) {
        if (rows++ === 0) {
          const values = decodeDataRow(frame);
          const last = values[values.length - 1];
          value = last === null || last === undefined ? undefined : decoder.decode(last);
        }
      } else if (frame.code === BackendCode.ErrorResponse) {
        const e = decodeErrorResponse(frame);
        failure = `${e.message} (SQLSTATE ${e.code})`;
      } else if (frame.code === BackendCode.ReadyForQuery) {
        break;
      }
    }
    if (failure !== undefined) throw new Error(`auth_query failed: ${failure}`);
    return value;
  } finally {
    clearTimeout(timer);
    await conn.terminate();
  }
}
