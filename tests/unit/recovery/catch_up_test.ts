/**
 * @module
 * Unit tests of `src/recovery/catch_up.ts`, with a real journal and write gate and simulated
 * writers and replay (timers only): units are replayed once each, in journal order; a replay
 * slower than the writers holds them at the gate in bounded slices and still converges; a small
 * backlog needs no hold; a failing replay leaves the gate open.
 */

import assert from "node:assert/strict";
import { WriteGate } from "../../../src/cluster/mod.ts";
import { catchUp } from "../../../src/recovery/catch_up.ts";
import { Journal, type JournalUnit } from "../../../src/session/journal.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A journal accepting units, and a function appending `n` units numbered in order. */
function journalWithWriter(): { journal: Journal; write(n: number): void } {
  const journal = new Journal("copy", "");
  journal.accept();
  let next = 0;
  return {
    journal,
    write(n) {
      for (let i = 0; i < n; i++) {
        journal.append({ session: next++, steps: [{ kind: "reconcile", status: "idle" }] });
      }
    },
  };
}

Deno.test("catch-up: a replay slower than the writers holds them in bounded slices, in order", async () => {
  const gate = new WriteGate();
  const { journal, write } = journalWithWriter();
  write(300);
  // Writers add 3 units a millisecond while the gate lets them; the replay does 2.
  const writers = setInterval(() => {
    if (!gate.paused) write(30);
  }, 10);
  const replayed: number[] = [];
  const progress: number[] = [];
  try {
    const result = await catchUp({
      journal,
      replay: async (units: readonly JournalUnit[]) => {
        replayed.push(...units.map((u) => u.session));
        if (units.length > 0) await delay(Math.ceil(units.length / 2));
      },
      writeGate: gate,
      target: 20,
      deadlineMs: 20_000,
      maxHoldMs: 400,
      onProgress: (_backlog, hold) => progress.push(hold),
    });
    assert.ok(result.holds > 0, "the writers were never held");
    assert.ok(result.longestHoldMs <= 400 + 250, `a hold of ${result.longestHoldMs} ms`);
    assert.ok(progress.some((h) => h > 0));
  } finally {
    clearInterval(writers);
  }
  assert.equal(gate.paused, false);
  assert.ok(journal.backlog <= 20 + 30, `backlog ${journal.backlog} left`);
  // Every unit taken was replayed exactly once, in journal order, before the ones still there.
  assert.deepEqual(replayed, replayed.map((_, i) => i));
  assert.equal(journal.take()[0]?.session ?? replayed.length, replayed.length);
});

Deno.test("catch-up: a backlog at or under the target returns at once without holding", async () => {
  const gate = new WriteGate();
  const { journal, write } = journalWithWriter();
  write(10);
  const result = await catchUp({
    journal,
    replay: () => Promise.resolve(),
    writeGate: gate,
    target: 20,
    deadlineMs: 1_000,
  });
  assert.deepEqual(result, { holds: 0, longestHoldMs: 0 });
  assert.equal(journal.backlog, 10, "the caller replays the small rest itself");
});

Deno.test("catch-up: a failing replay leaves the write gate open", async () => {
  const gate = new WriteGate();
  const { journal, write } = journalWithWriter();
  write(1_000);
  const writers = setInterval(() => {
    if (!gate.paused) write(100);
  }, 5);
  let calls = 0;
  try {
    await assert.rejects(
      catchUp({
        journal,
        replay: async () => {
          await delay(5);
          // Fails once the writers are held (the third call runs inside a hold).
          if (gate.paused && ++calls > 1) throw new Error("copy closed the replay connection");
        },
        writeGate: gate,
        target: 20,
        deadlineMs: 20_000,
        maxHoldMs: 200,
      }),
      /copy closed the replay connection/,
    );
  } finally {
    clearInterval(writers);
  }
  assert.equal(gate.paused, false);
});
