/**
 * @module
 * TLS from usogres to a backend, with libpq's `sslmode` semantics (`fe-secure-openssl.c`,
 * "SSL Support" in the libpq docs): an SSLRequest on the fresh TCP connection, then
 *
 * - `disable`: no SSLRequest at all;
 * - `prefer`: TLS when the server answers 'S' (certificate not checked), plain text after 'N';
 * - `require`: TLS or fail; the certificate is not checked, unless `sslrootcert` is set, which
 *   makes it `verify-ca` as libpq does when a root certificate file exists;
 * - `verify-ca`: the certificate must be issued by a CA in `sslrootcert`;
 * - `verify-full`: and also be issued for the host name (`Deno.startTls`, rustls's verification,
 *   against `sslrootcert` or else the system's trusted roots).
 *
 * Unix-domain sockets never use TLS, as in libpq. Cancel requests go in plain text, as libpq
 * before version 17 sends them.
 */

import { connect as tlsConnect } from "node:tls";
import type { SslMode } from "../config/mod.ts";
import type { ByteSource } from "../protocol/mod.ts";
import type { ByteSink } from "./socket_writer.ts";
import {
  connDuplex,
  readPemCertificates,
  TlsStream,
  verifyCertificateIssuer,
  watchHandshake,
} from "./tls_stream.ts";

/** What a backend connection reads and writes: a plain socket, or one of the TLS streams. */
export interface BackendSocket extends ByteSource, ByteSink {
  /** Closes it; may throw when closed already. */
  close(): void;
}

/** TLS settings of one backend. */
export interface BackendTlsSettings {
  /** Host name, for `verify-full` and SNI. */
  readonly host: string;
  /** libpq's `sslmode`. */
  readonly sslmode: SslMode;
  /** CA file (PEM); "" for none. */
  readonly sslrootcert: string;
}

/** SSLRequest: length 8, code 1234.5679. */
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Negotiates TLS on a fresh connection as `sslmode` says.
 *
 * @param conn the TCP connection, nothing sent yet
 * @param settings host, sslmode, sslrootcert
 * @returns the socket to speak the protocol on (TLS, or `conn` itself)
 * @throws Error with libpq's wording ("server does not support SSL, but SSL was required",
 *   "certificate verify failed: ...") when the mode cannot be met
 */
export async function negotiateBackendTls(
  conn: Deno.TcpConn,
  settings: BackendTlsSettings,
): Promise<BackendSocket> {
  if (settings.sslmode === "disable") return conn;
  let written = 0;
  while (written < SSL_REQUEST.length) written += await conn.write(SSL_REQUEST.subarray(written));
  const answer = new Uint8Array(1);
  if ((await conn.read(answer)) !== 1) throw new Error("server closed the connection unexpectedly");
  if (answer[0] === 0x4e) { // 'N'
    if (settings.sslmode === "prefer") return conn;
    throw new Error("server does not support SSL, but SSL was required");
  }
  if (answer[0] !== 0x53) { // 'S'
    throw new Error(`received invalid response to SSL negotiation: ${String(answer[0])}`);
  }
  const rootCert = settings.sslrootcert === ""
    ? undefined
    : await Deno.readTextFile(settings.sslrootcert).catch((e: unknown) => {
      throw new Error(
        `could not read root certificate file "${settings.sslrootcert}": ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    });
  let mode = settings.sslmode;
  if (mode === "require" && rootCert !== undefined) mode = "verify-ca";
  if (mode === "verify-full") {
    return await Deno.startTls(conn, {
      hostname: settings.host,
      ...(rootCert === undefined ? {} : { caCerts: [rootCert] }),
    });
  }
  const duplex = connDuplex(conn, undefined);
  const socket = tlsConnect({
    socket: duplex,
    rejectUnauthorized: false,
    ...(isIpAddress(settings.host) ? {} : { servername: settings.host }),
  });
  await watchHandshake(socket, duplex, "secureConnect").done;
  if (mode === "verify-ca") {
    if (rootCert === undefined) {
      socket.destroy();
      throw new Error(
        'root certificate file is not set: sslmode "verify-ca" needs sslrootcert',
      );
    }
    const peer = socket.getPeerCertificate();
    const problem = peer?.raw === undefined
      ? "is missing"
      : verifyCertificateIssuer(new Uint8Array(peer.raw), readPemCertificates(rootCert));
    if (problem !== undefined) {
      socket.destroy();
      throw new Error(`certificate verify failed: the server certificate ${problem}`);
    }
  }
  return new TlsStream(socket);
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}
