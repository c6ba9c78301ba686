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
  const conn = await consoleConnection(config, io, "usogres status");
  if (!conn) return 2;
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

/**
 * `usogres recover NAME`: asks the running usogres to recover a copy online and follows the
 * recovery with a progress bar until the copy is in sync.
 *
 * @param config the configuration (listen address, admin database and users)
 * @param name the copy
 * @param io where to print (the bar goes to stderr)
 * @returns 0 once in sync, 1 when the recovery failed, 2 when usogres could not be reached
 */
export async function recoverCommand(
  config: Config,
  name: string,
  io: StatusOutput & { bar?: (text: string) => void },
): Promise<number> {
  const conn = await consoleConnection(config, io, "usogres recover");
  if (!conn) return 2;
  try {
    await simpleQuery(conn, `RECOVER ${quoteName(name)}`);
    let last = "";
    for (;;) {
      const row = (await simpleQuery(conn, "SHOW RECOVERY")).rows[0];
      if (row) {
        const [copy, phase, percent, detail, error, state] = row;
        const pct = Number(percent ?? "0");
        const filled = Math.round(pct / 5);
        const line = `[${"#".repeat(filled)}${".".repeat(20 - filled)}] ${
          String(pct).padStart(3)
        }% ${phase} ${detail ?? ""}`;
        if (line !== last) {
          (io.bar ?? io.err)(line);
          last = line;
        }
        if (copy === name && error) {
          io.err(`usogres recover: recovery of "${name}" failed: ${error}`);
          return 1;
        }
        if (copy === name && phase === "done" && state === "in_sync") {
          io.out(`copy "${name}" is in sync`);
          return 0;
        }
        if (copy === name && phase === "done") {
          io.out(`copy "${name}" recovered; now ${state ?? "unknown"}`);
          return 0;
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e: unknown) {
    io.err(`usogres recover: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await conn.terminate();
  }
}

/** Copy names are lower-case identifiers (config rule); quote anything else anyway. */
function quoteName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** Connects to the admin console of the usogres `config` describes; reports failures to `io`. */
async function consoleConnection(
  config: Config,
  io: StatusOutput,
  program: string,
): Promise<BackendConnection | undefined> {
  const host = connectHost(config.listen.host);
  const user = config.admin.users[0] ?? "postgres";
  try {
    return await BackendConnection.connect(
      { name: "usogres", host, port: config.listen.port },
      {
        user,
        database: config.admin.database,
        parameters: new Map([["application_name", program]]),
        // When client authentication asks for one (a remote listener, `[[hba]]` rules).
        password: () => Promise.resolve(Deno.env.get("PGPASSWORD")),
      },
      { connectTimeoutMs: config.backendAuth.connectTimeoutMs, maxMessageSize: 1 << 24 },
    );
  } catch (e: unknown) {
    const why = e instanceof BackendError ? describeFailure(e.failure) : String(e);
    io.err(`${program}: could not reach usogres at ${host}:${config.listen.port}: ${why}`);
    return undefined;
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
