/**
 * @module
 * `usogres status`: connects to the running usogres's admin console through its own port (as
 * the first of `admin.users`, to `admin.database`, with `PGPASSWORD` if a password is asked
 * for), runs SHOW BACKENDS and SHOW STATS, and prints them as psql's aligned format does. A small client over `BackendConnection`, so the
 * command needs no PostgreSQL client library.
 *
 * Exit codes: 0 printed; 1 a command failed; 2 usogres could not be reached or refused.
 */

import type { Config } from "../config/mod.ts";
import {
  BackendConnection,
  BackendError,
  describeFailure,
  simpleQuery,
  type SimpleQueryResult,
} from "../backend/mod.ts";

/** Where {@link statusCommand} writes. */
export interface StatusOutput {
  /** Writes one line (or several) to stdout. */
  out(text: string): void;
  /** Writes one line to stderr. */
  err(text: string): void;
}

/**
 * Prints SHOW BACKENDS and SHOW STATS of the usogres that `config` describes.
 *
 * @param config the configuration (listen address, admin database and users)
 * @param io where to print
 * @returns the exit code: 0, 1 when a command failed, 2 when usogres could not be reached
 */
export async function statusCommand(config: Config, io: StatusOutput): Promise<number> {
  const host = connectHost(config.listen.host);
  const user = config.admin.users[0] ?? "postgres";
  let conn: BackendConnection;
  try {
    conn = await BackendConnection.connect(
      { name: "usogres", host, port: config.listen.port },
      {
        user,
        database: config.admin.database,
        parameters: new Map([["application_name", "usogres status"]]),
        // When client authentication asks for one (a remote listener, `[[hba]]` rules).
        password: () => Promise.resolve(Deno.env.get("PGPASSWORD")),
      },
      { connectTimeoutMs: config.backendAuth.connectTimeoutMs, maxMessageSize: 1 << 24 },
    );
  } catch (e: unknown) {
    const why = e instanceof BackendError ? describeFailure(e.failure) : String(e);
    io.err(`usogres status: could not reach usogres at ${host}:${config.listen.port}: ${why}`);
    return 2;
  }
  try {
    const queries: [string, string][] = [["backends", "SHOW BACKENDS"], ["stats", "SHOW STATS"]];
    for (const [title, sql] of queries) io.out(formatTable(title, await simpleQuery(conn, sql)));
    return 0;
  } catch (e: unknown) {
    io.err(`usogres status: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await conn.terminate();
  }
}

/** The address to reach a listener bound to `host` (a wildcard is reached on loopback). */
function connectHost(host: string): string {
  if (host === "0.0.0.0" || host === "*") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

/**
 * Formats a result as psql's aligned format does: a title, a header, a rule, the rows, and
 * the row count. NULL prints as an empty cell.
 *
 * @param title printed above the table
 * @param result the columns and rows
 * @returns the text, ending with a newline
 * @example
 * ```ts
 * formatTable("stats", { columns: ["stat", "value"], rows: [["uptime_seconds", "5"]], tag: "SHOW" });
 * // "stats\n      stat      | value\n----------------+-------\n uptime_seconds | 5\n(1 row)\n"
 * ```
 */
export function formatTable(title: string, result: SimpleQueryResult): string {
  const { columns, rows } = result;
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[], pad: (s: string, w: number) => string): string =>
    cells.map((c, i) => ` ${pad(c, widths[i]!)} `).join("|").trimEnd();
  const center = (s: string, w: number): string => {
    const left = Math.floor((w - s.length) / 2);
    return " ".repeat(left) + s + " ".repeat(w - s.length - left);
  };
  const out = [
    title,
    line(columns, center),
    widths.map((w) => "-".repeat(w + 2)).join("+"),
    ...rows.map((r) => line(r.map((v) => v ?? ""), (s, w) => s.padEnd(w))),
    `(${rows.length} ${rows.length === 1 ? "row" : "rows"})`,
  ];
  return out.join("\n") + "\n";
}
