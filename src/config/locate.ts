/**
 * @module
 * Finding and loading the configuration file. Lookup order, first existing file wins:
 * `--config FILE` (must exist), `$USOGRESRC` (must exist), `/usr/local/etc/usogresrc`,
 * `/usr/local/etc/usogresrc.toml`, `~/.usogresrc`, `~/.usogresrc.toml`. With no file, defaults
 * apply and the original server must come from flags.
 */

import type { LoadedConfig } from "./types.ts";
import { buildLoaded, type ConfigEnv } from "./_build.ts";
import { ConfigError } from "./errors.ts";
import { type ConfigOverrides, readOverrides } from "./flags.ts";
import { homeFrom, processEnv, readConfigText } from "./parse.ts";

/** Options of {@link loadConfig}; all optional, for tests and the CLI. */
export interface LoadConfigOptions {
  /** The `--config` flag's value: this file must exist. */
  readonly configPath?: string | undefined;
  /** Values from command-line flags; they win over the file. */
  readonly overrides?: ConfigOverrides | undefined;
  /** Environment variables (`USOGRESRC`, `USOGRES_LOG_LEVEL`, `PGPASSFILE`); default the process's. */
  readonly env?: ConfigEnv | undefined;
  /** Home directory for `~`; default `env.HOME`. */
  readonly home?: string | undefined;
  /** Files tried after `--config` and `$USOGRESRC`; default {@link defaultSearchPaths}. */
  readonly searchPaths?: readonly string[] | undefined;
}

/**
 * The files tried when neither `--config` nor `$USOGRESRC` names one.
 * @param home home directory, if known (the `~/` entries are left out without one)
 * @returns the paths in lookup order
 */
export function defaultSearchPaths(home: string | undefined): string[] {
  const paths = ["/usr/local/etc/usogresrc", "/usr/local/etc/usogresrc.toml"];
  if (home !== undefined && home !== "") {
    const h = home.replace(/\/+$/, "");
    paths.push(`${h}/.usogresrc`, `${h}/.usogresrc.toml`);
  }
  return paths;
}

/** Expands a leading `~/` (a quoted `--config "~/x"` or `USOGRESRC="~/x"` reaches us unexpanded). */
function expandHome(path: string, home: string | undefined): string {
  return home && (path === "~" || path.startsWith("~/"))
    ? home.replace(/\/+$/, "") + path.slice(1)
    : path;
}

/** Reads a file: its text, undefined when it does not exist, or an error when it cannot be read. */
async function tryRead(path: string): Promise<string | undefined | ConfigError> {
  try {
    return await Deno.readTextFile(path);
  } catch (e: unknown) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    const reason = e instanceof Error ? e.message : String(e);
    return new ConfigError({
      file: path,
      key: undefined,
      message: `could not read configuration file "${path}": ${reason}`,
      expected: "a readable file",
      actual: reason,
    });
  }
}

/**
 * Finds, reads and validates the configuration, then applies environment and flags.
 * @param options `--config`, overrides, and (for tests) environment, home and search paths
 * @returns the effective configuration, the file read (if any) and the source of every value
 * @throws {ConfigError} when the named file is missing or unreadable, or listing every invalid
 *   setting at once (see `ConfigError.errors`)
 * @example
 * ```ts
 * const { config } = await loadConfig({ overrides: { hostorg: "127.0.0.1", portorg: "5433" } });
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? processEnv();
  const home = options.home ?? homeFrom(env);
  const named: [string, string][] = [];
  if (options.configPath !== undefined) named.push([options.configPath, "--config"]);
  else if (env["USOGRESRC"]) named.push([env["USOGRESRC"], "USOGRESRC"]);

  let file: string | undefined;
  let text: string | undefined;
  const searched: string[] = [];
  for (const [given, by] of named) {
    const path = expandHome(given, home);
    const read = await tryRead(path);
    if (read instanceof ConfigError) throw read;
    if (read === undefined) {
      throw new ConfigError({
        file: path,
        message: `configuration file "${path}" does not exist`,
        expected: "an existing file",
        actual: "no such file",
        hint: `The file was named by ${by}.`,
      });
    }
    [file, text] = [path, read];
  }
  if (file === undefined) {
    for (const path of options.searchPaths ?? defaultSearchPaths(home)) {
      searched.push(path);
      const read = await tryRead(path);
      if (read instanceof ConfigError) throw read;
      if (read !== undefined) {
        [file, text] = [path, read];
        break;
      }
    }
  }
  const parsed = file !== undefined && text !== undefined
    ? readConfigText(text, file)
    : { entries: [], errors: [], copyLines: [] };
  return buildLoaded(parsed, readOverrides(options.overrides), { env, home, file, searched });
}
