/**
 * @module
 * `ConfigError`: one invalid setting (file, key, line, what was expected, what was found), or all
 * the invalid settings of one load at once. Messages follow PostgreSQL's error message style
 * guide: lower case, one line, names in double quotes, prefixed by where the setting was written
 * (`/usr/local/etc/usogresrc:4: invalid value for "portorg": ...`).
 */

/** What a {@link ConfigError} is built from. */
export interface ConfigErrorInit {
  /** What is wrong, without the location prefix (lower case, no final period). */
  readonly message: string;
  /** Location prefix of the message (`file:line`, `flag --port`); omitted when not tied to one. */
  readonly where?: string | undefined;
  /** File the setting was read from, if any. */
  readonly file?: string | undefined;
  /** Key as written (`portorg`, `listen.port`, `copy.1.host`), if the error concerns one key. */
  readonly key?: string | undefined;
  /** 1-based line in `file`, where known. */
  readonly line?: number | undefined;
  /** What was expected, in words (`a port number 1-65535`). */
  readonly expected?: string | undefined;
  /** What was found, as written or described (`"54x"`). */
  readonly actual?: string | undefined;
  /** A full sentence telling how to fix it, for the CLI to print after the message. */
  readonly hint?: string | undefined;
}

/**
 * An invalid configuration. `loadConfig` reports every problem of a load at once: the error it
 * throws lists them all in `errors` (one `ConfigError` each, in file order) and its `message` is
 * their messages joined by newlines. A single problem is thrown as itself, with `errors = [this]`.
 * The other fields of an aggregate are those of its first error.
 */
export class ConfigError extends Error {
  /** Always "ConfigError". */
  override readonly name = "ConfigError";
  /** File the setting was read from; undefined for command-line flags and missing files. */
  readonly file: string | undefined;
  /** Key as written, if the error concerns one key. */
  readonly key: string | undefined;
  /** 1-based line in `file`, where known. */
  readonly line: number | undefined;
  /** What was expected, in words; empty when not applicable. */
  readonly expected: string;
  /** What was found; empty when not applicable. */
  readonly actual: string;
  /** A full sentence telling how to fix it, if there is one. */
  readonly hint: string | undefined;
  /** Every problem found (this error alone unless it is an aggregate). */
  readonly errors: readonly ConfigError[];

  /**
   * Creates one configuration error.
   * @param init what is wrong and where
   * @param errors the individual errors, when this one aggregates several (internal use)
   */
  constructor(init: ConfigErrorInit, errors?: readonly ConfigError[]) {
    super(init.where ? `${init.where}: ${init.message}` : init.message);
    this.file = init.file;
    this.key = init.key;
    this.line = init.line;
    this.expected = init.expected ?? "";
    this.actual = init.actual ?? "";
    this.hint = init.hint;
    this.errors = errors ?? [this];
  }

  /**
   * Combines the problems of one load into the error to throw.
   * @param errors one or more errors, in the order to report them
   * @returns the error itself when there is one, else an aggregate listing them all
   * @throws {RangeError} when `errors` is empty
   */
  static aggregate(errors: readonly ConfigError[]): ConfigError {
    const first = errors[0];
    if (first === undefined) throw new RangeError("no configuration errors to aggregate");
    if (errors.length === 1) return first;
    const all = errors.flatMap((e) => e.errors);
    return new ConfigError({
      message: all.map((e) => e.message).join("\n"),
      file: first.file,
      key: first.key,
      line: first.line,
      expected: first.expected,
      actual: first.actual,
      hint: first.hint,
    }, all);
  }
}

/**
 * Describes a configuration value for an error message, as the user would recognise it.
 * @param value any parsed value (TOML values include tables, arrays and dates)
 * @returns strings quoted, numbers and booleans as written, other values named by their kind
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (value !== null && typeof value === "object") return "a table";
  return String(value);
}
