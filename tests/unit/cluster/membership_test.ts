/**
 * @module
 * Unit tests of `src/cluster/membership.ts`: the allowed and refused state changes, the first
 * stale reason winning, persistence to the state file and restoring it, and listeners.
 */

import assert from "node:assert/strict";
import { Membership, type MemberState } from "../../../src/cluster/membership.ts";

type Kind = MemberState["kind"];

const SINCE = "2026-01-01T00:00:00.000Z";

function state(kind: Kind, reason = `to ${kind}`): MemberState {
  switch (kind) {
    case "inSync":
      return { kind };
    case "recovering":
      return { kind, since: SINCE };
    default:
      return { kind, reason, since: SINCE };
  }
}

/** A membership with copy "c" put in state `kind` through allowed edges. */
function inState(kind: Kind): Membership {
  const m = new Membership("o", ["c"], "");
  const path: Record<Kind, Kind[]> = {
    inSync: [],
    stale: ["stale"],
    down: ["down"],
    recovering: ["stale", "recovering"],
  };
  for (const k of path[kind]) m.transition("c", state(k));
  assert.equal(m.get("c").state.kind, kind);
  return m;
}

async function withStateFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "usogres-membership-" });
  try {
    await fn(`${dir}/state.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ALLOWED: [Kind, Kind][] = [
  ["inSync", "stale"],
  ["inSync", "down"],
  ["stale", "down"],
  ["stale", "recovering"],
  ["down", "stale"],
  ["down", "recovering"],
  ["recovering", "inSync"],
  ["recovering", "stale"],
  ["recovering", "down"],
];

const REFUSED: [Kind, Kind][] = [
  ["inSync", "recovering"],
  ["stale", "inSync"],
  ["down", "inSync"],
];

Deno.test("membership: starts every backend in sync, original first", () => {
  const m = new Membership("o", ["c1", "c2"], "");
  assert.deepEqual(m.members.map((x) => [x.name, x.role, x.state.kind]), [
    ["o", "original", "inSync"],
    ["c1", "copy", "inSync"],
    ["c2", "copy", "inSync"],
  ]);
  assert.ok(m.isInSync("c1"));
  assert.equal(m.isInSync("nope"), false);
  assert.throws(() => m.get("nope"), /unknown backend "nope"/);
});

Deno.test("membership: allows each legal state change", () => {
  for (const [from, to] of ALLOWED) {
    const m = inState(from);
    assert.equal(m.transition("c", state(to)), true, `${from} -> ${to}`);
    assert.equal(m.get("c").state.kind, to);
  }
});

Deno.test("membership: refuses each illegal state change naming both states", () => {
  for (const [from, to] of REFUSED) {
    const m = inState(from);
    assert.throws(
      () => m.transition("c", state(to)),
      (e: unknown) =>
        e instanceof Error && e.message.includes(`from ${from} to ${to}`) &&
        e.message.includes('"c"'),
      `${from} -> ${to}`,
    );
    assert.equal(m.get("c").state.kind, from);
  }
});

Deno.test("membership: reports no change when the state kind is the same", () => {
  for (const kind of ["inSync", "down", "recovering"] as const) {
    const m = inState(kind);
    const calls: string[] = [];
    m.onChange((x) => calls.push(x.name));
    assert.equal(m.transition("c", state(kind, "again")), false);
    assert.deepEqual(calls, []);
  }
});

Deno.test("membership: keeps the first stale reason", () => {
  const m = new Membership("o", ["c"], "");
  assert.equal(m.markStale("c", "tags differ"), true);
  assert.equal(m.markStale("c", "status differs"), false);
  const s = m.get("c").state;
  assert.equal(s.kind, "stale");
  assert.equal(s.kind === "stale" ? s.reason : "", "tags differ");
  assert.equal(m.get("c").lastError, "tags differ");
  assert.equal(m.isInSync("c"), false);
  assert.ok(!Number.isNaN(Date.parse(s.kind === "stale" ? s.since : "")));
});

Deno.test("membership: notifies listeners after each change until unregistered", () => {
  const m = new Membership("o", ["c"], "");
  const seen: string[] = [];
  const off = m.onChange((x) => seen.push(`${x.name}:${x.state.kind}`));
  m.markStale("c", "diverged");
  m.markStale("c", "again"); // no change: no call
  m.transition("c", state("recovering"));
  off();
  m.transition("c", state("inSync"));
  assert.deepEqual(seen, ["c:stale", "c:recovering"]);
});

Deno.test("membership: persists states and restores a stale copy after a restart", async () => {
  await withStateFile(async (file) => {
    const a = new Membership("o", ["c1", "c2"], file);
    await a.load(); // missing file: everything in sync
    a.markStale("c1", "row count differs");
    const saved = JSON.parse(await Deno.readTextFile(file));
    assert.equal(saved.original, "o");
    assert.equal(saved.backends.c1.kind, "stale");
    assert.equal(saved.backends.c2.kind, "inSync");
    assert.equal(saved.backends.o.kind, "inSync");

    const b = new Membership("o", ["c1", "c2"], file);
    assert.ok(b.isInSync("c1"));
    await b.load();
    const s = b.get("c1").state;
    assert.equal(s.kind, "stale");
    assert.equal(s.kind === "stale" ? s.reason : "", "row count differs");
    assert.ok(b.isInSync("c2"));
  });
});

Deno.test("membership: restores an interrupted recovery as stale", async () => {
  await withStateFile(async (file) => {
    const a = new Membership("o", ["c"], file);
    a.markStale("c", "diverged");
    a.transition("c", state("recovering"));
    const b = new Membership("o", ["c"], file);
    await b.load();
    const s = b.get("c").state;
    assert.equal(s.kind, "stale");
    assert.equal(s.kind === "stale" ? s.since : "", SINCE);
  });
});

Deno.test("membership: never restores the original as stale", async () => {
  await withStateFile(async (file) => {
    const saved = {
      o: { kind: "stale", reason: "bogus", since: SINCE },
      c: { kind: "down", reason: "refused", since: SINCE },
      gone: { kind: "stale", reason: "removed from the config", since: SINCE },
    };
    await Deno.writeTextFile(file, JSON.stringify(saved));
    const m = new Membership("o", ["c"], file);
    await m.load();
    assert.equal(m.get("o").state.kind, "inSync");
    assert.equal(m.get("c").state.kind, "down");
    assert.deepEqual(m.members.map((x) => x.name), ["o", "c"]);
  });
});

Deno.test("membership: rejects a state file that does not parse", async () => {
  await withStateFile(async (file) => {
    await Deno.writeTextFile(file, "{not json");
    const m = new Membership("o", ["c"], file);
    await assert.rejects(() => m.load(), SyntaxError);
  });
});

Deno.test("membership: writes no file without a state file path", async () => {
  const m = new Membership("o", ["c"], "");
  await m.load();
  m.markStale("c", "x");
  assert.equal(m.get("c").state.kind, "stale");
});

Deno.test("membership: starts every counter at zero and no divergence time", () => {
  const c = new Membership("o", ["c"], "").get("c");
  assert.deepEqual(
    [c.writesApplied, c.writesFailed, c.writesSkipped, c.divergences, c.lastDivergenceAt],
    [0, 0, 0, 0, undefined],
  );
});

Deno.test("membership: markDown moves an in-sync or stale copy to down, and down to stale only", () => {
  const m = new Membership("o", ["c"], "");
  assert.equal(m.markDown("c", "failed 2 health checks"), true);
  const s = m.get("c").state;
  assert.equal(s.kind, "down");
  assert.equal(m.get("c").lastError, "failed 2 health checks");
  assert.equal(m.isInSync("c"), false);
  assert.equal(m.markStale("c", "answers again"), true);
  assert.equal(m.markDown("c", "gone again"), true);
  assert.throws(() => m.transition("c", { kind: "inSync" }), /from down to inSync/);
});

Deno.test("membership: forceInSync attaches a stale copy, and only a stale one", async () => {
  await withStateFile(async (file) => {
    const m = new Membership("o", ["c"], file);
    m.markStale("c", "detached by admin");
    const seen: string[] = [];
    m.onChange((x) => seen.push(x.state.kind));
    assert.equal(m.forceInSync("c", "a test"), true);
    assert.ok(m.isInSync("c"));
    assert.deepEqual(seen, ["inSync"]);
    assert.equal(JSON.parse(await Deno.readTextFile(file)).backends.c.kind, "inSync");
    assert.equal(m.forceInSync("c", "a test"), false); // already in sync: no change
    for (const kind of ["down", "recovering"] as const) {
      const other = inState(kind);
      assert.throws(() => other.forceInSync("c", "a test"), new RegExp(`from ${kind} to inSync`));
    }
  });
});

Deno.test("membership: the forced edge is not open to transition()", () => {
  const m = inState("stale");
  assert.throws(() => m.transition("c", { kind: "inSync" }), /from stale to inSync/);
});
