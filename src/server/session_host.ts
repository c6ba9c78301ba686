/**
 * @module
 * One accept loop and the client sessions it started: the part of usogres that a worker runs
 * once per thread (`listen.workers`). It accepts on its listener, hands each connection to a
 * {@link ClientConnection} with the shared {@link SessionContext}, and ends the sessions on
 * shutdown: stop accepting, ask each to end at its next idle moment (57P01), wait up to
 * `shutdown_timeout`, then close what is left.
 */

import type { Config } from "../config/mod.ts";
import { resolveBackendPassword } from "../auth/mod.ts";
import { getLogger } from "../log/mod.ts";
import { ClientConnection } from "../session/client_connection.ts";
import type { ClientInfo, SessionContext } from "../session/context.ts";
import type { BackendPool } from "../session/backend_pool.ts";
import type { Admission } from "./admission.ts";

const log = getLogger("server");

/** The sessions of one listener. */
export class SessionHost {
  readonly #listener: Deno.TcpListener;
  readonly #ctx: SessionContext;
  readonly #pool: BackendPool;
  readonly #sessions = new Set<ClientConnection>();
  readonly #tasks = new Set<Promise<void>>();
  #stopping = false;
  readonly #acceptLoop: Promise<void>;
  #stopped: Promise<void> | undefined;

  /**
   * Starts accepting on `listener`.
   *
   * @param listener the bound listener
   * @param ctx what every session shares; its `shuttingDown` should read {@link stopping}
   * @param pool the connection cache in `ctx`, closed at shutdown
   */
  constructor(listener: Deno.TcpListener, ctx: SessionContext, pool: BackendPool) {
    this.#listener = listener;
    this.#ctx = ctx;
    this.#pool = pool;
    this.#acceptLoop = this.#accept();
  }

  /** The bound port. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** True once shutdown began. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Snapshots of every connection, admin console sessions included. */
  clients(): ClientInfo[] {
    return [...this.#sessions].map((s) => s.info());
  }

  /** Number of open connections (of any kind). */
  get size(): number {
    return this.#sessions.size;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (e: unknown) {
        if (this.#stopping) return;
        if (e instanceof Deno.errors.BadResource) return;
        log.error("accept failed: {error}", { error: String(e) });
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // The client already left.
      }
      this.#ctx.stats.connectionsAccepted++;
      const session = new ClientConnection(conn, this.#ctx);
      this.#sessions.add(session);
      const task = session.run().finally(() => {
        this.#sessions.delete(session);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  /** Asks every client session (not the admin console's) to end at its next idle moment. */
  closeClientsAtIdle(): void {
    for (const session of this.#sessions) if (!session.info().admin) session.requestShutdown();
  }

  /**
   * Stops accepting, asks every session to end at its next idle moment, waits up to
   * `shutdown_timeout`, then closes what is left and the connection cache.
   *
   * @param config the configuration in force (`listen.shutdown_timeout`)
   * @returns when every session has ended
   */
  shutdown(config: Config): Promise<void> {
    this.#stopped ??= this.#shutdown(config);
    return this.#stopped;
  }

  async #shutdown(config: Config): Promise<void> {
    this.#stopping = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#acceptLoop;
    const sessions = [...this.#sessions];
    log.info("shutting down: {n} client connection(s) open", { n: sessions.length });
    for (const s of sessions) s.requestShutdown();
    const tasks = [...this.#tasks];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), config.listen.shutdownTimeoutMs);
    });
    const result = await Promise.race([Promise.all(tasks).then(() => "done" as const), timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      log.warning("shutdown timeout: closing {n} busy client connection(s)", {
        n: this.#sessions.size,
      });
      for (const s of this.#sessions) s.kill();
      await Promise.all([...this.#tasks]);
    }
    this.#pool.close();
    this.#ctx.startupDeadlines.close();
  }

  /** Closes every client connection at once (a second SIGINT/SIGTERM). */
  kill(): void {
    for (const s of this.#sessions) s.kill();
  }
}

/**
 * The parts a {@link SessionContext} is made of, as the main thread or a worker has them: the
 * shared objects as they are, the configuration as a function (PROMOTE and RELOAD replace it),
 * and `max_clients` admission, from which the context's `admit`/`release` come.
 */
export interface SessionParts extends
  Pick<
    SessionContext,
    | "cancelKeys"
    | "stats"
    | "membership"
    | "classifier"
    | "catalog"
    | "writeGate"
    | "recovery"
    | "pool"
    | "startupDeadlines"
    | "security"
    | "fanoutLatency"
    | "adminConsole"
    | "shuttingDown"
    | "nextSessionId"
  > {
  /** The configuration in force (read again on each use: PROMOTE and RELOAD replace it). */
  config(): Config;
  /** `max_clients` admission. */
  readonly admission: Admission;
}

/**
 * Builds the context sessions share from its parts.
 *
 * @param p the parts
 * @returns the context
 */
export function sessionContext(p: SessionParts): SessionContext {
  const passwordFor = backendPasswordSource(p.config());
  return {
    get config(): Config {
      return p.config();
    },
    cancelKeys: p.cancelKeys,
    stats: p.stats,
    membership: p.membership,
    classifier: p.classifier,
    catalog: p.catalog,
    writeGate: p.writeGate,
    recovery: p.recovery,
    pool: p.pool,
    startupDeadlines: p.startupDeadlines,
    nextSessionId: () => p.nextSessionId(),
    security: p.security,
    fanoutLatency: p.fanoutLatency,
    adminConsole: p.adminConsole,
    shuttingDown: () => p.shuttingDown(),
    admit: () => p.admission.admit(),
    release: () => p.admission.release(),
    passwordFor,
  };
}

/**
 * usogres's own password towards a backend: configuration, PGPASSWORD, then the passfile.
 *
 * @param config the configuration
 * @returns the lookup
 */
export function backendPasswordSource(
  config: Config,
): (host: string, port: number, database: string, user: string) => Promise<string | undefined> {
  const env = Deno.env.toObject();
  const home = env.HOME ?? "";
  return (host, port, database, user) =>
    resolveBackendPassword({
      configured: config.backendAuth.password,
      env,
      passfile: config.backendAuth.passfile,
      home,
      host,
      port,
      database,
      user,
    });
}
