/**
 * @module
 * External PostgreSQL servers given by environment variables, for CI service containers:
 * `USOGRES_TEST_ORIGINAL` (one libpq URL) and `USOGRES_TEST_COPIES` (comma-separated URLs), each
 * `postgres://user:password@host:port/db`. usogres never stops, starts or removes them.
 */

import type { PgServer } from "./pg_server.ts";
import { pgUrl, runPsql } from "./pg_tools.ts";
import { TEST_ROLES_SQL } from "./pg_template.ts";

/** Something to read variables from: `Deno.env`, or a plain object in tests. */
export type EnvSource = Pick<Deno.Env, "get"> | Readonly<Record<string, string | undefined>>;

/** External servers read from the environment. */
export interface ExternalServers {
  /** The server named by `USOGRES_TEST_ORIGINAL`. */
  readonly original: PgServer;
  /** The servers named by `USOGRES_TEST_COPIES`, in order (may be empty). */
  readonly copies: PgServer[];
}

function envGet(env: EnvSource, key: string): string | undefined {
  if (typeof env.get === "function") return (env as Pick<Deno.Env, "get">).get(key);
  return (env as Readonly<Record<string, string | undefined>>)[key];
}

/** One server that somebody else runs. */
class ExternalServer implements PgServer {
  readonly dataDir = undefined;
  readonly external = true;
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly #password: string | undefined;
  readonly #db: string;

  constructor(readonly name: string, readonly variable: string, url: string) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`${variable}: "${url}" is not a postgres://user:password@host:port/db URL`);
    }
    if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
      throw new Error(`${variable}: "${url}" must start with postgres://`);
    }
    this.host = parsed.hostname || "127.0.0.1";
    this.port = parsed.port ? Number(parsed.port) : 5432;
    this.superuser = decodeURIComponent(parsed.username) || "postgres";
    this.#password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
    this.#db = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "postgres";
  }

  /** The password from the URL, for the superuser. */
  get password(): string | undefined {
    return this.#password;
  }

  url(db: string = this.#db, user: string = this.superuser): string {
    return pgUrl(
      this.host,
      this.port,
      db,
      user,
      user === this.superuser ? this.#password : undefined,
    );
  }

  psql(sql: string, opts: { db?: string; user?: string } = {}): Promise<string> {
    return runPsql(this.url(opts.db, opts.user), sql);
  }

  #refuse(what: string): Promise<never> {
    return Promise.reject(
      new Error(
        `cannot ${what} server "${this.name}": it is external (${this.variable}) and ` +
          "usogres never stops or starts it; skip this step when server.external is true",
      ),
    );
  }

  stop(): Promise<void> {
    return this.#refuse("stop");
  }

  start(): Promise<void> {
    return this.#refuse("start");
  }

  pid(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  logTail(): Promise<string> {
    return Promise.resolve(`(server "${this.name}" is external: its log is not available)`);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Reads external servers from `USOGRES_TEST_ORIGINAL` and `USOGRES_TEST_COPIES`.
 * @param env where to read the variables (default `Deno.env`)
 * @returns the servers (named `original`, `copy`, `copy2`, ...), or undefined when
 *   `USOGRES_TEST_ORIGINAL` is unset or empty
 * @throws Error naming the variable when a URL is malformed
 */
export function externalServersFromEnv(env: EnvSource = Deno.env): ExternalServers | undefined {
  const original = envGet(env, "USOGRES_TEST_ORIGINAL")?.trim();
  if (!original) return undefined;
  const copies = (envGet(env, "USOGRES_TEST_COPIES") ?? "").split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((url, i) => new ExternalServer(copyName(i), "USOGRES_TEST_COPIES", url));
  return {
    original: new ExternalServer("original", "USOGRES_TEST_ORIGINAL", original),
    copies,
  };
}

/**
 * Returns the name of the copy at an index: `copy`, `copy2`, `copy3`, ...
 * @param index zero-based position among the copies
 * @returns the copy's name
 */
export function copyName(index: number): string {
  return index === 0 ? "copy" : `copy${index + 1}`;
}

/**
 * Creates the test roles (usogres_md5, usogres_scram, usogres_plain) on a server if missing and
 * sets their passwords; the throwaway servers have them from the template already.
 * @param server a server whose superuser may create roles
 * @throws Error with psql's stderr on failure
 */
export async function ensureTestRoles(server: PgServer): Promise<void> {
  await server.psql(TEST_ROLES_SQL);
}
