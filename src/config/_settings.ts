/**
 * @module
 * The schema: every setting's dotted TOML path, kind, default and description; the seed's legacy
 * keys and what they mean; and the per-kind value checks. Values here are in the units a user
 * writes (seconds, bytes or "64MB"); `_build.ts` converts them into `Config`'s units.
 */

import type { Candidate } from "./_suggest.ts";
import { describeValue } from "./errors.ts";
import { ADMIN_SETTINGS, checkNameKind, HEALTH_SETTINGS } from "./_admin_settings.ts";

/** How a setting's value is checked and converted. */
export type SettingKind =
  | { readonly type: "host" }
  | { readonly type: "port" }
  | { readonly type: "integer"; readonly min: number; readonly max: number }
  | { readonly type: "number"; readonly min: number; readonly max: number }
  | { readonly type: "seconds"; readonly min: number; readonly max: number }
  | { readonly type: "size"; readonly min: number; readonly max: number }
  | { readonly type: "name" }
  | { readonly type: "string" }
  | { readonly type: "path" }
  | { readonly type: "enum"; readonly values: readonly string[] }
  | { readonly type: "boolean" }
  /** An array of function names; only TOML (or code) can give one, not text sources. */
  | { readonly type: "functions" }
  /** A table of role name to password verifier (`[auth.users]`); TOML only. */
  | { readonly type: "users" }
  /** One access rule (a `[[hba]]` table); TOML only. */
  | { readonly type: "hba" }
  /** A PostgreSQL name (role, database): 1 to 63 bytes, no NUL. */
  | { readonly type: "pgname" }
  /** An array of role names; only TOML (or code) can give one, as for `functions`. */
  | { readonly type: "roles" }
  /** `host:port` (`[v6]:port` for IPv6) for a listening socket, or "" for none. */
  | { readonly type: "address" };

/** A table value after checking: `[auth.users]`, or one `[[hba]]` rule. */
export type TableValue = { readonly [key: string]: string | readonly string[] };

/**
 * Whether a kind takes an array, which text sources (the legacy rc format, flags, the
 * environment) cannot give.
 *
 * @param kind a setting's kind
 * @returns true for the array kinds
 */
export function isArrayKind(kind: SettingKind): boolean {
  return kind.type === "functions" || kind.type === "roles";
}

/** A value as a user writes it. */
export type SettingValue = string | number | boolean | readonly string[] | TableValue;

/** One setting of a section. */
export interface Setting {
  /** How its value is checked. */
  readonly kind: SettingKind;
  /** Default in user units; undefined when the setting is required or computed. */
  readonly default: SettingValue | undefined;
  /** One line for `usogresrc.toml` and `--help`. */
  readonly description: string;
}

const HOST: SettingKind = { type: "host" };
const PORT: SettingKind = { type: "port" };
const WEIGHT: SettingKind = { type: "number", min: 0, max: 1000 };

/** Largest message PostgreSQL itself accepts (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB - 1). */
export const MAX_MESSAGE_SIZE_LIMIT = 0x3fffffff;

/** Settings of a server behind usogres: `[original]` and each `[[copy]]`. */
export const BACKEND_SETTINGS: Readonly<Record<string, Setting>> = {
  name: { kind: { type: "name" }, default: undefined, description: "unique name in logs" },
  host: { kind: HOST, default: undefined, description: "host name, address or socket directory" },
  port: { kind: PORT, default: 5432, description: "TCP port" },
  weight: { kind: WEIGHT, default: 1, description: "relative share of reads" },
  sslmode: {
    kind: { type: "enum", values: ["disable", "prefer", "require", "verify-ca", "verify-full"] },
    default: "prefer",
    description: "TLS to this server, as libpq's sslmode",
  },
  sslrootcert: {
    kind: { type: "path" },
    default: "",
    description: "CA file that verify-ca and verify-full check this server's certificate with",
  },
};

/** Authentication methods (`[auth] method`, `[[hba]] method`). */
export const AUTH_METHODS: readonly string[] = ["scram-sha-256", "md5", "trust", "cert", "reject"];

/** The setting of each `[[hba]]` rule (`hba.N`). */
export const HBA_RULE: Setting = {
  kind: { type: "hba" },
  default: undefined,
  description: "access rule: address, database, user, method, tls",
};

/** The plain sections and their settings (`[[copy]]` uses {@link BACKEND_SETTINGS}). */
export const SECTIONS: Readonly<Record<string, Readonly<Record<string, Setting>>>> = {
  listen: {
    host: { kind: HOST, default: "127.0.0.1", description: "address usogres binds" },
    port: { kind: PORT, default: 5432, description: "port usogres binds" },
    max_clients: {
      kind: { type: "integer", min: 1, max: 100000 },
      default: 100,
      description: "most client connections at once",
    },
    startup_timeout: {
      kind: { type: "seconds", min: 0.001, max: 3600 },
      default: 10,
      description: "seconds a client has to finish startup and authentication",
    },
    max_message_size: {
      kind: { type: "size", min: 1024, max: MAX_MESSAGE_SIZE_LIMIT },
      default: MAX_MESSAGE_SIZE_LIMIT,
      description: "largest Query, Parse, Bind, CopyData or FunctionCall message",
    },
    shutdown_timeout: {
      kind: { type: "seconds", min: 0, max: 3600 },
      default: 30,
      description: "seconds running statements get to finish on SIGINT/SIGTERM",
    },
    max_clients_per_address: {
      kind: { type: "integer", min: 0, max: 100000 },
      default: 0,
      description: "most connections at once from one client address (0: no limit)",
    },
    client_idle_timeout: {
      kind: { type: "seconds", min: 0, max: 604800 },
      default: 0,
      description: "seconds a session may be idle outside a transaction (0: no limit)",
    },
    idle_in_transaction_timeout: {
      kind: { type: "seconds", min: 0, max: 604800 },
      default: 0,
      description: "seconds a session may be idle inside a transaction (0: no limit)",
    },
    workers: {
      kind: { type: "integer", min: 1, max: 64 },
      default: 1,
      description: "accept loops (Web Workers, each with reusePort) serving client sessions",
    },
  },
  original: { ...BACKEND_SETTINGS, name: { ...BACKEND_SETTINGS.name!, default: "original" } },
  backend: {
    user: { kind: { type: "string" }, default: "", description: "role towards backends" },
    password: { kind: { type: "string" }, default: "", description: "password towards backends" },
    passfile: { kind: { type: "path" }, default: "", description: "path of the .pgpass file" },
    connect_timeout: {
      kind: { type: "seconds", min: 0.001, max: 3600 },
      default: 10,
      description: "seconds to connect and authenticate to a backend",
    },
    pool_size: {
      kind: { type: "integer", min: 0, max: 10000 },
      default: 10,
      description: "idle server connection sets kept per user, database and parameters (0: none)",
    },
    pool_idle_timeout: {
      kind: { type: "seconds", min: 0.001, max: 86400 },
      default: 60,
      description: "seconds an idle pooled server connection is kept",
    },
  },
  tls: {
    mode: {
      kind: { type: "enum", values: ["disable", "allow", "require"] },
      default: undefined,
      description: 'TLS to clients: disable, allow, require (default "allow" with a cert_file)',
    },
    cert_file: { kind: { type: "path" }, default: "", description: "server certificate (PEM)" },
    key_file: { kind: { type: "path" }, default: "", description: "server private key (PEM)" },
    ca_file: {
      kind: { type: "path" },
      default: "",
      description: "CA that client certificates are checked against (PEM)",
    },
    min_version: {
      kind: { type: "enum", values: ["TLSv1.2", "TLSv1.3"] },
      default: "TLSv1.2",
      description: "oldest TLS version accepted",
    },
  },
  auth: {
    method: {
      kind: { type: "enum", values: AUTH_METHODS },
      default: undefined,
      description: "client authentication (default trust on loopback, scram-sha-256 otherwise)",
    },
    trust_remote: {
      kind: { type: "boolean" },
      default: false,
      description: "allow trust for clients not on a loopback address",
    },
    users: {
      kind: { type: "users" },
      default: undefined,
      description: "role = SCRAM or md5 verifier (usogres passwd ROLE prints one)",
    },
    auth_query: {
      kind: { type: "string" },
      default: "",
      description: "query returning (role, verifier) for $1, run on the original",
    },
    auth_user: {
      kind: { type: "string" },
      default: "",
      description: "role that runs auth_query (default backend.user)",
    },
    auth_database: {
      kind: { type: "string" },
      default: "postgres",
      description: "database auth_query runs in",
    },
  },
  log: {
    dir: { kind: { type: "path" }, default: "~/.usogres-log", description: "log directory" },
    level: {
      kind: { type: "enum", values: ["debug", "info", "warning", "error"] },
      default: "info",
      description: "lowest level written",
    },
    stderr: { kind: { type: "boolean" }, default: true, description: "also log to stderr" },
  },
  replication: {
    load_balance: {
      kind: { type: "boolean" },
      default: false,
      description: "spread reads outside writing transactions over in-sync servers by weight",
    },
    read_only_functions: {
      kind: { type: "functions" },
      default: [],
      description: "extra functions known to be read-only",
    },
    write_functions: {
      kind: { type: "functions" },
      default: [],
      description: "functions always treated as writes",
    },
    state_file: {
      kind: { type: "path" },
      default: "",
      description: 'file persisting server states; "": <log.dir>/usogres.state',
    },
    copy_timeout: {
      kind: { type: "seconds", min: 0, max: 3600 },
      default: 30,
      description: "seconds a copy may take to answer a batch before it is stale (0: no limit)",
    },
    unknown_functions: {
      kind: { type: "enum", values: ["refuse", "mark_stale", "trust"] },
      default: "refuse",
      description: "what a write calling a user-defined function does: refuse, mark_stale, trust",
    },
    deterministic_functions: {
      kind: { type: "functions" },
      default: [],
      description: "user functions trusted to be deterministic and side-effect free",
    },
    failover: {
      kind: { type: "enum", values: ["manual", "auto"] },
      default: "manual",
      description: "manual: PROMOTE only; auto: promote an in-sync copy when the original is down",
    },
    auto_recover: {
      kind: { type: "boolean" },
      default: false,
      description: "recover a stale copy online as soon as it is reachable",
    },
    returning_hash: {
      kind: { type: "boolean" },
      default: false,
      description: "also compare a hash of the rows RETURNING gives on each server",
    },
  },
  admin: ADMIN_SETTINGS,
  health: HEALTH_SETTINGS,
};

/**
 * A function name as `read_only_functions` and `write_functions` take it, after lower-casing:
 * an identifier, optionally schema-qualified (`pg_catalog.now`); `$` as PostgreSQL allows.
 */
const FUNCTION_NAME = /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/;

/** The seed's flat keys and the setting each one sets. */
export const LEGACY_KEYS: Readonly<Record<string, string>> = {
  host: "listen.host",
  port: "listen.port",
  hostorg: "original.host",
  portorg: "original.port",
  hostcopy: "copy.0.host",
  portcopy: "copy.0.port",
  logdir: "log.dir",
  max_process: "listen.max_clients",
};

/** Name a copy gets when none is written: `copy`, then `copy2`, `copy3`, ... */
export function defaultCopyName(index: number): string {
  return index === 0 ? "copy" : `copy${index + 1}`;
}

/** Every known dotted path outside `[[copy]]` plus the copy keys, for suggestions. */
export function allKeyCandidates(): Candidate[] {
  const out: Candidate[] = Object.keys(LEGACY_KEYS).map((k) => ({ match: k, display: k }));
  for (const [section, settings] of Object.entries(SECTIONS)) {
    for (const leaf of Object.keys(settings)) {
      const path = `${section}.${leaf}`;
      out.push({ match: path, display: path }, { match: leaf, display: path });
    }
  }
  return out;
}

/**
 * Finds the setting a key names: a legacy key, `section.leaf`, or `copy.N.leaf`.
 * @param key the key as written
 * @returns its canonical path and setting, or undefined when unknown
 */
export function resolveKey(key: string): { path: string; setting: Setting } | undefined {
  const path = LEGACY_KEYS[key] ?? key;
  const parts = path.split(".");
  if (parts.length === 2 && parts[0] !== "hba") {
    const setting = SECTIONS[parts[0]!]?.[parts[1]!];
    return setting ? { path, setting } : undefined;
  }
  if (parts.length === 2 && parts[0] === "hba" && /^(0|[1-9][0-9]{0,3})$/.test(parts[1]!)) {
    return { path, setting: HBA_RULE };
  }
  if (parts.length === 3 && parts[0] === "copy" && /^(0|[1-9][0-9]{0,3})$/.test(parts[1]!)) {
    const setting = BACKEND_SETTINGS[parts[2]!];
    return setting ? { path, setting } : undefined;
  }
  return undefined;
}

/** Outcome of checking one value. */
export type CheckResult =
  | { readonly ok: true; readonly value: SettingValue }
  | {
    readonly ok: false;
    readonly expected: string;
    /** What was found, when more precise than the whole value (one element of an array). */
    readonly actual?: string;
    readonly hint?: string;
  };

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
};

/** Words for what a kind accepts, used in "expected ..." messages. */
export function expectedText(kind: SettingKind): string {
  switch (kind.type) {
    case "host":
      return "a host name, address or socket directory";
    case "port":
      return "a port number 1-65535";
    case "integer":
      return `an integer from ${kind.min} to ${kind.max}`;
    case "number":
      return `a number from ${kind.min} to ${kind.max}`;
    case "seconds":
      return kind.min === 0
        ? `a number of seconds from 0 to ${kind.max}`
        : `a number of seconds greater than 0 and at most ${kind.max}`;
    case "size":
      return `a size from ${kind.min} to ${kind.max} bytes (units B, kB, MB, GB allowed)`;
    case "name":
      return "a name of lower-case letters, digits and underscores, not starting with a digit";
    case "string":
    case "path":
      return "a string";
    case "enum":
      return `one of ${kind.values.map((v) => `"${v}"`).join(", ")}`;
    case "boolean":
      return "true or false";
    case "functions":
      return "an array of function names (letters, digits, _ and $, optionally schema-qualified)";
    case "users":
      return 'a table of role = "SCRAM-SHA-256$..." or "md5..." verifiers';
    case "hba":
      return "a table with address, database, user, method and tls";
    case "pgname":
      return "a name of 1 to 63 bytes";
    case "roles":
      return "an array of role names (each 1 to 63 bytes)";
    case "address":
      return 'an address "host:port" (IPv6 as "[::1]:port"), or "" for none';
  }
}

/** Turns text from a legacy file, a flag or the environment into the number or boolean it spells. */
function coerce(kind: SettingKind, value: string): SettingValue {
  const text = value.trim();
  if (isArrayKind(kind) || kind.type === "users" || kind.type === "hba") return value;
  if (kind.type === "boolean") {
    const lower = text.toLowerCase();
    if (["true", "on", "yes", "1"].includes(lower)) return true;
    if (["false", "off", "no", "0"].includes(lower)) return false;
    return value;
  }
  if (kind.type === "size" && !/^[0-9]+$/.test(text)) return value;
  return /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(text) ? Number(text) : value;
}

/**
 * Checks one value against its setting's kind and converts it (sizes to bytes, `~` expanded).
 * @param kind the setting's kind
 * @param raw the parsed value
 * @param lenient true for text sources (legacy file, flags, environment): numbers and booleans may
 *   be written as text
 * @param home home directory for `~` expansion, if known
 * @returns the checked value, or what was expected
 */
export function checkValue(
  kind: SettingKind,
  raw: unknown,
  lenient: boolean,
  home: string | undefined,
): CheckResult {
  const result = checkKind(kind, raw, lenient, home);
  if (!result.ok && !lenient && typeof raw === "string" && typeof coerce(kind, raw) !== "string") {
    return { ...result, hint: "Write numbers and booleans without quotes." };
  }
  return result;
}

function checkKind(
  kind: SettingKind,
  raw: unknown,
  lenient: boolean,
  home: string | undefined,
): CheckResult {
  const bad: CheckResult = { ok: false, expected: expectedText(kind) };
  const value = lenient && typeof raw === "string" && kind.type !== "string"
    ? coerce(kind, raw)
    : raw;
  switch (kind.type) {
    case "host":
      return typeof value === "string" && value.trim() !== "" && !/\s/.test(value)
        ? { ok: true, value }
        : bad;
    case "port":
      return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
        ? { ok: true, value: value as number }
        : bad;
    case "integer":
    case "number":
    case "seconds": {
      if (typeof value !== "number" || !Number.isFinite(value)) return bad;
      if (kind.type === "integer" && !Number.isInteger(value)) return bad;
      return value >= kind.min && value <= kind.max ? { ok: true, value } : bad;
    }
    case "size": {
      let bytes: number | undefined;
      if (typeof value === "number") bytes = value;
      else if (typeof value === "string") {
        const m = /^\s*([0-9]+)\s*([a-zA-Z]*)\s*$/.exec(value);
        const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
        if (m && unit !== undefined) bytes = Number(m[1]) * unit;
      }
      return bytes !== undefined && Number.isInteger(bytes) && bytes >= kind.min &&
          bytes <= kind.max
        ? { ok: true, value: bytes }
        : bad;
    }
    case "name":
      return typeof value === "string" && /^[a-z_][a-z0-9_]*$/.test(value) && value.length <= 63
        ? { ok: true, value }
        : bad;
    case "string":
      return typeof value === "string" ? { ok: true, value } : bad;
    case "path": {
      if (typeof value !== "string") return bad;
      if (value !== "~" && !value.startsWith("~/")) return { ok: true, value };
      if (home === undefined || home === "") {
        return { ok: false, expected: 'a path; "~" cannot be expanded because HOME is not set' };
      }
      return { ok: true, value: home.replace(/\/+$/, "") + value.slice(1) };
    }
    case "enum":
      return typeof value === "string" && kind.values.includes(value) ? { ok: true, value } : bad;
    case "boolean":
      return typeof value === "boolean" ? { ok: true, value } : bad;
    case "functions":
      return checkFunctions(raw, lenient);
    case "users":
      return lenient ? tomlOnly(kind) : checkUsers(raw);
    case "hba":
      return lenient ? tomlOnly(kind) : checkHbaRule(raw);
    case "pgname":
    case "roles":
    case "address":
      return checkNameKind(kind.type, raw, value, lenient) ?? bad;
  }
}

function tomlOnly(kind: SettingKind): CheckResult {
  return {
    ok: false,
    expected: `${expectedText(kind)}, which only a TOML file can give`,
    hint: "Write this setting in a TOML configuration file (usogresrc.toml).",
  };
}

function isPlainTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date) &&
    !(v instanceof Map);
}

const SCRAM_VERIFIER = /^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;
const MD5_VERIFIER = /^md5[0-9a-f]{32}$/;

/** `[auth.users]`: every value a verifier, never a password in clear. */
function checkUsers(raw: unknown): CheckResult {
  if (!isPlainTable(raw)) return { ok: false, expected: expectedText({ type: "users" }) };
  const users: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw)) {
    if (typeof v !== "string" || !(SCRAM_VERIFIER.test(v) || MD5_VERIFIER.test(v))) {
      return {
        ok: false,
        expected: `a SCRAM-SHA-256 or md5 verifier for role "${name}"`,
        // Never echo the value: it may be a password written in clear.
        actual: typeof v === "string" ? "something else (not shown)" : describeValue(v),
        hint: `Run "usogres passwd ${name}" and paste the line it prints.`,
      };
    }
    users[name] = v;
  }
  return { ok: true, value: users };
}

const HBA_KEYS = ["address", "database", "user", "method", "tls"];
const CIDR4 = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(\/([0-9]{1,2}))?$/;
const CIDR6 = /^([0-9a-fA-F:.]+)(\/([0-9]{1,3}))?$/;

/**
 * Checks an address as `[[hba]] address` takes it: `all`, or an IPv4 or IPv6 address with an
 * optional prefix length.
 * @param text the address
 * @returns true when valid
 */
export function validHbaAddress(text: string): boolean {
  if (text === "all") return true;
  const m4 = CIDR4.exec(text);
  if (m4) {
    return [1, 2, 3, 4].every((i) => Number(m4[i]) <= 255) &&
      (m4[6] === undefined || Number(m4[6]) <= 32);
  }
  const m6 = CIDR6.exec(text);
  return m6 !== null && m6[1]!.includes(":") && (m6[3] === undefined || Number(m6[3]) <= 128);
}

/** One `[[hba]]` rule, normalised: names as arrays (or "all"), defaults filled in. */
function checkHbaRule(raw: unknown): CheckResult {
  const expected = expectedText({ type: "hba" });
  if (!isPlainTable(raw)) return { ok: false, expected };
  for (const key of Object.keys(raw)) {
    if (!HBA_KEYS.includes(key)) {
      return {
        ok: false,
        expected: `one of the keys ${HBA_KEYS.join(", ")}`,
        actual: `"${key}"`,
      };
    }
  }
  const address = raw.address ?? "all";
  if (typeof address !== "string" || !validHbaAddress(address)) {
    return {
      ok: false,
      expected: 'an address "all" or in CIDR form ("10.0.0.0/8", "::1/128") for "address"',
      actual: describeValue(address),
    };
  }
  const names = (key: string): string | readonly string[] | undefined => {
    const v = raw[key] ?? "all";
    if (v === "all") return "all";
    if (typeof v === "string" && v !== "") return v.split(",").map((n) => n.trim());
    if (Array.isArray(v) && v.length > 0 && v.every((n) => typeof n === "string" && n !== "")) {
      return v as string[];
    }
    return undefined;
  };
  const database = names("database");
  const user = names("user");
  for (const [key, value] of [["database", database], ["user", user]] as const) {
    if (value === undefined) {
      return {
        ok: false,
        expected: `"all", a name, or an array of names for "${key}"`,
        actual: describeValue(raw[key]),
      };
    }
  }
  const method = raw.method;
  if (typeof method !== "string" || !AUTH_METHODS.includes(method)) {
    return {
      ok: false,
      expected: `one of ${AUTH_METHODS.map((m) => `"${m}"`).join(", ")} for "method"`,
      actual: describeValue(method),
    };
  }
  const tls = raw.tls ?? "optional";
  if (tls !== "required" && tls !== "optional") {
    return {
      ok: false,
      expected: '"required" or "optional" for "tls"',
      actual: describeValue(tls),
    };
  }
  return {
    ok: true,
    value: { address, database: database!, user: user!, method, tls },
  };
}

/**
 * Checks an array of function names and lower-cases them (PostgreSQL folds unquoted names).
 * Text sources (legacy file, flags, environment) cannot give an array, so they are refused
 * outright rather than split on some separator of our own invention.
 */
function checkFunctions(raw: unknown, lenient: boolean): CheckResult {
  const expected = expectedText({ type: "functions" });
  if (lenient) {
    return {
      ok: false,
      expected: "an array of function names, which only a TOML file can give",
      hint: "Write this setting in a TOML configuration file (usogresrc.toml).",
    };
  }
  if (!Array.isArray(raw)) {
    return typeof raw === "string"
      ? { ok: false, expected, hint: `Write an array, as in [${JSON.stringify(raw)}].` }
      : { ok: false, expected };
  }
  const names: string[] = [];
  for (const [i, item] of raw.entries()) {
    const name = typeof item === "string" ? item.toLowerCase() : undefined;
    if (name === undefined || !FUNCTION_NAME.test(name)) {
      return {
        ok: false,
        expected: `a function name (letters, digits, _ and $, optionally schema-qualified) ` +
          `at index ${i}`,
        actual: `${describeValue(item)} at index ${i}`,
      };
    }
    names.push(name);
  }
  return { ok: true, value: names };
}
