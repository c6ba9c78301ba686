/**
 * @module
 * The effective configuration of one usogres process, after file, environment and command-line
 * flags have been merged and validated. Every later layer reads only these types.
 */

/** libpq's `sslmode` values, used for connections from usogres to a backend. */
export type SslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";

/** One PostgreSQL server behind usogres: the original, or one copy. */
export interface BackendConfig {
  /** Unique name; the original is `original`, the seed's single copy is `copy`. */
  readonly name: string;
  /** Host name or address (a path starting with `/` is a Unix-socket directory). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** Relative share of reads when load balancing (issue 3); 1 by default. */
  readonly weight: number;
  /** TLS towards this server, with libpq's meaning (default `prefer`). */
  readonly sslmode: SslMode;
  /** CA certificates (PEM) that verify-ca and verify-full check the server against; "" for none. */
  readonly sslrootcert: string;
}

/** Where usogres listens and how many clients it serves. */
export interface ListenConfig {
  /** Address to bind (the seed's `host`). */
  readonly host: string;
  /** Port to bind (the seed's `port`). */
  readonly port: number;
  /** Most client connections at once (the seed's `max_process`, alias `max_clients`). */
  readonly maxClients: number;
  /** Milliseconds a client has to finish startup and authentication. */
  readonly startupTimeoutMs: number;
  /** Largest Query, Parse, Bind, CopyData or FunctionCall message accepted, in bytes. */
  readonly maxMessageSize: number;
  /** Milliseconds running statements get to finish after SIGINT/SIGTERM before sockets close. */
  readonly shutdownTimeoutMs: number;
  /** Most connections at once from one client address; 0 for no limit. */
  readonly maxClientsPerAddress: number;
  /** Milliseconds a session may sit idle outside a transaction before FATAL 57P05; 0 for never. */
  readonly clientIdleTimeoutMs: number;
  /** Milliseconds a session may sit idle inside a transaction before FATAL 25P03; 0 for never. */
  readonly idleInTransactionTimeoutMs: number;
  /**
   * Accept loops, each a Web Worker with its own `reusePort` listener, sessions and connection
   * cache; backend states, health checks and the admin console stay on the main thread. 1: the
   * sessions run on the main thread, as before.
   */
  readonly workers: number;
}

/** TLS towards clients (`[tls]`). */
export interface TlsConfig {
  /**
   * `disable`: SSLRequest is answered 'N'; `allow`: TLS offered, plain text accepted; `require`:
   * plain-text clients are refused (28000). Defaults to `allow` when `cert_file` is set.
   */
  readonly mode: "disable" | "allow" | "require";
  /** Server certificate chain (PEM). */
  readonly certFile: string;
  /** Server private key (PEM). */
  readonly keyFile: string;
  /** CA certificates (PEM) that client certificates are verified against; "" asks for none. */
  readonly caFile: string;
  /** Oldest TLS version accepted. */
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
}

/** How a client proves who it is (`[auth] method`, `[[hba]] method`). */
export type AuthMethod = "scram-sha-256" | "md5" | "trust" | "cert" | "reject";

/** Client authentication (`[auth]`). */
export interface AuthConfig {
  /** Method when no `[[hba]]` rule is configured; undefined: trust on loopback, SCRAM otherwise. */
  readonly method: AuthMethod | undefined;
  /** Allow `trust` for clients that are not on a loopback address. */
  readonly trustRemote: boolean;
  /** Role name to verifier (`SCRAM-SHA-256$...` or `md5...`), from `[auth.users]`. */
  readonly users: ReadonlyMap<string, string>;
  /** Query returning (name, verifier) for `$1`, run on the original; "" for none. */
  readonly authQuery: string;
  /** Role that runs `authQuery` (default `backend.user`). */
  readonly authUser: string;
  /** Database `authQuery` runs in. */
  readonly authDatabase: string;
}

/** One access rule (`[[hba]]`); the first rule that matches a connection decides. */
export interface HbaRule {
  /** `all`, or an address range in CIDR form (`10.0.0.0/8`, `::1/128`, `127.0.0.1`). */
  readonly address: string;
  /** Database names the rule covers, or `all`. */
  readonly database: readonly string[] | "all";
  /** Role names the rule covers, or `all`. */
  readonly user: readonly string[] | "all";
  /** How matching clients authenticate. */
  readonly method: AuthMethod;
  /** `required`: the rule matches only TLS connections (PostgreSQL's `hostssl`). */
  readonly tls: "required" | "optional";
}

/** Credentials usogres uses towards the backends. */
export interface BackendAuthConfig {
  /** Role to connect as; empty means the client's own user name. */
  readonly user: string;
  /** Password; empty means `PGPASSWORD`, then the passfile. */
  readonly password: string;
  /** Path of the `.pgpass` file (default `$PGPASSFILE` or `~/.pgpass`). */
  readonly passfile: string;
  /** Milliseconds to wait for a backend connection and its authentication. */
  readonly connectTimeoutMs: number;
  /** Idle server connection sets kept per user, database and startup parameters (0: no pool). */
  readonly poolSize: number;
  /** Milliseconds an idle pooled connection set is kept. */
  readonly poolIdleTimeoutMs: number;
}

/** Logging settings. */
export interface LogConfig {
  /** Directory for `usogres.log` (the seed's `logdir`); empty disables the file. */
  readonly dir: string;
  /** Lowest level written. */
  readonly level: "debug" | "info" | "warning" | "error";
  /** Also log to stderr (on in the foreground). */
  readonly stderr: boolean;
}

/** How statements are replicated and routed. */
export interface ReplicationConfig {
  /** Spread reads outside writing transactions over in-sync backends by weight (default false: reads go to the original). */
  readonly loadBalance: boolean;
  /** Extra functions known to be read-only (lower-case, optionally schema-qualified), so a SELECT calling them is a read. */
  readonly readOnlyFunctions: readonly string[];
  /** Functions always treated as writes, even if built-in read-only. */
  readonly writeFunctions: readonly string[];
  /** File that persists backend states (in-sync/stale) across restarts; default "<log.dir>/usogres.state", or "" (no persistence) when log.dir is "". */
  readonly stateFile: string;
  /** Milliseconds a copy may take to answer a replicated batch before it is marked stale (default 30000; 0 = no limit). */
  readonly copyTimeoutMs: number;
  /** What a write calling a user-defined function (one not in pg_catalog nor in deterministicFunctions) does: "refuse" it with 0A000 (default), run it and mark the copies stale ("mark_stale"), or "trust" it to have no side effects and replicate it row-based. */
  readonly unknownFunctions: "refuse" | "mark_stale" | "trust";
  /** User functions trusted to be deterministic and side-effect free (lower-case, optionally schema-qualified): writes calling them are replicated as their text. */
  readonly deterministicFunctions: readonly string[];
  /** "manual": only PROMOTE changes the original; "auto": an in-sync copy is promoted when health checks find the original down. */
  readonly failover: "manual" | "auto";
  /** Recover a stale copy online as soon as health checks find it reachable. */
  readonly autoRecover: boolean;
  /** Also compare a hash of the rows a write's RETURNING gives on each server (default false): a copy whose rows differ is stale. */
  readonly returningHash: boolean;
}

/** The admin console and the HTTP metrics listener. */
export interface AdminConfig {
  /** Roles allowed to use the admin console (compared exactly with the startup user name). */
  readonly users: readonly string[];
  /** Database name that opens the admin console instead of a proxied session. */
  readonly database: string;
  /** Accept admin console connections from non-loopback addresses. */
  readonly allowRemote: boolean;
  /** `host:port` of the HTTP `/metrics`, `/healthz` and `/readyz` server; "" for none. */
  readonly metricsListen: string;
}

/** Health checks of the servers. */
export interface HealthConfig {
  /** Milliseconds between the end of one check of a server and the start of the next; 0: no checks. */
  readonly intervalMs: number;
  /** Milliseconds one check (connect, `SELECT 1`) may take before it counts as failed. */
  readonly timeoutMs: number;
  /** Consecutive failed checks before a server counts as down. */
  readonly retries: number;
  /** Role checks connect as; "" means `backend.user`, else `postgres`. */
  readonly user: string;
  /** Database checks connect to. */
  readonly database: string;
}

/** The whole effective configuration. */
export interface Config {
  /** Listener settings. */
  readonly listen: ListenConfig;
  /** The original server. */
  readonly original: BackendConfig;
  /** Copy servers, in configuration order (may be empty). */
  readonly copies: readonly BackendConfig[];
  /** Credentials towards backends. */
  readonly backendAuth: BackendAuthConfig;
  /** Logging. */
  readonly log: LogConfig;
  /** Replication and routing. */
  readonly replication: ReplicationConfig;
  /** TLS towards clients. */
  readonly tls: TlsConfig;
  /** Client authentication. */
  readonly auth: AuthConfig;
  /** Access rules, in order (empty: one implicit rule for everyone with `auth.method`). */
  readonly hba: readonly HbaRule[];
  /** Admin console and metrics. */
  readonly admin: AdminConfig;
  /** Health checks. */
  readonly health: HealthConfig;
}

/** Where one effective value came from, for `usogres check-config`. */
export type ValueSource =
  | { readonly kind: "default" }
  | {
    readonly kind: "file";
    readonly file: string;
    readonly line?: number;
    /** Key as written when it is not the dotted path (a legacy key such as `max_process`). */
    readonly key?: string;
  }
  | { readonly kind: "env"; readonly variable: string }
  | { readonly kind: "flag"; readonly flag: string };

/** A validated configuration plus the provenance of each value. */
export interface LoadedConfig {
  /** The configuration to run with. */
  readonly config: Config;
  /** File that was read, or undefined when none was found and defaults apply. */
  readonly file: string | undefined;
  /** Source of each value, keyed by its dotted TOML path (`listen.port`, `copy.0.host`, ...). */
  readonly sources: ReadonlyMap<string, ValueSource>;
}
