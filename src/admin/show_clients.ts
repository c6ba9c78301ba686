/**
 * @module
 * `SHOW CLIENTS`: one row per client connection, admin console sessions included, with the
 * state named as `pg_stat_activity` names it, and the worker serving it (`listen.workers`; 0
 * with one).
 */

import type { ClientInfo } from "../session/context.ts";
import type { AdminContext } from "./context.ts";
import { type AdminReply, resultSet } from "./_reply.ts";

/** Columns of SHOW CLIENTS, in order. */
export const CLIENT_COLUMNS: readonly string[] = [
  "remote",
  "user",
  "database",
  "state",
  "connected_since",
  "bytes_in",
  "bytes_out",
  "worker",
];

/**
 * Names a session's state as `pg_stat_activity.state` would, plus usogres's own phases.
 *
 * @param c the session
 * @returns `startup`, `authenticating`, `admin`, `active`, `idle`, `idle in transaction`,
 *   `idle in transaction (aborted)` or `closing`
 */
export function clientState(c: ClientInfo): string {
  if (c.state !== "ready") return c.state;
  if (c.admin) return "admin";
  if (c.busy) return "active";
  switch (c.tx) {
    case "inTransaction":
      return "idle in transaction";
    case "failed":
      return "idle in transaction (aborted)";
    case "idle":
    case undefined:
      return "idle";
  }
}

/**
 * Answers SHOW CLIENTS.
 *
 * @param ctx the running proxy
 * @returns the result set, oldest connection first
 */
export function showClients(ctx: AdminContext): AdminReply {
  const clients = ctx.clients().sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
  return resultSet(
    CLIENT_COLUMNS,
    clients.map((c) => [
      c.remote,
      c.user || null,
      c.database || null,
      clientState(c),
      c.connectedAt,
      c.bytesIn,
      c.bytesOut,
      c.worker ?? 0,
    ]),
  );
}
