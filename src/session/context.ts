/**
 * @module
 * What every client session shares with the listener that started it: the configuration, the
 * cancel keys, the admission count, shutdown state and counters. One object per usogres process.
 */

import type { Config } from "../config/mod.ts";
import type { Membership, WriteGate } from "../cluster/mod.ts";
import type { CatalogCache, Classifier } from "../replication/mod.ts";
import type { CancelKeys } from "./cancel_keys.ts";
import type { RecoveryState } from "./journal.ts";
import type { BackendPool } from "./backend_pool.ts";
import type { ClientSecurity } from "./security.ts";

/** Process-wide counters, for logs now and the admin console and metrics later. */
export interface ProxyStats {
  /** Connections accepted by the listener. */
  connectionsAccepted: number;
  /** Sessions admitted (StartupMessage accepted and backends connected). */
  sessionsStarted: number;
  /** Connections refused (too many clients, bad startup, shutting down, backend refused). */
  connectionsRefused: number;
  /** CancelRequests received. */
  cancelRequests: number;
  /** Bytes received from clients. */
  bytesFromClients: number;
  /** Bytes sent to clients. */
  bytesToClients: number;
  /** Divergences detected (a copy's outcome differed from the original's). */
  divergences: number;
}

/** A fresh set of zero counters. */
export function newProxyStats(): ProxyStats {
  return {
    connectionsAccepted: 0,
    sessionsStarted: 0,
    connectionsRefused: 0,
    cancelRequests: 0,
    bytesFromClients: 0,
    bytesToClients: 0,
    divergences: 0,
  };
}

/** Shared state handed to every session. */
export interface SessionContext {
  /** The effective configuration. */
  readonly config: Config;
  /** Issued cancel keys. */
  readonly cancelKeys: CancelKeys;
  /** Counters. */
  readonly stats: ProxyStats;
  /** Backend states, shared by every session. */
  readonly membership: Membership;
  /** Statement classifier, shared (and its cache with it). */
  readonly classifier: Classifier;
  /** Table definitions for row-based replication, shared. */
  readonly catalog: CatalogCache;
  /** Holds new write batches during PAUSE and recovery; counts those in flight. */
  readonly writeGate: WriteGate;
  /** The journal sessions record into while a copy is recovered online. */
  readonly recovery: RecoveryState;
  /** Idle server connections kept for the next client (the connection cache). */
  readonly pool: BackendPool;
  /** Issues process-unique session ids. */
  nextSessionId(): number;
  /** TLS context, per-address slots and password verifiers, shared. */
  readonly security: ClientSecurity;
  /** True once shutdown began: new sessions are refused with 57P01. */
  shuttingDown(): boolean;
  /**
   * Claims a client slot; false when `max_clients` are already in use.
   *
   * @returns whether the session may proceed
   */
  admit(): boolean;
  /** Returns a slot claimed by {@link admit}. */
  release(): void;
  /**
   * Finds the password for a backend connection (config, PGPASSWORD, .pgpass).
   *
   * @param host backend host
   * @param port backend port
   * @param database database name
   * @param user role name
   * @returns the password, or undefined
   */
  passwordFor(
    host: string,
    port: number,
    database: string,
    user: string,
  ): Promise<string | undefined>;
}
