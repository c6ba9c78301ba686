/**
 * @module
 * The usogres version, read from `deno.json` so there is one place to bump it.
 */

import denoJson from "../deno.json" with { type: "json" };

/** The usogres version string (semver). */
export const VERSION: string = denoJson.version;
