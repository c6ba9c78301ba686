/**
 * @module
 * `SHOW VERSION`: the usogres version, one row, as PgBouncer's console answers it.
 */

import { VERSION } from "../version.ts";
import { type AdminReply, resultSet } from "./_reply.ts";

/**
 * Answers SHOW VERSION.
 *
 * @returns one row: `usogres <version>`
 */
export function showVersion(): AdminReply {
  return resultSet(["version"], [[`usogres ${VERSION}`]]);
}
