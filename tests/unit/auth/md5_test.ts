import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { md5Password, md5SaltedVerifier, md5Verifier } from "../../../src/auth/md5.ts";

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

Deno.test('md5Verifier: matches the golden value of md5("secretpostgres")', () => {
  // echo -n secretpostgres | md5sum  ->  53f48b7c4b76a86ce72276c5755f217d
  assert.equal(md5Verifier("postgres", "secret"), "md553f48b7c4b76a86ce72276c5755f217d");
});

Deno.test("md5Verifier: hashes password then user, as UTF-8", () => {
  assert.equal(md5Verifier("jürgen", "pässword"), "md5" + md5("pässwordjürgen"));
});

Deno.test("md5Password: matches the golden salted response", async () => {
  // printf '53f48b7c4b76a86ce72276c5755f217d\x01\x02\x03\x04' | md5sum
  const salt = new Uint8Array([1, 2, 3, 4]);
  assert.equal(
    await md5Password("postgres", "secret", salt),
    "md5bb41a296aab6baccb36ff243a562abff",
  );
});

Deno.test("md5Password: equals md5(md5hex(password + user) + salt) for a binary salt", async () => {
  const salt = new Uint8Array([0xff, 0x00, 0x80, 0x7f]);
  const inner = md5("hunter2alice");
  const expected = "md5" + md5(Buffer.concat([Buffer.from(inner), salt]));
  assert.equal(await md5Password("alice", "hunter2", salt), expected);
  assert.equal(md5SaltedVerifier(md5Verifier("alice", "hunter2"), salt), expected);
});

Deno.test("md5Password: rejects when the salt is not 4 bytes", async () => {
  await assert.rejects(md5Password("u", "p", new Uint8Array(3)), RangeError);
});

Deno.test("md5SaltedVerifier: throws on a verifier that is not md5", () => {
  assert.throws(() => md5SaltedVerifier("SCRAM-SHA-256$4096:x$y:z", new Uint8Array(4)), RangeError);
});
