/**
 * @module
 * Access rules: which authentication method a connection gets, chosen from the ordered `[[hba]]`
 * list (first match wins) or, with no list, from `[auth] method` (trust on loopback, SCRAM
 * elsewhere when unset). Follows PostgreSQL's `check_hba()` (`src/backend/libpq/hba.c`) and the
 * wording of `ClientAuthentication()`'s refusals ("no pg_hba.conf entry for host ..."). Pure: no
 * I/O, so it is tested and fuzzed without sockets.
 */

import type { AuthConfig, AuthMethod, HbaRule, TlsConfig } from "../config/mod.ts";
import { PgError } from "../protocol/mod.ts";

/** What the rules look at. */
export interface ConnectionFacts {
  /** Client IP address without port (`127.0.0.1`, `::1`), or `local` for a Unix socket. */
  readonly address: string;
  /** Role name from the StartupMessage. */
  readonly user: string;
  /** Database name from the StartupMessage. */
  readonly database: string;
  /** Whether the connection is encrypted. */
  readonly tls: boolean;
}

/** The settings the rules depend on. */
export interface AccessSettings {
  /** `[tls]`. */
  readonly tls: Pick<TlsConfig, "mode">;
  /** `[auth]`. */
  readonly auth: Pick<AuthConfig, "method" | "trustRemote">;
  /** `[[hba]]`. */
  readonly hba: readonly HbaRule[];
}

/** The outcome: the method to run, and the rule (1-based) that chose it when a list exists. */
export interface AccessDecision {
  /** The method (never `reject`: that is thrown). */
  readonly method: Exclude<AuthMethod, "reject">;
  /** 1-based number of the matching `[[hba]]` rule; undefined for the implicit rule. */
  readonly rule: number | undefined;
}

/**
 * Parses an IPv4 or IPv6 address into 16 bytes (IPv4 as IPv4-mapped IPv6).
 *
 * @param text the address (no brackets, no zone)
 * @returns the bytes, or undefined when it is not an address
 */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    for (let i = 0; i < 4; i++) {
      const n = Number(v4[i + 1]);
      if (n > 255) return undefined;
      out[12 + i] = n;
    }
    return out;
  }
  if (!text.includes(":")) return undefined;
  let head = text;
  let tail4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail4 = parseIp(text.slice(lastColon + 1))?.subarray(12);
    if (tail4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (left === undefined || right === undefined) return undefined;
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const all = [...left, ...new Array<number>(missing).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail4 !== undefined) out.set(tail4, 12);
  return out;
}

const MAPPED_PREFIX = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/**
 * Tells whether an address lies in a range written as in `[[hba]] address`.
 *
 * @param address the client's address
 * @param range `all`, an address, or `address/prefix`
 * @returns true when it matches; a Unix-socket client (`local`) matches only `all`
 */
export function addressMatches(address: string, range: string): boolean {
  if (range === "all") return true;
  const ip = parseIp(address);
  if (ip === undefined) return false;
  const slash = range.indexOf("/");
  const base = parseIp(slash < 0 ? range : range.slice(0, slash));
  if (base === undefined) return false;
  const v4 = !range.slice(0, slash < 0 ? undefined : slash).includes(":");
  let bits = slash < 0 ? 128 : Number(range.slice(slash + 1)) + (v4 ? 96 : 0);
  if (v4 && slash < 0) bits = 128;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (base[i]! & mask)) return false;
  }
  return true;
}

/**
 * Tells whether a client address is on this machine's loopback (127.0.0.0/8, ::1, a Unix socket).
 *
 * @param address the client's address, or `local`
 * @returns true for loopback
 */
export function isLoopback(address: string): boolean {
  if (address === "local") return true;
  const ip = parseIp(address);
  if (ip === undefined) return false;
  if (MAPPED_PREFIX.every((b, i) => ip[i] === b)) return ip[12] === 127;
  return ip.every((b, i) => b === (i === 15 ? 1 : 0));
}

function names(list: readonly string[] | "all", name: string): boolean {
  return list === "all" || list.includes(name);
}

function describe(facts: ConnectionFacts): string {
  return `host "${facts.address}", user "${facts.user}", database "${facts.database}", ${
    facts.tls ? "SSL encryption" : "no encryption"
  }`;
}

/**
 * Chooses the authentication method for a connection.
 *
 * @param settings `[tls] mode`, `[auth]` and `[[hba]]`
 * @param facts who connects, from where, and whether over TLS
 * @returns the method and the rule that chose it
 * @throws PgError FATAL 28000 when TLS is required and missing, when no rule matches, when the
 *   rule says `reject`, or when it says `trust` for a remote client without `auth.trust_remote`
 */
export function chooseMethod(settings: AccessSettings, facts: ConnectionFacts): AccessDecision {
  if (settings.tls.mode === "require" && !facts.tls) {
    throw new PgError("FATAL", "28000", `no usogres access rule for ${describe(facts)}`, {
      detail: 'usogres accepts only TLS connections ([tls] mode = "require").',
      hint: "Connect with sslmode=require (or stronger).",
    });
  }
  let method: AuthMethod;
  let rule: number | undefined;
  if (settings.hba.length === 0) {
    method = settings.auth.method ?? (isLoopback(facts.address) ? "trust" : "scram-sha-256");
  } else {
    const index = settings.hba.findIndex((r) =>
      (r.tls === "optional" || facts.tls) && addressMatches(facts.address, r.address) &&
      names(r.database, facts.database) && names(r.user, facts.user)
    );
    if (index < 0) {
      throw new PgError("FATAL", "28000", `no usogres access rule for ${describe(facts)}`);
    }
    rule = index + 1;
    method = settings.hba[index]!.method;
  }
  if (method === "reject") {
    throw new PgError(
      "FATAL",
      "28000",
      `usogres access rule rejects connection for ${describe(facts)}`,
    );
  }
  if (method === "trust" && !settings.auth.trustRemote && !isLoopback(facts.address)) {
    throw new PgError(
      "FATAL",
      "28000",
      `trust authentication is not allowed for remote host "${facts.address}"`,
      { hint: "Use another method for this client, or set auth.trust_remote = true." },
    );
  }
  return { method, rule };
}
