/**
 * @module
 * A throwaway original and its copies, started in parallel: what the demo runs usogres in front
 * of, what every integration test gets, and what the benchmarks measure. When
 * `USOGRES_TEST_ORIGINAL` is set (CI service containers) the external servers are used instead.
 *
 * @example
 * ```ts
 * await using cluster = await startCluster({ copies: 1 });
 * await cluster.original.psql("CREATE TABLE t (id int)");
 * console.log(await cluster.queryEach("SELECT count(*) FROM pg_class"));
 * ```
 */

import {
  copyName,
  ensureTestRoles,
  type EnvSource,
  externalServersFromEnv,
} from "./pg_external.ts";
import { type PgServer, startPgServer } from "./pg_server.ts";

/** An original and its copies. Disposing it stops and removes every throwaway server. */
export interface Cluster extends AsyncDisposable {
  /** The original server. */
  readonly original: PgServer;
  /** The copies, named `copy`, `copy2`, ... */
  readonly copies: PgServer[];
  /** The original followed by the copies. */
  readonly all: PgServer[];
  /** True when the servers are external (from the environment) rather than throwaway. */
  readonly external: boolean;
  /**
   * Runs the same SQL on every server (original first in the result).
   * @param sql statements for psql
   * @param db database (default `postgres`)
   * @returns each server's psql stdout, in the order of {@link Cluster.all}
   */
  queryEach(sql: string, db?: string): Promise<string[]>;
  /**
   * Drops (with FORCE) and creates a database on every server, for a clean slate per test step.
   * @param db database name (an identifier; quoted for you)
   */
  recreateDatabase(db: string): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Number of copies (default 1). */
  readonly copies?: number;
  /** Extra settings for every throwaway server (ignored for external servers). */
  readonly settings?: Readonly<Record<string, string>>;
  /** pg_hba.conf for every throwaway server (see `StartPgServerOptions.hba`). */
  readonly hba?: string;
  /** Files for every throwaway server's data directory (see `StartPgServerOptions.files`). */
  readonly files?: Readonly<Record<string, string>>;
  /** Let SIGINT/SIGTERM stop the servers (default true); see `StartPgServerOptions.signals`. */
  readonly signals?: boolean;
  /**
   * Where servers come from: `"env"` (default) uses `USOGRES_TEST_ORIGINAL`/`USOGRES_TEST_COPIES`
   * when set and throwaway servers otherwise; `"local"` always starts throwaway servers (for tests
   * that stop, restart or break a server).
   */
  readonly source?: "env" | "local";
  /** Environment to read external servers from (default `Deno.env`). */
  readonly env?: EnvSource;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function makeCluster(original: PgServer, copies: PgServer[], external: boolean): Cluster {
  const all = [original, ...copies];
  return {
    original,
    copies,
    all,
    external,
    queryEach(sql: string, db?: string): Promise<string[]> {
      return Promise.all(all.map((s) => s.psql(sql, db === undefined ? {} : { db })));
    },
    async recreateDatabase(db: string): Promise<void> {
      const ident = quoteIdent(db);
      await Promise.all(
        all.map((s) =>
          s.psql(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE);\nCREATE DATABASE ${ident};`)
        ),
      );
    },
    async [Symbol.asyncDispose](): Promise<void> {
      const results = await Promise.allSettled(all.map((s) => s[Symbol.asyncDispose]()));
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}

/**
 * Starts an original and `copies` copies in parallel (or picks external servers from the
 * environment), each with the test roles.
 * @param opts number of copies, settings, signal handling and where servers come from
 * @returns the running cluster; dispose it to stop and remove throwaway servers
 * @throws Error when a server cannot start (the others are stopped first), or when the
 *   environment names fewer external copies than requested
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const count = opts.copies ?? 1;
  const ext = opts.source === "local" ? undefined : externalServersFromEnv(opts.env ?? Deno.env);
  if (ext) {
    if (ext.copies.length < count) {
      throw new Error(
        `USOGRES_TEST_COPIES names ${ext.copies.length} servers but this cluster needs ${count}`,
      );
    }
    const copies = ext.copies.slice(0, count);
    await Promise.all([ext.original, ...copies].map(ensureTestRoles));
    return makeCluster(ext.original, copies, true);
  }
  const names = ["original", ...Array.from({ length: count }, (_, i) => copyName(i))];
  const started = await Promise.allSettled(
    names.map((name) =>
      startPgServer({
        name,
        ...(opts.settings ? { settings: opts.settings } : {}),
        ...(opts.hba === undefined ? {} : { hba: opts.hba }),
        ...(opts.files ? { files: opts.files } : {}),
        signals: opts.signals ?? true,
      })
    ),
  );
  const servers: PgServer[] = [];
  let failure: unknown;
  for (const r of started) {
    if (r.status === "fulfilled") servers.push(r.value);
    else failure ??= r.reason;
  }
  if (failure !== undefined || servers.length !== names.length) {
    await Promise.allSettled(servers.map((s) => s[Symbol.asyncDispose]()));
    throw failure;
  }
  const [original, ...copies] = servers as [PgServer, ...PgServer[]];
  return makeCluster(original, copies, false);
}
