import assert from "node:assert/strict";
import { AuthError } from "../../../src/auth/errors.ts";
import { ScramClient } from "../../../src/auth/scram_client.ts";

// RFC 7677 section 3.
const RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_FIRST =
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

function rfcClient(): ScramClient {
  return new ScramClient("pencil", { nonce: RFC_CLIENT_NONCE, user: "user" });
}

function isAuthError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof AuthError && e.code === code;
}

Deno.test("ScramClient: reproduces the RFC 7677 exchange exactly", async () => {
  const client = rfcClient();
  assert.equal(client.clientFirstMessage(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  assert.equal(await client.handleServerFirst(RFC_SERVER_FIRST), RFC_CLIENT_FINAL);
  assert.equal(client.kind, "finalSent");
  await client.verifyServerFinal(RFC_SERVER_FINAL);
  assert.equal(client.kind, "done");
});

Deno.test("ScramClient: sends an empty user name and a random 24-character nonce by default", () => {
  const first = new ScramClient("secret").clientFirstMessage();
  assert.match(first, /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
  assert.notEqual(first, new ScramClient("secret").clientFirstMessage());
});

Deno.test("ScramClient: escapes = and , in the user name", () => {
  const client = new ScramClient("x", { nonce: "abc", user: "a=b,c" });
  assert.equal(client.clientFirstMessage(), "n,,n=a=3Db=2Cc,r=abc");
});

Deno.test("ScramClient: uses gs2 flag y when it supports channel binding but has none", async () => {
  const client = new ScramClient("pencil", { nonce: "abc", channelBindingSupported: true });
  assert.equal(client.mechanism, "SCRAM-SHA-256");
  assert.equal(client.clientFirstMessage(), "y,,n=,r=abc");
  const final = await client.handleServerFirst("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1");
  assert.ok(final.startsWith("c=eSws,r=abcdef,p="));
});

Deno.test("ScramClient: sends tls-server-end-point binding data in c=", async () => {
  const data = new Uint8Array([1, 2, 3]);
  const client = new ScramClient("pencil", {
    nonce: "abc",
    channelBinding: { type: "tls-server-end-point", data },
  });
  assert.equal(client.mechanism, "SCRAM-SHA-256-PLUS");
  assert.equal(client.clientFirstMessage(), "p=tls-server-end-point,,n=,r=abc");
  const final = await client.handleServerFirst("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1");
  const c = final.slice(2, final.indexOf(","));
  assert.equal(atob(c), "p=tls-server-end-point,,\x01\x02\x03");
});

Deno.test("ScramClient: rejects a nonce with a comma or non-printable characters", () => {
  assert.throws(() => new ScramClient("x", { nonce: "a,b" }), TypeError);
  assert.throws(() => new ScramClient("x", { nonce: "" }), TypeError);
  assert.throws(() => new ScramClient("x", { nonce: "a b" }), TypeError);
});

Deno.test("ScramClient: throws 08P01 naming the state when a step comes out of order", async () => {
  const client = rfcClient();
  await assert.rejects(client.handleServerFirst(RFC_SERVER_FIRST), (e: unknown) => {
    return e instanceof AuthError && e.code === "08P01" && e.message.includes('"initial"');
  });
  await assert.rejects(client.verifyServerFinal(RFC_SERVER_FINAL), /"initial"/);
  client.clientFirstMessage();
  assert.throws(() => client.clientFirstMessage(), /"firstSent"/);
  await assert.rejects(client.verifyServerFinal(RFC_SERVER_FINAL), /"firstSent"/);
  await client.handleServerFirst(RFC_SERVER_FIRST);
  await assert.rejects(client.handleServerFirst(RFC_SERVER_FIRST), /"finalSent"/);
  await client.verifyServerFinal(RFC_SERVER_FINAL);
  await assert.rejects(client.verifyServerFinal(RFC_SERVER_FINAL), /"done"/);
});

Deno.test("ScramClient: refuses every step after a failure", async () => {
  const client = rfcClient();
  client.clientFirstMessage();
  await assert.rejects(client.handleServerFirst("garbage"), isAuthError("08P01"));
  assert.equal(client.kind, "failed");
  await assert.rejects(client.verifyServerFinal(RFC_SERVER_FINAL), /"failed"/);
});

Deno.test("ScramClient: rejects a malformed server-first-message with 08P01", async (t) => {
  const cases: Record<string, string> = {
    "empty": "",
    "attributes out of order": "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
    "missing iteration count": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==",
    "salt not base64": "r=rOprNGfwEbeRWgbNEkqOxyz,s=@@@@,i=4096",
    "zero iterations": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
    "negative iterations": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
    "iterations not a number": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k",
    "iterations beyond int32": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2147483648",
    "trailing garbage": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1",
    "trailing comma": "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
    "mandatory extension": "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "nonce not extending ours": "r=XXXXNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "nonce equal to ours": "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "nonce with a space": "r=rOprNGfwEbeRWgbNEkqO x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  };
  for (const [name, message] of Object.entries(cases)) {
    await t.step(name, async () => {
      const client = rfcClient();
      client.clientFirstMessage();
      await assert.rejects(client.handleServerFirst(message), isAuthError("08P01"));
      assert.equal(client.kind, "failed");
    });
  }
});

async function clientAwaitingFinal(): Promise<ScramClient> {
  const client = rfcClient();
  client.clientFirstMessage();
  await client.handleServerFirst(RFC_SERVER_FIRST);
  return client;
}

Deno.test("ScramClient: rejects a wrong server signature with 28P01", async () => {
  const client = await clientAwaitingFinal();
  const tampered = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".replace("6rr", "7rr");
  await assert.rejects(client.verifyServerFinal(tampered), isAuthError("28P01"));
  assert.equal(client.kind, "failed");
});

Deno.test("ScramClient: reports a server e= error with 28P01", async () => {
  const client = await clientAwaitingFinal();
  await assert.rejects(client.verifyServerFinal("e=invalid-proof"), isAuthError("28P01"));
});

Deno.test("ScramClient: rejects a malformed server-final-message with 08P01", async (t) => {
  const cases: Record<string, string> = {
    "empty": "",
    "wrong attribute": "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    "signature not base64": "v=not base64",
    "signature too short": "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",
    "trailing garbage": RFC_SERVER_FINAL + ",x=1",
  };
  for (const [name, message] of Object.entries(cases)) {
    await t.step(name, async () => {
      const client = await clientAwaitingFinal();
      await assert.rejects(client.verifyServerFinal(message), isAuthError("08P01"));
    });
  }
});
