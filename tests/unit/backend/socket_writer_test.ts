/**
 * @module
 * Unit tests of `src/backend/socket_writer.ts` with a fake sink that writes partially and with
 * delays: order of concurrent writes, completeness, error propagation and byte counting.
 */

import assert from "node:assert/strict";
import { type ByteSink, SocketWriter } from "../../../src/backend/socket_writer.ts";

/** A sink that takes at most `chunk` bytes per call, each call settling when the test says. */
class FakeSink implements ByteSink {
  readonly received: number[] = [];
  readonly #chunk: number;
  /** Calls waiting to be released, oldest first. */
  readonly #waiting: (() => void)[] = [];
  #failNext: Error | undefined;
  /** Whether a write call is in progress (to detect interleaving). */
  #busy = false;
  calls = 0;

  constructor(chunk: number) {
    this.#chunk = chunk;
  }

  /** Makes the next write call fail. */
  failNext(e: Error): void {
    this.#failNext = e;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Settles the oldest pending write call. */
  release(): void {
    const next = this.#waiting.shift();
    assert.ok(next, "no write is pending");
    next();
  }

  write(p: Uint8Array): Promise<number> {
    assert.equal(this.#busy, false, "writes must not overlap");
    this.#busy = true;
    this.calls++;
    const n = Math.min(this.#chunk, p.length);
    const copy = [...p.subarray(0, n)];
    const fail = this.#failNext;
    this.#failNext = undefined;
    return new Promise((resolve, reject) => {
      this.#waiting.push(() => {
        this.#busy = false;
        if (fail) return reject(fail);
        this.received.push(...copy);
        resolve(n);
      });
    });
  }
}

/** Lets queued promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

/** Releases sink calls until `p` settles. */
async function drive(sink: FakeSink, ...ps: Promise<unknown>[]): Promise<void> {
  let settled = false;
  const all = Promise.allSettled(ps).then(() => {
    settled = true;
  });
  while (!settled) {
    await settle();
    if (sink.waiting > 0) sink.release();
  }
  await all;
}

const bytes = (from: number, n: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => from + i);

Deno.test("socket writer: writes every byte when the sink takes partial writes", async () => {
  const sink = new FakeSink(3);
  const w = new SocketWriter(sink);
  const data = bytes(0, 10);
  const p = w.write(data);
  await drive(sink, p);
  await p;
  assert.deepEqual(sink.received, [...data]);
  assert.equal(sink.calls, 4);
  assert.equal(w.bytesWritten, 10);
});

Deno.test("socket writer: keeps the order of concurrent writes", async () => {
  const sink = new FakeSink(4);
  const w = new SocketWriter(sink);
  const a = w.write(bytes(0, 10));
  const b = w.write(bytes(100, 7));
  const c = w.write(bytes(200, 5));
  await drive(sink, a, b, c);
  assert.deepEqual(sink.received, [...bytes(0, 10), ...bytes(100, 7), ...bytes(200, 5)]);
  assert.equal(w.bytesWritten, 22);
});

Deno.test("socket writer: queues a write issued after the first completes behind the second", async () => {
  const sink = new FakeSink(2);
  const w = new SocketWriter(sink);
  const order: string[] = [];
  const a = w.write(bytes(0, 2)).then(() => order.push("a"));
  const b = w.write(bytes(10, 6)).then(() => order.push("b"));
  // Complete the first write only.
  await settle();
  sink.release();
  await a;
  // The second has started (one call pending) but is far from done.
  await settle();
  assert.equal(sink.waiting, 1);
  const c = w.write(bytes(20, 3)).then(() => order.push("c"));
  await drive(sink, b, c);
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.deepEqual(sink.received, [...bytes(0, 2), ...bytes(10, 6), ...bytes(20, 3)]);
  assert.equal(w.bytesWritten, 11);
});

Deno.test("socket writer: rejects with the sink's error and still runs later writes", async () => {
  const sink = new FakeSink(4);
  const w = new SocketWriter(sink);
  const broken = new Deno.errors.BrokenPipe("peer went away");
  const a = w.write(bytes(0, 4));
  const b = w.write(bytes(10, 6));
  const c = w.write(bytes(20, 4));
  // Let the first write finish, then fail the second's first call.
  await settle();
  sink.release();
  await a;
  await settle();
  // b's first call is already pending: fail its second call, in the middle of its message.
  sink.failNext(broken);
  sink.release(); // b's first 4 bytes go out
  const results = Promise.allSettled([b, c]);
  await drive(sink, b, c);
  const [rb, rc] = await results;
  assert.equal(rb.status, "rejected");
  assert.equal(rb.status === "rejected" ? rb.reason : undefined, broken);
  assert.equal(rc.status, "fulfilled");
  assert.deepEqual(sink.received, [...bytes(0, 4), ...bytes(10, 4), ...bytes(20, 4)]);
  // Only completed writes count.
  assert.equal(w.bytesWritten, 8);
});

Deno.test("socket writer: writes again after a failure when nothing is queued", async () => {
  const sink = new FakeSink(8);
  const w = new SocketWriter(sink);
  sink.failNext(new Error("reset"));
  const a = w.write(bytes(0, 3));
  await drive(sink, a);
  await assert.rejects(a, /reset/);
  const b = w.write(bytes(5, 3));
  await drive(sink, b);
  await b;
  assert.deepEqual(sink.received, [...bytes(5, 3)]);
  assert.equal(w.bytesWritten, 3);
});

Deno.test("socket writer: resolves an empty write without calling the sink", async () => {
  const sink = new FakeSink(8);
  const w = new SocketWriter(sink);
  await w.write(new Uint8Array(0));
  assert.equal(sink.calls, 0);
  assert.equal(w.bytesWritten, 0);
});
