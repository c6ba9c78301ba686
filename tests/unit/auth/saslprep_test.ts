import assert from "node:assert/strict";
import { saslPrep } from "../../../src/auth/saslprep.ts";

Deno.test("saslPrep: returns ASCII unchanged, control characters included", () => {
  assert.equal(saslPrep("pencil"), "pencil");
  assert.equal(saslPrep("a\u0007b"), "a\u0007b");
  assert.equal(saslPrep(""), "");
});

Deno.test("saslPrep: maps non-ASCII spaces to a space and removes B.1 characters", () => {
  assert.equal(saslPrep("a\u00a0b"), "a b");
  assert.equal(saslPrep("a\u3000b\u200bc"), "a b c"); // U+200B is in C.1.2 first, as PostgreSQL
  assert.equal(saslPrep("I\u00adX"), "IX");
  assert.equal(saslPrep("\ufeffé"), "é");
});

Deno.test("saslPrep: normalizes with NFKC", () => {
  assert.equal(saslPrep("\u2168"), "IX");
  assert.equal(saslPrep("\u00aa"), "a");
  assert.equal(saslPrep("e\u0301"), "\u00e9");
});

Deno.test("saslPrep: fails when prohibited characters are present", () => {
  assert.equal(saslPrep("a\u0007\u00e9"), undefined); // ASCII control beside non-ASCII
  assert.equal(saslPrep("\u00e9\ue000"), undefined); // private use
  assert.equal(saslPrep("\u00e9\u{e0001}"), undefined); // tagging
  assert.equal(saslPrep("\u00e9\u{1fffe}"), undefined); // non-character
});

Deno.test("saslPrep: fails when mapping leaves nothing", () => {
  assert.equal(saslPrep("\u00ad"), undefined);
});

Deno.test("saslPrep: fails on a lone surrogate", () => {
  assert.equal(saslPrep("\ud800x"), undefined);
});

Deno.test("saslPrep: enforces the bidi rules when RandALCat characters appear", () => {
  assert.equal(saslPrep("\u05d0\u05d1"), "\u05d0\u05d1");
  assert.equal(saslPrep("\u05d0a\u05d1"), undefined); // mixes RandALCat and LCat
  assert.equal(saslPrep("\u05d01"), undefined); // does not end with RandALCat
});
