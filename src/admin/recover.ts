/**
 * @module
 * `RECOVER name`: online recovery of a stale copy. Not implemented yet (#5): answered with
 * 0A000 feature_not_supported.
 */

import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminReply } from "./_reply.ts";
import { copyNamed } from "./_target.ts";

/**
 * Answers RECOVER.
 *
 * @param ctx the running proxy
 * @param name the copy
 * @returns never, for now
 * @throws {PgError} 42704 unknown server; 42809 the original; 0A000 otherwise
 */
export function recover(ctx: AdminContext, name: string): AdminReply {
  copyNamed(ctx, name, "recover");
  // TODO(#5): online recovery (snapshot, journal, replay, short pause, rejoin).
  throw PgError.featureNotSupported(
    "RECOVER is not implemented yet",
    undefined,
    "Rebuild the copy from the original by hand, then use ATTACH name FORCE.",
  );
}
