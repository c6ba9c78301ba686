/**
 * @module
 * One connection from usogres to one PostgreSQL server: TCP (or Unix socket) connect, the
 * StartupMessage, authentication as a libpq client would do it (trust, cleartext, md5,
 * SCRAM-SHA-256), then the ParameterStatus / BackendKeyData / ReadyForQuery that end startup.
 * Follows the protocol docs' "Start-up" flow and libpq's fe-connect.c / fe-auth.c.
 *
 * After `connect()` resolves, the session owns the connection: it reads frames through `reader`
 * and writes through `write()`. This is one of the three modules that touch sockets.
 */

import { errorText } from "../log/mod.ts";
import {
  backendMaxLength,
  type BackendMessage,
  concatBytes,
  decodeBackend,
  encodeCancelRequest,
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeStartupMessage,
  FrameReader,
  TERMINATE,
  type TxStatus,
} from "../protocol/mod.ts";
import { md5Password, ScramClient } from "../auth/mod.ts";
import { BackendError, type BackendFailure } from "./errors.ts";
import { type BackendSocket, negotiateBackendTls } from "./backend_tls.ts";
import type { SslMode } from "../config/mod.ts";
import { SocketWriter } from "./socket_writer.ts";

/** Where a backend lives. */
export interface BackendTarget {
  /** Backend name (`original`, `copy`, ...), for logs and errors. */
  readonly name: string;
  /** Host name, address, or Unix-socket directory (starting with `/`). */
  readonly host: string;
  /** TCP port (also names the Unix socket file). */
  readonly port: number;
  /** TLS as libpq's `sslmode` (default `disable` for targets that do not say). */
  readonly sslmode?: SslMode;
  /** CA file for `verify-ca` and `verify-full`; "" or absent for none. */
  readonly sslrootcert?: string;
}

/** What usogres tells the server in its StartupMessage, and how it proves who it is. */
export interface BackendStartup {
  /** Role name. */
  readonly user: string;
  /** Database name. */
  readonly database: string;
  /** Other startup parameters to pass on (application_name, client_encoding, options, ...). */
  readonly parameters: ReadonlyMap<string, string>;
  /** Returns the password for this backend and user, or undefined when there is none. */
  readonly password: () => Promise<string | undefined>;
}

/** Limits for one backend connection. */
export interface BackendConnectOptions {
  /** Milliseconds for connect plus authentication. */
  readonly connectTimeoutMs: number;
  /** Largest long message accepted from the server, in bytes. */
  readonly maxMessageSize: number;
}

/** An authenticated connection to one PostgreSQL server, ready for queries. */
export class BackendConnection {
  /** Which server this is. */
  readonly target: BackendTarget;
  /** Frames from the server. */
  readonly reader: FrameReader;
  /** The server's process id (from BackendKeyData), used to cancel. */
  processId = 0;
  /** The server's cancel key (from BackendKeyData). */
  secretKey = 0;
  /** ParameterStatus values the server reported during startup, in order. */
  readonly parameters = new Map<string, string>();
  /** The raw ParameterStatus frames from startup, to replay to the client unchanged. */
  readonly parameterFrames: Uint8Array[] = [];
  #parameterStatusBytes: Uint8Array | undefined;
  /** Transaction status from the last ReadyForQuery. */
  txStatus: TxStatus = "idle";
  #conn: BackendSocket;
  #writer: SocketWriter;
  #closed = false;

  private constructor(target: BackendTarget, conn: BackendSocket, maxMessageSize: number) {
    this.target = target;
    this.#conn = conn;
    this.#writer = new SocketWriter(conn);
    // Small while idle (a pooled or quiet connection holds 2 KiB), 32 KiB once results stream.
    this.reader = new FrameReader(conn, {
      maxLength: backendMaxLength(maxMessageSize),
      idleSize: 2048,
    });
  }

  /**
   * The ParameterStatus frames from startup as one run of bytes, built once: every client that
   * reuses this connection from the cache gets them (`DISCARD ALL` sets each reported parameter
   * back to its value at startup).
   */
  get parameterStatusBytes(): Uint8Array {
    this.#parameterStatusBytes ??= concatBytes(this.parameterFrames);
    return this.#parameterStatusBytes;
  }

  /** Bytes written to the server so far. */
  get bytesWritten(): number {
    return this.#writer.bytesWritten;
  }

  /**
   * Connects, authenticates and waits for the first ReadyForQuery.
   *
   * @param target the server
   * @param startup user, database, parameters and password source
   * @param opts timeout and size limit
   * @returns the ready connection
   * @throws BackendError when the server is unreachable, refuses, or misbehaves
   */
  static async connect(
    target: BackendTarget,
    startup: BackendStartup,
    opts: BackendConnectOptions,
  ): Promise<BackendConnection> {
    const conn = await openSocket(target, opts.connectTimeoutMs, true);
    const backend = new BackendConnection(target, conn, opts.maxMessageSize);
    const timer = setTimeout(() => {
      backend.#timedOut = true;
      backend.close();
    }, opts.connectTimeoutMs);
    try {
      await backend.#startup(startup);
      return backend;
    } catch (e: unknown) {
      backend.close();
      if (backend.#timedOut) {
        throw new BackendError(target.name, {
          kind: "unreachable",
          detail: `timeout expired after ${opts.connectTimeoutMs} ms during startup`,
        });
      }
      if (e instanceof BackendError) throw e;
      throw new BackendError(target.name, { kind: "unreachable", detail: errorText(e) }, {
        cause: e,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  #timedOut = false;

  /**
   * Writes bytes to the server, after any earlier writes; resolves when all are sent.
   *
   * @param bytes complete protocol messages
   * @returns when written
   * @throws the socket's error when the server connection is broken
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#writer.write(bytes);
  }

  /** Whether {@link close} or {@link terminate} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends Terminate (best effort) and closes the socket.
   *
   * @returns when done; never throws
   */
  async terminate(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.write(TERMINATE);
    } catch {
      // The server is gone already; closing below is all that is left to do.
    }
    this.close();
  }

  /** Closes the socket at once; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
  }

  /**
   * Asks the server to cancel what this connection is running (a CancelRequest on a new socket).
   *
   * @param connectTimeoutMs how long to try
   * @returns when the request was sent; failures are swallowed, as libpq's PQcancel reports them
   *   only as a boolean
   */
  async cancel(connectTimeoutMs: number): Promise<boolean> {
    try {
      const conn = await openSocket(this.target, connectTimeoutMs, false);
      try {
        await new SocketWriter(conn).write(encodeCancelRequest(this.processId, this.secretKey));
        // The server closes without answering; wait for that so the request is not cut short.
        await conn.read(new Uint8Array(1)).catch(() => null);
      } finally {
        conn.close();
      }
      return true;
    } catch {
      return false;
    }
  }

  async #next(): Promise<BackendMessage> {
    for (;;) {
      const frame = this.reader.tryNext();
      if (frame) return decodeBackend(frame);
      if (!(await this.reader.fill())) this.#fail({ kind: "closed" });
    }
  }

  #fail(failure: BackendFailure): never {
    throw new BackendError(this.target.name, failure);
  }

  async #startup(startup: BackendStartup): Promise<void> {
    const params = new Map<string, string>(startup.parameters);
    params.set("user", startup.user);
    params.set("database", startup.database);
    await this.write(encodeStartupMessage(params));
    let scram: ScramClient | undefined;
    for (;;) {
      const m = await this.#next();
      switch (m.type) {
        case "AuthenticationOk":
          break;
        case "AuthenticationCleartextPassword":
          await this.write(encodePasswordMessage(await this.#password(startup)));
          break;
        case "AuthenticationMD5Password": {
          const pw = await this.#password(startup);
          await this.write(encodePasswordMessage(await md5Password(startup.user, pw, m.salt)));
          break;
        }
        case "AuthenticationSASL": {
          if (!m.mechanisms.includes("SCRAM-SHA-256")) {
            this.#fail({ kind: "unsupportedAuth", method: `SASL (${m.mechanisms.join(", ")})` });
          }
          scram = new ScramClient(await this.#password(startup));
          const first = new TextEncoder().encode(scram.clientFirstMessage());
          await this.write(encodeSASLInitialResponse("SCRAM-SHA-256", first));
          break;
        }
        case "AuthenticationSASLContinue": {
          if (!scram) this.#fail({ kind: "protocol", detail: "SASLContinue before SASL" });
          const final = await scram.handleServerFirst(new TextDecoder().decode(m.data));
          await this.write(encodeSASLResponse(new TextEncoder().encode(final)));
          break;
        }
        case "AuthenticationSASLFinal":
          if (!scram) this.#fail({ kind: "protocol", detail: "SASLFinal before SASL" });
          await scram.verifyServerFinal(new TextDecoder().decode(m.data));
          break;
        case "ParameterStatus":
          this.parameters.set(m.name, m.value);
          this.parameterFrames.push(m.frame.bytes.slice());
          break;
        case "BackendKeyData":
          this.processId = m.processId;
          this.secretKey = m.secretKey;
          break;
        case "NoticeResponse":
        case "NegotiateProtocolVersion":
          break;
        case "ErrorResponse":
          this.#fail({
            kind: "rejected",
            sqlstate: m.code,
            message: m.message,
            frame: { code: m.frame.code, bytes: m.frame.bytes.slice() },
          });
          break;
        case "ReadyForQuery":
          this.txStatus = m.status;
          return;
        default:
          if (m.type.startsWith("Authentication")) {
            this.#fail({ kind: "unsupportedAuth", method: m.type.slice("Authentication".length) });
          }
          this.#fail({ kind: "protocol", detail: `unexpected ${m.type} during startup` });
      }
    }
  }

  async #password(startup: BackendStartup): Promise<string> {
    const pw = await startup.password();
    if (pw === undefined) this.#fail({ kind: "noPassword", user: startup.user });
    return pw;
  }
}

/**
 * Connects to a backend; with `tls`, negotiates TLS as the target's `sslmode` says (a
 * CancelRequest is sent without).
 */
async function openSocket(
  target: BackendTarget,
  timeoutMs: number,
  tls: boolean,
): Promise<BackendSocket> {
  const signal = AbortSignal.timeout(timeoutMs);
  let conn: Deno.TcpConn | undefined;
  try {
    if (target.host.startsWith("/")) {
      return await Deno.connect({
        transport: "unix",
        path: `${target.host}/.s.PGSQL.${target.port}`,
      });
    }
    conn = await Deno.connect({ hostname: target.host, port: target.port, signal });
    conn.setNoDelay(true);
    const sslmode = target.sslmode ?? "disable";
    if (!tls || sslmode === "disable") return conn;
    const tcp = conn;
    const timer = setTimeout(() => tcp.close(), Math.max(1, timeoutMs));
    try {
      return await negotiateBackendTls(tcp, {
        host: target.host,
        sslmode,
        sslrootcert: target.sslrootcert ?? "",
      });
    } finally {
      clearTimeout(timer);
    }
  } catch (e: unknown) {
    try {
      conn?.close();
    } catch {
      // Closed by the timeout or the TLS layer already.
    }
    const detail = signal.aborted
      ? `timeout expired after ${timeoutMs} ms connecting to ${target.host}:${target.port}`
      : `${errorText(e)} (${target.host}:${target.port})`;
    throw new BackendError(target.name, { kind: "unreachable", detail }, { cause: e });
  }
}
