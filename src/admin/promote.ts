/**
 * @module
 * `PROMOTE name`: make a copy the original. Not implemented yet (#5): answered with 0A000
 * feature_not_supported.
 */

import { PgError } from "../protocol/mod.ts";
import type { AdminContext } from "./context.ts";
import type { AdminReply } from "./_reply.ts";

/**
 * Answers PROMOTE.
 *
 * @param ctx the running proxy
 * @param name the copy
 * @returns never, for now
 * @throws {PgError} 42704 unknown server; 0A000 otherwise
 */
export function promote(ctx: AdminContext, name: string): AdminReply {
  if (!ctx.membership.members.some((m) => m.name === name)) {
    throw new PgError("ERROR", "42704", `server "${name}" does not exist`);
  }
  // TODO(#5): failover of the original, manual and automatic.
  throw PgError.featureNotSupported("PROMOTE is not implemented yet");
}
