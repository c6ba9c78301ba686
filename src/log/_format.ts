/**
 * @module
 * The log line formatter: `2026-01-02 03:04:05.678 +00 [INFO] usogres·session: message`, the
 * same text LogTape's `getTextFormatter({ timestamp: "date-time-tz", level: "FULL" })` writes, at
 * a fraction of its cost (it ran for every connection and disconnection line: issue #6, "Connection
 * setup" in docs/benchmarks.md). The date and time up to the second are formatted once per second;
 * string values skip the password redaction unless they could hold a password; template text is
 * sanitised of control sequences as LogTape does.
 */

import { type LogRecord, sanitizeControlSequences } from "@logtape/logtape";

const LEVELS: Readonly<Record<LogRecord["level"], string>> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  fatal: "FATAL",
};

/** Every pattern of the redaction needs one of these; text without them is left as it is. */
const MAY_HOLD_SECRET = /password|:\/\//i;

/**
 * Builds the formatter.
 *
 * @param redact hides passwords in rendered values
 * @returns a function from a record to its line, newline included
 */
export function lineFormatter(redact: (text: string) => string): (record: LogRecord) => string {
  let second = Number.NaN;
  let prefix = "";
  const stamp = (ts: number): string => {
    const s = Math.floor(ts / 1000);
    if (s !== second) {
      second = s;
      // "YYYY-MM-DD HH:MM:SS" in UTC, as LogTape's default time zone.
      prefix = new Date(s * 1000).toISOString().slice(0, 19).replace("T", " ");
    }
    const ms = ts - s * 1000;
    return `${prefix}.${ms < 10 ? "00" : ms < 100 ? "0" : ""}${Math.floor(ms)} +00`;
  };
  const value = (v: unknown): string => {
    if (typeof v === "string") return MAY_HOLD_SECRET.test(v) ? redact(v) : v;
    if (typeof v === "number" && !Object.is(v, -0)) return String(v);
    return redact(Deno.inspect(v));
  };
  return (record) => {
    const parts = record.message;
    let message = "";
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      message += i % 2 === 0 ? sanitizeControlSequences(part as string) : value(part);
    }
    const category = record.category.length === 2
      ? `${record.category[0]}·${record.category[1]}`
      : record.category.join("·");
    return `${stamp(record.timestamp)} [${LEVELS[record.level]}] ${category}: ${message}\n`;
  };
}
