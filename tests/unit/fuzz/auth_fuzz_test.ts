/**
 * @module
 * Fuzz test of the authentication exchange on its own: each method (SCRAM with and without
 * channel binding, md5, md5 over a SCRAM verifier) gets sequences of valid client messages,
 * mutated, reordered and mixed with random ones. A step may only fail with a `PgError` of
 * 28P01, 28000, 08P01 or 0A000, a failed exchange stays failed, and no sequence without the
 * right proof ever completes. `USOGRES_FUZZ_CASES` sets the count.
 */

import assert from "node:assert/strict";
import { makeScramVerifier, md5Password, md5Verifier, ScramClient } from "../../../src/auth/mod.ts";
import {
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  PgError,
} from "../../../src/protocol/mod.ts";
import { AuthExchange, type AuthSubject } from "../../../src/session/client_auth.ts";
import { fuzzCases, fuzzSeed, mutate, Rng } from "./_fuzz.ts";

const enc = new TextEncoder();
const ALLOWED = new Set(["28P01", "28000", "08P01", "0A000"]);

Deno.test("fuzz: the authentication exchange fails cleanly on mutated and random messages", async () => {
  const scram = await makeScramVerifier("pw", { iterations: 16 });
  const endPoint = new Uint8Array(32).fill(3);
  const client = new ScramClient("pw", { nonce: "fuzzclientnonce" });
  const plus = new ScramClient("pw", {
    nonce: "fuzzclientnonce",
    channelBinding: { type: "tls-server-end-point", data: endPoint },
  });
  // Messages a real client would send, as seeds (proofs computed for other server nonces).
  const seeds = [
    encodeSASLInitialResponse("SCRAM-SHA-256", enc.encode(client.clientFirstMessage())),
    encodeSASLInitialResponse("SCRAM-SHA-256-PLUS", enc.encode(plus.clientFirstMessage())),
    encodeSASLResponse(enc.encode("c=biws,r=fuzzclientnonceSERVER,p=" + "A".repeat(44))),
    encodeSASLResponse(enc.encode("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAwMD,r=x,p=AAAA")),
    encodePasswordMessage(await md5Password("alice", "pw", new Uint8Array([1, 2, 3, 4]))),
    encodePasswordMessage("pw"),
  ];
  const subjects: AuthSubject[] = [
    { method: "scram-sha-256", verifier: scram, endPoint: undefined },
    { method: "scram-sha-256", verifier: scram, endPoint },
    { method: "scram-sha-256", verifier: undefined, endPoint },
    { method: "md5", verifier: md5Verifier("alice", "pw"), endPoint: undefined },
    { method: "md5", verifier: scram, endPoint },
  ].map((s) => ({
    user: "alice",
    certCommonName: undefined,
    certProblem: undefined,
    mockSecret: new Uint8Array(32),
    ...s,
  } as AuthSubject));
  const rng = new Rng(fuzzSeed(0xa0714));
  const cases = fuzzCases(4000);
  const codes = new Map<string, number>();
  for (let i = 0; i < cases; i++) {
    const exchange = new AuthExchange(rng.pick(subjects));
    exchange.start();
    const steps = 1 + rng.int(3);
    for (let s = 0; s < steps; s++) {
      const r = rng.int(10);
      const seed = rng.pick(seeds);
      const bytes = r < 2 ? seed : r < 9 ? mutate(rng, seed) : rng.bytes(rng.int(40));
      if (bytes.length === 0) continue;
      const before = exchange.state.kind;
      try {
        const step = await exchange.step({ code: bytes[0]!, bytes });
        assert.ok(!step.done, `case ${i}: completed without the right proof`);
      } catch (e: unknown) {
        if (!(e instanceof PgError)) throw new Error(`case ${i}: ${String(e)}`, { cause: e });
        assert.ok(ALLOWED.has(e.code), `case ${i}: SQLSTATE ${e.code} ${e.message}`);
        assert.equal(exchange.state.kind, "failed");
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        if (before === "failed") assert.equal(e.code, "08P01");
        break;
      }
    }
  }
  for (const c of ["28P01", "08P01"]) assert.ok(codes.has(c), c);
});
