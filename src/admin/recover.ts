/**
 * @module
 * `RECOVER name`: starts the online recovery of a stale or down copy (snapshot copy, journal
 * replay, short final pause, rejoin) and returns at once; `SHOW RECOVERY` shows its progress and
 * `usogres recover NAME` follows it to the end.
 */

import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";
import { type AdminReply, done, notice } from "./_reply.ts";
import { copyNamed, refuseWithWorkers } from "./_target.ts";
import { getLogger } from "../log/mod.ts";

const log = getLogger("admin");

/**
 * Answers RECOVER: starts the recovery in the background.
 *
 * @param ctx the running proxy
 * @param name the copy
 * @returns the reply (a notice says how to follow progress)
 * @throws {PgError} 0A000 with `listen.workers` > 1; 42704 unknown server; 42809 the original; 55000 when the copy is in sync or
 *   a recovery runs
 */
export function recover(ctx: AdminContext, name: string): AdminReply {
  refuseWithWorkers(ctx, "RECOVER");
  const m = copyNamed(ctx, name, "recover");
  if (m.state.kind === "inSync") {
    throw new PgError("ERROR", "55000", `copy "${name}" is in sync`, {
      detail: "Only a stale or down copy needs recovery.",
    });
  }
  const running = ctx.recoveryProgress();
  if (m.state.kind === "recovering" || (running && running.phase !== "done" && !running.error)) {
    throw new PgError("ERROR", "55000", "a recovery is already running", {
      hint: "Follow it with SHOW RECOVERY.",
    });
  }
  ctx.recover(name).catch((e: unknown) => {
    log.error('recovery of "{name}" failed: {error}', {
      name,
      error: e instanceof Error ? e.message : String(e),
    });
  });
  return done("RECOVER", [
    notice(`recovery of copy "${name}" started; follow it with SHOW RECOVERY`),
  ]);
}
