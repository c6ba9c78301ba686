/**
 * @module
 * `usogres check-config`'s output: every effective value in TOML form, one per line, with where
 * it came from as a trailing comment (`port = 5434  # /etc/usogresrc:4 (portorg)`). The password
 * is never printed.
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

/** A value in TOML syntax (a JSON string literal is also a TOML basic string). */
function tomlValue(value: SettingValue): string {
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
  };
  const out: string[] = [
    loaded.file === undefined
      ? "# no configuration file found: defaults and flags only"
      : `# configuration file: ${loaded.file}`,
  ];
  const emit = (prefix: string, leaf: string, value: SettingValue | undefined): void => {
    if (value === undefined) return;
    out.push(
      `${leaf} = ${tomlValue(value)}  # ${describeSource(sources.get(`${prefix}.${leaf}`), leaf)}`,
    );
  };
  const afterCopies = ["backend", "log", "replication", "tls", "auth"];
  for (const [section, settings] of Object.entries(SECTIONS)) {
    if (afterCopies.includes(section)) continue;
    out.push("", `[${section}]`);
    for (const leaf of Object.keys(settings)) emit(section, leaf, sectionValues[section]?.[leaf]);
  }
  config.copies.forEach((copy, i) => {
    out.push("", "[[copy]]");
    const values: Record<string, SettingValue> = { ...copy };
    for (const leaf of Object.keys(BACKEND_SETTINGS)) emit(`copy.${i}`, leaf, values[leaf]);
  });
  for (const section of afterCopies) {
    out.push("", `[${section}]`);
    if (section === "auth" && config.auth.method === undefined) {
      out.push("# method not set: trust for loopback clients, scram-sha-256 for others");
    }
    for (const leaf of Object.keys(SECTIONS[section] ?? {})) {
      emit(section, leaf, sectionValues[section]?.[leaf]);
    }
  }
  config.hba.forEach((rule, i) => {
    out.push("", "[[hba]]");
    const values: Record<string, SettingValue> = { ...rule };
    for (const [leaf, value] of Object.entries(values)) {
      out.push(`${leaf} = ${tomlValue(value)}  # ${describeSource(sources.get(`hba.${i}`), leaf)}`);
    }
  });
  return out.join("\n") + "\n";
}
