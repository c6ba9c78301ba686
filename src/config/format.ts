/**
 * @module
 * `usogres check-config`'s output: every effective value in TOML form, one per line, with where
 * it came from as a trailing comment (`port = 5434  # /etc/usogresrc:4 (portorg)`). The password
 * is never printed. The same list, as data ({@link effectiveSettings}), feeds the admin console's
 * `SHOW CONFIG`.
 */

import type { LoadedConfig, ValueSource } from "./types.ts";
import { BACKEND_SETTINGS, SECTIONS, type SettingValue } from "./_settings.ts";

/** The trailing comment for one value. */
function describeSource(source: ValueSource | undefined, leaf: string): string {
  switch (source?.kind) {
    case undefined:
    case "default":
      return "default";
    case "env":
      return `environment ${source.variable}`;
    case "flag":
      return `flag ${source.flag}`;
    case "file": {
      const at = source.line === undefined ? source.file : `${source.file}:${source.line}`;
      const key = source.key;
      return key !== undefined && key !== leaf ? `${at} (${key})` : at;
    }
  }
}

/**
 * Formats a value in TOML syntax (a JSON string literal is also a TOML basic string).
 * @param value a setting's value
 * @returns the TOML text of the value
 */
export function tomlValue(value: SettingValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  if (typeof value === "object") {
    const parts = Object.entries(value).map(([k, v]) =>
      `${JSON.stringify(k)} = ${tomlValue(v as SettingValue)}`
    );
    return `{ ${parts.join(", ")} }`;
  }
  return String(value);
}

/** One effective value: its dotted path, value (secrets masked) and where it came from. */
export interface EffectiveSetting {
  /** Dotted path (`listen.port`, `copy.0.host`, `hba.1.method`). */
  readonly path: string;
  /** Table header as `check-config` prints it (`[listen]`, `[[copy]]`, `[[hba]]`). */
  readonly section: string;
  /** Key inside the table (`port`). */
  readonly leaf: string;
  /** The value in the units a user writes (seconds, bytes); a set password is `"********"`. */
  readonly value: SettingValue;
  /** Where it came from: `default`, `file:line (key)`, `environment X`, `flag --x`. */
  readonly source: string;
}

/**
 * Lists every effective value with its source, in `check-config` order: the sections before
 * the copies, the `[[copy]]` tables, the other sections, then the `[[hba]]` rules. The admin
 * console's `SHOW CONFIG` prints the same list.
 * @param loaded what `loadConfig` returned
 * @returns one entry per setting; a set password and verifiers show as `"********"`
 */
export function effectiveSettings(loaded: LoadedConfig): EffectiveSetting[] {
  const { config, sources } = loaded;
  const seconds = (ms: number): number => ms / 1000;
  const sectionValues: Record<string, Record<string, SettingValue>> = {
    listen: {
      host: config.listen.host,
      port: config.listen.port,
      max_clients: config.listen.maxClients,
      startup_timeout: seconds(config.listen.startupTimeoutMs),
      max_message_size: config.listen.maxMessageSize,
      shutdown_timeout: seconds(config.listen.shutdownTimeoutMs),
      max_clients_per_address: config.listen.maxClientsPerAddress,
      client_idle_timeout: seconds(config.listen.clientIdleTimeoutMs),
      idle_in_transaction_timeout: seconds(config.listen.idleInTransactionTimeoutMs),
      workers: config.listen.workers,
    },
    original: { ...config.original },
    backend: {
      user: config.backendAuth.user,
      password: config.backendAuth.password === "" ? "" : "********",
      passfile: config.backendAuth.passfile,
      connect_timeout: seconds(config.backendAuth.connectTimeoutMs),
      pool_size: config.backendAuth.poolSize,
      pool_idle_timeout: seconds(config.backendAuth.poolIdleTimeoutMs),
    },
    log: { ...config.log },
    replication: {
      load_balance: config.replication.loadBalance,
      read_only_functions: config.replication.readOnlyFunctions,
      write_functions: config.replication.writeFunctions,
      state_file: config.replication.stateFile,
      copy_timeout: seconds(config.replication.copyTimeoutMs),
      unknown_functions: config.replication.unknownFunctions,
      deterministic_functions: config.replication.deterministicFunctions,
      failover: config.replication.failover,
      auto_recover: config.replication.autoRecover,
      returning_hash: config.replication.returningHash,
    },
    tls: {
      mode: config.tls.mode,
      cert_file: config.tls.certFile,
      key_file: config.tls.keyFile,
      ca_file: config.tls.caFile,
      min_version: config.tls.minVersion,
    },
    auth: {
      ...(config.auth.method === undefined ? {} : { method: config.auth.method }),
      trust_remote: config.auth.trustRemote,
      // Verifiers are password equivalents for an offline guess: only the role names are shown.
      users: Object.fromEntries([...config.auth.users.keys()].map((name) => [name, "********"])),
      auth_query: config.auth.authQuery,
      auth_user: config.auth.authUser,
      auth_database: config.auth.authDatabase,
    },
    admin: {
      users: config.admin.users,
      database: config.admin.database,
      allow_remote: config.admin.allowRemote,
      metrics_listen: config.admin.metricsListen,
    },
    health: {
      interval: seconds(config.health.intervalMs),
      timeout: seconds(config.health.timeoutMs),
      retries: config.health.retries,
      user: config.health.user,
      database: config.health.database,
    },
  };
  const out: EffectiveSetting[] = [];
  const emit = (
    section: string,
    prefix: string,
    leaf: string,
    value: SettingValue | undefined,
    source = sources.get(`${prefix}.${leaf}`),
  ): void => {
    if (value === undefined) return;
    out.push({
      path: `${prefix}.${leaf}`,
      section,
      leaf,
      value,
      source: describeSource(source, leaf),
    });
  };
  const afterCopies = ["backend", "log", "replication", "tls", "auth", "admin", "health"];
  for (const [section, settings] of Object.entries(SECTIONS)) {
    if (afterCopies.includes(section)) continue;
    for (const leaf of Object.keys(settings)) {
      emit(`[${section}]`, section, leaf, sectionValues[section]?.[leaf]);
    }
  }
  config.copies.forEach((copy, i) => {
    const values: Record<string, SettingValue> = { ...copy };
    for (const leaf of Object.keys(BACKEND_SETTINGS)) {
      emit("[[copy]]", `copy.${i}`, leaf, values[leaf]);
    }
  });
  for (const section of afterCopies) {
    for (const leaf of Object.keys(SECTIONS[section] ?? {})) {
      emit(`[${section}]`, section, leaf, sectionValues[section]?.[leaf]);
    }
  }
  config.hba.forEach((rule, i) => {
    const values: Record<string, SettingValue> = { ...rule };
    for (const [leaf, value] of Object.entries(values)) {
      emit("[[hba]]", `hba.${i}`, leaf, value, sources.get(`hba.${i}`));
    }
  });
  return out;
}

/**
 * Formats the effective configuration for `usogres check-config`.
 * @param loaded what `loadConfig` returned
 * @returns TOML text (sections, then `[[copy]]` tables), one value per line, each with its source
 *   as a comment; a set password shows as `"********"`
 * @example
 * ```ts
 * import { loadConfig } from "./mod.ts";
 * console.log(formatEffectiveConfig(await loadConfig()));
 * ```
 */
export function formatEffectiveConfig(loaded: LoadedConfig): string {
  const out: string[] = [
    loaded.file === undefined
      ? "# no configuration file found: defaults and flags only"
      : `# configuration file: ${loaded.file}`,
  ];
  let table: string | undefined;
  for (const s of effectiveSettings(loaded)) {
    // A new table starts with each section, and with each [[copy]] or [[hba]] element.
    const group = s.path.slice(0, s.path.lastIndexOf("."));
    if (group !== table) {
      out.push("", s.section);
      if (s.section === "[auth]" && loaded.config.auth.method === undefined) {
        out.push("# method not set: trust for loopback clients, scram-sha-256 for others");
      }
      table = group;
    }
    out.push(`${s.leaf} = ${tomlValue(s.value)}  # ${s.source}`);
  }
  return out.join("\n") + "\n";
}
