/**
 * @module
 * `PROMOTE name`: makes an in-sync copy the original. The old original becomes stale (recover it
 * like any copy); new sessions go to the new original and existing ones are closed at their next
 * idle moment so their clients reconnect.
 */

import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done } from "./_reply.ts";
import { refuseWithWorkers } from "./_target.ts";

/**
 * Answers PROMOTE.
 *
 * @param ctx the running proxy
 * @param session who asked, for the log
 * @param name the copy
 * @returns the reply
 * @throws {PgError} 0A000 with `listen.workers` > 1; 42704 unknown server; 55000 when it is the original or not in sync
 */
export function promote(ctx: AdminContext, session: AdminSession, name: string): AdminReply {
  refuseWithWorkers(ctx, "PROMOTE");
  const m = ctx.membership.members.find((b) => b.name === name);
  if (!m) throw new PgError("ERROR", "42704", `server "${name}" does not exist`);
  if (m.role === "original") {
    throw new PgError("ERROR", "55000", `server "${name}" is the original already`);
  }
  if (m.state.kind !== "inSync") {
    throw new PgError("ERROR", "55000", `copy "${name}" is not in sync`, {
      detail: "Only an in-sync copy holds every acknowledged write.",
      hint: `Recover it first with RECOVER ${name}.`,
    });
  }
  ctx.promote(name, `PROMOTE by user "${session.user}" from ${session.remote}`);
  return done("PROMOTE");
}
