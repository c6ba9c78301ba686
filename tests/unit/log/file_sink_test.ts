/**
 * @module
 * The log file sink: info lines wait in the buffer (for its size or the flush interval), warnings
 * and errors are written at once, disposing writes the rest, and the file is appended to.
 */

import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { openFileSink } from "../../../src/log/file_sink.ts";

function record(level: LogRecord["level"], text: string): LogRecord {
  return {
    category: ["usogres", "test"],
    level,
    message: [text],
    rawMessage: text,
    timestamp: Date.now(),
    properties: {},
  };
}

const formatter = (r: LogRecord) => `${r.level} ${String(r.message[0])}\n`;

Deno.test("openFileSink: buffers info, writes warnings at once, flushes on dispose", async () => {
  const dir = await Deno.makeTempDir({ prefix: "usogres-log-" });
  try {
    const path = `${dir}/usogres.log`;
    await Deno.writeTextFile(path, "earlier\n");
    const sink = openFileSink(path, { formatter, bufferSize: 8192, flushIntervalMs: 60_000 });
    sink(record("info", "one"));
    assert.equal(await Deno.readTextFile(path), "earlier\n");
    sink(record("warning", "two"));
    assert.equal(await Deno.readTextFile(path), "earlier\ninfo one\nwarning two\n");
    sink(record("info", "three"));
    sink[Symbol.dispose]();
    assert.equal(await Deno.readTextFile(path), "earlier\ninfo one\nwarning two\ninfo three\n");
    sink(record("error", "after close")); // ignored, no throw
    sink[Symbol.dispose]();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openFileSink: writes when the buffer is full and after the flush interval", async () => {
  const dir = await Deno.makeTempDir({ prefix: "usogres-log-" });
  try {
    const path = `${dir}/usogres.log`;
    const sink = openFileSink(path, { formatter, bufferSize: 20, flushIntervalMs: 10 });
    sink(record("info", "a long enough line"));
    assert.equal(await Deno.readTextFile(path), "info a long enough line\n");
    sink(record("debug", "x"));
    assert.equal(await Deno.readTextFile(path), "info a long enough line\n");
    const deadline = Date.now() + 5000;
    while ((await Deno.readTextFile(path)).length < 32 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await Deno.readTextFile(path), "info a long enough line\ndebug x\n");
    sink[Symbol.dispose]();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
