/**
 * @module
 * Unit tests of `src/session/cancel_keys.ts`: unique positive process ids, lookup by the exact
 * pair, and unregistering.
 */

import assert from "node:assert/strict";
import { type Cancelable, CancelKeys } from "../../../src/session/cancel_keys.ts";

function session(): Cancelable {
  return { cancel: () => Promise.resolve() };
}

Deno.test("cancel keys: issue unique positive 31-bit process ids and 32-bit secrets", () => {
  const keys = new CancelKeys();
  const ids = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const k = keys.register(session());
    assert.ok(Number.isInteger(k.processId) && k.processId > 0 && k.processId <= 0x7fffffff);
    assert.ok(Number.isInteger(k.secretKey));
    assert.ok(k.secretKey >= -0x80000000 && k.secretKey <= 0x7fffffff);
    ids.add(k.processId);
  }
  assert.equal(ids.size, 2000);
  assert.equal(keys.size, 2000);
});

Deno.test("cancel keys: find the session by its exact pair", () => {
  const keys = new CancelKeys();
  const a = session();
  const b = session();
  const ka = keys.register(a);
  const kb = keys.register(b);
  assert.equal(keys.lookup(ka.processId, ka.secretKey), a);
  assert.equal(keys.lookup(kb.processId, kb.secretKey), b);
  assert.equal(keys.lookup(ka.processId, (ka.secretKey + 1) | 0), undefined);
  assert.equal(keys.lookup(ka.processId ^ 1 || 2, ka.secretKey), undefined);
});

Deno.test("cancel keys: accept the secret read as an unsigned 32-bit number", () => {
  const keys = new CancelKeys();
  const s = session();
  const k = keys.register(s);
  assert.equal(keys.lookup(k.processId, k.secretKey >>> 0), s);
});

Deno.test("cancel keys: forget a key when unregistered with the right secret only", () => {
  const keys = new CancelKeys();
  const s = session();
  const k = keys.register(s);
  keys.unregister({ processId: k.processId, secretKey: (k.secretKey + 1) | 0 });
  assert.equal(keys.lookup(k.processId, k.secretKey), s);
  keys.unregister(k);
  assert.equal(keys.lookup(k.processId, k.secretKey), undefined);
  assert.equal(keys.size, 0);
  keys.unregister(k); // twice is harmless
  assert.equal(keys.size, 0);
});
