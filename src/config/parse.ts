/**
 * @module
 * Reading one configuration text, in either format, into the effective configuration. A file
 * named `*.toml` is TOML. Any other file is tried as TOML first; if TOML rejects it and it has no
 * `[section]` header, it is the seed's legacy rc format (`logdir = ~/.usogres-log`), read by its
 * own reader; otherwise TOML's syntax error is reported with line and column.
 */

import type { LoadedConfig } from "./types.ts";
import type { ParsedFile } from "./_entry.ts";
import { buildLoaded, type ConfigEnv } from "./_build.ts";
import { looksLegacy, readLegacy } from "./_legacy.ts";
import { parseToml, readToml } from "./_toml.ts";
import { ConfigError } from "./errors.ts";
import { type ConfigOverrides, readOverrides } from "./flags.ts";

/** Environment and home directory for {@link parseConfigText}; both default to the process's. */
export interface ParseOptions {
  /** Environment variables (`USOGRES_LOG_LEVEL`, `PGPASSFILE`, `HOME`). */
  readonly env?: ConfigEnv;
  /** Home directory for `~` expansion; defaults to `env.HOME`. */
  readonly home?: string;
}

/**
 * Reads the process environment, or nothing when env access is not permitted.
 * @returns the environment variables
 */
export function processEnv(): ConfigEnv {
  try {
    return Deno.env.toObject();
  } catch {
    return {}; // no --allow-env: defaults apply
  }
}

/**
 * Finds the home directory.
 * @param env environment variables
 * @returns `HOME` (or `USERPROFILE` on Windows), if set
 */
export function homeFrom(env: ConfigEnv): string | undefined {
  return env["HOME"] || env["USERPROFILE"] || undefined;
}

/**
 * Reads a configuration text into entries, choosing the format as described in the module note.
 * @param text the file's contents
 * @param file its path (its extension decides whether the legacy format is possible)
 * @returns the entries and every problem found while reading
 */
export function readConfigText(text: string, file: string): ParsedFile {
  const toml = parseToml(text);
  if (toml.ok) return readToml(toml.doc, text, file);
  if (!file.endsWith(".toml") && looksLegacy(text)) return readLegacy(text, file);
  return {
    entries: [],
    copyLines: [],
    errors: [
      new ConfigError({
        where: `${file}:${toml.line}:${toml.column}`,
        file,
        line: toml.line,
        message: `syntax error: ${toml.reason}`,
        expected: "valid TOML",
        actual: `line ${toml.line}, column ${toml.column}`,
        hint: toml.reason === "invalid value"
          ? 'Quote text values, as in host = "db1.example.com".'
          : undefined,
      }),
    ],
  };
}

/**
 * Parses a configuration text, applies the environment and overrides, and validates the result.
 * Pure apart from reading the process environment when `options.env` is omitted.
 * @param text the file's contents (TOML or the seed's legacy rc format)
 * @param file its path, for messages and provenance
 * @param overrides values from command-line flags, which win over the file
 * @param options environment and home directory (default: the process's)
 * @returns the effective configuration and the source of every value
 * @throws {ConfigError} listing every problem found (see `ConfigError.errors`)
 * @example
 * ```ts
 * const loaded = parseConfigText('hostorg = "127.0.0.1"\nportorg = 5433\n', "usogresrc");
 * loaded.config.original.port; // 5433
 * ```
 */
export function parseConfigText(
  text: string,
  file: string,
  overrides?: ConfigOverrides,
  options?: ParseOptions,
): LoadedConfig {
  const env = options?.env ?? processEnv();
  const home = options?.home ?? homeFrom(env);
  return buildLoaded(readConfigText(text, file), readOverrides(overrides), { env, home, file });
}
