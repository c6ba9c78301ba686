import assert from "node:assert/strict";
import { ReplyBuffer } from "../../../src/session/reply_buffer.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);

Deno.test("reply buffer: adjacent views of one buffer leave as one view, without a copy", () => {
  const read = bytes(1, 2, 3, 4, 5, 6);
  const out = new ReplyBuffer();
  out.add(read.subarray(0, 2));
  out.add(read.subarray(2, 5));
  assert.equal(out.size, 5);
  const taken = out.take()!;
  assert.deepEqual([...taken], [1, 2, 3, 4, 5]);
  assert.equal(taken.buffer, read.buffer, "a view into the reader's buffer, not a copy");
  assert.equal(out.size, 0);
  assert.equal(out.take(), undefined);
});

Deno.test("reply buffer: replacements and gaps keep the order of what was added", () => {
  const read = bytes(1, 2, 3, 4, 5, 6);
  const out = new ReplyBuffer();
  out.add(read.subarray(0, 2));
  out.add(bytes(9, 9)); // a reply usogres writes instead of a frame
  out.add(read.subarray(4, 6)); // a frame after one that was dropped
  assert.deepEqual([...out.take()!], [1, 2, 9, 9, 5, 6]);
});

Deno.test("reply buffer: hold() keeps the bytes when the reader's buffer is reused", () => {
  const read = bytes(1, 2, 3, 4);
  const out = new ReplyBuffer();
  out.add(read.subarray(0, 3));
  out.hold();
  read.fill(0); // the reader's next fill overwrites its buffer
  out.add(read.subarray(3, 4));
  assert.deepEqual([...out.take()!], [1, 2, 3, 0]);
});

Deno.test("reply buffer: hold() with nothing pending keeps nothing", () => {
  const out = new ReplyBuffer();
  out.hold();
  assert.equal(out.size, 0);
  assert.equal(out.take(), undefined);
});
