/**
 * @module
 * `usogres verify`: proves that the original and its in-sync copies hold the same rows. The
 * only entry point of `src/verify/`, a tool above the proxy's layers: it reads the state file
 * (`cluster`), connects straight to the servers (`backend`) and never goes through usogres.
 * See `docs/verify.md` for what it compares and how it copes with writes in flight.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config/mod.ts";
 * import { verifyCommand } from "./mod.ts";
 * const { config } = await loadConfig({ configPath: "usogresrc.toml" });
 * Deno.exit(await verifyCommand(config, { tables: ["public.accounts"] }));
 * ```
 */

import type { Config } from "../config/mod.ts";
import { formatProgress, formatReport } from "./report.ts";
import type { VerifyProgress } from "./types.ts";
import { runVerify } from "./verify.ts";

export {
  type Column,
  type KeyRange,
  type KeyValue,
  quoteIdent,
  quoteLiteral,
  type TableName,
} from "./checksum.ts";
export { displayTable, formatKeyRange, formatProgress, formatReport } from "./report.ts";
export { runVerify } from "./verify.ts";
export type {
  SkippedCopy,
  TableDifference,
  TableReport,
  VerifyOptions,
  VerifyProgress,
  VerifyReport,
} from "./types.ts";

/** Exit codes of `usogres verify`. */
export const VerifyExitCode = {
  /** Every compared table is identical on every compared server. */
  Identical: 0,
  /** At least one difference. */
  Differ: 1,
  /** Bad arguments, configuration, connection or permission: nothing conclusive. */
  Error: 2,
} as const;

/** Default rows per chunk. */
export const DEFAULT_CHUNK_ROWS = 100_000;

/** The command line's view of `usogres verify`: values as typed, all optional. */
export interface VerifyCommandOptions {
  /** `--table`, repeatable. */
  readonly tables?: readonly string[] | undefined;
  /** `--database`. */
  readonly database?: string | undefined;
  /** `--chunk-rows`, as typed. */
  readonly chunkRows?: string | undefined;
  /** `--progress`: print progress even when stderr is not a terminal. */
  readonly progress?: boolean | undefined;
}

/** The text of `usogres verify --help`. */
export const VERIFY_HELP: string = [
  "usogres verify: compare the original with every in-sync copy, table by table",
  "",
  "Usage:",
  "  usogres verify [--config FILE] [--table T ...] [--database D] [--user U]",
  "                 [--chunk-rows N] [--progress]",
  "",
  "Options:",
  "  -c, --config FILE           configuration file (servers, backend credentials, state file)",
  "      --table T               table to compare, schema-qualified or found through search_path;",
  "                              repeatable; a partitioned table means its leaf partitions",
  "                              (default: every user table)",
  "      --database D            database to compare (default $PGDATABASE, else postgres)",
  "      --user U                role to connect as (default backend.user, else $PGUSER, else",
  "                              postgres); passwords as for the proxy (backend.password,",
  "                              PGPASSWORD, the passfile)",
  "      --chunk-rows N          rows per checksum chunk (default 100000)",
  "      --progress              progress on stderr even when stderr is not a terminal",
  "",
  "verify connects directly to the original and to each copy the state file says is in sync",
  "(stale copies are listed as skipped), never through usogres. Each table is read in one",
  "REPEATABLE READ READ ONLY transaction per server and compared chunk by chunk: the servers",
  "compute count(*) and an md5 of the rows, in ranges of the primary key (or a unique not-null",
  "index; a table with neither is one chunk).",
  "",
  "The servers' snapshots are separate, so while clients write through usogres a chunk can",
  "differ for a moment. A differing chunk is checked again up to 2 more times, after a short",
  "wait and in new transactions, and reported only if it differs every time.",
  "",
  "Exit codes: 0 identical, 1 differences found, 2 error (configuration, connection, permission).",
  "",
].join("\n");

const encoder = new TextEncoder();

function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
}

/** Prints progress on stderr: rewritten in place on a terminal, else a line per second. */
function progressPrinter(terminal: boolean): {
  update(p: VerifyProgress): void;
  end(): void;
} {
  let last = 0;
  let table = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (p.tableIndex === table && now - last < (terminal ? 200 : 1000)) return;
      table = p.tableIndex;
      last = now;
      shown = true;
      const line = `usogres verify: ${formatProgress(p)}`;
      write(Deno.stderr, terminal ? `\r${line}\x1b[K` : `${line}\n`);
    },
    end() {
      if (terminal && shown) write(Deno.stderr, "\r\x1b[K");
    },
  };
}

function fail(message: string): number {
  write(Deno.stderr, `usogres: ${message}\n`);
  return VerifyExitCode.Error;
}

/**
 * Runs `usogres verify`: resolves the defaults (role, database, chunk size), compares, prints the
 * report on stdout and any error on stderr.
 *
 * @param config the loaded configuration (`--user` has already become `backend.user`)
 * @param opts the command's own flags
 * @returns the exit code: {@link VerifyExitCode}
 */
export async function verifyCommand(config: Config, opts: VerifyCommandOptions): Promise<number> {
  const chunkText = opts.chunkRows ?? String(DEFAULT_CHUNK_ROWS);
  const chunkRows = /^[0-9]+$/.test(chunkText) ? Number(chunkText) : NaN;
  if (!Number.isSafeInteger(chunkRows) || chunkRows < 1) {
    return fail(
      `invalid value for "--chunk-rows": expected a positive integer, got "${chunkText}"`,
    );
  }
  const user = config.backendAuth.user || Deno.env.get("PGUSER") || "postgres";
  const database = opts.database || Deno.env.get("PGDATABASE") || "postgres";
  const terminal = Deno.stderr.isTerminal();
  const progress = terminal || opts.progress === true ? progressPrinter(terminal) : undefined;
  try {
    const report = await runVerify(config, {
      tables: opts.tables ?? [],
      database,
      user,
      chunkRows,
      ...(progress ? { onProgress: (p: VerifyProgress) => progress.update(p) } : {}),
    });
    progress?.end();
    write(Deno.stdout, formatReport(report).join("\n") + "\n");
    const differ = report.tables.some((t) => t.differences.length > 0);
    return differ ? VerifyExitCode.Differ : VerifyExitCode.Identical;
  } catch (e: unknown) {
    progress?.end();
    return fail(`verify failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
