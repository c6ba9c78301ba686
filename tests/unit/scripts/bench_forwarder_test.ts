/**
 * @module
 * The bench's bare Deno forwarder: its command line, and the copy loop that must write every byte
 * read, in order, even when a write takes only part of the buffer.
 */

import assert from "node:assert/strict";
import {
  BUFFER_SIZE,
  type ByteStream,
  copyBytes,
  parseForwarderArgs,
} from "../../../scripts/_bench_forwarder.ts";

/** A source that hands out its chunks one read at a time, then ends. */
function source(chunks: Uint8Array[]): ByteStream {
  return {
    read(into) {
      const chunk = chunks.shift();
      if (!chunk) return Promise.resolve(null);
      into.set(chunk);
      return Promise.resolve(chunk.length);
    },
    write: () => Promise.reject(new Error("not a sink")),
  };
}

/** A sink that takes at most `most` bytes per write, as a socket under pressure may. */
function sink(most: number): ByteStream & { readonly bytes: number[]; writes: number } {
  const bytes: number[] = [];
  const s = {
    bytes,
    writes: 0,
    read: () => Promise.resolve(null),
    write(chunk: Uint8Array) {
      s.writes++;
      const n = Math.min(most, chunk.length);
      bytes.push(...chunk.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  return s;
}

Deno.test("parseForwarderArgs: listen port, target host and port", () => {
  assert.deepEqual(parseForwarderArgs(["6544", "127.0.0.1", "5432"]), {
    listenPort: 6544,
    targetHost: "127.0.0.1",
    targetPort: 5432,
  });
  assert.equal(parseForwarderArgs(["0", "localhost", "5432"]).listenPort, 0);
});

Deno.test("parseForwarderArgs: rejects a wrong count and ports out of range", () => {
  assert.throws(() => parseForwarderArgs(["6544", "127.0.0.1"]), TypeError);
  assert.throws(() => parseForwarderArgs(["x", "127.0.0.1", "5432"]), RangeError);
  assert.throws(() => parseForwarderArgs(["6544", "127.0.0.1", "0"]), RangeError);
  assert.throws(() => parseForwarderArgs(["65536", "127.0.0.1", "5432"]), RangeError);
});

Deno.test("copyBytes: every byte arrives in order when writes are partial", async () => {
  const chunks = [
    new Uint8Array([1, 2, 3, 4, 5, 6, 7]),
    new Uint8Array([8]),
    new Uint8Array([9, 10]),
  ];
  const out = sink(3);
  const copied = await copyBytes(source(chunks), out, new Uint8Array(BUFFER_SIZE));
  assert.equal(copied, 10);
  assert.deepEqual(out.bytes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(out.writes, 3 + 1 + 1); // 7 bytes take three writes of at most 3
});

Deno.test("copyBytes: an empty source copies nothing", async () => {
  const out = sink(10);
  assert.equal(await copyBytes(source([]), out, new Uint8Array(16)), 0);
  assert.equal(out.writes, 0);
});

Deno.test("copyBytes: a failing write is thrown to the caller", async () => {
  const broken: ByteStream = {
    read: () => Promise.resolve(null),
    write: () => Promise.reject(new Deno.errors.ConnectionReset("reset")),
  };
  await assert.rejects(
    copyBytes(source([new Uint8Array([1])]), broken, new Uint8Array(16)),
    Deno.errors.ConnectionReset,
  );
});
