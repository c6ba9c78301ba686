/**
 * @module
 * Unit tests of `src/cluster/histogram.ts`: bucket boundaries (an observation equal to a bound
 * counts in it), cumulative snapshots, ignored values and invalid bounds.
 */

import assert from "node:assert/strict";
import { FANOUT_BUCKETS, Histogram } from "../../../src/cluster/mod.ts";

Deno.test("histogram: counts each observation in the first bucket whose bound it does not exceed", () => {
  const h = new Histogram([1, 2, 5]);
  for (const v of [0, 1, 1.5, 2, 4.99, 5, 5.01, 100]) h.observe(v);
  const s = h.snapshot();
  assert.deepEqual(s.bounds, [1, 2, 5]);
  assert.deepEqual(s.cumulative, [2, 4, 6]);
  assert.equal(s.count, 8);
  assert.equal(s.sum, 0 + 1 + 1.5 + 2 + 4.99 + 5 + 5.01 + 100);
});

Deno.test("histogram: starts empty and ignores negative, NaN and infinite values", () => {
  const h = new Histogram([1]);
  assert.deepEqual(h.snapshot(), { bounds: [1], cumulative: [0], sum: 0, count: 0 });
  for (const v of [-1, NaN, Infinity, -Infinity]) h.observe(v);
  assert.equal(h.snapshot().count, 0);
});

Deno.test("histogram: snapshots are copies that later observations do not change", () => {
  const h = new Histogram([1]);
  h.observe(0.5);
  const before = h.snapshot();
  h.observe(0.5);
  assert.deepEqual(before.cumulative, [1]);
  assert.deepEqual(h.snapshot().cumulative, [2]);
});

Deno.test("histogram: uses the fan-out buckets by default, 0.5 ms to 10 s ascending", () => {
  const s = new Histogram().snapshot();
  assert.deepEqual(s.bounds, FANOUT_BUCKETS);
  assert.equal(s.bounds[0], 0.0005);
  assert.equal(s.bounds.at(-1), 10);
});

Deno.test("histogram: refuses empty, unordered or infinite bounds", () => {
  assert.throws(() => new Histogram([]), RangeError);
  assert.throws(() => new Histogram([1, 1]), RangeError);
  assert.throws(() => new Histogram([2, 1]), RangeError);
  assert.throws(() => new Histogram([1, Infinity]), RangeError);
});
