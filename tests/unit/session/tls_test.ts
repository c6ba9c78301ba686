/**
 * @module
 * TLS helpers without sockets: the RFC 5929 `tls-server-end-point` hash for the fixture
 * certificates (SHA-256 and SHA-384 signatures), the chain check for client and verify-ca
 * certificates, and loading `[tls]` files with clear errors.
 */

import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { readPemCertificates, verifyCertificateIssuer } from "../../../src/backend/mod.ts";
import { certificateEndPointHash, loadTlsServer } from "../../../src/session/tls.ts";

const FIXTURES = new URL("../../fixtures/tls/", import.meta.url).pathname;
const der = (name: string) =>
  new Uint8Array(new X509Certificate(Deno.readTextFileSync(`${FIXTURES}${name}`)).raw);
const hash = (alg: string, data: Uint8Array) =>
  new Uint8Array(createHash(alg).update(data).digest());

Deno.test("certificateEndPointHash: hashes the DER with the signature's hash (RFC 5929)", () => {
  const sha256 = der("server.crt");
  assert.deepEqual(certificateEndPointHash(sha256), hash("sha256", sha256));
  const sha384 = der("server-sha384.crt");
  assert.deepEqual(certificateEndPointHash(sha384), hash("sha384", sha384));
  assert.throws(() => certificateEndPointHash(new Uint8Array([1, 2, 3])), /malformed/);
});

Deno.test("verifyCertificateIssuer: trusts a certificate the CA issued, and nothing else", () => {
  const cas = readPemCertificates(Deno.readTextFileSync(`${FIXTURES}ca.crt`));
  assert.equal(cas.length, 1);
  assert.equal(verifyCertificateIssuer(der("client.crt"), cas), undefined);
  assert.equal(verifyCertificateIssuer(der("server.crt"), cas), undefined);
  assert.equal(
    verifyCertificateIssuer(der("untrusted-client.crt"), cas),
    "was not issued by a trusted CA",
  );
  assert.equal(
    verifyCertificateIssuer(der("client.crt"), cas, new Date("2200-01-01")),
    "has expired or is not yet valid",
  );
  assert.equal(verifyCertificateIssuer(new Uint8Array([0x30, 0]), cas), "could not be parsed");
});

Deno.test("loadTlsServer: disabled is undefined; files load; a missing file is named", async () => {
  const base = { certFile: "", keyFile: "", caFile: "", minVersion: "TLSv1.2" } as const;
  assert.equal(await loadTlsServer({ ...base, mode: "disable" }), undefined);
  const server = await loadTlsServer({
    mode: "require",
    certFile: `${FIXTURES}server.crt`,
    keyFile: `${FIXTURES}server.key`,
    caFile: `${FIXTURES}ca.crt`,
    minVersion: "TLSv1.3",
  });
  assert.equal(server?.mode, "require");
  assert.equal(server?.requestCert, true);
  assert.equal(server?.endPoint.length, 32);
  await assert.rejects(
    loadTlsServer({ ...base, mode: "allow", certFile: "/nonexistent.crt", keyFile: "x" }),
    /could not load server certificate file "\/nonexistent.crt"/,
  );
});
