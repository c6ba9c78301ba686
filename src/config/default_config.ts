/**
 * @module
 * Building a configuration in code (the demo, the test harness): give the servers and any
 * setting to change, get a validated `Config` with the same defaults and checks as a file.
 */

import type {
  AdminConfig,
  AuthConfig,
  BackendAuthConfig,
  BackendConfig,
  Config,
  HbaRule,
  HealthConfig,
  ListenConfig,
  LogConfig,
  ReplicationConfig,
  TlsConfig,
} from "./types.ts";
import { buildLoaded, type ConfigEnv } from "./_build.ts";
import type { RawEntry } from "./_entry.ts";
import { homeFrom, processEnv } from "./parse.ts";

/** A server given in code: host required, the rest defaulted. */
export type BackendPartial = Pick<BackendConfig, "host"> & Partial<BackendConfig>;

/** What {@link defaultConfig} takes: the original, and any other setting to change. */
export interface ConfigPartial {
  /** The original server. */
  readonly original: BackendPartial;
  /** Copy servers (default none); names default to `copy`, `copy2`, ... */
  readonly copies?: readonly BackendPartial[];
  /** Listener settings. */
  readonly listen?: Partial<ListenConfig>;
  /** Credentials towards the servers. */
  readonly backendAuth?: Partial<BackendAuthConfig>;
  /** Logging (the default directory is `~/.usogres-log`; give `dir: ""` for none). */
  readonly log?: Partial<LogConfig>;
  /** Replication and routing (`stateFile: ""` derives `<log.dir>/usogres.state`, as in a file). */
  readonly replication?: Partial<ReplicationConfig>;
  /** TLS towards clients. */
  readonly tls?: Partial<TlsConfig>;
  /** Client authentication; `users` as a plain object of role to verifier. */
  readonly auth?: Partial<Omit<AuthConfig, "users">> & {
    readonly users?: Readonly<Record<string, string>>;
  };
  /** Access rules, in order. */
  readonly hba?: readonly Partial<HbaRule>[];
  /** Admin console and metrics listener. */
  readonly admin?: Partial<AdminConfig>;
  /** Health checks. */
  readonly health?: Partial<HealthConfig>;
}

/**
 * Builds a validated configuration in code.
 * @param partial the servers and any settings to change (in `Config`'s units: milliseconds)
 * @param options environment and home directory for `~` and the passfile (default the process's)
 * @returns the configuration, defaults filled in
 * @throws {ConfigError} listing every invalid value, as for a file (prefixed "defaultConfig")
 * @example
 * ```ts
 * const config = defaultConfig({
 *   original: { host: "127.0.0.1", port: 5433 },
 *   copies: [{ host: "127.0.0.1", port: 5434 }],
 *   listen: { port: 6432 },
 *   log: { dir: "" },
 * });
 * ```
 */
export function defaultConfig(
  partial: ConfigPartial,
  options?: { readonly env?: ConfigEnv; readonly home?: string },
): Config {
  const values: Record<string, unknown> = {};
  const put = (prefix: string, obj: object | undefined, rename: Record<string, string>): void => {
    for (const [k, v] of Object.entries(obj ?? {})) {
      if (v === undefined) continue;
      const leaf = rename[k] ?? k;
      // Config holds milliseconds; the settings are written in seconds.
      values[`${prefix}.${leaf}`] = k.endsWith("Ms") && typeof v === "number" ? v / 1000 : v;
    }
  };
  put("listen", partial.listen, {
    maxClients: "max_clients",
    startupTimeoutMs: "startup_timeout",
    maxMessageSize: "max_message_size",
    shutdownTimeoutMs: "shutdown_timeout",
    maxClientsPerAddress: "max_clients_per_address",
    clientIdleTimeoutMs: "client_idle_timeout",
    idleInTransactionTimeoutMs: "idle_in_transaction_timeout",
  });
  put("original", partial.original, {});
  (partial.copies ?? []).forEach((c, i) => put(`copy.${i}`, c, {}));
  put("backend", partial.backendAuth, {
    connectTimeoutMs: "connect_timeout",
    poolSize: "pool_size",
    poolIdleTimeoutMs: "pool_idle_timeout",
  });
  put("log", partial.log, {});
  put("replication", partial.replication, {
    loadBalance: "load_balance",
    readOnlyFunctions: "read_only_functions",
    writeFunctions: "write_functions",
    stateFile: "state_file",
    copyTimeoutMs: "copy_timeout",
    unknownFunctions: "unknown_functions",
    deterministicFunctions: "deterministic_functions",
    autoRecover: "auto_recover",
    returningHash: "returning_hash",
  });
  put("tls", partial.tls, {
    certFile: "cert_file",
    keyFile: "key_file",
    caFile: "ca_file",
    minVersion: "min_version",
  });
  put("auth", partial.auth, {
    trustRemote: "trust_remote",
    authQuery: "auth_query",
    authUser: "auth_user",
    authDatabase: "auth_database",
  });
  (partial.hba ?? []).forEach((rule, i) => {
    values[`hba.${i}`] = { ...rule };
  });
  put("admin", partial.admin, { allowRemote: "allow_remote", metricsListen: "metrics_listen" });
  put("health", partial.health, { intervalMs: "interval", timeoutMs: "timeout" });

  const entries: RawEntry[] = Object.entries(values).map(([path, value]) => ({
    path,
    written: path,
    value,
    lenient: false,
    source: { kind: "default" },
    where: "defaultConfig",
  }));
  const env = options?.env ?? processEnv();
  const home = options?.home ?? homeFrom(env);
  const none = { entries: [], errors: [], copyLines: [] };
  const file = { entries, errors: [], copyLines: (partial.copies ?? []).map(() => undefined) };
  return buildLoaded(file, none, { env, home, file: undefined }).config;
}
