/**
 * @module
 * `PAUSE`: write batches that start from now on wait (clients are not refused; reads go on),
 * then waits for the write batches already running to end, up to `listen.shutdown_timeout`.
 */

import { getLogger } from "../log/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done, notice } from "./_reply.ts";

const log = getLogger("admin");

/**
 * Answers PAUSE.
 *
 * @param ctx the running proxy
 * @param session who asked, for the log
 * @returns the reply, once running write batches have ended (or the wait timed out)
 */
export async function pause(ctx: AdminContext, session: AdminSession): Promise<AdminReply> {
  const gate = ctx.writeGate;
  if (ctx.adminPause.active) return done("PAUSE", [notice("writes are already paused")]);
  gate.pause();
  ctx.adminPause.active = true;
  log.warning("writes paused by {user} from {remote}", { ...session });
  const limitMs = ctx.loaded().config.listen.shutdownTimeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limitMs);
  });
  const result = await Promise.race([gate.drained().then(() => "drained" as const), timeout]);
  clearTimeout(timer);
  if (result === "timeout") {
    return done("PAUSE", [
      notice(`writes are paused, but ${gate.inFlight} write batch(es) are still running`, {
        severity: "WARNING",
        detail: `They did not end within ${limitMs / 1000} seconds.`,
      }),
    ]);
  }
  return done("PAUSE");
}
