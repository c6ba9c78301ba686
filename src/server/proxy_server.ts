/**
 * @module
 * The listener: accepts client connections on the configured address, hands each to a
 * {@link ClientConnection}, enforces `max_clients`, and runs the graceful shutdown (stop
 * accepting, let running statements finish within `shutdown_timeout`, then close everything).
 * Health checks, the admin console, metrics and RELOAD run beside it in {@link Operations}.
 */

import type { Config, LoadedConfig } from "../config/mod.ts";
import { resolveBackendPassword } from "../auth/mod.ts";
import { Membership, WriteGate } from "../cluster/mod.ts";
import { CatalogCache, Classifier, initClassifier } from "../replication/mod.ts";
import { getLogger } from "../log/mod.ts";
import { CancelKeys } from "../session/cancel_keys.ts";
import { ClientConnection } from "../session/client_connection.ts";
import { RecoveryState } from "../session/journal.ts";
import { BackendPool } from "../session/backend_pool.ts";
import { DeadlineSweep } from "../session/deadlines.ts";
import { recoverCopy, type RecoveryProgress } from "../recovery/mod.ts";
import { newProxyStats, type ProxyStats, type SessionContext } from "../session/context.ts";
import { type ClientSecurity, createClientSecurity } from "../session/security.ts";
import { Operations } from "./operations.ts";

const log = getLogger("server");

/** What {@link ProxyServer.start} takes besides the configuration. */
export interface ProxyServerOptions {
  /** The configuration with the source of each value, for SHOW CONFIG. */
  readonly loaded?: LoadedConfig;
  /** Reads the configuration again, for RELOAD and SIGHUP. */
  readonly reload?: () => Promise<LoadedConfig>;
}

/** A running usogres listener. */
export class ProxyServer implements AsyncDisposable {
  /** The configuration it runs with. */
  /** The configuration in force; its original and copies swap when a copy is promoted. */
  config: Config;
  /** Process-wide counters. */
  readonly stats: ProxyStats = newProxyStats();
  readonly #listener: Deno.TcpListener;
  readonly #sessions = new Set<ClientConnection>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #cancelKeys = new CancelKeys();
  #admitted = 0;
  #stopping = false;
  #acceptLoop: Promise<void>;
  #stopped: Promise<void> | undefined;

  /** Backend states, shared by every session. */
  readonly membership: Membership;
  readonly #classifier: Classifier;
  readonly #catalog = new CatalogCache();
  /** Holds new writes during PAUSE and recovery. */
  readonly writeGate: WriteGate = new WriteGate();
  /** Idle server connection sets kept for the next client. */
  readonly #pool: BackendPool;
  /** Startup timeouts of the clients in startup. */
  readonly #startupDeadlines = new DeadlineSweep<() => void>((expired) => expired());
  /** The journal of an online recovery, and the sessions recording into it. */
  readonly recovery: RecoveryState = new RecoveryState();
  #sessionIds = 0;
  readonly #security: ClientSecurity;
  /**
   * Health checks, write gate, admin console, metrics and RELOAD.
   *
   * @internal
   */
  readonly operations: Operations;

  private constructor(
    config: Config,
    listener: Deno.TcpListener,
    membership: Membership,
    classifier: Classifier,
    security: ClientSecurity,
    options: ProxyServerOptions,
  ) {
    this.config = config;
    this.#pool = new BackendPool(
      config.backendAuth.poolSize,
      config.backendAuth.poolIdleTimeoutMs,
      config.backendAuth.connectTimeoutMs,
    );
    this.#security = security;
    this.#listener = listener;
    this.membership = membership;
    this.#classifier = classifier;
    this.operations = new Operations(
      {
        config: () => this.config,
        setConfig: (c) => {
          this.config = c;
        },
        membership,
        stats: this.stats,
        writeGate: this.writeGate,
        clients: () => [...this.#sessions].map((s) => s.info()),
        activeClients: () => this.#admitted,
        accepting: () => !this.#stopping,
        shutdown: () => this.shutdown(),
        recover: (name) => this.recover(name),
        recoveryProgress: () => this.recoveryProgress,
        promote: (name, reason) => this.promote(name, reason),
      },
      options,
    );
    this.#acceptLoop = this.#accept();
  }

  /**
   * Binds the listening socket and starts accepting clients.
   *
   * @param config the effective configuration
   * @param options where its values came from, and how to read it again (RELOAD, SIGHUP)
   * @returns the running server
   * @throws Deno.errors.AddrInUse (or another bind error) when the address cannot be bound
   * @throws {MetricsListenError} when `admin.metrics_listen` cannot be bound
   * @example
   * ```ts
   * declare const config: import("../config/mod.ts").Config;
   * const server = await ProxyServer.start(config);
   * console.log(`listening on ${server.port}`);
   * await server.shutdown();
   * ```
   */
  static async start(config: Config, options: ProxyServerOptions = {}): Promise<ProxyServer> {
    await initClassifier();
    const classifier = new Classifier({
      readOnlyFunctions: config.replication.readOnlyFunctions,
      writeFunctions: config.replication.writeFunctions,
    });
    const membership = new Membership(
      config.original.name,
      config.copies.map((c) => c.name),
      config.replication.stateFile,
    );
    await membership.load();
    if (membership.original !== config.original.name) {
      // An earlier run promoted a copy: it stays the original.
      config = withOriginal(config, membership.original);
    }
    const security = await createClientSecurity(config, passwordSource(config));
    const listener = Deno.listen({ hostname: config.listen.host, port: config.listen.port });
    const server = new ProxyServer(config, listener, membership, classifier, security, options);
    try {
      server.operations.start();
    } catch (e: unknown) {
      await server.shutdown();
      throw e;
    }
    log.info("listening on {host}:{port}, original {orgHost}:{orgPort}", {
      host: config.listen.host,
      port: server.port,
      orgHost: config.original.host,
      orgPort: config.original.port,
    });
    return server;
  }

  /** The bound port (useful when the configuration asked for port 0). */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** Number of client sessions admitted and not yet ended. */
  get activeClients(): number {
    return this.#admitted;
  }

  async #accept(): Promise<void> {
    const ctx = this.#context();
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
      this.stats.connectionsAccepted++;
      const session = new ClientConnection(conn, ctx);
      this.#sessions.add(session);
      const task = session.run().finally(() => {
        this.#sessions.delete(session);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  #context(): SessionContext {
    const config = this.config;
    // A getter, so sessions see the current original and copies after a PROMOTE.
    const current = (): Config => this.config;
    return {
      get config(): Config {
        return current();
      },
      cancelKeys: this.#cancelKeys,
      stats: this.stats,
      membership: this.membership,
      classifier: this.#classifier,
      catalog: this.#catalog,
      writeGate: this.writeGate,
      recovery: this.recovery,
      pool: this.#pool,
      startupDeadlines: this.#startupDeadlines,
      nextSessionId: () => ++this.#sessionIds,
      security: this.#security,
      fanoutLatency: this.operations.fanoutLatency,
      adminConsole: this.operations.adminConsole,
      shuttingDown: () => this.#stopping,
      admit: () => {
        if (this.#admitted >= config.listen.maxClients) return false;
        this.#admitted++;
        return true;
      },
      release: () => {
        this.#admitted--;
      },
      passwordFor: passwordSource(config),
    };
  }

  /**
   * Makes an in-sync copy the original (PROMOTE, failover). The old original becomes a stale copy
   * (recoverable like any other); new sessions go to the new original, and existing sessions are
   * closed at their next idle moment (57P01) so their clients reconnect to it.
   *
   * @param name the copy to promote
   * @param reason why, for logs
   * @throws Error when the copy is unknown or not in sync
   */
  promote(name: string, reason: string): void {
    this.membership.promote(name, reason);
    this.config = withOriginal(this.config, name);
    log.warning('promoted "{name}" to original ({reason}); closing {n} session(s) at idle', {
      name,
      reason,
      n: this.#sessions.size,
    });
    for (const session of this.#sessions) if (!session.info().admin) session.requestShutdown();
  }

  /**
   * Stops accepting, lets running statements finish (up to `shutdown_timeout`), tells idle clients
   * the server is shutting down (57P01), and closes every connection.
   *
   * @returns when every session has ended
   */
  shutdown(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    this.operations.beginShutdown();
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
      timer = setTimeout(() => resolve("timeout"), this.config.listen.shutdownTimeoutMs);
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
    this.#startupDeadlines.close();
    await this.operations.stop();
    log.info("shutdown complete");
  }

  /**
   * Recovers a stale copy online (RECOVER in the admin console, `usogres recover`).
   *
   * @param name the copy
   * @param onProgress receives progress updates
   * @returns when the copy is in sync
   * @throws Error when it cannot be recovered (it stays stale)
   */
  recover(name: string, onProgress?: (p: RecoveryProgress) => void): Promise<void> {
    return recoverCopy(
      {
        config: this.config,
        membership: this.membership,
        writeGate: this.writeGate,
        recovery: this.recovery,
      },
      name,
      (p) => {
        this.recoveryProgress = { ...p };
        onProgress?.(p);
      },
    );
  }

  /** Progress of the last recovery started, for SHOW BACKENDS and metrics. */
  recoveryProgress: RecoveryProgress | undefined;

  /** Closes every client connection at once (a second SIGINT/SIGTERM). */
  kill(): void {
    for (const s of this.#sessions) s.kill();
  }

  /** Same as {@link shutdown}; lets `await using` stop the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/** usogres's own password towards a backend: configuration, PGPASSWORD, then the passfile. */
function passwordSource(
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

/**
 * The configuration with another backend as the original (the old original becomes a copy).
 *
 * @param config the configuration
 * @param name the backend to make the original
 * @returns the new configuration
 */
export function withOriginal(config: Config, name: string): Config {
  if (config.original.name === name) return config;
  const promoted = config.copies.find((c) => c.name === name);
  if (!promoted) throw new Error(`unknown copy "${name}"`);
  return {
    ...config,
    original: promoted,
    copies: [...config.copies.filter((c) => c.name !== name), config.original],
  };
}
