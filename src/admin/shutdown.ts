/**
 * @module
 * `SHUTDOWN`: a graceful shutdown, as SIGTERM starts one: the listener closes, running
 * statements get `listen.shutdown_timeout` to finish, idle clients get 57P01. The console
 * answers first, then the shutdown starts.
 */

import { getLogger } from "../log/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done } from "./_reply.ts";

const log = getLogger("admin");

/**
 * Answers SHUTDOWN.
 *
 * @param ctx the running proxy
 * @param session who asked, for the log
 * @returns the reply; the shutdown starts after it was sent
 */
export function shutdown(ctx: AdminContext, session: AdminSession): AdminReply {
  return {
    ...done("SHUTDOWN"),
    after: () => {
      log.warning("shutdown requested by {user} from {remote}", { ...session });
      ctx.requestShutdown();
    },
  };
}
