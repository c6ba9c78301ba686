/**
 * @module
 * The listener: accepts client connections on the configured address, hands each to a
 * `ClientConnection`, enforces `max_clients`, and runs the graceful shutdown (stop
 * accepting, let running statements finish within `shutdown_timeout`, then close everything).
 * Health checks, the admin console, metrics and RELOAD run beside it in {@link Operations}.
 *
 * With `listen.workers` = 1 the sessions run on this thread ({@link SessionHost}). With more,
 * each of N Web Workers runs its own accept loop on the same port (`reusePort`) and the main
 * thread keeps the backend states, health checks, admin console and metrics
 * ({@link WorkerPool}); RECOVER and PROMOTE are refused then.
 */

import type { Config, LoadedConfig } from "../config/mod.ts";
import { Histogram, Membership, WriteGate } from "../cluster/mod.ts";
import { CatalogCache, Classifier, initClassifier } from "../replication/mod.ts";
import { getLogger } from "../log/mod.ts";
import { CancelKeys } from "../session/cancel_keys.ts";
import { RecoveryState } from "../session/journal.ts";
import { BackendPool } from "../session/backend_pool.ts";
import { DeadlineSweep } from "../session/deadlines.ts";
import { recoverCopy, type RecoveryProgress } from "../recovery/mod.ts";
import { newProxyStats, type ProxyStats } from "../session/context.ts";
import { createClientSecurity } from "../session/security.ts";
import { Operations } from "./operations.ts";
import { Admission } from "./admission.ts";
import { backendPasswordSource, sessionContext, SessionHost } from "./session_host.ts";
import { WorkerPool } from "./worker_pool.ts";

const log = getLogger("server");

/** What {@link ProxyServer.start} takes besides the configuration. */
export interface ProxyServerOptions {
  /** The configuration with the source of each value, for SHOW CONFIG. */
  readonly loaded?: LoadedConfig;
  /** Reads the configuration again, for RELOAD and SIGHUP. */
  readonly reload?: () => Promise<LoadedConfig>;
}

/** Where the sessions run: on this thread, or in workers. */
type Frontend =
  | { readonly kind: "local"; readonly host: SessionHost }
  | { readonly kind: "workers"; readonly pool: WorkerPool };

/** A running usogres listener. */
export class ProxyServer implements AsyncDisposable {
  /** The configuration in force; its original and copies swap when a copy is promoted. */
  config: Config;
  /** Process-wide counters (with workers: their sums, as of the last refresh). */
  readonly stats: ProxyStats = newProxyStats();
  /** Backend states, shared by every session. */
  readonly membership: Membership;
  /** Holds new writes during PAUSE and recovery (the sessions' gate with one worker). */
  readonly writeGate: WriteGate = new WriteGate();
  /** The journal of an online recovery, and the sessions recording into it. */
  readonly recovery: RecoveryState = new RecoveryState();
  /**
   * Health checks, write gate, admin console, metrics and RELOAD.
   *
   * @internal
   */
  readonly operations: Operations;
  readonly #admission: Admission;
  readonly #fanout = new Histogram();
  #frontend: Frontend | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  private constructor(config: Config, membership: Membership, options: ProxyServerOptions) {
    this.config = config;
    this.membership = membership;
    this.#admission = new Admission(config.listen.maxClients);
    const workers = config.listen.workers > 1;
    this.operations = new Operations(
      {
        config: () => this.config,
        setConfig: (c) => {
          this.config = c;
          const f = this.#frontend;
          if (f?.kind === "workers") f.pool.broadcastConfig(c);
        },
        membership,
        stats: this.stats,
        writeGate: this.writeGate,
        gate: () => {
          const f = this.#frontend;
          return f?.kind === "workers" ? f.pool.gate : this.writeGate;
        },
        fanoutLatency: this.#fanout,
        refresh: workers ? () => this.#refresh() : undefined,
        clients: () => {
          const f = this.#frontend;
          if (f === undefined) return [];
          return f.kind === "local" ? f.host.clients() : f.pool.clients();
        },
        activeClients: () => this.#admission.count,
        accepting: () => !this.#stopping,
        shutdown: () => this.shutdown(),
        recover: (name) => this.recover(name),
        recoveryProgress: () => this.recoveryProgress,
        promote: (name, reason) => this.promote(name, reason),
      },
      options,
    );
  }

  async #refresh(): Promise<void> {
    const f = this.#frontend;
    if (f?.kind === "workers") await f.pool.refresh();
  }

  /**
   * Binds the listening socket (or starts the workers, each binding it) and starts accepting.
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
    const server = new ProxyServer(config, membership, options);
    if (config.listen.workers > 1) {
      const pool = await WorkerPool.start({
        config: () => server.config,
        membership,
        stats: server.stats,
        fanoutLatency: server.#fanout,
        execute: (sql, session) => server.operations.adminConsole.execute(sql, session),
        serverVersion: () => server.operations.adminConsole.serverVersion,
      }, server.#admission.buffer);
      membership.onChange(() => pool.broadcastMembership(membership.snapshot()));
      server.#frontend = { kind: "workers", pool };
    } else {
      server.#frontend = { kind: "local", host: await server.#localHost() };
    }
    try {
      server.operations.start();
    } catch (e: unknown) {
      await server.shutdown();
      throw e;
    }
    log.info("listening on {host}:{port} ({workers}), original {orgHost}:{orgPort}", {
      host: config.listen.host,
      port: server.port,
      workers: config.listen.workers === 1 ? "1 worker" : `${config.listen.workers} workers`,
      orgHost: config.original.host,
      orgPort: config.original.port,
    });
    return server;
  }

  async #localHost(): Promise<SessionHost> {
    await initClassifier();
    const config = this.config;
    const classifier = new Classifier({
      readOnlyFunctions: config.replication.readOnlyFunctions,
      writeFunctions: config.replication.writeFunctions,
    });
    const security = await createClientSecurity(config, backendPasswordSource(config));
    const listener = Deno.listen({ hostname: config.listen.host, port: config.listen.port });
    const pool = new BackendPool(
      config.backendAuth.poolSize,
      config.backendAuth.poolIdleTimeoutMs,
      config.backendAuth.connectTimeoutMs,
    );
    let sessionIds = 0;
    const ctx = sessionContext({
      config: () => this.config,
      cancelKeys: new CancelKeys(),
      stats: this.stats,
      membership: this.membership,
      classifier,
      catalog: new CatalogCache(),
      writeGate: this.writeGate,
      recovery: this.recovery,
      pool,
      startupDeadlines: new DeadlineSweep<() => void>((expired) => expired()),
      security,
      fanoutLatency: this.#fanout,
      adminConsole: this.operations.adminConsole,
      admission: this.#admission,
      shuttingDown: () => this.#stopping,
      nextSessionId: () => ++sessionIds,
    });
    return new SessionHost(listener, ctx, pool);
  }

  /** The bound port (useful when the configuration asked for port 0). */
  get port(): number {
    const f = this.#frontend;
    if (f === undefined) return 0;
    return f.kind === "local" ? f.host.port : f.pool.port;
  }

  /** Number of client sessions admitted and not yet ended (in every worker). */
  get activeClients(): number {
    return this.#admission.count;
  }

  /**
   * Makes an in-sync copy the original (PROMOTE, failover). The old original becomes a stale copy
   * (recoverable like any other); new sessions go to the new original, and existing sessions are
   * closed at their next idle moment (57P01) so their clients reconnect to it.
   *
   * @param name the copy to promote
   * @param reason why, for logs
   * @throws Error when the copy is unknown or not in sync, or with `listen.workers` > 1
   */
  promote(name: string, reason: string): void {
    const f = this.#frontend;
    if (f?.kind === "workers") throw new Error("promotion needs listen.workers = 1");
    this.membership.promote(name, reason);
    this.config = withOriginal(this.config, name);
    log.warning('promoted "{name}" to original ({reason}); closing {n} session(s) at idle', {
      name,
      reason,
      n: f?.host.size ?? 0,
    });
    f?.host.closeClientsAtIdle();
  }

  /**
   * Stops accepting, lets running statements finish (up to `shutdown_timeout`), tells idle clients
   * the server is shutting down (57P01), and closes every connection (in every worker).
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
    const f = this.#frontend;
    if (f?.kind === "local") await f.host.shutdown(this.config);
    else if (f?.kind === "workers") await f.pool.shutdown();
    await this.operations.stop();
    log.info("shutdown complete");
  }

  /**
   * Recovers a stale copy online (RECOVER in the admin console, `usogres recover`).
   *
   * @param name the copy
   * @param onProgress receives progress updates
   * @returns when the copy is in sync
   * @throws Error when it cannot be recovered (it stays stale), or with `listen.workers` > 1
   */
  recover(name: string, onProgress?: (p: RecoveryProgress) => void): Promise<void> {
    if (this.#frontend?.kind === "workers") {
      return Promise.reject(new Error("online recovery needs listen.workers = 1"));
    }
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
    const f = this.#frontend;
    if (f?.kind === "local") f.host.kill();
    else f?.pool.kill();
  }

  /** Same as {@link shutdown}; lets `await using` stop the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
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
