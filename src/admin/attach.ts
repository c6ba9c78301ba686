/**
 * @module
 * `ATTACH name [FORCE]`: a copy that missed writes is never attached back silently (the flaw
 * measured in pgpool-II's `pcp_attach_node`). A stale copy is refused with why, and the two
 * ways out: `RECOVER name`, or `ATTACH name FORCE` when the operator knows it holds the same
 * data. FORCE is logged as an error. A down or recovering copy cannot be attached at all.
 */

import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminSession } from "./console.ts";
import { type AdminReply, done, notice } from "./_reply.ts";
import { copyNamed } from "./_target.ts";

/**
 * Answers ATTACH.
 *
 * @param ctx the running proxy
 * @param session who asked, for the log
 * @param name the copy
 * @param force whether FORCE was given
 * @returns the reply
 * @throws {PgError} 42704 unknown server; 42809 the original; 55000 when the copy is stale
 *   without FORCE, down, or being recovered
 */
export function attach(
  ctx: AdminContext,
  session: AdminSession,
  name: string,
  force: boolean,
): AdminReply {
  const m = copyNamed(ctx, name, "attach");
  const state = m.state;
  switch (state.kind) {
    case "inSync":
      return done("ATTACH", [notice(`copy "${name}" is already in sync`)]);
    case "down":
      throw new PgError("ERROR", "55000", `copy "${name}" is down and cannot be attached`, {
        detail:
          `It failed its health checks (${state.reason}) and missed every write since ${state.since}.`,
        hint: `When it answers health checks again it becomes stale; then use RECOVER ${name}.`,
      });
    case "recovering":
      throw new PgError("ERROR", "55000", `copy "${name}" is being recovered`, {
        detail: "It rejoins the write set by itself when its recovery ends.",
      });
    case "stale":
      if (!force) {
        throw new PgError("ERROR", "55000", `copy "${name}" is stale and cannot be attached`, {
          detail: `It missed writes since ${state.since} (${state.reason}); attached as it is, ` +
            "it would differ from the original.",
          hint: `Use RECOVER ${name} to bring it back in step, or ATTACH ${name} FORCE if you ` +
            "know it holds the same data as the original.",
        });
      }
      ctx.membership.forceInSync(name, `admin user "${session.user}" from ${session.remote}`);
      return done("ATTACH", [
        notice(`copy "${name}" was attached without recovery`, {
          severity: "WARNING",
          detail: `It had been stale since ${state.since} (${state.reason}).`,
          hint: "Compare it with the original (usogres verify) before trusting it.",
        }),
      ]);
  }
}
