/**
 * @module
 * `SHOW RECOVERY`: the progress of the last online recovery (copy, phase, percent, detail).
 */

import type { AdminContext } from "./context.ts";
import { type AdminReply, resultSet } from "./_reply.ts";
import { STATE_NAMES } from "./show_backends.ts";

/**
 * Answers SHOW RECOVERY: one row for the last recovery started, none when there was none.
 *
 * @param ctx the running proxy
 * @returns the reply
 */
export function showRecovery(ctx: AdminContext): AdminReply {
  const p = ctx.recoveryProgress();
  const kind = p ? ctx.membership.members.find((m) => m.name === p.copy)?.state.kind : undefined;
  const state = kind ? STATE_NAMES[kind] : undefined;
  return resultSet(
    ["copy", "phase", "percent", "detail", "error", "state"],
    p ? [[p.copy, p.phase, p.percent, p.detail, p.error ?? null, state ?? null]] : [],
  );
}
