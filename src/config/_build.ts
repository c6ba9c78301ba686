/**
 * @module
 * From entries to the effective configuration: merge the layers (file, then environment, then
 * flags; a setting given twice within one layer is an error naming both places), check every
 * value, apply defaults, check the servers against each other, and record where each value came
 * from. Every problem is collected; one aggregate `ConfigError` is thrown at the end.
 */

import type {
  AuthConfig,
  AuthMethod,
  BackendConfig,
  Config,
  HbaRule,
  LoadedConfig,
  LogConfig,
  ReplicationConfig,
  SslMode,
  TlsConfig,
  ValueSource,
} from "./types.ts";
import { fileWhere, type ParsedFile, type RawEntry } from "./_entry.ts";
import {
  BACKEND_SETTINGS,
  checkValue,
  defaultCopyName,
  resolveKey,
  SECTIONS,
  type SettingValue,
  type TableValue,
} from "./_settings.ts";
import { ConfigError, describeValue } from "./errors.ts";

/** Environment variables, as `Deno.env.toObject()` returns them (injectable for tests). */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** What the build needs besides the entries. */
export interface BuildContext {
  /** Environment (`USOGRES_LOG_LEVEL`, `PGPASSFILE`). */
  readonly env: ConfigEnv;
  /** Home directory for `~` expansion and the default passfile. */
  readonly home: string | undefined;
  /** The file that was read, if any. */
  readonly file: string | undefined;
  /** Files searched when none was found, named in "no original server configured". */
  readonly searched?: readonly string[] | undefined;
}

/** Environment variables that set a value, and the setting each one sets. */
export const ENV_SETTINGS: Readonly<Record<string, string>> = { USOGRES_LOG_LEVEL: "log.level" };

/** Where an error about a group of settings points: the first of them that was written. */
interface Place {
  readonly where: string | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;
}

function placeOfEntry(e: RawEntry): Place {
  return e.source.kind === "file"
    ? { where: e.where, file: e.source.file, line: e.source.line }
    : { where: e.where, file: undefined, line: undefined };
}

function duplicateError(prior: RawEntry, e: RawEntry): ConfigError {
  const sameFile = prior.source.kind === "file" && e.source.kind === "file" &&
    prior.source.file === e.source.file && prior.source.line !== undefined;
  const there = sameFile && prior.source.kind === "file"
    ? `line ${prior.source.line}`
    : prior.where;
  const as = prior.written === e.written ? "" : ` as "${prior.written}"`;
  return new ConfigError({
    ...placeOfEntry(e),
    key: e.written,
    message: `duplicate setting "${e.path}": also set${as} at ${there}`,
    expected: "each setting once",
    actual: `"${prior.written}" at ${prior.where} and "${e.written}" at ${e.where}`,
  });
}

/**
 * Merges, checks and completes the configuration.
 * @param file what the configuration file gave (empty when there is none)
 * @param flags what the command-line overrides gave
 * @param ctx environment, home directory, file name
 * @returns the effective configuration and the source of every value
 * @throws {ConfigError} listing every problem found, in file order
 */
export function buildLoaded(file: ParsedFile, flags: ParsedFile, ctx: BuildContext): LoadedConfig {
  const errors: ConfigError[] = [...file.errors, ...flags.errors];
  const envEntries: RawEntry[] = [];
  for (const [variable, path] of Object.entries(ENV_SETTINGS)) {
    const value = ctx.env[variable];
    if (value === undefined || value === "") continue;
    const source = { kind: "env" as const, variable };
    const where = `environment variable ${variable}`;
    envEntries.push({ path, written: variable, value, lenient: true, source, where });
  }

  const merged = new Map<string, RawEntry>();
  for (const layer of [file.entries, envEntries, flags.entries]) {
    const seen = new Map<string, RawEntry>();
    for (const e of layer) {
      const prior = seen.get(e.path);
      if (prior !== undefined) {
        errors.push(duplicateError(prior, e));
        continue;
      }
      seen.set(e.path, e);
      merged.set(e.path, e);
    }
  }

  const values = new Map<string, SettingValue>();
  const invalid = new Set<string>();
  for (const e of merged.values()) {
    const setting = resolveKey(e.path)?.setting;
    if (setting === undefined) continue; // readers only produce known paths
    const r = checkValue(setting.kind, e.value, e.lenient, ctx.home);
    if (r.ok) {
      values.set(e.path, r.value);
      continue;
    }
    invalid.add(e.path);
    const actual = r.actual ?? describeValue(e.value);
    errors.push(
      new ConfigError({
        ...placeOfEntry(e),
        key: e.written,
        message: `invalid value for "${e.written}": expected ${r.expected}, got ${actual}`,
        expected: r.expected,
        actual,
        hint: r.hint,
      }),
    );
  }

  const place = (paths: readonly string[], fallbackLine?: number): Place => {
    for (const p of paths) {
      const e = merged.get(p);
      if (e !== undefined) return placeOfEntry(e);
    }
    if (ctx.file === undefined) return { where: undefined, file: undefined, line: undefined };
    return { where: fileWhere(ctx.file, fallbackLine), file: ctx.file, line: fallbackLine };
  };
  const num = (path: string): number => (values.get(path) ?? defaultOf(path)) as number;
  const str = (path: string): string => (values.get(path) ?? defaultOf(path)) as string;

  // Servers: the original needs a host; so does each copy.
  let copyCount = file.copyLines.length;
  for (const path of merged.keys()) {
    const m = /^copy\.([0-9]+)\./.exec(path);
    if (m) copyCount = Math.max(copyCount, Number(m[1]) + 1);
  }
  const backend = (prefix: string): BackendConfig => ({
    name: str(`${prefix}.name`),
    host: str(`${prefix}.host`) ?? "",
    port: num(`${prefix}.port`),
    weight: num(`${prefix}.weight`),
    sslmode: str(`${prefix}.sslmode`) as SslMode,
    sslrootcert: str(`${prefix}.sslrootcert`),
  });
  // A missing host may be the echo of a syntax error, a malformed line, a bad "hostorg" or a
  // misspelt one ("did you mean ...") that was reported already: saying so again is only noise.
  const concerns = (e: ConfigError): string | undefined =>
    e.key === undefined ? undefined : resolveKey(e.key)?.path ??
      resolveKey(e.expected.replace(/^"(.*)"$/, "$1"))?.path;
  const reported = (path: string): boolean =>
    errors.some((e) => e.key === undefined ? e.file !== undefined : concerns(e) === path);
  if (!merged.has("original.host") && !reported("original.host")) {
    const searched = ctx.file === undefined && ctx.searched !== undefined
      ? `: no configuration file found (searched ${ctx.searched.join(", ")})`
      : "";
    errors.push(
      new ConfigError({
        ...place([]),
        key: "original.host",
        message: `no original server configured${searched}`,
        expected: "the original server's host",
        actual: "nothing",
        hint: 'Set "host" under [original] (legacy "hostorg") in a configuration file, ' +
          "or pass --hostorg.",
      }),
    );
  }
  const original = backend("original");
  const copies: BackendConfig[] = [];
  for (let i = 0; i < copyCount; i++) {
    const prefix = `copy.${i}`;
    const copy = backend(prefix);
    copies.push(copy);
    if (!merged.has(`${prefix}.host`) && !reported(`${prefix}.host`)) {
      errors.push(
        new ConfigError({
          ...place(Object.keys(BACKEND_SETTINGS).map((l) => `${prefix}.${l}`), file.copyLines[i]),
          key: `${prefix}.host`,
          message: `copy "${copy.name}" has no host`,
          expected: "the copy server's host",
          actual: "nothing",
          hint: 'Set "host" in its [[copy]] table (legacy "hostcopy").',
        }),
      );
    }
  }
  const listen = { host: str("listen.host"), port: num("listen.port") };
  checkServers(original, copies, listen, invalid, place, errors);
  const hbaPaths = [...merged.keys()].filter((p) => /^hba\.[0-9]+$/.test(p))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  const rules = hbaPaths.flatMap((p) => {
    const v = values.get(p) as TableValue | undefined;
    return v === undefined ? [] : [{ index: Number(p.slice(4)), rule: v as unknown as HbaRule }];
  });
  const hba = rules.map((r) => r.rule);
  const tls = tlsSettings(values, place, errors);
  const auth = authSettings(values, rules, tls, place, errors);
  checkWorkers(num("listen.workers"), values, place, errors);

  if (errors.length > 0) throw ConfigError.aggregate(sortErrors(errors, ctx.file));

  const sources = new Map<string, ValueSource>();
  const all = [...Object.entries(SECTIONS)].flatMap(([s, settings]) =>
    Object.keys(settings).map((l) => `${s}.${l}`)
  );
  for (let i = 0; i < copyCount; i++) {
    all.push(...Object.keys(BACKEND_SETTINGS).map((l) => `copy.${i}.${l}`));
  }
  all.push(...hbaPaths);
  for (const path of all) {
    sources.set(path, merged.get(path)?.source ?? { kind: "default" });
  }

  let passfile = str("backend.passfile");
  if (passfile === "") {
    const fromEnv = ctx.env["PGPASSFILE"];
    if (fromEnv !== undefined && fromEnv !== "") {
      passfile = fromEnv;
      sources.set("backend.passfile", { kind: "env", variable: "PGPASSFILE" });
    } else if (ctx.home !== undefined && ctx.home !== "") {
      passfile = `${ctx.home.replace(/\/+$/, "")}/.pgpass`;
    }
  }
  let logDir = str("log.dir");
  if (!merged.has("log.dir")) {
    const r = checkValue({ type: "path" }, logDir, false, ctx.home);
    logDir = r.ok ? String(r.value) : "";
  }
  // The state file lives beside the log by default; with no log directory there is nowhere
  // agreed to keep it, so states are not persisted.
  let stateFile = str("replication.state_file");
  if (stateFile === "" && logDir !== "") stateFile = `${logDir.replace(/\/+$/, "")}/usogres.state`;
  const names = (path: string): readonly string[] => [
    ...(values.get(path) ?? defaultOf(path)) as readonly string[],
  ];

  const config: Config = {
    listen: {
      host: str("listen.host"),
      port: num("listen.port"),
      maxClients: num("listen.max_clients"),
      startupTimeoutMs: Math.round(num("listen.startup_timeout") * 1000),
      maxMessageSize: num("listen.max_message_size"),
      shutdownTimeoutMs: Math.round(num("listen.shutdown_timeout") * 1000),
      maxClientsPerAddress: num("listen.max_clients_per_address"),
      clientIdleTimeoutMs: Math.round(num("listen.client_idle_timeout") * 1000),
      idleInTransactionTimeoutMs: Math.round(num("listen.idle_in_transaction_timeout") * 1000),
      workers: num("listen.workers"),
    },
    original,
    copies,
    backendAuth: {
      user: str("backend.user"),
      password: str("backend.password"),
      passfile,
      connectTimeoutMs: Math.round(num("backend.connect_timeout") * 1000),
      poolSize: num("backend.pool_size"),
      poolIdleTimeoutMs: Math.round(num("backend.pool_idle_timeout") * 1000),
    },
    log: {
      dir: logDir,
      level: str("log.level") as LogConfig["level"],
      stderr: (values.get("log.stderr") ?? defaultOf("log.stderr")) as boolean,
    },
    replication: {
      loadBalance: (values.get("replication.load_balance") ??
        defaultOf("replication.load_balance")) as boolean,
      readOnlyFunctions: names("replication.read_only_functions"),
      writeFunctions: names("replication.write_functions"),
      stateFile,
      copyTimeoutMs: Math.round(num("replication.copy_timeout") * 1000),
      unknownFunctions: str(
        "replication.unknown_functions",
      ) as ReplicationConfig["unknownFunctions"],
      deterministicFunctions: names("replication.deterministic_functions"),
      failover: str("replication.failover") as ReplicationConfig["failover"],
      autoRecover: (values.get("replication.auto_recover") ??
        defaultOf("replication.auto_recover")) as boolean,
      returningHash: (values.get("replication.returning_hash") ??
        defaultOf("replication.returning_hash")) as boolean,
    },
    tls,
    auth,
    hba,
    admin: {
      users: names("admin.users"),
      database: str("admin.database"),
      allowRemote: (values.get("admin.allow_remote") ?? defaultOf("admin.allow_remote")) as boolean,
      metricsListen: str("admin.metrics_listen"),
    },
    health: {
      intervalMs: Math.round(num("health.interval") * 1000),
      timeoutMs: Math.round(num("health.timeout") * 1000),
      retries: num("health.retries"),
      user: str("health.user"),
      database: str("health.database"),
    },
  };
  return { config, file: ctx.file, sources };
}

/** `[tls]`: the mode follows from `cert_file` unless written; a TLS mode needs a certificate. */
function tlsSettings(
  values: ReadonlyMap<string, SettingValue>,
  place: (paths: readonly string[]) => Place,
  errors: ConfigError[],
): TlsConfig {
  const text = (path: string): string => (values.get(path) ?? defaultOf(path) ?? "") as string;
  const certFile = text("tls.cert_file");
  const keyFile = text("tls.key_file");
  const written = values.get("tls.mode") as TlsConfig["mode"] | undefined;
  const mode = written ?? (certFile !== "" ? "allow" : "disable");
  if (mode !== "disable" && (certFile === "" || keyFile === "")) {
    const missing = certFile === "" ? "tls.cert_file" : "tls.key_file";
    errors.push(
      new ConfigError({
        ...place(["tls.mode", "tls.cert_file", "tls.key_file"]),
        key: missing,
        message: `TLS mode "${mode}" needs "${missing}"`,
        expected: "a certificate file and a key file",
        actual: "nothing",
        hint: 'Set both cert_file and key_file under [tls], or mode = "disable".',
      }),
    );
  }
  return {
    mode,
    certFile,
    keyFile,
    caFile: text("tls.ca_file"),
    minVersion: text("tls.min_version") as TlsConfig["minVersion"],
  };
}

/** `[auth]`, checked against the rules and TLS: cert needs a client CA, auth_query a role. */
function authSettings(
  values: ReadonlyMap<string, SettingValue>,
  rules: readonly { readonly index: number; readonly rule: HbaRule }[],
  tls: TlsConfig,
  place: (paths: readonly string[]) => Place,
  errors: ConfigError[],
): AuthConfig {
  const method = values.get("auth.method") as AuthMethod | undefined;
  const usersTable = (values.get("auth.users") ?? {}) as TableValue;
  const users = new Map<string, string>();
  for (const [name, v] of Object.entries(usersTable)) if (typeof v === "string") users.set(name, v);
  const text = (path: string): string => (values.get(path) ?? defaultOf(path) ?? "") as string;
  const usesCert = method === "cert" || rules.some((r) => r.rule.method === "cert");
  if (usesCert && (tls.mode === "disable" || tls.caFile === "")) {
    errors.push(
      new ConfigError({
        ...place(["auth.method", "tls.ca_file"]),
        key: "tls.ca_file",
        message: 'authentication method "cert" needs TLS with "tls.ca_file"',
        expected: "a CA file that client certificates are checked against",
        actual: tls.mode === "disable" ? "TLS disabled" : "nothing",
        hint: "Set cert_file, key_file and ca_file under [tls].",
      }),
    );
  }
  rules.forEach(({ index: i, rule }) => {
    if (rule.tls === "required" && tls.mode === "disable") {
      errors.push(
        new ConfigError({
          ...place([`hba.${i}`]),
          key: `hba.${i}`,
          message: `access rule ${i + 1} requires TLS, but TLS to clients is disabled`,
          expected: "a [tls] section with cert_file and key_file",
          actual: "TLS disabled",
        }),
      );
    }
  });
  const authQuery = text("auth.auth_query");
  const authUser = text("auth.auth_user") || text("backend.user");
  if (authQuery !== "" && authUser === "") {
    errors.push(
      new ConfigError({
        ...place(["auth.auth_query"]),
        key: "auth.auth_user",
        message: '"auth.auth_query" needs a role to run it as',
        expected: "auth.auth_user or backend.user",
        actual: "nothing",
        hint: "Set auth_user under [auth] to a role that may read pg_authid (or pg_shadow).",
      }),
    );
  }
  return {
    method,
    trustRemote: (values.get("auth.trust_remote") ?? false) as boolean,
    users,
    authQuery,
    authUser,
    authDatabase: text("auth.auth_database"),
  };
}

function defaultOf(path: string): SettingValue | undefined {
  const m = /^copy\.([0-9]+)\.name$/.exec(path);
  if (m) return defaultCopyName(Number(m[1]));
  return resolveKey(path)?.setting.default;
}

/**
 * Names must differ; no two servers (nor the listener) may share an address. A name or address
 * with an invalid part (reported already, replaced by its default here) takes no part.
 */
function checkServers(
  original: BackendConfig,
  copies: readonly BackendConfig[],
  listen: { readonly host: string; readonly port: number },
  invalid: ReadonlySet<string>,
  place: (paths: readonly string[]) => Place,
  errors: ConfigError[],
): void {
  const address = (b: { host: string; port: number }) => `${b.host}:${b.port}`;
  const hasAddress = (prefix: string, host: string): boolean =>
    host !== "" && !invalid.has(`${prefix}.host`) && !invalid.has(`${prefix}.port`);
  const names = new Map<string, string>();
  if (!invalid.has("original.name")) names.set(original.name, "the original");
  const addresses = new Map<string, string>();
  if (hasAddress("original", original.host)) addresses.set(address(original), "the original");
  copies.forEach((copy, i) => {
    const owner = invalid.has(`copy.${i}.name`) ? undefined : names.get(copy.name);
    if (owner !== undefined) {
      errors.push(
        new ConfigError({
          ...place([`copy.${i}.name`, `copy.${i}.host`]),
          key: `copy.${i}.name`,
          message: `duplicate server name "${copy.name}": also the name of ${owner}`,
          expected: "a name no other server has",
          actual: `"${copy.name}"`,
          hint: "Give every [[copy]] a name of its own that differs from the original's.",
        }),
      );
    } else if (!invalid.has(`copy.${i}.name`)) names.set(copy.name, `copy "${copy.name}"`);
    if (!hasAddress(`copy.${i}`, copy.host)) return;
    const same = addresses.get(address(copy));
    if (same !== undefined) {
      errors.push(
        new ConfigError({
          ...place([`copy.${i}.port`, `copy.${i}.host`]),
          key: `copy.${i}.host`,
          message: `copy "${copy.name}" has the same address as ${same} ("${address(copy)}")`,
          expected: "an address no other server has",
          actual: `"${address(copy)}"`,
        }),
      );
    } else addresses.set(address(copy), `copy "${copy.name}"`);
  });
  const clash = hasAddress("listen", listen.host) ? addresses.get(address(listen)) : undefined;
  if (clash !== undefined) {
    errors.push(
      new ConfigError({
        ...place(["listen.port", "listen.host"]),
        key: "listen.port",
        message: `usogres would listen on the address of ${clash} ("${address(listen)}")`,
        expected: "a listen address no server uses",
        actual: `"${address(listen)}"`,
        hint: 'Change listen.port (legacy "port") or the server\'s address.',
      }),
    );
  }
}

/**
 * Settings that cannot be made correct with several accept loops: each is refused, naming both
 * settings, rather than run half right (see docs/configuration.md, `listen.workers`).
 */
function checkWorkers(
  workers: number,
  values: ReadonlyMap<string, SettingValue>,
  place: (paths: readonly string[]) => Place,
  errors: ConfigError[],
): void {
  if (workers <= 1) return;
  const refused: { path: string; bad: SettingValue; why: string }[] = [
    {
      path: "replication.failover",
      bad: "auto",
      why: "a promotion must stop every worker's writes to the old original at one instant",
    },
    {
      path: "replication.auto_recover",
      bad: true,
      why: "online recovery journals every session's writes in commit order in one process",
    },
  ];
  for (const r of refused) {
    if (values.get(r.path) !== r.bad) continue;
    errors.push(
      new ConfigError({
        ...place([r.path, "listen.workers"]),
        key: r.path,
        message: `"${r.path}" = ${
          JSON.stringify(r.bad)
        } needs listen.workers = 1 (it is ${workers})`,
        expected: `listen.workers = 1 with ${r.path} = ${JSON.stringify(r.bad)}`,
        actual: `listen.workers = ${workers}`,
        hint: `${r.why}. Set listen.workers = 1, or leave ${r.path} at its default.`,
      }),
    );
  }
  const perAddress = values.get("listen.max_clients_per_address");
  if (typeof perAddress === "number" && perAddress > 0) {
    errors.push(
      new ConfigError({
        ...place(["listen.max_clients_per_address", "listen.workers"]),
        key: "listen.max_clients_per_address",
        message: `"listen.max_clients_per_address" needs listen.workers = 1 (it is ${workers})`,
        expected: "listen.max_clients_per_address = 0 with listen.workers > 1",
        actual: `${perAddress}`,
        hint: "Each worker would count only its own connections. Set listen.workers = 1, " +
          "or listen.max_clients_per_address = 0.",
      }),
    );
  }
}

/** Orders errors by line within the file; errors without a line keep their order after them. */
function sortErrors(errors: readonly ConfigError[], file: string | undefined): ConfigError[] {
  const rank = (e: ConfigError): number =>
    e.file !== undefined && e.file === file
      ? (e.line ?? Number.MAX_SAFE_INTEGER - 1)
      : Number.MAX_SAFE_INTEGER;
  return [...errors].sort((a, b) => rank(a) - rank(b));
}
