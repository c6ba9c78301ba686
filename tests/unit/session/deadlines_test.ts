/**
 * @module
 * The deadline sweep: an item expires no earlier than its deadline and about one period after
 * it, a deleted item never expires, and the timer stops once nothing is due.
 */

import assert from "node:assert/strict";
import { DeadlineSweep } from "../../../src/session/deadlines.ts";

Deno.test("DeadlineSweep: expires items at their deadline, never before, and not deleted ones", async () => {
  const expired: string[] = [];
  const at = new Map<string, number>();
  const sweep = new DeadlineSweep<string>((item) => {
    expired.push(item);
    at.set(item, performance.now());
  });
  try {
    const start = performance.now();
    sweep.add("a", 40);
    sweep.add("b", 40);
    sweep.add("c", 80);
    assert.equal(sweep.delete("b"), true);
    assert.equal(sweep.has("a"), true);
    const deadline = Date.now() + 5000;
    while (sweep.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(expired, ["a", "c"]);
    assert.ok(at.get("a")! - start >= 40, `a expired after ${at.get("a")! - start} ms`);
    assert.ok(at.get("c")! - start >= 80, `c expired after ${at.get("c")! - start} ms`);
    // Nothing is due: the timer stopped by itself (the sanitizer checks no interval is left).
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    sweep.close();
  }
});
