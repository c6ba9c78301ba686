/**
 * @module
 * The `[admin]` and `[health]` sections of the schema (admin console, metrics listener, health
 * checks), and the checks of the value kinds only they use: PostgreSQL names, arrays of role
 * names, and listening addresses. `_settings.ts` puts them in `SECTIONS`.
 */

import type { CheckResult, Setting } from "./_settings.ts";
import { describeValue } from "./errors.ts";

/** `[admin]`: who may use the admin console, how it is reached, and the metrics listener. */
export const ADMIN_SETTINGS: Readonly<Record<string, Setting>> = {
  users: {
    kind: { type: "roles" },
    default: ["postgres"],
    description: "roles allowed to use the admin console",
  },
  database: {
    kind: { type: "pgname" },
    default: "usogres",
    description: "database name that opens the admin console instead of a session",
  },
  allow_remote: {
    kind: { type: "boolean" },
    default: false,
    description: "accept admin console connections from non-loopback addresses",
  },
  metrics_listen: {
    kind: { type: "address" },
    default: "127.0.0.1:9930",
    description: 'host:port of the HTTP /metrics, /healthz and /readyz server; "": none',
  },
};

/** `[health]`: how often each server is checked, and when it counts as down. */
export const HEALTH_SETTINGS: Readonly<Record<string, Setting>> = {
  interval: {
    kind: { type: "seconds", min: 0, max: 3600 },
    default: 5,
    description: "seconds between health checks of each server (0: no health checks)",
  },
  timeout: {
    kind: { type: "seconds", min: 0.001, max: 3600 },
    default: 3,
    description: "seconds one health check may take before it counts as failed",
  },
  retries: {
    kind: { type: "integer", min: 1, max: 1000 },
    default: 2,
    description: "consecutive failed checks before a server counts as down",
  },
  user: {
    kind: { type: "string" },
    default: "",
    description: 'role health checks connect as; "": backend.user, else "postgres"',
  },
  database: {
    kind: { type: "pgname" },
    default: "postgres",
    description: "database health checks connect to",
  },
};

/** PostgreSQL's NAMEDATALEN - 1: longer names are truncated by the server, so refuse them. */
const MAX_NAME_BYTES = 63;

/**
 * Whether a string is a valid PostgreSQL name (role, database).
 *
 * @param value the name
 * @returns true for 1 to 63 bytes without NUL
 */
export function isPgName(value: string): boolean {
  const bytes = new TextEncoder().encode(value).length;
  return bytes >= 1 && bytes <= MAX_NAME_BYTES && !value.includes("\0");
}

/**
 * Splits a listening address `host:port` (`[v6]:port` for IPv6).
 *
 * @param value the address as written
 * @returns host (without brackets) and port, or undefined when it is not such an address
 */
export function parseAddress(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):([0-9]{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

/** The refusal of an array given by a text source; arrays are split on no invented separator. */
function arrayFromText(what: string): CheckResult {
  return {
    ok: false,
    expected: `an array of ${what}, which only a TOML file can give`,
    hint: "Write this setting in a TOML configuration file (usogresrc.toml).",
  };
}

/**
 * Checks a value of the kinds this file adds.
 *
 * @param type the kind
 * @param raw the value as parsed
 * @param value the value after text coercion (for text sources)
 * @param lenient true for text sources
 * @returns the checked value or a specific refusal; undefined for the kind's generic refusal
 */
export function checkNameKind(
  type: "pgname" | "roles" | "address",
  raw: unknown,
  value: unknown,
  lenient: boolean,
): CheckResult | undefined {
  switch (type) {
    case "pgname":
      return typeof value === "string" && isPgName(value) ? { ok: true, value } : undefined;
    case "roles":
      return checkRoles(raw, lenient);
    case "address":
      return typeof value === "string" && (value === "" || parseAddress(value) !== undefined)
        ? { ok: true, value }
        : undefined;
  }
}

/**
 * Checks an array of role names; role names keep their case (they are compared exactly).
 * Text sources (legacy file, flags, environment) cannot give an array.
 *
 * @param raw the value as parsed
 * @param lenient true for text sources
 * @returns the names, or what was expected
 */
export function checkRoles(raw: unknown, lenient: boolean): CheckResult {
  if (lenient) return arrayFromText("role names");
  const expected = "an array of role names (each 1 to 63 bytes)";
  if (!Array.isArray(raw)) {
    return typeof raw === "string"
      ? { ok: false, expected, hint: `Write an array, as in [${JSON.stringify(raw)}].` }
      : { ok: false, expected };
  }
  for (const [i, item] of raw.entries()) {
    if (typeof item !== "string" || !isPgName(item)) {
      return {
        ok: false,
        expected: `a role name of 1 to 63 bytes at index ${i}`,
        actual: `${describeValue(item)} at index ${i}`,
      };
    }
  }
  return { ok: true, value: [...raw] as string[] };
}
