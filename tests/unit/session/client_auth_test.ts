/**
 * @module
 * The client authentication exchange, driven by usogres's own SCRAM client and hand-made md5
 * answers: success, wrong passwords and unknown roles (28P01), channel binding (PLUS), md5 with
 * a SCRAM verifier, certificates (28000), and messages out of place (08P01).
 */

import assert from "node:assert/strict";
import { makeScramVerifier, md5Password, md5Verifier, ScramClient } from "../../../src/auth/mod.ts";
import {
  BackendCode,
  decodeAuthentication,
  encodePasswordMessage,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  type Frame,
  PgError,
} from "../../../src/protocol/mod.ts";
import { AuthExchange, type AuthSubject } from "../../../src/session/client_auth.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const END_POINT = new Uint8Array(32).fill(7);
const SECRET = new Uint8Array(32).fill(1);

function frame(bytes: Uint8Array<ArrayBuffer>): Frame {
  return { code: bytes[0]!, bytes };
}

function subject(s: Partial<AuthSubject> & Pick<AuthSubject, "method">): AuthSubject {
  return {
    user: "alice",
    verifier: undefined,
    endPoint: undefined,
    certCommonName: undefined,
    certProblem: undefined,
    mockSecret: SECRET,
    ...s,
  };
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<PgError> {
  try {
    if (typeof p === "function") p();
    else await p;
  } catch (e: unknown) {
    if (e instanceof PgError) return e;
    throw e;
  }
  assert.fail("expected a PgError");
}

/** Runs a whole SCRAM exchange with a client; returns the server's last step. */
async function scram(
  exchange: AuthExchange,
  client: ScramClient,
  mechanism = "SCRAM-SHA-256",
) {
  const first = exchange.start();
  const sasl = decodeAuthentication(frame(first.send));
  assert.equal(sasl.type, "AuthenticationSASL");
  const cont = await exchange.step(
    frame(encodeSASLInitialResponse(mechanism, enc.encode(client.clientFirstMessage()))),
  );
  const challenge = decodeAuthentication(frame(cont.send));
  assert.equal(challenge.type, "AuthenticationSASLContinue");
  if (challenge.type !== "AuthenticationSASLContinue") throw new Error("unreachable");
  const final = await client.handleServerFirst(dec.decode(challenge.data));
  const last = await exchange.step(frame(encodeSASLResponse(enc.encode(final))));
  const outcome = decodeAuthentication(frame(last.send));
  if (outcome.type !== "AuthenticationSASLFinal") throw new Error("expected SASLFinal");
  await client.verifyServerFinal(dec.decode(outcome.data));
  return last;
}

Deno.test("AuthExchange: trust is done at once with nothing to send", () => {
  const step = new AuthExchange(subject({ method: "trust" })).start();
  assert.equal(step.done, true);
  assert.equal(step.send.length, 0);
});

Deno.test("AuthExchange: SCRAM-SHA-256 with the right password succeeds", async () => {
  const verifier = await makeScramVerifier("pw", { iterations: 16 });
  const exchange = new AuthExchange(subject({ method: "scram-sha-256", verifier }));
  const last = await scram(exchange, new ScramClient("pw"));
  assert.equal(last.done, true);
  assert.equal(exchange.state.kind, "done");
});

Deno.test("AuthExchange: a wrong password or an unknown role is 28P01 naming the user", async () => {
  const verifier = await makeScramVerifier("pw", { iterations: 16 });
  for (const v of [verifier, undefined, md5Verifier("alice", "pw")]) {
    const exchange = new AuthExchange(subject({ method: "scram-sha-256", verifier: v }));
    const e = await failure(scram(exchange, new ScramClient(v === verifier ? "wrong" : "pw")));
    assert.equal(e.code, "28P01");
    assert.equal(e.message, 'password authentication failed for user "alice"');
    assert.equal(exchange.state.kind, "failed");
  }
});

Deno.test("AuthExchange: an unknown role gets the same salt every time (no probing)", async () => {
  const salts = [];
  for (let i = 0; i < 2; i++) {
    const exchange = new AuthExchange(subject({ method: "scram-sha-256", user: "ghost" }));
    exchange.start();
    const client = new ScramClient("x");
    const cont = await exchange.step(
      frame(encodeSASLInitialResponse("SCRAM-SHA-256", enc.encode(client.clientFirstMessage()))),
    );
    const m = decodeAuthentication(frame(cont.send));
    if (m.type !== "AuthenticationSASLContinue") throw new Error("expected SASLContinue");
    salts.push(/s=([^,]+)/.exec(dec.decode(m.data))?.[1]);
  }
  assert.equal(salts[0], salts[1]);
});

Deno.test("AuthExchange: over TLS, PLUS is offered first and binds to the certificate", async () => {
  const verifier = await makeScramVerifier("pw", { iterations: 16 });
  const exchange = new AuthExchange(
    subject({ method: "scram-sha-256", verifier, endPoint: END_POINT }),
  );
  const client = new ScramClient("pw", {
    channelBinding: { type: "tls-server-end-point", data: END_POINT },
  });
  const first = decodeAuthentication(frame(
    new AuthExchange(
      subject({ method: "scram-sha-256", verifier, endPoint: END_POINT }),
    ).start().send,
  ));
  assert.ok(first.type === "AuthenticationSASL");
  assert.deepEqual(first.mechanisms, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
  assert.equal((await scram(exchange, client, "SCRAM-SHA-256-PLUS")).done, true);
});

Deno.test("AuthExchange: binding data of another certificate is 08P01", async () => {
  const verifier = await makeScramVerifier("pw", { iterations: 16 });
  const exchange = new AuthExchange(
    subject({ method: "scram-sha-256", verifier, endPoint: END_POINT }),
  );
  const client = new ScramClient("pw", {
    channelBinding: { type: "tls-server-end-point", data: new Uint8Array(32).fill(9) },
  });
  const e = await failure(scram(exchange, client, "SCRAM-SHA-256-PLUS"));
  assert.equal(e.code, "08P01");
});

Deno.test("AuthExchange: PLUS without TLS, or an unknown mechanism, is 08P01", async () => {
  for (const mechanism of ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1"]) {
    const exchange = new AuthExchange(subject({ method: "scram-sha-256" }));
    exchange.start();
    const e = await failure(
      exchange.step(frame(encodeSASLInitialResponse(mechanism, enc.encode("n,,n=,r=abc")))),
    );
    assert.equal(e.code, "08P01");
  }
});

Deno.test("AuthExchange: md5 checks the salted hash", async () => {
  for (const [password, ok] of [["pw", true], ["nope", false]] as const) {
    const exchange = new AuthExchange(
      subject({ method: "md5", verifier: md5Verifier("alice", "pw") }),
    );
    const req = decodeAuthentication(frame(exchange.start().send));
    if (req.type !== "AuthenticationMD5Password") throw new Error("expected md5");
    const answer = encodePasswordMessage(await md5Password("alice", password, req.salt));
    if (ok) assert.equal((await exchange.step(frame(answer))).done, true);
    else assert.equal((await failure(exchange.step(frame(answer)))).code, "28P01");
  }
});

Deno.test("AuthExchange: md5 for a role with a SCRAM verifier runs SCRAM, as PostgreSQL", async () => {
  const verifier = await makeScramVerifier("pw", { iterations: 16 });
  const exchange = new AuthExchange(subject({ method: "md5", verifier }));
  assert.equal((await scram(exchange, new ScramClient("pw"))).done, true);
  assert.equal(exchange.md5ViaScram, true);
});

Deno.test("AuthExchange: md5 for an unknown role asks and then fails with 28P01", async () => {
  const exchange = new AuthExchange(subject({ method: "md5" }));
  const req = decodeAuthentication(frame(exchange.start().send));
  assert.equal(req.type, "AuthenticationMD5Password");
  const e = await failure(exchange.step(frame(encodePasswordMessage("md5" + "0".repeat(32)))));
  assert.equal(e.code, "28P01");
});

Deno.test("AuthExchange: cert needs a verified certificate whose CN is the role (28000)", async () => {
  const ok = new AuthExchange(subject({ method: "cert", certCommonName: "alice" })).start();
  assert.equal(ok.done, true);
  const other = await failure(() =>
    new AuthExchange(subject({ method: "cert", certCommonName: "bob" })).start()
  );
  assert.equal(other.code, "28000");
  assert.match(other.message, /certificate authentication failed for user "alice"/);
  const none = await failure(() =>
    new AuthExchange(subject({ method: "cert", certProblem: "no client certificate was sent" }))
      .start()
  );
  assert.equal(none.code, "28000");
  assert.equal(none.detail, "No client certificate was sent.");
});

Deno.test("AuthExchange: a message other than 'p', or a step after the end, is 08P01", async () => {
  const exchange = new AuthExchange(subject({ method: "md5" }));
  exchange.start();
  const e = await failure(exchange.step(frame(encodeQuery("SELECT 1"))));
  assert.equal(e.code, "08P01");
  assert.match(e.message, /expected password response/);
  const again = await failure(exchange.step(frame(encodePasswordMessage("x"))));
  assert.equal(again.code, "08P01");
  assert.equal(BackendCode.AuthenticationRequest, 0x52);
});
