/**
 * @module
 * `RESUME`: releases the console's `PAUSE`; the waiting write batches go in arrival order, unless
 * an online recovery holds the gate too (pauses nest), in which case they go when it releases it.
 */

import { getLogger } from "../log/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done, notice } from "./_reply.ts";

const log = getLogger("admin");

/**
 * Answers RESUME.
 *
 * @param ctx the running proxy
 * @param session who asked, for the log
 * @returns the reply
 */
export function resume(ctx: AdminContext, session: AdminSession): AdminReply {
  const gate = ctx.writeGate;
  if (!ctx.adminPause.active) return done("RESUME", [notice("writes are not paused by PAUSE")]);
  const waiting = gate.waiting;
  ctx.adminPause.active = false;
  gate.resume();
  log.warning("writes resumed by {user} from {remote}; {waiting} write batch(es) released", {
    ...session,
    waiting,
  });
  return done("RESUME");
}
