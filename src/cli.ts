/**
 * @module
 * The `usogres` command line: `run` (the default), `demo`, `check-config`, `verify`, `status`,
 * `--help`, `--version`.
 * Arguments are parsed with `node:util` parseArgs; configuration flags come from the config
 * layer's `CONFIG_FLAGS` table so `--help`, the parser and `check-config` never disagree.
 *
 * Exit codes: 0 clean stop; 1 runtime failure (cannot listen, unexpected error); 2 usage or
 * configuration error (nothing was started). `verify` has its own: 0 identical, 1 differences,
 * 2 error (`src/verify/mod.ts`). `status` has its own: 0 printed, 1 a command failed, 2 usogres
 * could not be reached (`src/admin/status.ts`).
 */

import { parseArgs } from "node:util";
import {
  CONFIG_FLAGS,
  ConfigError,
  configFlagOptions,
  formatEffectiveConfig,
  loadConfig,
  type LoadedConfig,
  overridesFromFlags,
} from "./config/mod.ts";
import { getLogger, setupLogging, shutdownLogging } from "./log/mod.ts";
import { ProxyServer } from "./server/proxy_server.ts";
import { VERIFY_HELP, verifyCommand } from "./verify/mod.ts";
import { MetricsListenError } from "./server/operations.ts";
import { recoverCommand, statusCommand } from "./admin/mod.ts";
import { VERSION } from "./version.ts";

/** Process exit codes of the `usogres` command. */
export const ExitCode = {
  /** Clean stop (including after SIGINT/SIGTERM). */
  Ok: 0,
  /** Runtime failure: could not listen, or an unexpected error. */
  Failure: 1,
  /** Bad command line or configuration: nothing was started. */
  Usage: 2,
} as const;

const COMMANDS = ["run", "demo", "check-config", "verify", "passwd", "status", "recover"] as const;
/** Flags only `verify` takes (its `--user` is the configuration flag `backend.user`). */
const VERIFY_FLAGS = ["table", "database", "chunk-rows", "progress"] as const;
type Command = (typeof COMMANDS)[number];

const encoder = new TextEncoder();
function out(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}
function err(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}

/**
 * The `--help` text.
 *
 * @returns the usage text, ending in a newline
 */
export function helpText(): string {
  const flags = CONFIG_FLAGS.map((f) => {
    const name = `${f.short ? `-${f.short}, ` : "    "}--${f.flag} VALUE`;
    return `  ${name.padEnd(28)}${f.description}`;
  });
  return [
    `usogres ${VERSION}: a PostgreSQL proxy that replicates every write to copy servers`,
    "",
    "Usage:",
    "  usogres [run] [--config FILE] [FLAGS]   run the proxy in the foreground",
    "  usogres demo [--port N]                 throwaway original and copy servers behind usogres",
    "  usogres check-config [--config FILE] [FLAGS]",
    "                                          print the effective configuration and its sources",
    "  usogres verify [--config FILE] [--table T ...] [--database D] [--user U] [--chunk-rows N]",
    "                 [--progress]             compare the original with every in-sync copy",
    "                                          (exit 0 identical, 1 differ, 2 error; see",
    "                                          usogres verify --help)",
    "  usogres passwd ROLE                     print the SCRAM verifier of a password (read from",
    "                                          the terminal or stdin) for [auth.users]",
    "  usogres status [--config FILE] [FLAGS]  print SHOW BACKENDS and SHOW STATS of the running",
    "                                          usogres (exit 2 when it cannot be reached)",
    "  usogres recover NAME [--config FILE]    recover a stale copy online through the running",
    "                                          usogres; shows progress, exits 0 once in sync",
    "  usogres --help | --version",
    "",
    "Options:",
    "  -c, --config FILE           configuration file (else $USOGRESRC, /usr/local/etc/usogresrc,",
    "                              ~/.usogresrc, each also with .toml)",
    ...flags,
    "",
    "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.",
    "Signals: SIGINT/SIGTERM stop accepting, let running statements finish (shutdown_timeout),",
    "then close; a second signal closes at once. SIGHUP reads the configuration again (as the",
    "admin console's RELOAD does).",
    "",
  ].join("\n");
}

/**
 * Runs the command line and returns the process exit code (it never calls `Deno.exit`).
 *
 * @param args arguments after the program name
 * @returns the exit code
 * @example
 * ```ts
 * Deno.exit(await main(Deno.args));
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        ...configFlagOptions(),
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        table: { type: "string", multiple: true },
        database: { type: "string" },
        "chunk-rows": { type: "string" },
        progress: { type: "boolean" },
      },
    });
  } catch (e: unknown) {
    err(`usogres: ${e instanceof Error ? e.message : String(e)}`);
    err('Try "usogres --help" for more information.');
    return ExitCode.Usage;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(positionals[0] === "verify" ? VERIFY_HELP : helpText());
    return ExitCode.Ok;
  }
  if (values.version) {
    out(`usogres ${VERSION}`);
    return ExitCode.Ok;
  }
  const command = (positionals[0] ?? "run") as Command;
  if (command === "passwd") {
    if (positionals.length !== 2 || positionals[1] === "") {
      err('usogres: "usogres passwd" needs exactly one role name');
      return ExitCode.Usage;
    }
    const { passwdCommand } = await import("./passwd.ts");
    return await passwdCommand(positionals[1]!);
  }
  if (command === "recover" && (positionals.length !== 2 || positionals[1] === "")) {
    err('usogres: "usogres recover" needs exactly one copy name');
    return ExitCode.Usage;
  }
  if (!COMMANDS.includes(command) || (positionals.length > 1 && command !== "recover")) {
    err(`usogres: unknown command "${positionals.join(" ")}"`);
    err('Try "usogres --help" for more information.');
    return ExitCode.Usage;
  }
  const misplaced = VERIFY_FLAGS.find((f) => command !== "verify" && values[f] !== undefined);
  if (misplaced) {
    err(`usogres: option "--${misplaced}" is only valid with "usogres verify"`);
    return ExitCode.Usage;
  }
  if (command === "demo") {
    const { runDemo } = await import("./demo.ts");
    const given = (values as Record<string, unknown>).port;
    const port = typeof given === "string" ? Number(given) : undefined;
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      err(`usogres: invalid value for "--port": expected a port number 1-65535, got "${given}"`);
      return ExitCode.Usage;
    }
    return await runDemo({ port });
  }

  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig({
      configPath: values.config,
      overrides: overridesFromFlags(values),
    });
  } catch (e: unknown) {
    if (e instanceof ConfigError) {
      for (const one of e.errors) {
        err(`usogres: ${one.message}`);
        if (one.hint) err(`HINT: ${one.hint}`);
      }
      return ExitCode.Usage;
    }
    throw e;
  }
  if (command === "check-config") {
    out(formatEffectiveConfig(loaded));
    return ExitCode.Ok;
  }
  if (command === "verify") {
    return await verifyCommand(loaded.config, {
      tables: values.table,
      database: values.database,
      chunkRows: values["chunk-rows"],
      progress: values.progress,
    });
  }
  if (command === "status") return await statusCommand(loaded.config, { out, err });
  if (command === "recover") {
    return await recoverCommand(loaded.config, positionals[1]!, { out, err });
  }
  return await runProxy(
    loaded,
    () => loadConfig({ configPath: values.config, overrides: overridesFromFlags(values) }),
  );
}

/**
 * Runs the proxy in the foreground until SIGINT, SIGTERM or the admin console's SHUTDOWN;
 * SIGHUP reads the configuration again.
 *
 * @param loaded the validated configuration
 * @param reload reads the configuration again (RELOAD, SIGHUP); without it RELOAD fails
 * @returns the exit code
 */
export async function runProxy(
  loaded: LoadedConfig,
  reload?: () => Promise<LoadedConfig>,
): Promise<number> {
  const config = loaded.config;
  let logFile: string | undefined;
  try {
    logFile = await setupLogging(config.log);
  } catch (e: unknown) {
    err(
      `usogres: could not open log directory "${config.log.dir}": ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
    return ExitCode.Failure;
  }
  const log = getLogger("main");
  let server: ProxyServer;
  try {
    server = await ProxyServer.start(config, { loaded, ...(reload ? { reload } : {}) });
  } catch (e: unknown) {
    if (e instanceof MetricsListenError) {
      log.error("{error}", { error: e.message });
      await shutdownLogging();
      return ExitCode.Failure;
    }
    log.error("could not listen on {host}:{port}: {error}", {
      host: config.listen.host,
      port: config.listen.port,
      error: e instanceof Error ? e.message : String(e),
    });
    await shutdownLogging();
    return ExitCode.Failure;
  }
  log.info("usogres {version} started (config {file}, log {logFile})", {
    version: VERSION,
    file: loaded.file ?? "none",
    logFile: logFile ?? "off",
  });
  const stopReload = onReloadSignal(() => server.operations.reload());
  await Promise.race([
    waitForStopSignal(() => server.kill()),
    server.operations.shutdownRequested,
  ]);
  stopReload();
  await server.shutdown();
  await shutdownLogging();
  return ExitCode.Ok;
}

/**
 * Calls `reload` on every SIGHUP (not on Windows, which has none), logging what it did.
 *
 * @param reload reads and applies the configuration
 * @returns a function that removes the signal listener
 */
export function onReloadSignal(reload: () => Promise<unknown>): () => void {
  if (Deno.build.os === "windows") return () => {};
  const log = getLogger("main");
  const handler = () => {
    log.info("SIGHUP received: reading the configuration again");
    reload().catch((e: unknown) => {
      const problems = e instanceof ConfigError ? e.errors.map((x) => x.message) : [String(e)];
      log.error("configuration not reloaded (nothing changed): {problems}", {
        problems: problems.join("; "),
      });
    });
  };
  Deno.addSignalListener("SIGHUP", handler);
  return () => Deno.removeSignalListener("SIGHUP", handler);
}

/**
 * Resolves on the first SIGINT or SIGTERM; a second one calls `force`.
 *
 * @param force called on a second signal
 * @returns when the first signal arrives
 */
export function waitForStopSignal(force: () => void): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    let count = 0;
    const handler = () => {
      count++;
      if (count === 1) resolve();
      else force();
    };
    for (const s of signals) Deno.addSignalListener(s, handler);
  });
}
