/**
 * @module
 * TLS towards clients: the socket a session reads and writes ({@link ClientSocket}), which starts
 * as the accepted `Deno.Conn` and is upgraded in place after an SSLRequest ('S') or when the first
 * bytes are a TLS ClientHello (PostgreSQL 17's direct SSL, `sslnegotiation=direct`), and the
 * server's certificate context loaded once from `[tls]` ({@link loadTlsServer}).
 *
 * Deno has no server-side `startTls`. `node:tls`'s `TLSSocket` with `isServer: true` does the
 * handshake over any node `Duplex`, so the plain socket is wrapped in one ({@link connDuplex})
 * that reads only when TLS asks for bytes: nothing is read from the socket between the 'S' and
 * the ClientHello by anyone else, which is what makes the handoff safe. As PostgreSQL does
 * (`ProcessSSLStartup()`, `be-secure-openssl.c`), a direct-SSL client must negotiate the ALPN
 * protocol `postgresql`; with the SSLRequest, ALPN is optional.
 */

import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { createHash, X509Certificate } from "node:crypto";
import type { TlsConfig } from "../config/mod.ts";
import {
  type ByteSink,
  connDuplex,
  readPemCertificates,
  type TlsHandshake,
  TlsStream,
  verifyCertificateIssuer,
  watchHandshake,
} from "../backend/mod.ts";
import { type ByteSource, ProtocolError } from "../protocol/mod.ts";

/** The ALPN protocol name PostgreSQL 17 registered (`PG_ALPN_PROTOCOL`). */
export const PG_ALPN_PROTOCOL = "postgresql";
/** First byte of a TLS record carrying a handshake (a ClientHello opens with it). */
const TLS_HANDSHAKE_RECORD = 0x16;
const FIRST_READ = 16 * 1024;

/** The server side of TLS, loaded once at start from `[tls]`. */
export interface TlsServer {
  /** `allow`: TLS offered, plain text accepted; `require`: plain-text clients are refused. */
  readonly mode: "allow" | "require";
  /** The certificate, key, minimum version and client CA, ready for handshakes. */
  readonly secureContext: SecureContext;
  /** Whether client certificates are asked for (a `ca_file` is configured). */
  readonly requestCert: boolean;
  /** The CA certificates of `ca_file` that a client certificate must be issued by. */
  readonly clientCas: readonly X509Certificate[];
  /**
   * RFC 5929 `tls-server-end-point` data: the hash of the server certificate (DER) with the
   * hash of its signature algorithm (SHA-256 for MD5 and SHA-1), as `be_tls_get_certificate_hash()`.
   */
  readonly endPoint: Uint8Array;
}

/** What a finished handshake tells about the client. */
export interface TlsSession {
  /** `TLSv1.3`, `TLSv1.2`. */
  readonly protocol: string;
  /** True for direct SSL (no SSLRequest first). */
  readonly direct: boolean;
  /** The negotiated ALPN protocol, or undefined when the client sent none. */
  readonly alpn: string | undefined;
  /** Common name of the client certificate, when it sent one that the CA verified. */
  readonly clientCommonName: string | undefined;
  /** Why a client certificate was not accepted (none sent, or the verification error). */
  readonly clientCertProblem: string | undefined;
}

/**
 * Loads the certificate, key and optional client CA named by `[tls]`.
 *
 * @param config the `[tls]` section
 * @returns the server context, or undefined when `mode` is `disable`
 * @throws Error naming the file when one cannot be read or the key does not match
 */
export async function loadTlsServer(config: TlsConfig): Promise<TlsServer | undefined> {
  if (config.mode === "disable") return undefined;
  const read = async (what: string, path: string): Promise<string> => {
    try {
      return await Deno.readTextFile(path);
    } catch (e: unknown) {
      throw new Error(
        `could not load ${what} "${path}": ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
  const cert = await read("server certificate file", config.certFile);
  const key = await read("private key file", config.keyFile);
  const ca = config.caFile === "" ? undefined : await read("root certificate file", config.caFile);
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({
      cert,
      key,
      minVersion: config.minVersion,
      ...(ca === undefined ? {} : { ca }),
    });
  } catch (e: unknown) {
    throw new Error(
      `could not load the TLS certificate "${config.certFile}" and key "${config.keyFile}": ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
  }
  const clientCas = ca === undefined ? [] : readPemCertificates(ca);
  return {
    mode: config.mode,
    secureContext,
    requestCert: ca !== undefined,
    clientCas,
    endPoint: certificateEndPointHash(new X509Certificate(cert).raw),
  };
}

/** Hash names by signature-algorithm OID (RFC 5929 section 4.1: MD5 and SHA-1 become SHA-256). */
const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.4": "sha256", // md5WithRSAEncryption
  "1.2.840.113549.1.1.5": "sha256", // sha1WithRSAEncryption
  "1.2.840.113549.1.1.11": "sha256", // sha256WithRSAEncryption
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha256", // ecdsa-with-SHA1
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

/**
 * Computes RFC 5929 `tls-server-end-point` channel-binding data for a certificate.
 *
 * @param der the certificate, DER
 * @returns the hash of `der` under its signature's hash algorithm
 * @throws Error when the certificate is malformed or signed with an algorithm PostgreSQL would
 *   not bind to either (RSASSA-PSS, Ed25519)
 */
export function certificateEndPointHash(der: Uint8Array): Uint8Array {
  const oid = signatureAlgorithmOid(der);
  const hash = SIGNATURE_HASHES[oid];
  if (hash === undefined) {
    throw new Error(`could not determine server certificate signature algorithm (OID ${oid})`);
  }
  return new Uint8Array(createHash(hash).update(der).digest());
}

/** Reads `Certificate.signatureAlgorithm.algorithm` from DER (RFC 5280 section 4.1). */
function signatureAlgorithmOid(der: Uint8Array): string {
  let at = 0;
  const header = (tag: number): { start: number; end: number } => {
    if (der[at] !== tag) throw new Error("malformed certificate");
    let len = der[at + 1] ?? 0;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
      start += n;
    }
    return { start, end: start + len };
  };
  at = header(0x30).start; // Certificate
  at = header(0x30).end; // skip tbsCertificate
  at = header(0x30).start; // signatureAlgorithm
  const oid = header(0x06);
  const bytes = der.subarray(oid.start, oid.end);
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        parts.push(Math.min(2, Math.floor(v / 40)), v - 40 * Math.min(2, Math.floor(v / 40)));
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

/**
 * A client's socket: plain `Deno.Conn` reads and writes until {@link upgrade}, then TLS. The
 * session's reader and writer hold this object, so the upgrade needs no new reader or writer.
 */
export class ClientSocket implements ByteSource, ByteSink {
  readonly #conn: Deno.Conn;
  #tls: TlsStream | undefined;
  #session: TlsSession | undefined;
  #pushback: Uint8Array | undefined;
  #handshake: TlsHandshake | undefined;
  #closed = false;
  /** Called whenever bytes arrive from the client (the idle timers listen). */
  onData: (() => void) | undefined;

  /**
   * Wraps an accepted socket.
   *
   * @param conn the socket
   */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr {
    return this.#conn.remoteAddr;
  }

  /** The TLS session, once upgraded. */
  get tls(): TlsSession | undefined {
    return this.#session;
  }

  /**
   * Reads into `p` (from the TLS session once upgraded).
   *
   * @param p where to put the bytes
   * @returns how many bytes, or null at end of stream
   * @throws the socket's error
   */
  read(p: Uint8Array): Promise<number | null> {
    // The common case, a plain socket nobody listens to, costs no promise of its own.
    if (this.onData === undefined && this.#pushback === undefined && this.#tls === undefined) {
      return this.#conn.read(p);
    }
    return this.#readSlow(p);
  }

  async #readSlow(p: Uint8Array): Promise<number | null> {
    let n: number | null;
    const back = this.#pushback;
    if (back !== undefined) {
      n = Math.min(back.length, p.length);
      p.set(back.subarray(0, n));
      this.#pushback = n < back.length ? back.subarray(n) : undefined;
    } else if (this.#tls !== undefined) n = await this.#tls.read(p);
    else n = await this.#conn.read(p);
    if (n !== null && n > 0) this.onData?.();
    return n;
  }

  /**
   * Writes a prefix of `p` (all of it, through TLS).
   *
   * @param p the bytes
   * @returns how many were written
   * @throws the socket's error
   */
  write(p: Uint8Array): Promise<number> {
    return this.#tls !== undefined ? this.#tls.write(p) : this.#conn.write(p);
  }

  /** Closes the socket (and the TLS session); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handshake?.abort("the connection was closed during the TLS handshake");
    if (this.#tls !== undefined) this.#tls.close();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Reads the first bytes and tells whether they open a TLS handshake (direct SSL). The bytes
   * are kept and handed out again by {@link read} or {@link upgrade}.
   *
   * @returns true when the first byte is a TLS handshake record's
   * @throws the socket's error
   */
  async startsWithTls(): Promise<boolean> {
    const buf = new Uint8Array(FIRST_READ);
    const n = await this.#conn.read(buf);
    if (n === null || n === 0) return false;
    this.#pushback = buf.subarray(0, n);
    this.onData?.();
    return buf[0] === TLS_HANDSHAKE_RECORD;
  }

  /**
   * Runs the TLS handshake as the server, on this socket, and switches reads and writes to it.
   *
   * @param server certificate context
   * @param direct true for direct SSL (the ClientHello was read by {@link startsWithTls})
   * @returns the session
   * @throws Error when the handshake fails or the socket closes during it; ProtocolError (08P01)
   *   when plain bytes followed an SSLRequest
   */
  async upgrade(server: TlsServer, direct: boolean): Promise<TlsSession> {
    const initial = this.#pushback;
    this.#pushback = undefined;
    if (!direct && initial !== undefined) {
      // Plain bytes that followed the SSLRequest: they would be taken for the ClientHello.
      throw new ProtocolError("received unencrypted data after SSL request");
    }
    const duplex = connDuplex(this.#conn, initial);
    const socket = new TLSSocket(duplex, {
      isServer: true,
      secureContext: server.secureContext,
      requestCert: server.requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: [PG_ALPN_PROTOCOL],
    });
    const handshake = watchHandshake(socket, duplex, "secure");
    this.#handshake = handshake;
    try {
      await handshake.done;
    } finally {
      this.#handshake = undefined;
    }
    this.#tls = new TlsStream(socket);
    const alpn = socket.alpnProtocol;
    let clientCommonName: string | undefined;
    let clientCertProblem: string | undefined;
    if (server.requestCert) {
      // Deno's TLS server asks for the certificate but does not check it against `ca`
      // (`authorized` stays false): the chain is checked here.
      const peer = socket.getPeerCertificate();
      const cn = peer?.subject?.CN;
      if (peer === undefined || peer === null || peer.raw === undefined) {
        clientCertProblem = "no client certificate was sent";
      } else {
        const problem = verifyCertificateIssuer(new Uint8Array(peer.raw), server.clientCas);
        clientCertProblem = problem === undefined ? undefined : `the client certificate ${problem}`;
        if (clientCertProblem === undefined) clientCommonName = Array.isArray(cn) ? cn[0] : cn;
      }
    } else clientCertProblem = "usogres does not ask for client certificates (no tls.ca_file)";
    this.#session = {
      protocol: socket.getProtocol() ?? "unknown",
      direct,
      alpn: typeof alpn === "string" ? alpn : undefined,
      clientCommonName,
      clientCertProblem,
    };
    return this.#session;
  }
}
