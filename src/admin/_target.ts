/**
 * @module
 * Finding the copy a DETACH, ATTACH, RECOVER or PROMOTE names, with the errors PostgreSQL would
 * give: 42704 undefined_object for an unknown name, 42809 wrong_object_type for the original.
 */

import type { Member } from "../cluster/mod.ts";
import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";

/**
 * Returns the copy a command names.
 *
 * @param ctx the running proxy
 * @param name the server name from the command
 * @param verb the command, for the error message (`detach`)
 * @returns the copy's membership entry
 * @throws {PgError} 42704 when no server has that name, 42809 when it is the original
 */
export function copyNamed(ctx: AdminContext, name: string, verb: string): Member {
  const m = ctx.membership.members.find((x) => x.name === name);
  if (m === undefined) {
    const names = ctx.membership.members.map((x) => `"${x.name}"`).join(", ");
    throw new PgError("ERROR", "42704", `server "${name}" does not exist`, {
      detail: `The servers are ${names}.`,
    });
  }
  if (m.role === "original") {
    throw new PgError("ERROR", "42809", `cannot ${verb} "${name}": it is the original server`, {
      hint: "Only copies can be detached, attached or recovered.",
    });
  }
  return m;
}

/** Why each command cannot run with several workers. */
const WORKERS_DETAIL: Readonly<Record<"RECOVER" | "PROMOTE", string>> = {
  RECOVER: "An online recovery journals every session's writes in commit order, and with " +
    "listen.workers > 1 the sessions run in several workers.",
  PROMOTE: "A promotion must stop every session's writes to the old original at one instant, " +
    "and with listen.workers > 1 the sessions run in several workers.",
};

/**
 * Refuses a command that needs every session in one thread (`listen.workers` = 1).
 *
 * @param ctx the running proxy
 * @param command RECOVER or PROMOTE
 * @throws {PgError} 0A000 feature_not_supported when `listen.workers` > 1
 */
export function refuseWithWorkers(ctx: AdminContext, command: "RECOVER" | "PROMOTE"): void {
  const workers = ctx.loaded().config.listen.workers;
  if (workers <= 1) return;
  throw new PgError("ERROR", "0A000", `${command} needs listen.workers = 1`, {
    detail: `${WORKERS_DETAIL[command]} This usogres runs ${workers} workers.`,
    hint: command === "RECOVER"
      ? "Restart usogres with listen.workers = 1 to recover online, or recover the copy by hand " +
        "(docs/recovery.md, the manual way)."
      : "Restart usogres with listen.workers = 1, then PROMOTE.",
  });
}
