import assert from "node:assert/strict";
import { encodeBind, encodeClose, encodeParse } from "../../../src/protocol/mod.ts";
import type {
  CopyMessage,
  PreparedStatement,
  StatementLookup,
} from "../../../src/replication/mod.ts";
import { StatementSync } from "../../../src/session/statement_sync.ts";

const parse = (name: string, sql: string): CopyMessage => ({
  kind: "Parse",
  bytes: encodeParse(name, sql),
  source: 0,
  statement: name,
});
const bind = (name: string, bound?: Uint8Array): CopyMessage =>
  bound === undefined
    ? { kind: "Bind", bytes: encodeBind({ statement: name }), source: 1, statement: name }
    : {
      kind: "Bind",
      bytes: encodeBind({ statement: name }),
      source: 1,
      statement: name,
      parse: bound,
    };
const lookup = (entries: Record<string, Uint8Array>): StatementLookup => ({
  statement: (name) =>
    entries[name] === undefined ? undefined : ({ parse: entries[name] } as PreparedStatement),
});
const summary = (messages: readonly CopyMessage[]) =>
  messages.map((m) => `${m.kind}${m.source === -1 ? "*" : ""}`);

Deno.test("statement sync: a Bind of a statement the copy lacks gets its Parse first", () => {
  const sync = new StatementSync();
  const s1 = parse("s", "INSERT INTO a VALUES ($1)").bytes;
  const out = sync.withStatements([bind("s")], lookup({ s: s1 }));
  assert.deepEqual(summary(out), ["Parse*", "Bind"]);
  assert.equal(out[0]!.bytes, s1);
  // The copy has it now: nothing is added the next time.
  assert.deepEqual(summary(sync.withStatements([bind("s")], lookup({ s: s1 }))), ["Bind"]);
});

Deno.test("statement sync: a Bind uses the version it bound, not the session's current one", () => {
  const sync = new StatementSync();
  const old = parse("s", "INSERT INTO a VALUES ($1)").bytes;
  const current = parse("s", "INSERT INTO b VALUES ($1)").bytes;
  // The client re-parsed "s" before the copies ran this batch: the Bind carries the old version.
  const out = sync.withStatements([bind("s", old)], lookup({ s: current }));
  assert.deepEqual(summary(out), ["Parse*", "Bind"]);
  assert.equal(out[0]!.bytes, old);
});

Deno.test("statement sync: a Parse of a name the copy still has closes it first", () => {
  const sync = new StatementSync();
  sync.withStatements([parse("s", "SELECT 1")], lookup({}));
  // The client's Close of "s" went to the original alone; the copy still has it.
  const out = sync.withStatements([parse("s", "SELECT 2"), bind("s")], lookup({}));
  assert.deepEqual(summary(out), ["Close*", "Parse", "Bind"]);
  assert.deepEqual([...out[0]!.bytes], [...encodeClose("S", "s")]);
  // The unnamed statement is replaced by a Parse without a Close.
  const unnamed = sync.withStatements([parse("", "SELECT 1"), parse("", "SELECT 2")], lookup({}));
  assert.deepEqual(summary(unnamed), ["Parse", "Parse"]);
});

Deno.test("statement sync: forget() makes the next Bind send the Parse again", () => {
  const sync = new StatementSync();
  const s1 = parse("s", "SELECT $1").bytes;
  sync.withStatements([bind("s")], lookup({ s: s1 }));
  sync.forget();
  assert.deepEqual(summary(sync.withStatements([bind("s")], lookup({ s: s1 }))), [
    "Parse*",
    "Bind",
  ]);
});
