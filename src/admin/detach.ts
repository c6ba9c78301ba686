/**
 * @module
 * `DETACH name`: an in-sync copy stops getting writes (it becomes stale, "detached by admin"), for
 * every session at once. It missed writes from then on, so it comes back only through recovery
 * or `ATTACH name FORCE`.
 */

import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done, notice } from "./_reply.ts";
import { STATE_NAMES } from "./show_backends.ts";
import { copyNamed } from "./_target.ts";

/**
 * Answers DETACH.
 *
 * @param ctx the running proxy
 * @param session who asked, for the state's reason
 * @param name the copy
 * @returns the reply
 * @throws {PgError} 42704 for an unknown server, 42809 for the original
 */
export function detach(ctx: AdminContext, session: AdminSession, name: string): AdminReply {
  const m = copyNamed(ctx, name, "detach");
  if (m.state.kind !== "inSync" && m.state.kind !== "recovering") {
    return done("DETACH", [notice(`copy "${name}" is already ${STATE_NAMES[m.state.kind]}`)]);
  }
  ctx.membership.markStale(
    name,
    `detached by admin (user "${session.user}" from ${session.remote})`,
  );
  return done("DETACH");
}
