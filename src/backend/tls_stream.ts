/**
 * @module
 * TLS streams over a plain socket through `node:tls`, for both sides: {@link connDuplex} turns a
 * `Deno.Conn` into the node `Duplex` that `TLSSocket` runs over (reading the socket only when TLS
 * asks for bytes, so nothing is lost at the handoff), and {@link TlsStream} turns the
 * `TLSSocket` back into the `read()`/`write()` shape every reader and writer here takes. Used
 * where `Deno.startTls` cannot serve: the server side (clients' SSLRequest) and backend
 * connections whose `sslmode` does not check the whole certificate (`require`, `verify-ca`).
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import type { ByteSource } from "../protocol/mod.ts";
import type { ByteSink } from "./socket_writer.ts";

const READ_CHUNK = 16 * 1024;

/**
 * Wraps a plain socket in a node `Duplex` for `TLSSocket`: it reads the socket only when the
 * stream asks for bytes, after handing out `initial` (bytes already read, such as a ClientHello).
 *
 * @param conn the socket
 * @param initial bytes already read from it, to be delivered first
 * @returns the stream; destroying it closes the socket
 */
export function connDuplex(conn: Deno.Conn, initial: Uint8Array | undefined): Duplex {
  let pending = initial !== undefined && initial.length > 0 ? initial : undefined;
  let reading = false;
  let first = true;
  const duplex: Duplex = new Duplex({
    read(): void {
      if (reading) return;
      reading = true;
      void (async () => {
        // Let the TLSSocket finish starting (it does so on a later tick) before any byte, or the
        // end of the stream, reaches it.
        if (first) {
          first = false;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        for (;;) {
          let chunk: Uint8Array;
          if (pending !== undefined) {
            chunk = pending;
            pending = undefined;
          } else {
            const buf = new Uint8Array(READ_CHUNK);
            let n: number | null;
            try {
              n = await conn.read(buf);
            } catch (e: unknown) {
              duplex.destroy(e instanceof Error ? e : new Error(String(e)));
              return;
            }
            if (n === null) {
              duplex.push(null);
              return;
            }
            chunk = buf.subarray(0, n);
          }
          if (!duplex.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) {
            reading = false;
            return;
          }
        }
      })();
    },
    write(chunk: Buffer, _encoding: string, done: (e?: Error | null) => void): void {
      void (async () => {
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      })().then(() => done(), (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
    },
    final(done: (e?: Error | null) => void): void {
      try {
        conn.closeWrite();
      } catch {
        // Already closed.
      }
      done();
    },
    destroy(e: Error | null, done: (e: Error | null) => void): void {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      done(e);
    },
  });
  return duplex;
}

/** A TLS stream as a {@link ByteSource} and {@link ByteSink}: pull-based reads, awaited writes. */
export class TlsStream implements ByteSource, ByteSink {
  readonly #socket: TLSSocket;
  #leftover: Uint8Array | undefined;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /**
   * Wraps a TLS socket whose handshake is done.
   *
   * @param socket the socket
   */
  constructor(socket: TLSSocket) {
    this.#socket = socket;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    socket.on("readable", wake);
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (e: Error) => {
      this.#error ??= e;
      wake();
    });
  }

  /**
   * Reads decrypted bytes into `p`.
   *
   * @param p where to put them
   * @returns how many, or null at end of stream
   * @throws Deno.errors.ConnectionReset when the TLS stream failed
   */
  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      let chunk = this.#leftover;
      this.#leftover = undefined;
      chunk ??= (this.#socket.read() as Buffer | null) ?? undefined;
      if (chunk !== undefined && chunk.length > 0) {
        const n = Math.min(p.length, chunk.length);
        p.set(chunk.subarray(0, n));
        if (n < chunk.length) this.#leftover = chunk.subarray(n);
        return n;
      }
      if (this.#error !== undefined) throw new Deno.errors.ConnectionReset(this.#error.message);
      if (this.#ended || this.#socket.destroyed) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /**
   * Encrypts and writes all of `p`.
   *
   * @param p the bytes
   * @returns `p.length`, once the socket took them
   * @throws Deno.errors.BrokenPipe when the stream is closed
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#socket.destroyed) return Promise.reject(new Deno.errors.BrokenPipe("TLS closed"));
    return new Promise((resolve, reject) => {
      this.#socket.write(Buffer.from(p.buffer, p.byteOffset, p.length), (e?: Error | null) => {
        if (e) reject(new Deno.errors.BrokenPipe(e.message));
        else resolve(p.length);
      });
    });
  }

  /** Closes the TLS stream and its socket. */
  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Checks that a certificate was issued and signed by one of `cas`, and that both are within
 * their validity period: OpenSSL's chain verification for a chain of one (the leaf issued
 * directly by a trusted CA). Used where the TLS library does not check the chain itself: client
 * certificates (`tls.ca_file`) and backends with `sslmode = "verify-ca"`. The handshake itself
 * proved that the peer holds the certificate's key.
 *
 * @param raw the certificate, DER
 * @param cas trusted issuers
 * @param now the time to check validity at
 * @returns undefined when trusted, else what is wrong ("was not issued by ...")
 */
export function verifyCertificateIssuer(
  raw: Uint8Array,
  cas: readonly X509Certificate[],
  now: Date = new Date(),
): string | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(raw);
  } catch {
    return "could not be parsed";
  }
  const valid = (c: X509Certificate) => new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  if (!valid(leaf)) return "has expired or is not yet valid";
  for (const ca of cas) {
    if (leaf.checkIssued(ca) && leaf.verify(ca.publicKey) && valid(ca)) return undefined;
  }
  return "was not issued by a trusted CA";
}

/**
 * The certificates of a PEM file that may hold several.
 *
 * @param text the file's contents
 * @returns one parsed certificate per PEM block
 * @throws Error when a block is not a certificate
 */
export function readPemCertificates(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => new X509Certificate(pem));
}

/** A handshake in progress: {@link TlsHandshake.done} settles exactly once. */
export interface TlsHandshake {
  /** Resolves when the handshake completed; rejects when it failed or was aborted. */
  readonly done: Promise<void>;
  /**
   * Fails the handshake now (the socket is being closed).
   *
   * @param reason why, for the rejection
   */
  abort(reason: string): void;
}

/**
 * Watches a TLS handshake over {@link connDuplex}: it succeeds on `event`, and fails on an error or
 * close of the TLS socket, or when the plain stream under it ends first (a client that closes
 * mid-handshake: Deno's `TLSSocket` then emits nothing, and the handshake would wait forever).
 * On failure the socket is destroyed on the next macrotask, never synchronously: Deno's
 * `TLSSocket` starts itself on a later tick and throws, uncaught, when it was destroyed before.
 *
 * @param socket the TLS socket, just created
 * @param duplex the stream it runs over
 * @param event `secure` (server side) or `secureConnect` (client side)
 * @returns the handshake
 */
export function watchHandshake(
  socket: TLSSocket,
  duplex: Duplex,
  event: "secure" | "secureConnect",
): TlsHandshake {
  let settle: ((e?: Error) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      socket.off(event, ok);
      socket.off("error", fail);
      socket.off("close", closed);
      duplex.off("end", closed);
      duplex.off("error", fail);
      duplex.off("close", closed);
    };
    settle = (e?: Error) => {
      settle = undefined;
      cleanup();
      if (e === undefined) {
        resolve();
        return;
      }
      // Errors after this point have a listener, so they cannot go uncaught either.
      socket.on("error", () => {});
      duplex.on("error", () => {});
      setTimeout(() => socket.destroy(), 0);
      reject(e);
    };
    const ok = () => settle?.();
    const fail = (e: unknown) => settle?.(e instanceof Error ? e : new Error(String(e)));
    const closed = () => settle?.(new Error("the connection closed during the TLS handshake"));
    socket.once(event, ok);
    socket.once("error", fail);
    socket.once("close", closed);
    duplex.once("end", closed);
    duplex.once("error", fail);
    duplex.once("close", closed);
  });
  return { done, abort: (reason) => settle?.(new Error(reason)) };
}
