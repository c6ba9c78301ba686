/**
 * @module
 * What every client session shares with the listener that started it: the configuration, the
 * cancel keys, the admission count, shutdown state and counters. One object per usogres process.
 */

import type { Config } from "../config/mod.ts";
import type { Histogram, Membership, WriteGate } from "../cluster/mod.ts";
import type { FrameReader, PgError, TxStatus } from "../protocol/mod.ts";
import type { SocketWriter } from "../backend/mod.ts";
import type { CatalogCache, Classifier } from "../replication/mod.ts";
import type { CancelKeys } from "./cancel_keys.ts";
import type { RecoveryState } from "./journal.ts";
import type { BackendPool } from "./backend_pool.ts";
import type { DeadlineSweep } from "./deadlines.ts";
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

/** What one client session looks like from outside, for the admin console's SHOW CLIENTS. */
export interface ClientInfo {
  /** The client's address, `host:port`. */
  readonly remote: string;
  /** User name from the StartupMessage ("" before it arrived). */
  readonly user: string;
  /** Database from the StartupMessage ("" before it arrived). */
  readonly database: string;
  /** Where the session is: `startup`, `authenticating`, `ready` or `closing`. */
  readonly state: "startup" | "authenticating" | "ready" | "closing";
  /** Transaction status at the last ReadyForQuery, when ready. */
  readonly tx: TxStatus | undefined;
  /** True while a batch runs (sent and not yet answered with ReadyForQuery). */
  readonly busy: boolean;
  /** True for an admin console session. */
  readonly admin: boolean;
  /** When the connection was accepted. */
  readonly connectedAt: Date;
  /** Bytes received from the client. */
  readonly bytesIn: number;
  /** Bytes sent to the client. */
  readonly bytesOut: number;
  /** The worker serving it (`listen.workers` > 1); absent with one. */
  readonly worker?: number | undefined;
}

/** A client that asked for the admin console, handed over once its StartupMessage is accepted. */
export interface AdminClient {
  /** Frames from the client (past startup). */
  readonly reader: FrameReader;
  /** Writes to the client. */
  readonly writer: SocketWriter;
  /** The client's address, `host:port`. */
  readonly remote: string;
  /** User name from the StartupMessage. */
  readonly user: string;
}

/**
 * The admin console as the session layer sees it: implemented in `src/admin/`, wired in by the
 * server, so that sessions do not import a layer above them.
 */
export interface AdminConsoleHook {
  /** Database name that selects the console (`admin.database`). */
  readonly database: string;
  /**
   * Checks that a user from an address may use the console.
   *
   * @param user user name from the StartupMessage
   * @param remote the client's socket address
   * @returns undefined when allowed, else the FATAL error to send (28000)
   */
  authorize(user: string, remote: Deno.Addr): PgError | undefined;
  /**
   * Runs the console on the client's socket: greeting, then commands until the client leaves.
   *
   * @param client the client's reader, writer, address and user
   * @returns when the client has left
   * @throws ProtocolError on a malformed message; socket errors
   */
  serve(client: AdminClient): Promise<void>;
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
  /** Startup timeouts of the clients in startup (one sweep timer, not one timer per client). */
  readonly startupDeadlines: DeadlineSweep<() => void>;
  /** Issues process-unique session ids. */
  nextSessionId(): number;
  /** TLS context, per-address slots and password verifiers, shared. */
  readonly security: ClientSecurity;
  /** Write fan-out latency in seconds, observed by the relay, printed by `/metrics`. */
  readonly fanoutLatency: Histogram;
  /** The admin console, selected by the database name in the StartupMessage. */
  readonly adminConsole: AdminConsoleHook | undefined;
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
