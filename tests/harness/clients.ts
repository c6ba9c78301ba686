/**
 * @module
 * The real clients integration tests drive usogres with: psql and pgbench as subprocesses,
 * node-postgres (`pg`) and postgres.js (`postgres`) in process, each closed by `await using`;
 * and {@link waitFor}, the one way tests wait (poll with a deadline, never sleep).
 */

import pg from "pg";
import postgres, { type Options, type PostgresType, type Sql } from "postgres";
import { pgBinary, run } from "../../scripts/pg_tools.ts";

/** What a psql or pgbench run printed, and its exit code. */
export interface ClientResult {
  /** Exit code: 0 success, 1 fatal client error, 2 connection lost, 3 script error. */
  readonly code: number;
  /** stdout. */
  readonly stdout: string;
  /** stderr. */
  readonly stderr: string;
}

/** Options of {@link psql}. */
export interface PsqlOptions {
  /** Extra psql arguments, e.g. `["-At"]` for bare values. */
  readonly args?: string[];
  /** Text for psql's stdin, e.g. the rows of `COPY t FROM STDIN`. */
  readonly stdin?: string;
  /** Extra environment variables, e.g. `{ PGPASSWORD: "..." }`. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs `psql -X -v ON_ERROR_STOP=1 -d <url> -c <sql>`; the SQL is one simple Query message, so
 * several statements in it run as one implicit transaction, as with libpq's PQexec.
 * @param url libpq URL (usually `proxy.url()`)
 * @param sql statements for `-c`
 * @param opts extra arguments, stdin and environment
 * @returns exit code, stdout and stderr; a failing statement is a non-zero code, not an exception
 */
export async function psql(
  url: string,
  sql: string,
  opts: PsqlOptions = {},
): Promise<ClientResult> {
  return await run(
    await pgBinary("psql"),
    ["-X", "-v", "ON_ERROR_STOP=1", ...(opts.args ?? []), "-d", url, "-c", sql],
    { ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }), env: opts.env ?? {} },
  );
}

/** What a pgbench run printed, plus its throughput. */
export interface PgbenchResult extends ClientResult {
  /** Transactions per second from the `tps = ...` line, or undefined when absent. */
  readonly tps: number | undefined;
}

/**
 * Runs `pgbench <args> <url>` (pgbench expands a URL given as the database name).
 * @param url libpq URL
 * @param args pgbench arguments, e.g. `["-i", "-s", "1"]` or `["-M", "extended", "-t", "50"]`
 * @param env extra environment variables
 * @returns exit code, output and tps
 */
export async function pgbench(
  url: string,
  args: string[],
  env: Readonly<Record<string, string>> = {},
): Promise<PgbenchResult> {
  const r = await run(await pgBinary("pgbench"), [...args, url], { env });
  const m = /^tps = ([\d.]+)/m.exec(r.stdout);
  return { ...r, tps: m?.[1] === undefined ? undefined : Number(m[1]) };
}

/** The result of a node-postgres query (the fields tests use). */
export interface PgQueryResult<R> {
  /** Rows as objects keyed by column name. */
  readonly rows: R[];
  /** Rows affected or returned, from the CommandComplete tag. */
  readonly rowCount: number | null;
  /** The command of the tag, e.g. `INSERT`. */
  readonly command: string;
}

/**
 * The typed surface of a connected node-postgres `pg.Client` (the package ships no types). The
 * full client is still there at runtime; cast when a test needs more.
 */
export interface PgClient extends AsyncDisposable {
  /** Runs a query (extended protocol when `values` are given, simple otherwise). */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  /** Closes the connection (Terminate). */
  end(): Promise<void>;
  /** Subscribes to `notification`, `notice`, `error` or `end`. */
  on(event: string, listener: (payload: unknown) => void): unknown;
  /** The server process id from BackendKeyData. */
  readonly processID: number | null;
}

/**
 * Connects a node-postgres client; `await using` closes it.
 * @param url libpq URL
 * @returns the connected client
 * @throws the driver's error (with `.code`, the SQLSTATE) when the connection fails
 */
export async function pgClient(url: string): Promise<PgClient> {
  const client = new pg.Client({ connectionString: url }) as
    & Omit<PgClient, symbol>
    & { connect(): Promise<void> };
  // An idle client whose server goes away emits "error"; unhandled, that would kill the test run.
  client.on("error", () => {});
  await client.connect();
  let closed = false;
  return Object.assign(client, {
    async [Symbol.asyncDispose](): Promise<void> {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    },
  });
}

export type { Options as PostgresJsOptions, Sql as PostgresJsSql } from "postgres";

/** A postgres.js `sql` tagged-template function that `await using` ends. */
// deno-lint-ignore ban-types -- `{}` is what postgres.js itself returns when no custom types are given
export type PostgresJs = Sql<{}> & AsyncDisposable;

/**
 * Creates a postgres.js client (it connects lazily, on the first query); `await using` ends it.
 * @param url libpq URL
 * @param opts postgres.js options, e.g. `{ max: 1, prepare: false }`
 * @returns the `sql` function
 */
export function postgresJs(
  url: string,
  opts: Options<Record<string, PostgresType>> = {},
): PostgresJs {
  const sql = postgres(url, { onnotice: () => {}, ...opts });
  return Object.assign(sql, {
    async [Symbol.asyncDispose](): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  });
}

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds (default 10,000). */
  readonly timeoutMs?: number;
  /** Pause between attempts (default 50). */
  readonly intervalMs?: number;
  /** What is being waited for, for the timeout error. */
  readonly what?: string;
}

/**
 * Polls `fn` until it returns a truthy value (exceptions count as "not yet") or the deadline
 * passes: the way tests wait for something to happen, never a sleep used as an assertion.
 * @param fn the condition; may be async
 * @param opts deadline, interval and description
 * @returns the first truthy value
 * @throws Error naming `what`, with the last exception or value, when the deadline passes
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (e: unknown) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.what ?? "condition"}` +
          ` (last result: ${detail})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 50));
  }
}
