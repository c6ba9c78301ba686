/**
 * @module
 * Logging for usogres: one LogTape configuration with a synchronous stderr sink (foreground runs)
 * and a buffered file sink in `logdir` (the seed's key; `file_sink.ts`, which never `fsync`s). Lines read like PostgreSQL's own log:
 * timestamp, level, category, then a lower-case message with its properties.
 *
 * Call {@link setupLogging} once at start and {@link shutdownLogging} before exit: the file sink
 * buffers, and lines still in the buffer are lost without `dispose()`.
 */

import {
  configure,
  dispose,
  getLogger as ltGetLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import { openFileSink } from "./file_sink.ts";
import { lineFormatter } from "./_format.ts";

export type { Logger };

/** Settings that {@link setupLogging} needs (a subset of the configuration's `[log]` section). */
export interface LoggingOptions {
  /** Directory for `usogres.log`; empty disables the file sink. */
  readonly dir: string;
  /** Lowest level written. */
  readonly level: "debug" | "info" | "warning" | "error";
  /** Whether to write to stderr too. */
  readonly stderr: boolean;
}

/**
 * Hides passwords in text about to be logged: the literal of `PASSWORD '...'` in SQL (`CREATE
 * ROLE`, `ALTER ROLE ... ENCRYPTED PASSWORD`, `ALTER USER MAPPING ... OPTIONS (password '...')`),
 * `password=...` in connection strings, and the password of a `scheme://user:password@` URL.
 * Statements are logged when a copy diverges or a statement is refused; the passwords in them
 * must not end up in a log file.
 *
 * @example
 * ```ts
 * console.assert(redactSecrets("ALTER ROLE a PASSWORD 'x'") === "ALTER ROLE a PASSWORD '********'");
 * ```
 *
 * @param text what would be logged
 * @returns the same text with every password replaced by `********`
 */
export function redactSecrets(text: string): string {
  return text
    .replace(
      /(\bpassword\s*(?:=\s*)?)([eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')/gi,
      (_m, key: string, lit: string) => `${key}${/^[eE]/.test(lit) ? "E" : ""}'********'`,
    )
    .replace(/(\bpassword\s+)(\$[A-Za-z_]*\$)[\s\S]*?\2/gi, "$1$2********$2")
    .replace(/(\bpassword\s*=\s*)([^\s'"][^\s]*)/gi, "$1********")
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)(@)/gi, "$1********$3");
}

const formatter = lineFormatter(redactSecrets);
const encoder = new TextEncoder();

/** Writes each record to stderr synchronously, so nothing is lost when the process exits. */
function stderrSink(record: LogRecord): void {
  try {
    Deno.stderr.writeSync(encoder.encode(formatter(record)));
  } catch {
    // stderr closed (a detached run): nothing sensible left to do with the line.
  }
}

let configured = false;

/**
 * Configures logging for the process; safe to call again (reconfigures).
 *
 * @param opts where and how much to log
 * @returns the path of the log file, or undefined when file logging is off
 * @throws Deno.errors.PermissionDenied or similar when the log directory cannot be created
 */
export async function setupLogging(opts: LoggingOptions): Promise<string | undefined> {
  const sinks: Record<string, Sink> = {};
  const names: string[] = [];
  let file: string | undefined;
  if (opts.stderr) {
    sinks.stderr = stderrSink;
    names.push("stderr");
  }
  if (opts.dir !== "") {
    await Deno.mkdir(opts.dir, { recursive: true });
    file = `${opts.dir}/usogres.log`;
    sinks.file = openFileSink(file, { formatter, bufferSize: 8192, flushIntervalMs: 1000 });
    names.push("file");
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["usogres"], sinks: names, lowestLevel: opts.level as LogLevel },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  configured = true;
  return file;
}

/**
 * Flushes and closes every sink; call before the process exits.
 *
 * @returns when buffered lines are written
 */
export async function shutdownLogging(): Promise<void> {
  if (!configured) return;
  configured = false;
  await dispose();
}

/**
 * Returns the logger of one usogres component, e.g. `getLogger("session")`.
 *
 * @param component sub-category under `usogres`
 * @returns a LogTape logger
 */
export function getLogger(component: string): Logger {
  return ltGetLogger(["usogres", component]);
}

/**
 * The text of a thrown value for a log line or an error detail: an Error's message, else the
 * value as a string.
 *
 * @param e what was thrown
 * @returns its message
 */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
