/**
 * @module
 * The admin console session: a client whose StartupMessage names `admin.database` is checked
 * (an admin user, from loopback unless `admin.allow_remote`), greeted as a server would greet
 * it (AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery), and then served simple
 * Query messages holding admin commands, as PgBouncer's console is. No server is contacted.
 *
 * Only the simple query protocol is spoken: an extended-protocol message gets 0A000 and the
 * rest of its batch is skipped until Sync, as PostgreSQL skips after an error, so drivers stay
 * in step. Commands fail with ERROR and the session goes on.
 */

import {
  concatBytes,
  decodeQuery,
  EMPTY_QUERY_RESPONSE,
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeParameterStatus,
  type Frame,
  FrameReader,
  FrontendCode,
  PgError,
  ProtocolError,
  READY_FOR_QUERY_IDLE,
} from "../protocol/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { AdminClient, AdminConsoleHook, ProxyStats } from "../session/context.ts";
import type { AdminConfig } from "../config/mod.ts";
import { VERSION } from "../version.ts";
import type { AdminContext } from "./context.ts";
import { type AdminCommand, parseCommands } from "./command.ts";
import type { AdminReply } from "./_reply.ts";
import { showBackends } from "./show_backends.ts";
import { showClients } from "./show_clients.ts";
import { showStats } from "./show_stats.ts";
import { showConfig } from "./show_config.ts";
import { showVersion } from "./show_version.ts";
import { showRecovery } from "./show_recovery.ts";
import { pause } from "./pause.ts";
import { resume } from "./resume.ts";
import { detach } from "./detach.ts";
import { attach } from "./attach.ts";
import { recover } from "./recover.ts";
import { promote } from "./promote.ts";
import { reload } from "./reload.ts";
import { shutdown } from "./shutdown.ts";

const log = getLogger("admin");

/** Who is using the console, for logs and state reasons. */
export interface AdminSession {
  /** User name from the StartupMessage. */
  readonly user: string;
  /** The client's address, `host:port`. */
  readonly remote: string;
}

/** The server version psql is told when the original's is not known yet. */
const FALLBACK_SERVER_VERSION = "15.0";

/** Extended-protocol messages: answered with one error, then skipped until Sync. */
const EXTENDED: ReadonlySet<number> = new Set([
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Describe,
  FrontendCode.Execute,
  FrontendCode.Close,
]);

/** COPY messages outside COPY are ignored, as PostgreSQL's postgres.c ignores them. */
const IGNORED: ReadonlySet<number> = new Set([
  FrontendCode.Flush,
  FrontendCode.CopyData,
  FrontendCode.CopyDone,
  FrontendCode.CopyFail,
]);

/** The admin console: the session layer's {@link AdminConsoleHook}. */
export class AdminConsole implements AdminConsoleHook {
  readonly #ctx: AdminContext;

  /**
   * Creates the console of a running proxy.
   *
   * @param ctx the running proxy
   */
  constructor(ctx: AdminContext) {
    this.#ctx = ctx;
  }

  /** Database name that selects the console. */
  get database(): string {
    return this.#ctx.loaded().config.admin.database;
  }

  /**
   * Checks the loopback rule and the admin user list (both may change on RELOAD).
   *
   * @param user user name from the StartupMessage
   * @param remote the client's socket address
   * @returns undefined when allowed, else FATAL 28000 invalid_authorization_specification
   */
  authorize(user: string, remote: Deno.Addr): PgError | undefined {
    return authorizeAdmin(this.#ctx.loaded().config.admin, this.#ctx.stats, user, remote);
  }

  /** The original's server version from its health check, if one passed. */
  get serverVersion(): string | undefined {
    const config = this.#ctx.loaded().config;
    return this.#ctx.health.get(config.original.name)?.serverVersion;
  }

  /**
   * Greets the client, then runs its commands until it sends Terminate or leaves.
   *
   * @param client the client's reader, writer, address and user
   * @returns when the client has left
   * @throws {ProtocolError} on a message the console cannot take; socket errors
   */
  serve(client: AdminClient): Promise<void> {
    return serveConsole(
      client,
      consoleGreeting(this.serverVersion),
      (sql, session) => this.execute(sql, session),
    );
  }

  /**
   * Runs the commands of one Query; the first error ends the Query, as in PostgreSQL.
   *
   * @param sql the Query text
   * @param session who is asking
   * @returns the messages to send before ReadyForQuery, and what to do after it
   */
  async execute(sql: string, session: AdminSession): Promise<AdminReply> {
    const parsed = parseCommands(sql);
    if (!parsed.ok) return { messages: [parsed.error.encode()] };
    await this.#ctx.refresh?.();
    if (parsed.commands.length === 0) return { messages: [EMPTY_QUERY_RESPONSE] };
    const messages: Uint8Array[] = [];
    const after: (() => void)[] = [];
    for (const command of parsed.commands) {
      try {
        const reply = await this.#dispatch(command, session);
        messages.push(...reply.messages);
        if (reply.after) after.push(reply.after);
      } catch (e: unknown) {
        if (!(e instanceof PgError)) {
          log.error("admin command {command} failed: {error}", {
            command: command.kind,
            error: e instanceof Error ? (e.stack ?? e.message) : String(e),
          });
        }
        const error = e instanceof PgError ? e : PgError.internal("internal error in usogres", e);
        messages.push(error.encode());
        break;
      }
    }
    return { messages, after: () => after.forEach((fn) => fn()) };
  }

  #dispatch(c: AdminCommand, session: AdminSession): AdminReply | Promise<AdminReply> {
    const ctx = this.#ctx;
    switch (c.kind) {
      case "show":
        return this.#show(c.what);
      case "pause":
        return pause(ctx, session);
      case "resume":
        return resume(ctx, session);
      case "detach":
        return detach(ctx, session, c.backend);
      case "attach":
        return attach(ctx, session, c.backend, c.force);
      case "recover":
        return recover(ctx, c.backend);
      case "promote":
        return promote(ctx, session, c.backend);
      case "reload":
        return reload(ctx);
      case "shutdown":
        return shutdown(ctx, session);
    }
  }

  #show(what: (AdminCommand & { kind: "show" })["what"]): AdminReply {
    const ctx = this.#ctx;
    switch (what) {
      case "backends":
        return showBackends(ctx);
      case "clients":
        return showClients(ctx);
      case "stats":
        return showStats(ctx);
      case "config":
        return showConfig(ctx);
      case "version":
        return showVersion();
      case "recovery":
        return showRecovery(ctx);
    }
  }
}

/**
 * Checks the loopback rule and the admin user list, counting a refusal.
 *
 * @param admin the `[admin]` settings in force
 * @param stats the counters (`connectionsRefused`)
 * @param user user name from the StartupMessage
 * @param remote the client's socket address
 * @returns undefined when allowed, else FATAL 28000 invalid_authorization_specification
 */
export function authorizeAdmin(
  admin: AdminConfig,
  stats: ProxyStats,
  user: string,
  remote: Deno.Addr,
): PgError | undefined {
  let refusal: PgError | undefined;
  if (!admin.allowRemote && !isLoopback(remote)) {
    const host = remote.transport === "tcp" || remote.transport === "udp"
      ? remote.hostname
      : remote.transport;
    refusal = new PgError(
      "FATAL",
      "28000",
      `admin console connections from host "${host}" are not allowed`,
      { hint: "Connect from the machine usogres runs on, or set admin.allow_remote." },
    );
  } else if (!admin.users.includes(user)) {
    refusal = new PgError(
      "FATAL",
      "28000",
      `role "${user}" is not allowed to use the admin console`,
    );
  }
  if (refusal) stats.connectionsRefused++;
  return refusal;
}

/**
 * Runs a console session on a client's socket: the greeting, then each simple Query through
 * `execute`, until the client sends Terminate or leaves. A worker (`listen.workers` > 1) runs it
 * with an `execute` that asks the main thread.
 *
 * @param client the client's reader, writer, address and user
 * @param greeting the messages that greet the client ({@link consoleGreeting})
 * @param execute runs the commands of one Query
 * @returns when the client has left
 * @throws {ProtocolError} on a message the console cannot take; socket errors
 */
export async function serveConsole(
  client: AdminClient,
  greeting: readonly Uint8Array[],
  execute: (sql: string, session: AdminSession) => Promise<AdminReply>,
): Promise<void> {
  const session: AdminSession = { user: client.user, remote: client.remote };
  log.info("admin console connection from {remote}: user={user}", { ...session });
  await client.writer.write(concatBytes(greeting));
  let skipping = false;
  for (;;) {
    const frame = await nextFrame(client.reader);
    if (frame === undefined || frame.code === FrontendCode.Terminate) return;
    const code = frame.code;
    if (code === FrontendCode.Query) {
      const reply = await execute(decodeQuery(frame).sql, session);
      await client.writer.write(concatBytes([...reply.messages, READY_FOR_QUERY_IDLE]));
      reply.after?.();
    } else if (code === FrontendCode.Sync) {
      skipping = false;
      await client.writer.write(READY_FOR_QUERY_IDLE);
    } else if (EXTENDED.has(code)) {
      if (!skipping) await client.writer.write(extendedRefusal().encode());
      skipping = true;
    } else if (code === FrontendCode.FunctionCall) {
      await client.writer.write(concatBytes([extendedRefusal().encode(), READY_FOR_QUERY_IDLE]));
    } else if (!IGNORED.has(code)) {
      throw new ProtocolError(
        `invalid frontend message type ${code} ("${String.fromCharCode(code)}")`,
      );
    }
  }
}

/**
 * The messages that greet a console client: AuthenticationOk, ParameterStatus (the original's
 * server version when known), a BackendKeyData no CancelRequest can use, ReadyForQuery.
 *
 * @param serverVersion the original's version, if known
 * @returns the messages
 */
export function consoleGreeting(serverVersion: string | undefined): Uint8Array[] {
  const parameters: [string, string][] = [
    ["server_version", `${serverVersion ?? FALLBACK_SERVER_VERSION} (usogres ${VERSION})`],
    ["server_encoding", "UTF8"],
    ["client_encoding", "UTF8"],
    ["DateStyle", "ISO, MDY"],
    ["integer_datetimes", "on"],
    ["standard_conforming_strings", "on"],
    ["application_name", "usogres admin console"],
  ];
  const key = crypto.getRandomValues(new Uint32Array(2));
  return [
    encodeAuthenticationOk(),
    ...parameters.map(([k, v]) => encodeParameterStatus(k, v)),
    // Not registered: a CancelRequest with it finds nothing to cancel, as intended.
    encodeBackendKeyData(key[0]! & 0x7fffffff, key[1]!),
    READY_FOR_QUERY_IDLE,
  ];
}

function extendedRefusal(): PgError {
  return PgError.featureNotSupported(
    "the admin console supports only the simple query protocol",
    undefined,
    "Send each command as a simple Query, as psql does.",
  );
}

/**
 * Whether an address is loopback: 127.0.0.0/8, ::1, IPv4-mapped loopback, or a Unix socket.
 *
 * @param addr the client's socket address
 * @returns true for loopback
 */
export function isLoopback(addr: Deno.Addr): boolean {
  if (addr.transport !== "tcp" && addr.transport !== "udp") return addr.transport !== "vsock";
  const host = addr.hostname.toLowerCase();
  return host === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(host);
}

async function nextFrame(reader: FrameReader): Promise<Frame | undefined> {
  for (;;) {
    const f = reader.tryNext();
    if (f) return f;
    if (!(await reader.fill())) {
      if (reader.buffered > 0) throw new ProtocolError("incomplete message from client");
      return undefined;
    }
  }
}
