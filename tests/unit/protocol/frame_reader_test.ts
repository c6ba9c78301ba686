import assert from "node:assert/strict";
import {
  backendMaxLength,
  encodeBind,
  encodeCancelRequest,
  encodeCommandComplete,
  encodeCopyData,
  encodeDataRow,
  encodeExecute,
  encodeParse,
  encodeQuery,
  encodeSSLRequest,
  encodeStartupMessage,
  type Frame,
  FrameReader,
  frontendMaxLength,
  MAX_STARTUP_PACKET,
  PgError,
  ProtocolError,
  READY_FOR_QUERY_IDLE,
  SYNC,
} from "../../../src/protocol/mod.ts";
import { bytesOf, ChunkedSource, concat, drain } from "./_support.ts";

const STREAM = concat(
  encodeQuery("SELECT 1"),
  encodeParse("s1", "SELECT $1::int", [23]),
  encodeBind({ portal: "", statement: "s1", params: ["42"] }),
  encodeExecute("", 0),
  SYNC,
  encodeCopyData(new Uint8Array(300).fill(7)),
  encodeQuery(""),
);

function frontendReader(src: ChunkedSource, initialSize?: number): FrameReader {
  return new FrameReader(src, {
    maxLength: frontendMaxLength(),
    ...(initialSize === undefined ? {} : { initialSize }),
  });
}

function expectedFrames(): Frame[] {
  return [
    encodeQuery("SELECT 1"),
    encodeParse("s1", "SELECT $1::int", [23]),
    encodeBind({ portal: "", statement: "s1", params: ["42"] }),
    encodeExecute("", 0),
    SYNC,
    encodeCopyData(new Uint8Array(300).fill(7)),
    encodeQuery(""),
  ].map((bytes) => ({ code: bytes[0] ?? 0, bytes: bytes.slice() }));
}

async function rejects08P01(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ProtocolError && e.code === "08P01");
}

Deno.test("FrameReader: yields identical frames when the stream is split at every byte offset", async () => {
  const want = expectedFrames();
  for (let cut = 1; cut < STREAM.length; cut++) {
    const src = new ChunkedSource(STREAM, [cut, STREAM.length]);
    const { frames, truncated } = await drain(frontendReader(src));
    assert.equal(truncated, false);
    assert.deepEqual(frames, want, `split at ${cut}`);
  }
});

Deno.test("FrameReader: yields identical frames when fed one byte at a time", async () => {
  const { frames, truncated } = await drain(frontendReader(new ChunkedSource(STREAM, [1]), 64));
  assert.equal(truncated, false);
  assert.deepEqual(frames, expectedFrames());
});

Deno.test("FrameReader: yields identical frames for every fixed chunk size with a small buffer", async () => {
  const want = expectedFrames();
  for (let size = 1; size <= 80; size++) {
    const { frames } = await drain(frontendReader(new ChunkedSource(STREAM, [size]), 64));
    assert.deepEqual(frames, want, `chunk size ${size}`);
  }
});

Deno.test("FrameReader: returns adjacent views of one buffer between two fills", async () => {
  const reader = frontendReader(new ChunkedSource(STREAM));
  assert.equal(await reader.fill(), true);
  const frames: Frame[] = [];
  let f: Frame | undefined;
  while ((f = reader.tryNext()) !== undefined) frames.push(f);
  assert.equal(frames.length, 7);
  for (let i = 1; i < frames.length; i++) {
    const prev = frames[i - 1]!.bytes, cur = frames[i]!.bytes;
    assert.equal(cur.buffer, prev.buffer);
    assert.equal(cur.byteOffset, prev.byteOffset + prev.length);
  }
  assert.equal(reader.buffered, 0);
});

Deno.test("FrameReader: detects truncation when EOF arrives mid-message", async () => {
  for (let cut = 1; cut < 14; cut++) {
    const bytes = concat(READY_FOR_QUERY_IDLE, encodeQuery("SELECT 1").subarray(0, cut));
    const reader = frontendReader(new ChunkedSource(bytes, [3]));
    const { frames, truncated } = await drain(reader);
    assert.equal(frames.length, 1);
    assert.equal(truncated, true, `cut at ${cut}`);
    assert.ok(reader.buffered > 0);
  }
});

Deno.test("FrameReader: reports a clean EOF when the stream ends between messages", async () => {
  const reader = frontendReader(new ChunkedSource(concat(SYNC, SYNC)));
  const { frames, truncated } = await drain(reader);
  assert.equal(frames.length, 2);
  assert.equal(truncated, false);
});

Deno.test("FrameReader: rejects a declared length over the cap without growing the buffer", async () => {
  // A DataRow header claiming 1 GiB - 1 bytes, capped at 10,000 from clients ('D' is Describe).
  const header = bytesOf("D", 0x3f, 0xff, 0xff, 0xff);
  const reader = frontendReader(new ChunkedSource(header), 1024);
  assert.equal(await reader.fill(), true);
  assert.throws(() => reader.tryNext(), (e: unknown) => e instanceof ProtocolError);
  await rejects08P01(reader.fill());
  assert.equal(reader.bufferSize, 1024);
});

Deno.test("FrameReader: rejects a message over max_message_size before buffering it", async () => {
  const reader = new FrameReader(new ChunkedSource(encodeQuery("x".repeat(5000)), [5]), {
    maxLength: frontendMaxLength(4096),
    initialSize: 1024,
  });
  assert.equal(await reader.fill(), true);
  assert.throws(() => reader.tryNext(), (e: unknown) => e instanceof PgError && e.code === "08P01");
  assert.equal(reader.bufferSize, 1024);
});

Deno.test("FrameReader: rejects a declared length below 4", async () => {
  for (const len of [0, 1, 3, -1]) {
    const bytes = bytesOf(
      "Q",
      (len >>> 24) & 0xff,
      (len >>> 16) & 0xff,
      (len >>> 8) & 0xff,
      len & 0xff,
    );
    const reader = frontendReader(new ChunkedSource(bytes));
    await reader.fill();
    assert.throws(
      () => reader.tryNext(),
      (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
    );
  }
});

Deno.test("FrameReader: grows for a large message and shrinks back afterwards", async () => {
  const big = encodeDataRow(["y".repeat(100_000)]);
  const bytes = concat(big, encodeCommandComplete("SELECT 1"), READY_FOR_QUERY_IDLE);
  const reader = new FrameReader(new ChunkedSource(bytes, [4096]), {
    maxLength: backendMaxLength(),
    initialSize: 1024,
  });
  const seen: number[] = [];
  let maxSize = 0;
  for (;;) {
    let f: Frame | undefined;
    while ((f = reader.tryNext()) !== undefined) seen.push(f.bytes.length);
    maxSize = Math.max(maxSize, reader.bufferSize);
    if (!(await reader.fill())) break;
  }
  assert.deepEqual(seen, [big.length, 14, 6]);
  assert.ok(maxSize >= big.length);
  assert.equal(reader.bufferSize, 1024);
});

Deno.test("FrameReader: returns true without reading when a complete message is buffered", async () => {
  const src = new ChunkedSource(concat(SYNC, SYNC));
  const reader = frontendReader(src);
  await reader.fill();
  const reads = src.reads;
  assert.equal(await reader.fill(), true);
  assert.equal(src.reads, reads);
});

Deno.test("FrameReader: takeBuffered copies out and drops the unread bytes", async () => {
  const reader = new FrameReader(
    new ChunkedSource(concat(encodeSSLRequest(), bytesOf(0x16, 3, 1))),
    {
      maxLength: frontendMaxLength(),
      startup: true,
    },
  );
  await reader.fill();
  assert.equal(reader.tryNext()?.code, 80877103);
  assert.equal(reader.buffered, 3);
  assert.deepEqual(reader.takeBuffered(), bytesOf(0x16, 3, 1));
  assert.equal(reader.buffered, 0);
});

Deno.test("FrameReader: reads startup packets and then typed messages when startup mode ends", async () => {
  const bytes = concat(
    encodeSSLRequest(),
    encodeStartupMessage({ user: "alice", database: "shop" }),
    encodeQuery("SELECT 1"),
  );
  for (let cut = 1; cut < bytes.length; cut++) {
    const reader = new FrameReader(new ChunkedSource(bytes, [cut, bytes.length]), {
      maxLength: frontendMaxLength(),
      startup: true,
    });
    const codes: number[] = [];
    for (;;) {
      let f: Frame | undefined;
      while ((f = reader.tryNext()) !== undefined) {
        codes.push(f.code);
        if (f.code === 196608) reader.startup = false;
      }
      if (!(await reader.fill())) break;
    }
    assert.deepEqual(codes, [80877103, 196608, 0x51], `split at ${cut}`);
  }
});

Deno.test("FrameReader: reads a CancelRequest in startup mode", async () => {
  const reader = new FrameReader(new ChunkedSource(encodeCancelRequest(1234, -5)), {
    maxLength: frontendMaxLength(),
    startup: true,
  });
  const { frames } = await drain(reader);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]?.code, 80877102);
  assert.equal(frames[0]?.bytes.length, 16);
});

Deno.test("FrameReader: rejects a startup packet over 10,000 bytes without growing", async () => {
  const len = MAX_STARTUP_PACKET + 1;
  const header = bytesOf(0, 0, (len >>> 8) & 0xff, len & 0xff, 0, 3, 0, 0);
  const reader = new FrameReader(new ChunkedSource(header), {
    maxLength: frontendMaxLength(),
    startup: true,
    initialSize: 1024,
  });
  await reader.fill();
  assert.throws(
    () => reader.tryNext(),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
  await rejects08P01(reader.fill());
  assert.equal(reader.bufferSize, 1024);
});

Deno.test("FrameReader: rejects a startup packet shorter than 8 bytes", async () => {
  const reader = new FrameReader(new ChunkedSource(bytesOf(0, 0, 0, 7, 0, 0, 0)), {
    maxLength: frontendMaxLength(),
    startup: true,
  });
  await reader.fill();
  assert.throws(
    () => reader.tryNext(),
    (e: unknown) => e instanceof ProtocolError && e.code === "08P01",
  );
});

Deno.test("FrameReader: accepts a startup packet of exactly 10,000 bytes", async () => {
  const filler = "v".repeat(MAX_STARTUP_PACKET - 8 - 5 - 1 - 1);
  const packet = encodeStartupMessage({ user: filler });
  assert.equal(packet.length, MAX_STARTUP_PACKET);
  const reader = new FrameReader(new ChunkedSource(packet, [700]), {
    maxLength: frontendMaxLength(),
    startup: true,
  });
  const { frames, truncated } = await drain(reader);
  assert.equal(frames.length, 1);
  assert.equal(truncated, false);
});

Deno.test("FrameReader: holds idleSize while reads are small, grows when a read fills the buffer, shrinks back", async () => {
  // Messages of 1 KiB delivered first in one burst bigger than the idle buffer, then one by one.
  const msg = (n: number) => {
    const b = new Uint8Array(1024);
    b[0] = 0x44; // 'D'
    new DataView(b.buffer).setInt32(1, 1023);
    b[5] = n;
    return b;
  };
  const burst = new Uint8Array(8 * 1024);
  for (let i = 0; i < 8; i++) burst.set(msg(i), i * 1024);
  const chunks: Uint8Array[] = [burst, msg(9), msg(10)];
  const src = {
    read(p: Uint8Array): Promise<number | null> {
      const c = chunks[0];
      if (!c) return Promise.resolve(null);
      const n = Math.min(p.length, c.length);
      p.set(c.subarray(0, n));
      if (n === c.length) chunks.shift();
      else chunks[0] = c.subarray(n);
      return Promise.resolve(n);
    },
  };
  const r = new FrameReader(src, {
    maxLength: () => 1 << 20,
    initialSize: 32 * 1024,
    idleSize: 2048,
  });
  assert.equal(r.bufferSize, 2048);
  const seen: number[] = [];
  let grew = false;
  while (await r.fill()) {
    let f;
    while ((f = r.tryNext())) seen.push(f.bytes[5]!);
    if (r.bufferSize === 32 * 1024) grew = true;
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]);
  assert.ok(grew, "a read that filled the idle buffer made it grow");
  assert.equal(r.bufferSize, 2048, "light traffic afterwards shrank it back");
});

Deno.test("FrameReader.readAhead: the next fill() returns the read already started, not another", async () => {
  const src = new ChunkedSource(concat(encodeQuery("SELECT 1"), SYNC));
  const reader = frontendReader(src);
  const ahead = reader.readAhead();
  assert.equal(reader.readAhead(), ahead, "a second readAhead() is the same read");
  assert.equal(src.reads, 1);
  assert.equal(reader.fill(), ahead);
  assert.equal(await ahead, true);
  assert.equal(src.reads, 1, "fill() started no read of its own");
  assert.deepEqual(reader.tryNext()?.bytes, encodeQuery("SELECT 1"));
  assert.deepEqual(reader.tryNext()?.bytes, SYNC);
  assert.equal(await reader.fill(), false, "the fill after it reads anew: end of stream");
  assert.equal(src.reads, 2);
});
