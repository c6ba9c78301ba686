import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { AuthError } from "../../../src/auth/errors.ts";
import { type ChannelBinding, ScramClient } from "../../../src/auth/scram_client.ts";
import {
  formatScramVerifier,
  makeScramVerifier,
  parseScramVerifier,
  ScramServer,
  type ScramServerOptions,
  type ScramVerifier,
} from "../../../src/auth/scram_server.ts";

// "secret", salt 00 01 .. 0f, 4096 iterations; computed once and cross-checked below.
const SECRET_VERIFIER = "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==" +
  "$THoPhoTAuqyoQsK4dUHncUzgfD8fdmhsgKZhWVqNP5U=:7YiHMMi2OcXGRogub03Ek06JRZ9bkhTOdCzHa5iPLiQ=";
const SALT = new Uint8Array(Array.from({ length: 16 }, (_, i) => i));

function isAuthError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof AuthError && e.code === code;
}

function verifier(text: string): ScramVerifier {
  const v = parseScramVerifier(text);
  assert.ok(v !== undefined);
  return v;
}

Deno.test("makeScramVerifier: produces PostgreSQL's stored form for a pinned salt", async () => {
  assert.equal(await makeScramVerifier("secret", { salt: SALT }), SECRET_VERIFIER);
});

Deno.test("makeScramVerifier: keys match an independent node:crypto derivation", () => {
  const v = verifier(SECRET_VERIFIER);
  const salted = pbkdf2Sync("secret", Buffer.from(v.salt), v.iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  assert.deepEqual(Buffer.from(v.storedKey), createHash("sha256").update(clientKey).digest());
  assert.deepEqual(Buffer.from(v.serverKey), serverKey);
});

Deno.test("makeScramVerifier: uses a random 16-byte salt and 4096 iterations by default", async () => {
  const a = verifier(await makeScramVerifier("secret"));
  const b = verifier(await makeScramVerifier("secret"));
  assert.equal(a.iterations, 4096);
  assert.equal(a.salt.length, 16);
  assert.notDeepEqual(a.salt, b.salt);
});

Deno.test("makeScramVerifier: applies SASLprep, as PostgreSQL does", async () => {
  const prepared = await makeScramVerifier("IX", { salt: SALT, iterations: 1 });
  assert.equal(await makeScramVerifier("\u2168", { salt: SALT, iterations: 1 }), prepared);
});

Deno.test("makeScramVerifier: throws on an invalid iteration count", async () => {
  await assert.rejects(makeScramVerifier("x", { iterations: 0 }), RangeError);
  await assert.rejects(makeScramVerifier("x", { iterations: 1.5 }), RangeError);
});

Deno.test("parseScramVerifier: round-trips through formatScramVerifier", () => {
  assert.equal(formatScramVerifier(verifier(SECRET_VERIFIER)), SECRET_VERIFIER);
});

Deno.test("parseScramVerifier: returns undefined for anything but a valid verifier", () => {
  const [head = "", keys = ""] = SECRET_VERIFIER.split("$").slice(1);
  for (
    const text of [
      "",
      "md553f48b7c4b76a86ce72276c5755f217d",
      "secret",
      `SCRAM-SHA-1$${head}$${keys}`,
      `SCRAM-SHA-256$0:AAAA$${keys}`,
      `SCRAM-SHA-256$x:AAAA$${keys}`,
      `SCRAM-SHA-256$4096:@@@@$${keys}`,
      `SCRAM-SHA-256$${head}$AAAA:AAAA`,
      `SCRAM-SHA-256$${head}`,
      `${SECRET_VERIFIER}$extra`,
    ]
  ) {
    assert.equal(parseScramVerifier(text), undefined, text);
  }
});

Deno.test("ScramServer: answers the RFC 7677 exchange exactly", async () => {
  const v = verifier(
    await makeScramVerifier("pencil", {
      salt: Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"),
    }),
  );
  const server = new ScramServer(v, { nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" });
  assert.equal(
    server.handleClientFirst("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  );
  const final = await server.handleClientFinal(
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
  assert.equal(final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  assert.equal(server.kind, "done");
});

interface RoundTrip {
  readonly clientPassword: string;
  readonly serverVerifier?: ScramVerifier | undefined;
  readonly client?: ConstructorParameters<typeof ScramClient>[1];
  readonly server?: ScramServerOptions;
}

async function roundTrip(o: RoundTrip): Promise<void> {
  const client = new ScramClient(o.clientPassword, o.client);
  const server = new ScramServer(
    "serverVerifier" in o ? o.serverVerifier : verifier(SECRET_VERIFIER),
    o.server,
  );
  const serverFirst = server.handleClientFirst(client.clientFirstMessage());
  const serverFinal = await server.handleClientFinal(await client.handleServerFirst(serverFirst));
  await client.verifyServerFinal(serverFinal);
  assert.equal(client.kind, "done");
  assert.equal(server.kind, "done");
}

Deno.test("ScramServer: authenticates ScramClient with the right password", async () => {
  await roundTrip({ clientPassword: "secret" });
});

Deno.test("ScramServer: rejects a wrong password with 28P01", async () => {
  await assert.rejects(roundTrip({ clientPassword: "Secret" }), isAuthError("28P01"));
});

Deno.test("ScramServer: a doomed exchange (no verifier) fails with 28P01", async () => {
  const mockSalt = new Uint8Array(16).fill(7);
  const server = new ScramServer(undefined, { mockSalt, nonce: "srv" });
  assert.equal(
    server.handleClientFirst("n,,n=,r=cli"),
    "r=clisrv,s=BwcHBwcHBwcHBwcHBwcHBw==,i=4096",
  );
  await assert.rejects(
    roundTrip({ clientPassword: "", serverVerifier: undefined }),
    isAuthError("28P01"),
  );
});

Deno.test("ScramClient: rejects a server that does not know the password", async () => {
  // A server holding another password's verifier cannot sign: the client must notice.
  const client = new ScramClient("secret", { nonce: "cli" });
  const impostor = verifier(await makeScramVerifier("other", { salt: SALT }));
  const stolen = verifier(SECRET_VERIFIER);
  const server = new ScramServer({ ...stolen, serverKey: impostor.serverKey }, { nonce: "srv" });
  const final = await server.handleClientFinal(
    await client.handleServerFirst(server.handleClientFirst(client.clientFirstMessage())),
  );
  await assert.rejects(client.verifyServerFinal(final), isAuthError("28P01"));
});

const BINDING: ChannelBinding = { type: "tls-server-end-point", data: new Uint8Array([9, 8, 7]) };

Deno.test("ScramServer: accepts matching tls-server-end-point channel binding", async () => {
  await roundTrip({
    clientPassword: "secret",
    client: { channelBinding: BINDING },
    server: { mechanism: "SCRAM-SHA-256-PLUS", channelBinding: BINDING },
  });
});

Deno.test("ScramServer: rejects mismatched channel binding data with 08P01", async () => {
  const other: ChannelBinding = { ...BINDING, data: new Uint8Array([1]) };
  await assert.rejects(
    roundTrip({
      clientPassword: "secret",
      client: { channelBinding: other },
      server: { mechanism: "SCRAM-SHA-256-PLUS", channelBinding: BINDING },
    }),
    isAuthError("08P01"),
  );
});

Deno.test("ScramServer: rejects gs2 flag y when the server supports binding (downgrade)", async () => {
  await assert.rejects(
    roundTrip({
      clientPassword: "secret",
      client: { channelBindingSupported: true },
      server: { channelBinding: BINDING },
    }),
    isAuthError("08P01"),
  );
  await roundTrip({ clientPassword: "secret", client: { channelBindingSupported: true } });
});

Deno.test("ScramServer: rejects a gs2 flag that contradicts the mechanism", () => {
  const plus = new ScramServer(undefined, {
    mechanism: "SCRAM-SHA-256-PLUS",
    channelBinding: BINDING,
  });
  assert.throws(() => plus.handleClientFirst("n,,n=,r=abc"), isAuthError("08P01"));
  const plain = new ScramServer(undefined);
  assert.throws(
    () => plain.handleClientFirst("p=tls-server-end-point,,n=,r=abc"),
    isAuthError("08P01"),
  );
  assert.throws(() => new ScramServer(undefined, { mechanism: "SCRAM-SHA-256-PLUS" }), TypeError);
});

Deno.test("ScramServer: rejects a malformed client-first-message", async (t) => {
  const cases: Record<string, [string, string]> = {
    "empty": ["", "08P01"],
    "unknown flag": ["x,,n=,r=abc", "08P01"],
    "missing comma": ["nn=,r=abc", "08P01"],
    "authorization identity": ["n,a=bob,n=,r=abc", "0A000"],
    "mandatory extension": ["n,,m=ext,n=,r=abc", "0A000"],
    "missing user": ["n,,r=abc", "08P01"],
    "missing nonce": ["n,,n=", "08P01"],
    "empty nonce": ["n,,n=,r=", "08P01"],
    "non-printable nonce": ["n,,n=,r=a\u0001b", "08P01"],
    "bad extension": ["n,,n=,r=abc,1=x", "08P01"],
  };
  for (const [name, [message, code]] of Object.entries(cases)) {
    await t.step(name, () => {
      const server = new ScramServer(verifier(SECRET_VERIFIER));
      assert.throws(() => server.handleClientFirst(message), isAuthError(code));
      assert.equal(server.kind, "failed");
    });
  }
});

Deno.test("ScramServer: ignores optional extensions in client-first-message", () => {
  const server = new ScramServer(verifier(SECRET_VERIFIER), { nonce: "srv" });
  assert.ok(server.handleClientFirst("n,,n=bob,r=abc,x=ext").startsWith("r=abcsrv,"));
});

Deno.test("ScramServer: rejects a malformed client-final-message with 08P01", async (t) => {
  const proof = "p=" + btoa("x".repeat(32));
  const cases: Record<string, string> = {
    "empty": "",
    "wrong binding": `c=eSws,r=abcsrv,${proof}`,
    "binding not base64": `c=b!ws,r=abcsrv,${proof}`,
    "nonce differs": `c=biws,r=abcsrx,${proof}`,
    "missing proof": "c=biws,r=abcsrv",
    "short proof": "c=biws,r=abcsrv,p=" + btoa("x".repeat(31)),
    "proof not last": `c=biws,r=abcsrv,${proof},x=1`,
  };
  for (const [name, message] of Object.entries(cases)) {
    await t.step(name, async () => {
      const server = new ScramServer(verifier(SECRET_VERIFIER), { nonce: "srv" });
      server.handleClientFirst("n,,n=,r=abc");
      await assert.rejects(server.handleClientFinal(message), isAuthError("08P01"));
      assert.equal(server.kind, "failed");
    });
  }
});

Deno.test("ScramServer: signs extensions before the proof into AuthMessage", async () => {
  const client = new ScramClient("secret", { nonce: "abc" });
  const server = new ScramServer(verifier(SECRET_VERIFIER), { nonce: "srv" });
  const final = await client.handleServerFirst(
    server.handleClientFirst(client.clientFirstMessage()),
  );
  // Extensions change AuthMessage, so a proof computed without them must fail.
  const withExt = final.replace(",p=", ",x=ext,p=");
  await assert.rejects(server.handleClientFinal(withExt), isAuthError("28P01"));
});

Deno.test("ScramServer: throws 08P01 naming the state when a step comes out of order", async () => {
  const server = new ScramServer(verifier(SECRET_VERIFIER));
  await assert.rejects(server.handleClientFinal("c=biws"), /"initial"/);
  server.handleClientFirst("n,,n=,r=abc");
  assert.throws(() => server.handleClientFirst("n,,n=,r=abc"), (e: unknown) => {
    return isAuthError("08P01")(e) && e instanceof Error && e.message.includes('"firstSent"');
  });
  await assert.rejects(server.handleClientFinal("garbage"), isAuthError("08P01"));
  await assert.rejects(server.handleClientFinal("c=biws"), /"failed"/);
});
