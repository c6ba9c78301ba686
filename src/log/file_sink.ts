/**
 * @module
 * The log file sink: lines are buffered and appended to `usogres.log` with plain `write(2)`s, never
 * `fsync`. LogTape's own file sink calls `fsync` on every flush, synchronously on the event loop:
 * with one line per connection and one per disconnection, a `pgbench -C` run spent more than half
 * of usogres's main-thread time blocked in it (issue #6, "Connection setup" in
 * docs/benchmarks.md). PostgreSQL's logging collector does not `fsync` its log either; the page
 * cache holds what a crash of usogres alone would lose, and a line reaches it at the latest one
 * flush interval after it was logged. Warnings and errors are written at once.
 */

import type { LogRecord, Sink } from "@logtape/logtape";

/** How the sink buffers. */
export interface FileSinkOptions {
  /** Turns a record into its line (with its newline). */
  readonly formatter: (record: LogRecord) => string;
  /** Characters buffered before a write. */
  readonly bufferSize: number;
  /** Milliseconds a buffered line may wait for its write. */
  readonly flushIntervalMs: number;
}

/** Levels written at once, without waiting for the buffer to fill. */
const URGENT = new Set<LogRecord["level"]>(["warning", "error", "fatal"]);

/**
 * Opens (creating, appending) a log file and returns a sink writing to it; disposing the sink
 * writes what is buffered and closes the file.
 *
 * @param path the log file
 * @param opts formatter, buffer size and flush interval
 * @returns the sink
 * @throws Deno.errors.PermissionDenied (or another open error) when the file cannot be opened
 */
export function openFileSink(path: string, opts: FileSinkOptions): Sink & Disposable {
  const file = Deno.openSync(path, { create: true, append: true });
  const encoder = new TextEncoder();
  let buffer = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const flush = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (buffer === "") return;
    const bytes = encoder.encode(buffer);
    buffer = "";
    try {
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    } catch {
      // A full disk or a removed directory: the lines are lost, logging must not end the process.
    }
  };

  const sink = (record: LogRecord): void => {
    if (closed) return;
    buffer += opts.formatter(record);
    if (buffer.length >= opts.bufferSize || URGENT.has(record.level)) {
      flush();
    } else if (timer === undefined) {
      const t = setTimeout(flush, opts.flushIntervalMs);
      // A quiet process with a line waiting must still be able to exit.
      Deno.unrefTimer(t);
      timer = t;
    }
  };
  return Object.assign(sink, {
    [Symbol.dispose]: (): void => {
      if (closed) return;
      flush();
      closed = true;
      try {
        file.close();
      } catch {
        // Already closed.
      }
    },
  });
}
