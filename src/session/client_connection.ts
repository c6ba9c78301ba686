/**
 * @module
 * One client connection, from its first byte to its close: the startup packet exchange
 * (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage with protocol negotiation), client
 * authentication, the backend connection, and then the two relay loops with back-pressure.
 * Follows the protocol docs' "Message Flow: Start-up", and postmaster.c's ProcessStartupPacket for
 * what is refused and how.
 *
 * The relay never decodes what it forwards: it looks at the type byte of each frame (to count
 * ReadyForQuery for a graceful shutdown and to spot Terminate) and writes each run of frames that
 * arrived together with one socket write, straight from the reader's buffer.
 */

import {
  concatBytes,
  decodeStartupPacket,
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeNegotiateProtocolVersion,
  encodeReadyForQuery,
  type Frame,
  FrameReader,
  frontendMaxLength,
  PgError,
  ProtocolError,
  type TxStatus,
} from "../protocol/mod.ts";
import { BackendConnection, BackendError, describeFailure, SocketWriter } from "../backend/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { CancelKey } from "./cancel_keys.ts";
import type { AdminConsoleHook, ClientInfo, SessionContext } from "./context.ts";
import { CopyLink } from "./copy_link.ts";
import { Relay } from "./relay.ts";
import { BackendPool } from "./backend_pool.ts";
import type { BackendConfig } from "../config/mod.ts";
import { authenticateClient } from "./authenticate.ts";
import { ClientSocket } from "./tls.ts";
import { acceptDirectTls, answerSslRequest, clientAddress } from "./security.ts";
import { IdleTimer, tooManyFromAddress } from "./limits.ts";

const log = getLogger("session");
const NO = new Uint8Array([0x4e]); // 'N': no GSS encryption
const AUTHENTICATION_OK = encodeAuthenticationOk();

/** The client length caps of the last `max_message_size` seen (built once, not per client). */
let clientCaps: { readonly size: number; readonly maxLength: (code: number) => number } | undefined;

function clientMaxLength(size: number): (code: number) => number {
  if (clientCaps?.size !== size) clientCaps = { size, maxLength: frontendMaxLength(size) };
  return clientCaps.maxLength;
}

/** Where a session is in its life; `kind` is the only source of truth. */
export type SessionState =
  | { readonly kind: "startup" }
  | { readonly kind: "authenticating"; readonly user: string; readonly database: string }
  | { readonly kind: "ready"; readonly tx: TxStatus }
  | { readonly kind: "closing"; readonly reason: string };

/** Startup parameters that describe the connection itself and are not passed to backends. */
const LOCAL_PARAMETERS = new Set(["user", "database", "replication"]);

/** One client connection; {@link run} drives it to completion and never throws. */
export class ClientConnection {
  /** Current state. */
  state: SessionState = { kind: "startup" };
  readonly #conn: ClientSocket;
  readonly #ctx: SessionContext;
  readonly #reader: FrameReader;
  readonly #writer: SocketWriter;
  readonly #remote: string;
  readonly #started = performance.now();
  readonly #connectedAt = new Date();
  #user = "";
  #database = "";
  #admin: AdminConsoleHook | undefined;
  #backend: BackendConnection | undefined;
  #cancelKey: CancelKey | undefined;
  #admitted = false;
  #relayer: Relay | undefined;
  /** Connection-cache key of this session (role, database, parameters). */
  #poolKey: string | undefined;
  #poolVersion = 0;
  /** True once the server connections went back to the cache: they must not be closed. */
  #pooled = false;
  #draining = false;
  #closed = false;
  /** Registered with the context's startup deadlines until startup ends. */
  readonly #startupExpired = (): void => {
    log.info("startup timeout for client {remote} after {ms} ms", {
      remote: this.#remote,
      ms: this.#ctx.config.listen.startupTimeoutMs,
    });
    // PostgreSQL's authentication_timeout closes without a word when no packet arrived.
    this.#close("startup timeout");
  };
  #addressSlot: string | undefined;
  #idleTimer: IdleTimer | undefined;

  /**
   * Wraps an accepted socket.
   *
   * @param conn the client socket
   * @param ctx process-wide shared state
   */
  constructor(conn: Deno.Conn, ctx: SessionContext) {
    this.#conn = new ClientSocket(conn);
    this.#ctx = ctx;
    this.#writer = new SocketWriter(this.#conn);
    this.#reader = new FrameReader(this.#conn, {
      startup: true,
      maxLength: clientMaxLength(ctx.config.listen.maxMessageSize),
      idleSize: 2048, // an idle client holds 2 KiB of buffer, not 32
    });
    const addr = conn.remoteAddr;
    this.#remote = addr.transport === "tcp" || addr.transport === "udp"
      ? `${addr.hostname}:${addr.port}`
      : "local";
  }

  /** The client's address, `host:port`. */
  get remote(): string {
    return this.#remote;
  }

  /**
   * Describes the session for the admin console's SHOW CLIENTS.
   *
   * @returns a snapshot of its user, database, state and byte counts
   */
  info(): ClientInfo {
    const state = this.state;
    return {
      remote: this.#remote,
      user: this.#user,
      database: this.#database,
      state: state.kind,
      tx: state.kind === "ready" ? state.tx : undefined,
      busy: !this.#idle(),
      admin: this.#admin !== undefined,
      connectedAt: this.#connectedAt,
      bytesIn: this.#reader.bytesRead,
      bytesOut: this.#writer.bytesWritten,
    };
  }

  /**
   * Runs the connection until it ends. Errors are reported to the client and logged here.
   *
   * @returns when the client connection is closed
   */
  async run(): Promise<void> {
    const deadlines = this.#ctx.startupDeadlines;
    deadlines.add(this.#startupExpired, this.#ctx.config.listen.startupTimeoutMs);
    try {
      this.#claimAddressSlot();
      const proceed = await this.#startup();
      deadlines.delete(this.#startupExpired);
      if (proceed && this.#admin) {
        await this.#admin.serve({
          reader: this.#reader,
          writer: this.#writer,
          remote: this.#remote,
          user: this.#user,
        });
      } else if (proceed) {
        this.#watchIdle();
        await this.#relay();
      }
    } catch (e: unknown) {
      // run() must never reject: the listener does not wait for it, and an unhandled rejection
      // would end the whole process.
      await this.#fail(e).catch((f: unknown) => {
        log.error("internal error reporting to client {remote}: {error}", {
          remote: this.#remote,
          error: f instanceof Error ? (f.stack ?? f.message) : String(f),
        });
      });
    } finally {
      deadlines.delete(this.#startupExpired);
      this.#finish();
    }
  }

  /**
   * Asks the session to end at its next idle moment (after running statements finish).
   */
  requestShutdown(): void {
    this.#draining = true;
    if (this.state.kind !== "ready") {
      this.#close("shutdown");
      return;
    }
    if (this.#idle()) void this.#shutdownNow();
  }

  /** Closes the client and backend sockets at once. */
  kill(): void {
    this.#close("killed");
  }

  /**
   * Cancels the statement running for this client on its backend.
   *
   * @returns when the CancelRequest was sent
   */
  async cancel(): Promise<void> {
    // A read balanced to a copy runs there: cancel it there. Writes are cancelled on the original
    // only: a copy runs a write after it succeeded on the original and must finish it too.
    const backend = this.#relayer?.balancedReadConnection() ?? this.#backend;
    if (!backend) return;
    const ok = await backend.cancel(this.#ctx.config.backendAuth.connectTimeoutMs);
    log.info("cancel request for client {remote} sent to {backend}: {result}", {
      remote: this.#remote,
      backend: backend.target.name,
      result: ok ? "sent" : "failed",
    });
  }

  // ---- startup ----------------------------------------------------------------------------

  async #nextFrame(): Promise<Frame | undefined> {
    for (;;) {
      const f = this.#reader.tryNext();
      if (f) return f;
      if (!(await this.#reader.fill())) {
        if (this.#reader.buffered > 0) {
          throw new ProtocolError("incomplete message from client");
        }
        return undefined;
      }
    }
  }

  /** Runs the startup packet exchange; true when the session should go on to the relay. */
  async #startup(): Promise<boolean> {
    const ctx = this.#ctx;
    await acceptDirectTls(this.#conn, ctx.security, this.#remote);
    for (;;) {
      const frame = await this.#nextFrame();
      if (!frame) return false; // closed before a complete packet, as `psql` probing does
      const packet = decodeStartupPacket(frame);
      switch (packet.type) {
        case "SSLRequest":
          await answerSslRequest(
            this.#conn,
            this.#reader,
            this.#writer,
            ctx.security,
            this.#remote,
          );
          continue;
        case "GSSENCRequest":
          await this.#writer.write(NO); // libpq then asks for TLS or goes on in plain text
          continue;
        case "CancelRequest": {
          ctx.stats.cancelRequests++;
          const session = ctx.cancelKeys.lookup(packet.processId, packet.secretKey);
          if (session) await session.cancel();
          else log.debug("cancel request with unknown key from {remote}", { remote: this.#remote });
          return false;
        }
        case "StartupMessage":
          return await this.#acceptStartup(packet);
      }
    }
  }

  async #acceptStartup(packet: {
    majorVersion: number;
    minorVersion: number;
    parameters: ReadonlyMap<string, string>;
    protocolOptions: readonly string[];
  }): Promise<boolean> {
    const ctx = this.#ctx;
    this.#reader.startup = false;
    if (packet.majorVersion !== 3) {
      throw PgError.unsupportedFrontendProtocol(packet.majorVersion, packet.minorVersion);
    }
    if (packet.minorVersion > 0 || packet.protocolOptions.length > 0) {
      // A newer 3.x client, or `_pq_.` options: tell it what we speak and carry on, as postmaster.c
      // does (SendNegotiateProtocolVersion).
      await this.#writer.write(encodeNegotiateProtocolVersion(0, packet.protocolOptions));
    }
    const user = packet.parameters.get("user") ?? "";
    if (user === "") {
      throw PgError.invalidAuthorization("no PostgreSQL user name specified in startup packet");
    }
    const database = packet.parameters.get("database") || user;
    const replication = packet.parameters.get("replication");
    if (replication !== undefined && !isFalse(replication)) {
      throw new PgError("FATAL", "0A000", "replication connections are not supported by usogres", {
        detail:
          "usogres replicates by statement; physical and logical replication connections must go to a server directly.",
      });
    }
    this.state = { kind: "authenticating", user, database };
    this.#user = user;
    this.#database = database;
    if (ctx.shuttingDown()) throw PgError.adminShutdown();
    const admin = ctx.adminConsole;
    const toAdmin = admin !== undefined && database === admin.database;
    // The admin console takes no client slot, so that it can still look at a full usogres.
    if (!toAdmin && !ctx.admit()) throw PgError.tooManyConnections();
    this.#admitted = !toAdmin;

    await authenticateClient({
      user,
      database,
      remote: this.#remote,
      socket: this.#conn,
      reader: this.#reader,
      writer: this.#writer,
      security: ctx.security,
      config: ctx.config,
    });
    if (toAdmin) {
      // The admin console answers from here on; no server is contacted.
      const refusal = admin.authorize(user, this.#conn.remoteAddr);
      if (refusal) throw refusal;
      this.#admin = admin;
      this.state = { kind: "ready", tx: "idle" };
      return true;
    }

    const parameters = new Map<string, string>();
    for (const [k, v] of packet.parameters) if (!LOCAL_PARAMETERS.has(k)) parameters.set(k, v);
    const backendUser = ctx.config.backendAuth.user || user;
    const connect = (target: BackendConfig) =>
      BackendConnection.connect(target, {
        user: backendUser,
        database,
        parameters,
        password: () => ctx.passwordFor(target.host, target.port, database, backendUser),
      }, {
        connectTimeoutMs: ctx.config.backendAuth.connectTimeoutMs,
        maxMessageSize: ctx.config.listen.maxMessageSize,
      });
    this.#poolKey = BackendPool.key(backendUser, database, parameters);
    this.#poolVersion = ctx.membership.version;
    // A set of this key still being reset is worth waiting for: a new one costs server startups.
    const taken = ctx.pool.take(
      this.#poolKey,
      this.#poolVersion,
      ctx.config.backendAuth.connectTimeoutMs,
    );
    const pooled = taken instanceof Promise ? await taken : taken;
    const links: CopyLink[] = pooled ? pooled.links : [];
    if (pooled) {
      this.#backend = pooled.original;
    } else {
      // The original and every in-sync copy connect in parallel: a session costs one round of
      // startups, not one per server.
      const copies = ctx.config.copies.filter((c) => ctx.membership.isInSync(c.name));
      const [originalResult, ...copyResults] = await Promise.allSettled([
        connect(ctx.config.original),
        ...copies.map(connect),
      ]);
      copyResults.forEach((r) => {
        if (r.status === "fulfilled") links.push(new CopyLink(r.value));
      });
      if (originalResult!.status === "rejected") {
        for (const l of links) l.conn.close();
        throw originalResult!.reason;
      }
      copyResults.forEach((r, i) => {
        if (r.status === "rejected") {
          // A copy that cannot take this session cannot take its writes: it is stale for everyone.
          const reason = r.reason instanceof BackendError
            ? describeFailure(r.reason.failure)
            : String(r.reason);
          ctx.membership.markStale(copies[i]!.name, `unreachable at session start: ${reason}`);
        }
      });
      this.#backend = originalResult!.value;
    }
    this.#relayer = new Relay({
      ctx,
      membership: ctx.membership,
      classifier: ctx.classifier,
      original: this.#backend,
      links,
      clientReader: this.#reader,
      clientWriter: this.#writer,
      remote: this.#remote,
      database,
      user: backendUser,
      parameters,
      id: ctx.nextSessionId(),
      connectOriginal: () => connect(ctx.config.original),
      connectCopy: (name) => {
        const target = ctx.config.copies.find((c) => c.name === name);
        if (!target) return Promise.reject(new Error(`unknown copy "${name}"`));
        return connect(target);
      },
      onReady: (tx) => this.#onReady(tx),
    });

    this.#cancelKey = ctx.cancelKeys.register(this);
    const backend = this.#backend;
    await this.#writer.write(concatBytes([
      AUTHENTICATION_OK,
      backend.parameterStatusBytes,
      encodeBackendKeyData(this.#cancelKey.processId, this.#cancelKey.secretKey),
      encodeReadyForQuery(backend.txStatus),
    ]));
    this.state = { kind: "ready", tx: backend.txStatus };
    ctx.stats.sessionsStarted++;
    log.info("connection from {remote}: user={user} database={database}", {
      remote: this.#remote,
      user,
      database,
    });
    return true;
  }

  // ---- relay ------------------------------------------------------------------------------

  async #relay(): Promise<void> {
    const relay = this.#relayer!;
    // Each loop reports its own failure first (the client must get the FATAL before the close);
    // then whichever side ends first closes every socket, which ends the other loop's read.
    // True when the original's loop ended without an error.
    const toClient = relay.originalToClient().then(
      () => true,
      async (e: unknown) => {
        await this.#fail(e);
        return false;
      },
    );
    const toBackends = relay.clientToBackends().then(
      async () => {
        if (!relay.terminated) return;
        if (this.#handOver(relay, toClient)) return;
        await Promise.all([this.#backend?.terminate(), relay.closeLinks()]);
      },
      (e: unknown) => this.#fail(e),
    );
    await Promise.race([toClient, toBackends]);
    if (!this.#pooled) {
      this.#close("relay ended");
      await Promise.all([toClient, toBackends]);
      return;
    }
    // The connections went to the cache, which finishes their reset: the client is done now.
    await toBackends;
    this.#close("client left");
  }

  /**
   * Gives the server connections to the cache after a clean Terminate: `DISCARD ALL` starts on
   * every server, and the cache hands the set out only once each answered it and the original's
   * loop stopped (no read left pending on its socket); otherwise the connections are closed.
   *
   * @returns false when the connections cannot be reused (the caller closes them)
   */
  #handOver(relay: Relay, toClient: Promise<boolean>): boolean {
    const key = this.#poolKey;
    const original = this.#backend;
    if (this.#ctx.config.backendAuth.poolSize <= 0 || key === undefined || !original) return false;
    const detached = relay.detach();
    if (!relay.detaching) {
      log.debug(
        "connections of client {remote} not cached: a transaction, COPY or journal is open",
        {
          remote: this.#remote,
        },
      );
      return false;
    }
    const remote = this.#remote;
    const membershipVersion = this.#poolVersion;
    // A loop that fails before the reset ends (the original closed) settles the race at once.
    const stopped = toClient.then((ok) => (ok ? new Promise<never>(() => {}) : undefined));
    const reset = Promise.race([detached, stopped]).catch(() => undefined).then(async (links) => {
      if (links && (await toClient)) return { original, links, membershipVersion };
      log.info("connections of client {remote} closed: their reset failed", { remote });
      original.close();
      await relay.closeLinks();
      return undefined;
    });
    this.#pooled = true;
    this.#ctx.pool.giveAfterReset(key, reset, () => {
      original.close();
      void relay.closeLinks();
    });
    return true;
  }

  /** Called by the relay after each ReadyForQuery the client gets. */
  #onReady(tx: TxStatus): void {
    const state = this.state;
    if (state.kind !== "ready" || state.tx !== tx) this.state = { kind: "ready", tx };
    this.#idleTimer?.arm(tx);
    if (this.#draining && this.#idle()) void this.#shutdownNow();
  }

  #idle(): boolean {
    return this.#relayer?.idle ?? true;
  }

  async #shutdownNow(error = PgError.adminShutdown()): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#writer.write(error.encode());
    } catch {
      // The client left already.
    }
    await this.#backend?.terminate();
    this.#close(error.code === "57P01" ? "shutdown" : error.message);
  }

  /** `listen.max_clients_per_address`: counted from accept, released in {@link #finish}. */
  #claimAddressSlot(): void {
    const address = clientAddress(this.#conn);
    const slots = this.#ctx.security.slots;
    if (!slots.acquire(address)) {
      throw tooManyFromAddress(address, this.#ctx.config.listen.maxClientsPerAddress);
    }
    this.#addressSlot = address;
  }

  /** `listen.client_idle_timeout` and `idle_in_transaction_timeout` (57P05, 25P03). */
  #watchIdle(): void {
    const listen = this.#ctx.config.listen;
    if (listen.clientIdleTimeoutMs <= 0 && listen.idleInTransactionTimeoutMs <= 0) return;
    const timer = new IdleTimer(
      { idleMs: listen.clientIdleTimeoutMs, inTransactionMs: listen.idleInTransactionTimeoutMs },
      () => this.#idle(),
      (error) => {
        log.info("closing client {remote}: {message}", {
          remote: this.#remote,
          message: error.message,
        });
        void this.#shutdownNow(error);
      },
    );
    this.#idleTimer = timer;
    this.#conn.onData = () => timer.disarm();
    if (this.state.kind === "ready") timer.arm(this.state.tx);
  }

  // ---- errors and teardown ----------------------------------------------------------------

  async #fail(e: unknown): Promise<void> {
    if (this.#closed && !(e instanceof PgError)) return; // reads cut short by our own close
    let bytes: Uint8Array;
    if (e instanceof BackendError) {
      bytes = backendErrorToClient(e, this.state.kind === "ready");
      log.warn("backend error for client {remote}: {error}", {
        remote: this.#remote,
        error: describeFailure(e.failure),
        backend: e.backend,
      });
    } else if (e instanceof PgError) {
      bytes = e.encode();
      log.info("refusing client {remote}: {code} {message}", {
        remote: this.#remote,
        code: e.code,
        message: e.message,
      });
    } else if (isSocketGone(e)) {
      return;
    } else {
      bytes = PgError.internal("internal error in usogres").encode();
      log.error("internal error for client {remote}: {error}", {
        remote: this.#remote,
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
    }
    if (e instanceof PgError && e.code === "53300") this.#ctx.stats.connectionsRefused++;
    if (!this.#closed) {
      try {
        await this.#writer.write(bytes);
      } catch {
        // The client is gone; the log line above is what remains.
      }
    }
    this.#close("error");
  }

  #close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.state = { kind: "closing", reason };
    this.#idleTimer?.disarm();
    if (!this.#pooled) this.#backend?.close();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  #finish(): void {
    this.#close("done");
    this.#relayer?.releaseGate();
    this.#relayer?.dispose();
    if (!this.#pooled) {
      this.#backend?.close(); // also when it connected after a startup timeout closed the client
      void this.#relayer?.closeLinks();
    }
    if (this.#cancelKey) this.#ctx.cancelKeys.unregister(this.#cancelKey);
    if (this.#addressSlot !== undefined) this.#ctx.security.slots.release(this.#addressSlot);
    this.#addressSlot = undefined;
    if (this.#admitted) {
      this.#admitted = false;
      this.#ctx.release();
      const seconds = (performance.now() - this.#started) / 1000;
      log.info(
        "disconnection: client {remote} session time {seconds}s, {bytesIn} bytes in, {bytesOut} bytes out",
        {
          remote: this.#remote,
          seconds: seconds.toFixed(3),
          bytesIn: this.#backend?.bytesWritten ?? 0,
          bytesOut: this.#writer.bytesWritten,
        },
      );
    }
  }
}

/** Turns a backend failure into the bytes the client gets. */
function backendErrorToClient(e: BackendError, midSession: boolean): Uint8Array {
  const f = e.failure;
  switch (f.kind) {
    case "rejected":
      // The server's own words (bad password, no such database): forwarded byte for byte.
      return f.frame.bytes;
    case "noPassword":
      return new PgError("FATAL", "28P01", `password authentication failed for user "${f.user}"`, {
        detail: `The server "${e.backend}" asked usogres for a password and none is configured.`,
        hint: "Set backend.password in the configuration, PGPASSWORD, or a ~/.pgpass entry.",
      }).encode();
    case "unsupportedAuth":
      return new PgError(
        "FATAL",
        "0A000",
        `server "${e.backend}" requested unsupported authentication method ${f.method}`,
      ).encode();
    case "unreachable":
    case "closed":
    case "protocol":
      if (midSession) {
        return new PgError("FATAL", "08006", "lost connection to the original server", {
          detail: sentence(describeFailure(f)),
        }).encode();
      }
      return new PgError("FATAL", "57P03", "could not connect to the original server", {
        detail: sentence(describeFailure(f)),
      }).encode();
  }
}

/** Turns a log-style phrase into a DETAIL sentence. */
function sentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function isFalse(v: string): boolean {
  return ["false", "off", "no", "0"].includes(v.toLowerCase());
}

function isSocketGone(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.Interrupted ||
    e instanceof Deno.errors.NotConnected;
}
