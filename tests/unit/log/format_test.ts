/**
 * @module
 * The log line formatter writes what LogTape's text formatter wrote before it (timestamp to the
 * millisecond in UTC, full level name, category joined by "·", values redacted, template text
 * sanitised), so log readers and tests that grep the log see no change.
 */

import assert from "node:assert/strict";
import { getTextFormatter, type LogRecord } from "@logtape/logtape";
import { lineFormatter } from "../../../src/log/_format.ts";
import { redactSecrets } from "../../../src/log/mod.ts";

function record(
  level: LogRecord["level"],
  message: unknown[],
  timestamp: number,
  category: string[] = ["usogres", "session"],
): LogRecord {
  return {
    category,
    level,
    message,
    rawMessage: "",
    timestamp,
    properties: {},
  };
}

Deno.test("lineFormatter: writes the same lines as LogTape's text formatter", () => {
  const reference = getTextFormatter({
    timestamp: "date-time-tz",
    level: "FULL",
    value: (v: unknown) => redactSecrets(typeof v === "string" ? v : Deno.inspect(v)),
  });
  const ours = lineFormatter(redactSecrets);
  const base = Date.UTC(2026, 10, 26, 9, 5, 7);
  const records: LogRecord[] = [
    record("info", ["connection from ", "127.0.0.1:5432", ": user=", "postgres", ""], base),
    record("info", ["session time ", "0.020", "s, ", 130649, " bytes"], base + 7),
    record("debug", ["at ", 0, " and ", -0, " and ", 1.5, ""], base + 45),
    record("warning", ["statement ", "ALTER ROLE a PASSWORD 'x'", " diverged"], base + 999),
    record("error", ["url ", "postgres://u:secret@h/db", ", ", { a: 1 }, ""], base + 1000),
    record("fatal", ["bad\u001b[2J template\n", new Error("boom"), ""], base + 61_123),
    record("info", ["three ", true, ""], base, ["usogres", "a", "b"]),
    record("info", ["text\nwith newline: ", "value\nwith newline", ""], base + 86_400_000),
  ];
  for (const r of records) assert.equal(ours(r), reference(r));
});
