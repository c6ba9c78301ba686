/**
 * @module
 * The intermediate form every source is read into before merging: one `RawEntry` per key written
 * in a file, given as a flag or taken from the environment, already mapped to its setting's path.
 */

import type { ValueSource } from "./types.ts";
import { ConfigError } from "./errors.ts";

/** One value as written somewhere, not yet checked. */
export interface RawEntry {
  /** Canonical dotted path (`listen.port`, `copy.0.host`). */
  readonly path: string;
  /** Key as written (`portorg`, `listen.port`, `copy.1.port`, a flag's key). */
  readonly written: string;
  /** The parsed value. */
  readonly value: unknown;
  /** True when the source is text only (legacy file, flag, environment): see `checkValue`. */
  readonly lenient: boolean;
  /** Where it came from, for provenance. */
  readonly source: ValueSource;
  /** Message prefix naming the place (`file:line`, `flag --port`). */
  readonly where: string;
}

/** What reading one configuration file produced. */
export interface ParsedFile {
  /** Values found, in file order. */
  readonly entries: RawEntry[];
  /** Problems found while reading (unknown keys, malformed lines). */
  readonly errors: ConfigError[];
  /** Line of each `[[copy]]` header, one element per copy table (empty for legacy files). */
  readonly copyLines: (number | undefined)[];
}

/**
 * Formats a file location for messages.
 * @param file path of the file
 * @param line 1-based line, if known
 * @returns `file:line` or `file`
 */
export function fileWhere(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

/**
 * Builds an entry for a key read from a file.
 * @param file path of the file
 * @param line 1-based line, if known
 * @param path canonical path of the setting
 * @param written the key as written
 * @param value parsed value
 * @param lenient whether text may stand for numbers and booleans
 * @returns the entry
 */
export function fileEntry(
  file: string,
  line: number | undefined,
  path: string,
  written: string,
  value: unknown,
  lenient: boolean,
): RawEntry {
  const source = line === undefined
    ? { kind: "file" as const, file, ...(written !== path ? { key: written } : {}) }
    : { kind: "file" as const, file, line, ...(written !== path ? { key: written } : {}) };
  return { path, written, value, lenient, source, where: fileWhere(file, line) };
}

/**
 * Builds the error for a key no setting has.
 * @param where message prefix
 * @param file file, if any
 * @param line line, if known
 * @param key the key as written
 * @param suggestion closest known key, if any
 * @returns the error
 */
export function unknownKeyError(
  where: string,
  file: string | undefined,
  line: number | undefined,
  key: string,
  suggestion: string | undefined,
): ConfigError {
  return new ConfigError({
    where,
    file,
    line,
    key,
    message: `unknown key "${key}"` + (suggestion ? `; did you mean "${suggestion}"?` : ""),
    expected: suggestion ? `"${suggestion}"` : "a known key",
    actual: `"${key}"`,
  });
}
