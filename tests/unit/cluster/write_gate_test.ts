/**
 * @module
 * Unit tests of `src/cluster/write_gate.ts`: waits resolve at once while open, are held while
 * paused and released in order by the last resume (pauses nest); batches in flight are counted
 * and drained.
 */

import assert from "node:assert/strict";
import { WriteGate } from "../../../src/cluster/mod.ts";

/** Lets pending promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("write gate: wait() resolves at once when not paused", async () => {
  const gate = new WriteGate();
  assert.equal(gate.paused, false);
  let done = false;
  void gate.wait().then(() => (done = true));
  await settle();
  assert.equal(done, true);
  assert.equal(gate.waiting, 0);
});

Deno.test("write gate: holds waits while paused and releases them in order on resume", async () => {
  const gate = new WriteGate();
  gate.pause();
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => gate.wait().then(() => order.push(n)));
  await settle();
  assert.deepEqual(order, []);
  assert.equal(gate.waiting, 3);
  gate.resume();
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(gate.waiting, 0);
  assert.equal(gate.paused, false);
  gate.resume(); // nothing to release: no effect
  assert.equal(gate.paused, false);
});

Deno.test("write gate: pauses nest, and only the last resume opens the gate", async () => {
  const gate = new WriteGate();
  gate.pause();
  gate.pause();
  let released = false;
  const w = gate.wait().then(() => (released = true));
  gate.resume();
  await settle();
  assert.equal(gate.paused, true);
  assert.equal(released, false);
  gate.resume();
  await w;
  assert.equal(released, true);
});

Deno.test("write gate: enter() waits while paused and counts batches in flight until leave()", async () => {
  const gate = new WriteGate();
  await gate.enter();
  assert.equal(gate.inFlight, 1);
  gate.pause();
  let entered = false;
  const second = gate.enter().then(() => (entered = true));
  await settle();
  assert.equal(entered, false);
  let drained = false;
  const drain = gate.drained().then(() => (drained = true));
  await settle();
  assert.equal(drained, false);
  gate.leave();
  await drain;
  assert.equal(drained, true);
  gate.resume();
  await second;
  assert.equal(gate.inFlight, 1);
  gate.leave();
  assert.equal(gate.inFlight, 0);
});

Deno.test("write gate: enter() keeps waiting when the gate closes again before its turn", async () => {
  const gate = new WriteGate();
  gate.pause();
  let entered = false;
  const p = gate.enter().then(() => (entered = true));
  gate.resume();
  gate.pause(); // closed again in the same tick, before the waiter ran
  await settle();
  assert.equal(entered, false);
  gate.resume();
  await p;
  assert.equal(gate.inFlight, 1);
  gate.leave();
});

Deno.test("write gate: drained() resolves at once when nothing is in flight; extra leave() is harmless", async () => {
  const gate = new WriteGate();
  await gate.drained();
  gate.leave();
  assert.equal(gate.inFlight, 0);
});
