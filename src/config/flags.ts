/**
 * @module
 * Command-line overrides: the table of configuration flags (`CONFIG_FLAGS`) the CLI builds its
 * `node:util` `parseArgs` options from, the `ConfigOverrides` it hands to `loadConfig`, and how
 * overrides become entries attributed to their flag. Flags keep the seed's names (`--hostorg`,
 * `--max-process`) beside the new ones.
 */

import type { ParsedFile, RawEntry } from "./_entry.ts";
import { unknownKeyError } from "./_entry.ts";
import { allKeyCandidates, resolveKey } from "./_settings.ts";
import { suggest } from "./_suggest.ts";

/** One command-line flag that sets a configuration value. */
export interface ConfigFlag {
  /** Long name without dashes (`port` for `--port`). */
  readonly flag: string;
  /** One-letter alias without the dash, if any (`p` for `-p`). */
  readonly short?: string;
  /** Key it sets in {@link ConfigOverrides}: a dotted path, or the seed's key for seed flags. */
  readonly key: string;
  /** Dotted path of the setting (`listen.port`). */
  readonly path: string;
  /** One line for `--help`. */
  readonly description: string;
}

/** Every configuration flag, in `--help` order. Values are always strings (`parseArgs` type). */
export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  {
    flag: "host",
    key: "host",
    path: "listen.host",
    description: "address usogres listens on (default 127.0.0.1)",
  },
  {
    flag: "port",
    short: "p",
    key: "port",
    path: "listen.port",
    description: "port usogres listens on (default 5432)",
  },
  { flag: "hostorg", key: "hostorg", path: "original.host", description: "original server host" },
  {
    flag: "portorg",
    key: "portorg",
    path: "original.port",
    description: "original server port (default 5432)",
  },
  {
    flag: "hostcopy",
    key: "hostcopy",
    path: "copy.0.host",
    description: "host of the (first) copy server",
  },
  {
    flag: "portcopy",
    key: "portcopy",
    path: "copy.0.port",
    description: "port of the (first) copy server (default 5432)",
  },
  {
    flag: "logdir",
    key: "logdir",
    path: "log.dir",
    description: 'log directory (default ~/.usogres-log; "" for none)',
  },
  {
    flag: "max-process",
    key: "max_process",
    path: "listen.max_clients",
    description: "most client connections at once (default 100)",
  },
  {
    flag: "max-clients",
    key: "listen.max_clients",
    path: "listen.max_clients",
    description: "same as --max-process",
  },
  {
    flag: "log-level",
    key: "log.level",
    path: "log.level",
    description: "debug, info, warning or error (default info)",
  },
  {
    flag: "user",
    key: "backend.user",
    path: "backend.user",
    description: "role usogres connects to the servers as (default: the client's)",
  },
];

/** One override with the flag that gave it, for `check-config`'s provenance. */
export interface ConfigOverride {
  /** The value; text is converted as the setting requires (`"6000"` for a port is 6000). */
  readonly value: string | number | boolean;
  /** The flag as the user typed it (`--port`). */
  readonly flag: string;
}

/**
 * Values that win over the configuration file, keyed by dotted path (`listen.port`,
 * `copy.0.host`) or by the seed's key (`hostorg`). A bare value is attributed to the flag of
 * {@link CONFIG_FLAGS} with that key, else to `--<key>`.
 */
export type ConfigOverrides = Readonly<Record<string, string | number | boolean | ConfigOverride>>;

/**
 * Builds the `options` argument of `node:util` `parseArgs` for every configuration flag.
 * @returns options keyed by long flag name, all of type "string"
 */
export function configFlagOptions(): Record<string, { type: "string"; short?: string }> {
  const options: Record<string, { type: "string"; short?: string }> = {};
  for (const f of CONFIG_FLAGS) {
    options[f.flag] = f.short === undefined
      ? { type: "string" }
      : { type: "string", short: f.short };
  }
  return options;
}

/**
 * Picks the configuration flags out of `parseArgs`' `values`.
 * @param values parsed flags keyed by long name (others are ignored)
 * @returns the overrides, each attributed to its flag
 */
export function overridesFromFlags(values: Readonly<Record<string, unknown>>): ConfigOverrides {
  const overrides: Record<string, ConfigOverride> = {};
  for (const f of CONFIG_FLAGS) {
    const value = values[f.flag];
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      overrides[f.key] = { value, flag: `--${f.flag}` };
    }
  }
  return overrides;
}

/**
 * Turns overrides into entries attributed to their flags.
 * @param overrides the overrides, possibly undefined
 * @returns entries, and an error for each key no setting has
 */
export function readOverrides(overrides: ConfigOverrides | undefined): ParsedFile {
  const result: ParsedFile = { entries: [], errors: [], copyLines: [] };
  for (const [key, given] of Object.entries(overrides ?? {})) {
    if (given === undefined) continue; // tolerate parseArgs' unset flags passed straight through
    const { value, flag } = typeof given === "object"
      ? given
      : { value: given, flag: `--${CONFIG_FLAGS.find((f) => f.key === key)?.flag ?? key}` };
    const where = `flag ${flag}`;
    const resolved = resolveKey(key);
    if (resolved === undefined) {
      result.errors.push(
        unknownKeyError(where, undefined, undefined, key, suggest(key, allKeyCandidates())),
      );
      continue;
    }
    const entry: RawEntry = {
      path: resolved.path,
      written: key,
      value,
      lenient: true,
      source: { kind: "flag", flag },
      where,
    };
    result.entries.push(entry);
  }
  return result;
}
