/**
 * @module
 * The connection cache's bookkeeping, with stand-in connections: a set is handed out only after
 * its reset succeeded, a failed or overdue reset closes it, a client that finds only sets being
 * reset waits for one (and connects anew when that reset fails or takes too long), idle sets are
 * bounded per key and expire, and shutdown closes everything.
 */

import assert from "node:assert/strict";
import { BackendPool, type BackendSet } from "../../../src/session/backend_pool.ts";
import type { BackendConnection } from "../../../src/backend/mod.ts";

interface FakeSet extends BackendSet {
  readonly terminated: () => boolean;
  /** Ends the read the pool keeps pending on the idle connection, as a server closing it. */
  readonly serverCloses: () => void;
  /** How many reads ahead the pool started on the connection. */
  readonly watched: () => number;
}

function fakeSet(membershipVersion = 1): FakeSet {
  let closed = false;
  let ahead: PromiseWithResolvers<boolean> | undefined;
  let last: PromiseWithResolvers<boolean> | undefined;
  let watched = 0;
  const reader = {
    readAhead() {
      if (!ahead) {
        ahead = last = Promise.withResolvers<boolean>();
        watched++;
      }
      return ahead.promise;
    },
    fill() {
      const p = ahead?.promise ?? Promise.resolve(true);
      ahead = undefined;
      return p;
    },
    tryNext: () => undefined,
  };
  const original = {
    target: { name: "original" },
    reader,
    get closed() {
      return closed;
    },
    terminate() {
      closed = true;
      return Promise.resolve();
    },
    close() {
      closed = true;
    },
  } as unknown as BackendConnection;
  return {
    original,
    links: [],
    membershipVersion,
    terminated: () => closed,
    serverCloses: () => last?.resolve(false),
    watched: () => watched,
  };
}

const KEY = BackendPool.key("u", "db", new Map([["application_name", "t"]]));

Deno.test("BackendPool.key: the same for the same parameters in any order, distinct otherwise", () => {
  const a = BackendPool.key("u", "db", new Map([["a", "1"], ["b", "2"]]));
  const b = BackendPool.key("u", "db", new Map([["b", "2"], ["a", "1"]]));
  assert.equal(a, b);
  assert.notEqual(a, BackendPool.key("u", "db", new Map([["a", "12"]])));
  assert.notEqual(BackendPool.key("u", "db2", new Map()), BackendPool.key("u2", "db", new Map()));
});

Deno.test("BackendPool: a set is handed out only once its reset succeeded", async () => {
  const pool = new BackendPool(2, 60_000, 60_000);
  try {
    const set = fakeSet();
    const reset = Promise.withResolvers<BackendSet | undefined>();
    pool.giveAfterReset(KEY, reset.promise, () => {});
    assert.equal(pool.take(KEY, 1), undefined, "no wait allowed: the reset is not done");
    assert.equal(pool.resetting, 1);
    reset.resolve(set);
    await reset.promise;
    await Promise.resolve();
    assert.equal(pool.idle, 1);
    assert.equal(pool.take(KEY, 1), set);
    assert.equal(pool.take(KEY, 2), undefined);
  } finally {
    pool.close();
  }
});

Deno.test("BackendPool: a failed reset hands nothing out; a waiting client connects anew", async () => {
  const pool = new BackendPool(2, 60_000, 60_000);
  try {
    const reset = Promise.withResolvers<BackendSet | undefined>();
    pool.giveAfterReset(KEY, reset.promise, () => {});
    const waiting = pool.take(KEY, 1, 5_000);
    assert.ok(waiting instanceof Promise);
    reset.resolve(undefined);
    assert.equal(await waiting, undefined);
    assert.equal(pool.idle, 0);
    assert.equal(pool.resetFailures, 1);
    // A reset that throws counts the same.
    pool.giveAfterReset(KEY, Promise.reject(new Error("closed")), () => {});
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(pool.resetFailures, 2);
    assert.equal(pool.take(KEY, 1), undefined);
  } finally {
    pool.close();
  }
});

Deno.test("BackendPool: a waiting client gets the set whose reset ends, if its topology matches", async () => {
  const pool = new BackendPool(2, 60_000, 60_000);
  try {
    const first = Promise.withResolvers<BackendSet | undefined>();
    pool.giveAfterReset(KEY, first.promise, () => {});
    const waiting = pool.take(KEY, 1, 5_000);
    // One reset in progress, one client already waiting for it: the next one does not wait.
    assert.equal(pool.take(KEY, 1, 5_000), undefined);
    const set = fakeSet(1);
    first.resolve(set);
    assert.equal(await waiting, set);
    // A set made for another membership version is not handed out: the waiter connects anew.
    const second = Promise.withResolvers<BackendSet | undefined>();
    pool.giveAfterReset(KEY, second.promise, () => {});
    const stale = fakeSet(1);
    const waiting2 = pool.take(KEY, 2, 5_000);
    second.resolve(stale);
    assert.equal(await waiting2, undefined);
    // It is kept, and closed by the next take of the current topology.
    assert.equal(pool.take(KEY, 2), undefined);
    assert.ok(stale.terminated());
  } finally {
    pool.close();
  }
});

Deno.test("BackendPool: a reset past the reset limit is aborted; a waiter gives up after its wait", async () => {
  const pool = new BackendPool(2, 60_000, 30);
  try {
    const reset = Promise.withResolvers<BackendSet | undefined>();
    let aborted = false;
    pool.giveAfterReset(KEY, reset.promise, () => {
      aborted = true;
      reset.resolve(undefined);
    });
    const waiting = pool.take(KEY, 1, 20);
    assert.equal(await waiting, undefined, "the waiter stops waiting after 20 ms");
    await reset.promise;
    assert.ok(aborted, "the overdue reset was aborted");
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(pool.resetting, 0);
  } finally {
    pool.close();
  }
});

Deno.test("BackendPool: idle sets are bounded per key and expire", async () => {
  const pool = new BackendPool(1, 20, 60_000);
  try {
    const a = fakeSet();
    const b = fakeSet();
    assert.equal(pool.give(KEY, a), true);
    assert.equal(pool.give(KEY, b), false, "the key's list is full");
    assert.ok(b.terminated());
    const deadline = Date.now() + 5000;
    while (pool.idle > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(pool.idle, 0);
    assert.ok(a.terminated(), "the expired set was closed");
  } finally {
    pool.close();
  }
});

Deno.test("BackendPool: close ends idle sets, resets in progress and waiters", async () => {
  const pool = new BackendPool(2, 60_000, 60_000);
  const idle = fakeSet();
  pool.give(KEY, idle);
  pool.take(KEY, 1);
  pool.give(KEY, idle);
  const reset = Promise.withResolvers<BackendSet | undefined>();
  let aborted = false;
  pool.giveAfterReset("other", reset.promise, () => {
    aborted = true;
    reset.resolve(undefined);
  });
  const waiting = pool.take("other", 1, 60_000);
  pool.close();
  assert.ok(idle.terminated());
  assert.ok(aborted);
  assert.equal(await waiting, undefined);
  // A set whose reset ends after shutdown is closed, not kept.
  const late = fakeSet();
  pool.giveAfterReset(KEY, Promise.resolve(late), () => {});
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(late.terminated());
  assert.equal(pool.idle, 0);
});

Deno.test("BackendPool: a set whose server closes a connection while idle is closed at once", async () => {
  const pool = new BackendPool(2, 60_000, 60_000);
  try {
    const dies = fakeSet();
    const lives = fakeSet();
    pool.give(KEY, dies);
    pool.give(KEY, lives);
    assert.equal(dies.watched(), 1, "an idle set keeps a read pending");
    dies.serverCloses();
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(dies.terminated(), true);
    assert.equal(pool.idle, 1);
    assert.equal(pool.closedWhileIdle, 1);
    // The live set is handed out; its pending read now belongs to the session (its first
    // fill()), and when that read ends the pool does nothing to it.
    const taken = pool.take(KEY, 1);
    assert.equal(taken, lives);
    const first = lives.original.reader.fill();
    lives.serverCloses();
    assert.equal(await first, false);
    await Promise.resolve();
    assert.equal(lives.terminated(), false);
    assert.equal(pool.closedWhileIdle, 1);
    assert.equal(pool.take(KEY, 1), undefined);
  } finally {
    pool.close();
  }
});
