/**
 * @module
 * What the admin console and the metrics endpoint see of the running proxy: states, health,
 * counters, sessions, the write gate, the configuration in effect, and the two actions that
 * reach beyond them (RELOAD, SHUTDOWN). The server builds one {@link AdminContext}; every
 * command reads it and nothing else, so commands are tested against plain objects.
 */

import type { RecoveryProgress } from "../recovery/mod.ts";
import type { LoadedConfig } from "../config/mod.ts";
import type { GateControl, HealthChecker, Histogram, Membership } from "../cluster/mod.ts";
import type { ClientInfo, ProxyStats } from "../session/context.ts";

/** What a RELOAD changed. */
export interface ReloadReport {
  /** The file that was read, if any. */
  readonly file: string | undefined;
  /** Settings that changed and took effect, with their new values as text. */
  readonly applied: readonly { readonly path: string; readonly value: string }[];
  /** Settings that changed in the file but take effect only after a restart. */
  readonly restartNeeded: readonly string[];
}

/** The running proxy, as the admin console and `/metrics` see it. */
export interface AdminContext {
  /** The configuration in effect and where each value came from (RELOAD replaces it). */
  loaded(): LoadedConfig;
  /** Backend states. */
  readonly membership: Membership;
  /** Health check results. */
  readonly health: Pick<HealthChecker, "get" | "isUp" | "originalReady">;
  /** Process-wide counters. */
  readonly stats: ProxyStats;
  /** The gate write batches pass; PAUSE closes it, and so does an online recovery briefly. */
  readonly writeGate: GateControl;
  /**
   * Brings the numbers the other fields show up to date before a command or a `/metrics`
   * request: with `listen.workers` > 1, it collects every worker's counters, clients and gate.
   *
   * @returns when the fields are fresh
   */
  refresh?(): Promise<void>;
  /** Whether the console's PAUSE holds the gate (pauses nest: RESUME releases only this one). */
  readonly adminPause: { active: boolean };
  /** Write fan-out latency. */
  readonly fanoutLatency: Histogram;
  /** When the proxy started. */
  readonly startedAt: Date;
  /**
   * Lists the client connections, admin console sessions included.
   *
   * @returns one snapshot per connection
   */
  clients(): ClientInfo[];
  /** Client sessions admitted and not yet ended (admin console sessions are not counted). */
  activeClients(): number;
  /** Whether the listener still accepts connections (false once shutdown began). */
  accepting(): boolean;
  /**
   * Reads the configuration file again and applies what can change while running.
   *
   * @returns what changed
   * @throws {ConfigError} when the file is invalid (nothing is changed)
   * @throws Error when this proxy has no way to read its configuration again
   */
  reload(): Promise<ReloadReport>;
  /** Starts a graceful shutdown, as SIGTERM does. */
  requestShutdown(): void;
  /**
   * Recovers a stale copy online (RECOVER).
   *
   * @param name the copy
   * @returns when it is in sync
   * @throws Error when it cannot be recovered (it stays stale)
   */
  recover(name: string): Promise<void>;
  /** Progress of the last recovery started (SHOW RECOVERY). */
  recoveryProgress(): RecoveryProgress | undefined;
  /**
   * Makes an in-sync copy the original (PROMOTE).
   *
   * @param name the copy
   * @param reason why, for logs
   * @throws Error when the copy is not in sync
   */
  promote(name: string, reason: string): void;
}
