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

/** An in-memory socket: hands out `data` once, then EOF (or nothing, while `hold`). */
class MemoryConn {
  closed = false;
  readonly remoteAddr = { transport: "tcp", hostname: "192.0.2.1", port: 1 };
  #sent = false;
  #release: (() => void) | undefined;
  constructor(readonly data: Uint8Array, readonly hold = false) {}
  async read(p: Uint8Array): Promise<number | null> {
    if (!this.#sent && this.data.length > 0) {
      this.#sent = true;
      p.set(this.data);
      return this.data.length;
    }
    if (this.hold && !this.closed) await new Promise<void>((r) => (this.#release = r));
    return null;
  }
  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
    this.#release?.();
  }
}

Deno.test({
  name: "ClientSocket.upgrade: fails, never hangs, when the client ends or the session closes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { ClientSocket } = await import("../../../src/session/tls.ts");
    const server = (await loadTlsServer({
      mode: "allow",
      certFile: `${FIXTURES}server.crt`,
      keyFile: `${FIXTURES}server.key`,
      caFile: "",
      minVersion: "TLSv1.2",
    }))!;
    for (
      const data of [new Uint8Array(0), new Uint8Array([0x16, 3, 1, 0, 5, 1]), new Uint8Array(40)]
    ) {
      const socket = new ClientSocket(new MemoryConn(data) as unknown as Deno.Conn);
      await assert.rejects(socket.upgrade(server, false));
      socket.close();
    }
    const held = new ClientSocket(new MemoryConn(new Uint8Array(0), true) as unknown as Deno.Conn);
    const pending = held.upgrade(server, false);
    setTimeout(() => held.close(), 20);
    await assert.rejects(pending, /closed during the TLS handshake/);
    await new Promise((resolve) => setTimeout(resolve, 50));
  },
});
