/**
 * @module
 * `SHOW CONFIG`: every setting in effect, its value as written in TOML (strings bare), and
 * where it came from, as `usogres check-config` prints them. A set password shows as
 * `********`.
 */

import { effectiveSettings, tomlValue } from "../config/mod.ts";
import type { AdminContext } from "./context.ts";
import { type AdminReply, resultSet } from "./_reply.ts";

/**
 * Answers SHOW CONFIG.
 *
 * @param ctx the running proxy
 * @returns the result set (key, value, source)
 */
export function showConfig(ctx: AdminContext): AdminReply {
  const rows = effectiveSettings(ctx.loaded()).map((s) => [
    s.path,
    typeof s.value === "string" ? s.value : tomlValue(s.value),
    s.source,
  ]);
  return resultSet(["key", "value", "source"], rows);
}
