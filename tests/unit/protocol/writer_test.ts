import assert from "node:assert/strict";
import { Writer } from "../../../src/protocol/mod.ts";
import { bytesOf } from "./_support.ts";

Deno.test("Writer: back-patches the length of each message", () => {
  const w = new Writer({ initialSize: 16 });
  w.start(0x51).cstring("SELECT 1").end().start(0x53).end();
  assert.deepEqual(w.view(), bytesOf("Q", 0, 0, 0, 13, "SELECT 1", 0, "S", 0, 0, 0, 4));
});

Deno.test("Writer: writes big-endian integers, signed and unsigned", () => {
  const w = new Writer();
  w.startStartup().int8(0xab).int16(-2).int32(-1).int32(0xfffffffe).end();
  assert.deepEqual(
    w.finish(),
    bytesOf(0, 0, 0, 15, 0xab, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe),
  );
});

Deno.test("Writer: grows past its initial size", () => {
  const w = new Writer({ initialSize: 16 });
  const big = "x".repeat(10_000);
  w.start(0x51).cstring(big).end();
  assert.equal(w.length, 10_006);
});

Deno.test("Writer: finish returns a copy and resets", () => {
  const w = new Writer();
  const a = w.start(0x53).end().finish();
  assert.equal(w.length, 0);
  const b = w.start(0x48).end().finish();
  assert.deepEqual(a, bytesOf("S", 0, 0, 0, 4));
  assert.deepEqual(b, bytesOf("H", 0, 0, 0, 4));
});

Deno.test("Writer: view shares the buffer until the next change", () => {
  const w = new Writer();
  const v = w.start(0x53).end().view();
  w.reset().start(0x48).end();
  assert.equal(v[0], 0x48);
});

Deno.test("Writer: rejects start before end and end before start", () => {
  const w = new Writer();
  assert.throws(() => w.end(), Error);
  w.start(0x51);
  assert.throws(() => w.start(0x51), Error);
  assert.throws(() => w.view(), Error);
  w.reset().start(0x51).end();
});

Deno.test("Writer: cstring rejects NUL and encodes UTF-8", () => {
  const w = new Writer();
  assert.throws(() => w.start(0x51).cstring("a\0b"), TypeError);
  w.reset().start(0x51).cstring("é").end();
  assert.deepEqual(w.view(), bytesOf("Q", 0, 0, 0, 7, 0xc3, 0xa9, 0));
});

Deno.test("Writer: reset drops a buffer grown beyond the retained size", () => {
  const w = new Writer({ initialSize: 64, maxRetainedSize: 128 });
  w.start(0x64).bytes(new Uint8Array(1000)).end().reset();
  w.start(0x53).end();
  assert.deepEqual(w.view(), bytesOf("S", 0, 0, 0, 4));
});
