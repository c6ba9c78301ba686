/**
 * @module
 * What runs beside the client sessions of one {@link ProxyServer}: the health checks, the write
 * gate, the write fan-out histogram, the admin console hook, the metrics listener, and RELOAD
 * (the configuration in effect, with the settings that change live). The server creates one
 * {@link Operations}, puts its gate, histogram and console in the sessions' context, starts it
 * after the listener is bound, and stops it last.
 */

import type { RecoveryProgress } from "../recovery/mod.ts";
import type { Config, LoadedConfig } from "../config/mod.ts";
import { resolveBackendPassword } from "../auth/mod.ts";
import {
  type GateControl,
  HealthChecker,
  type Histogram,
  type Membership,
  type WriteGate,
} from "../cluster/mod.ts";
import {
  AdminConsole,
  type AdminContext,
  MetricsServer,
  planReload,
  type ReloadReport,
} from "../admin/mod.ts";
import { getLogger, setupLogging } from "../log/mod.ts";
import type { ClientInfo, ProxyStats } from "../session/context.ts";

const log = getLogger("server");

/** What {@link Operations} needs from the server it runs beside. */
export interface OperationsHost {
  /** The configuration in force (its original and copies swap after a PROMOTE). */
  config(): Config;
  /**
   * Replaces the configuration in force (RELOAD's live settings).
   *
   * @param config the new configuration
   */
  setConfig(config: Config): void;
  /** Backend states. */
  readonly membership: Membership;
  /** Process-wide counters. */
  readonly stats: ProxyStats;
  /** The gate write batches pass (PAUSE, recovery) on this thread. */
  readonly writeGate: WriteGate;
  /** What PAUSE and RESUME hold: {@link writeGate}, or every worker's gate. */
  gate(): GateControl;
  /** Write fan-out latency (with workers: their sum, as of the last refresh). */
  readonly fanoutLatency: Histogram;
  /** Collects every worker's numbers before a console command or `/metrics` (workers only). */
  readonly refresh?: (() => Promise<void>) | undefined;
  /** Snapshots of every client connection. */
  clients(): ClientInfo[];
  /** Client sessions admitted and not yet ended. */
  activeClients(): number;
  /** Whether the listener still accepts connections. */
  accepting(): boolean;
  /** Starts the graceful shutdown. */
  shutdown(): Promise<void>;
  /**
   * Recovers a stale copy online.
   *
   * @param name the copy
   * @returns when it is in sync
   */
  recover(name: string): Promise<void>;
  /** Progress of the last recovery started. */
  recoveryProgress(): RecoveryProgress | undefined;
  /**
   * Makes an in-sync copy the original.
   *
   * @param name the copy
   * @param reason why, for logs
   */
  promote(name: string, reason: string): void;
}

/** Options of {@link Operations}. */
export interface OperationsOptions {
  /** Where each value came from, for SHOW CONFIG (default: every source "default"). */
  readonly loaded?: LoadedConfig | undefined;
  /** Reads the configuration again, for RELOAD and SIGHUP; without it RELOAD reports an error. */
  readonly reload?: (() => Promise<LoadedConfig>) | undefined;
}

/** The metrics listener could not be bound (`admin.metrics_listen`). */
export class MetricsListenError extends Error {
  /**
   * Wraps the bind error.
   *
   * @param address the address from `admin.metrics_listen`
   * @param cause the bind error
   */
  constructor(address: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`could not listen for metrics on "${address}": ${why}`, { cause });
    this.name = "MetricsListenError";
  }
}

/** Health checks, write gate, admin console, metrics and RELOAD of one server. */
export class Operations {
  /** Health checks of every server. */
  readonly health: HealthChecker;
  /** The server's write gate, which PAUSE closes. */
  readonly writeGate: WriteGate;
  /** Write fan-out latency, observed by the relay. */
  readonly fanoutLatency: Histogram;
  /** The admin console, handed to sessions as their `adminConsole` hook. */
  readonly adminConsole: AdminConsole;
  /** What the admin console and `/metrics` read. */
  readonly admin: AdminContext;
  /** Resolves when SHUTDOWN was asked for in the admin console, or a shutdown began. */
  readonly shutdownRequested: Promise<void>;
  readonly #host: OperationsHost;
  readonly #reload: (() => Promise<LoadedConfig>) | undefined;
  readonly #startedAt = new Date();
  #file: string | undefined;
  #sources: LoadedConfig["sources"];
  #metrics: MetricsServer | undefined;
  #requested: () => void = () => {};

  /**
   * Creates the operations of a server; nothing runs until {@link start}.
   *
   * @param host the server
   * @param opts sources and the way to read the configuration again
   */
  constructor(host: OperationsHost, opts: OperationsOptions = {}) {
    this.#host = host;
    this.writeGate = host.writeGate;
    this.fanoutLatency = host.fanoutLatency;
    this.#file = opts.loaded?.file;
    this.#sources = opts.loaded?.sources ?? new Map();
    this.#reload = opts.reload;
    this.shutdownRequested = new Promise((resolve) => (this.#requested = resolve));
    const env = Deno.env.toObject();
    const lastAutoRecovery = new Map<string, number>();
    this.health = new HealthChecker({
      config: () => this.config,
      membership: host.membership,
      onOriginalDown: (name, reason) => {
        if (this.config.replication.failover !== "auto") return;
        // Confirmed by health checks, not by one terminated backend (57P01 alone proves nothing).
        const next = this.config.copies.find((c) => host.membership.isInSync(c.name));
        if (!next) {
          log.error("automatic failover impossible: no in-sync copy to promote");
          return;
        }
        try {
          host.promote(next.name, `automatic failover: original "${name}" ${reason}`);
        } catch (e: unknown) {
          log.error("automatic failover failed: {error}", {
            error: e instanceof Error ? e.message : String(e),
          });
        }
      },
      onStaleCopyUp: (name) => {
        if (!this.config.replication.autoRecover) return;
        const running = host.recoveryProgress();
        if (running && running.phase !== "done" && running.error === undefined) return;
        const last = lastAutoRecovery.get(name) ?? 0;
        if (Date.now() - last < 60_000) return; // a failed attempt is retried once a minute
        lastAutoRecovery.set(name, Date.now());
        log.info('automatic recovery of copy "{name}" starts', { name });
        host.recover(name).catch(() => {}); // failures are logged by the recovery
      },
      passwordFor: (hostName, port, database, user) =>
        resolveBackendPassword({
          configured: this.config.backendAuth.password,
          env,
          passfile: this.config.backendAuth.passfile,
          home: env.HOME ?? "",
          host: hostName,
          port,
          database,
          user,
        }),
    });
    const refresh = host.refresh;
    this.admin = {
      loaded: () => this.#loadedNow(),
      membership: host.membership,
      health: this.health,
      stats: host.stats,
      get writeGate(): GateControl {
        return host.gate();
      },
      ...(refresh === undefined ? {} : { refresh }),
      adminPause: { active: false },
      fanoutLatency: this.fanoutLatency,
      startedAt: this.#startedAt,
      clients: () => host.clients(),
      activeClients: () => host.activeClients(),
      accepting: () => host.accepting(),
      reload: () => this.reload(),
      recover: (name) => host.recover(name),
      recoveryProgress: () => host.recoveryProgress(),
      promote: (name, reason) => host.promote(name, reason),
      requestShutdown: () => {
        this.#requested();
        void host.shutdown();
      },
    };
    this.adminConsole = new AdminConsole(this.admin);
  }

  /** The configuration in force: the server's, with the live settings of the last RELOAD. */
  get config(): Config {
    return this.#host.config();
  }

  #loadedNow(): LoadedConfig {
    return { config: this.#host.config(), file: this.#file, sources: this.#sources };
  }

  /** The port of the metrics listener, or undefined when there is none. */
  get metricsPort(): number | undefined {
    return this.#metrics?.port;
  }

  /**
   * Binds the metrics listener (unless `admin.metrics_listen` is "") and starts health checks.
   *
   * @throws {MetricsListenError} when the metrics address cannot be bound
   */
  start(): void {
    const address = this.config.admin.metricsListen;
    if (address !== "") {
      try {
        this.#metrics = MetricsServer.start(address, this.admin);
      } catch (e: unknown) {
        // A default address that is taken (another usogres on this host) must not keep the
        // proxy from starting; an address the user chose must.
        const source = this.#sources.get("admin.metrics_listen");
        if (source !== undefined && source.kind !== "default") {
          throw new MetricsListenError(address, e);
        }
        log.warning("metrics listener not started: {error}", {
          error: new MetricsListenError(address, e).message,
        });
      }
    }
    this.health.start();
  }

  /**
   * Reads the configuration again and applies the settings that can change live (log level,
   * health checks, admin users); RELOAD in the admin console and SIGHUP call it.
   *
   * @returns what changed, and what needs a restart
   * @throws {ConfigError} when the configuration is invalid (nothing changes)
   * @throws Error when there is no way to read the configuration again
   */
  async reload(): Promise<ReloadReport> {
    if (this.#reload === undefined) {
      throw new Error("usogres was started without a configuration to read again");
    }
    const plan = planReload(this.#loadedNow(), await this.#reload());
    const levelChanged = plan.loaded.config.log.level !== this.config.log.level;
    this.#host.setConfig(plan.loaded.config);
    this.#sources = plan.loaded.sources;
    if (levelChanged) await setupLogging(this.config.log);
    this.health.reconfigure();
    log.info(
      "configuration reloaded from {file}: applied {applied}; restart needed for {restart}",
      {
        file: plan.file ?? "defaults",
        applied: plan.applied.map((a) => `${a.path} = ${a.value}`).join(", ") || "nothing",
        restart: plan.restartNeeded.join(", ") || "nothing",
      },
    );
    return plan;
  }

  /** Called when the server's shutdown begins: writes held by PAUSE must run for sessions to end. */
  beginShutdown(): void {
    this.#requested();
    if (this.admin.adminPause.active) {
      this.admin.adminPause.active = false;
      this.admin.writeGate.resume();
    }
  }

  /**
   * Stops health checks and the metrics listener.
   *
   * @returns when both are stopped
   */
  async stop(): Promise<void> {
    await Promise.all([this.health.stop(), this.#metrics?.stop()]);
  }
}
