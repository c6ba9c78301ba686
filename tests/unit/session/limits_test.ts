/**
 * @module
 * Per-address connection slots and the idle timers (57P05 outside a transaction, 25P03 inside),
 * including that a busy session is never cut off.
 */

import assert from "node:assert/strict";
import type { PgError } from "../../../src/protocol/mod.ts";
import { AddressSlots, IdleTimer, tooManyFromAddress } from "../../../src/session/limits.ts";

Deno.test("AddressSlots: counts per address up to the limit; 0 means no limit", () => {
  const slots = new AddressSlots(2);
  assert.ok(slots.acquire("10.0.0.1"));
  assert.ok(slots.acquire("10.0.0.1"));
  assert.ok(!slots.acquire("10.0.0.1"));
  assert.ok(slots.acquire("10.0.0.2"));
  slots.release("10.0.0.1");
  assert.equal(slots.count("10.0.0.1"), 1);
  assert.ok(slots.acquire("10.0.0.1"));
  const unlimited = new AddressSlots(0);
  for (let i = 0; i < 1000; i++) assert.ok(unlimited.acquire("x"));
  const e = tooManyFromAddress("10.0.0.1", 2);
  assert.equal(e.code, "53300");
  assert.equal(e.severity, "FATAL");
});

function fired(timer: (fire: (e: PgError) => void) => IdleTimer): Promise<PgError | undefined> {
  return new Promise((resolve) => {
    const t = timer((e) => resolve(e));
    setTimeout(() => {
      t.disarm();
      resolve(undefined);
    }, 80);
  });
}

Deno.test("IdleTimer: 57P05 when idle, 25P03 inside a transaction", async () => {
  const idle = await fired((fire) => {
    const t = new IdleTimer({ idleMs: 10, inTransactionMs: 0 }, () => true, fire);
    t.arm("idle");
    return t;
  });
  assert.equal(idle?.code, "57P05");
  const inTx = await fired((fire) => {
    const t = new IdleTimer({ idleMs: 0, inTransactionMs: 10 }, () => true, fire);
    t.arm("inTransaction");
    return t;
  });
  assert.equal(inTx?.code, "25P03");
  assert.equal(inTx?.message, "terminating connection due to idle-in-transaction timeout");
});

Deno.test("IdleTimer: nothing fires when disarmed, off, or while a batch runs", async () => {
  for (
    const [timeouts, tx, idle, disarm] of [
      [{ idleMs: 10, inTransactionMs: 0 }, "idle", true, true],
      [{ idleMs: 0, inTransactionMs: 0 }, "idle", true, false],
      [{ idleMs: 10, inTransactionMs: 0 }, "inTransaction", true, false],
      [{ idleMs: 10, inTransactionMs: 10 }, "idle", false, false],
    ] as const
  ) {
    const got = await fired((fire) => {
      const t = new IdleTimer(timeouts, () => idle, fire);
      t.arm(tx);
      if (disarm) t.disarm();
      return t;
    });
    assert.equal(got, undefined);
  }
});
