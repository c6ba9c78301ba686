/**
 * @module
 * `RELOAD` (and SIGHUP): read the configuration file again and apply what can change while
 * running: `log.level`, every `[health]` setting, `admin.users` and `admin.allow_remote`. Any
 * other setting that changed is named in a NOTICE and keeps its value until a restart. An
 * invalid file changes nothing (ERROR F0000 config_file_error, with each problem).
 *
 * {@link planReload} is the pure part: from the configuration in effect and the one just read,
 * the configuration to run with and what changed.
 */

import { errorText } from "../log/mod.ts";
import {
  type Config,
  ConfigError,
  effectiveSettings,
  type LoadedConfig,
  tomlValue,
  type ValueSource,
} from "../config/mod.ts";
import { PgError } from "../protocol/mod.ts";
import type { AdminContext, ReloadReport } from "./context.ts";
import { type AdminReply, done, notice } from "./_reply.ts";

/** Settings that take effect while running. */
export const LIVE_SETTINGS: readonly string[] = [
  "log.level",
  "health.interval",
  "health.timeout",
  "health.retries",
  "health.user",
  "health.database",
  "admin.users",
  "admin.allow_remote",
];

/** What {@link planReload} decides. */
export interface ReloadPlan extends ReloadReport {
  /** The configuration to run with: the current one with the live settings of the new one. */
  readonly loaded: LoadedConfig;
}

/**
 * Compares the configuration in effect with a newly read one.
 *
 * @param current the configuration in effect
 * @param next the configuration just read
 * @returns the configuration to run with, what was applied and what needs a restart
 */
export function planReload(current: LoadedConfig, next: LoadedConfig): ReloadPlan {
  const before = new Map(effectiveSettings(current).map((s) => [s.path, tomlValue(s.value)]));
  const after = new Map(effectiveSettings(next).map((s) => [s.path, tomlValue(s.value)]));
  // The password is masked in the listing; compare the real ones.
  const password = current.config.backendAuth.password !== next.config.backendAuth.password;
  const applied: { path: string; value: string }[] = [];
  const restartNeeded: string[] = [];
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    const changed = before.get(path) !== after.get(path) ||
      (path === "backend.password" && password);
    if (!changed) continue;
    if (LIVE_SETTINGS.includes(path)) applied.push({ path, value: after.get(path) ?? "" });
    else restartNeeded.push(path);
  }
  const c = current.config, n = next.config;
  const config: Config = {
    ...c,
    log: { ...c.log, level: n.log.level },
    health: n.health,
    admin: { ...c.admin, users: n.admin.users, allowRemote: n.admin.allowRemote },
  };
  const sources = new Map<string, ValueSource>(current.sources);
  for (const path of LIVE_SETTINGS) {
    const s = next.sources.get(path);
    if (s !== undefined) sources.set(path, s);
  }
  return {
    loaded: { config, file: current.file, sources },
    file: next.file,
    applied,
    restartNeeded,
  };
}

/**
 * Answers RELOAD.
 *
 * @param ctx the running proxy
 * @returns the reply: a NOTICE per applied setting and per setting that needs a restart
 * @throws {PgError} F0000 when the file is invalid, 55000 when there is no way to reload
 */
export async function reload(ctx: AdminContext): Promise<AdminReply> {
  let report: ReloadReport;
  try {
    report = await ctx.reload();
  } catch (e: unknown) {
    if (e instanceof ConfigError) {
      const problems = e.errors.map((x) => x.message);
      throw new PgError(
        "ERROR",
        "F0000",
        "configuration file contains errors; nothing was changed",
        {
          detail: problems.join("\n"),
        },
      );
    }
    throw new PgError("ERROR", "55000", `could not reload the configuration: ${errorText(e)}`);
  }
  const notices = [
    ...report.applied.map((a) => notice(`setting "${a.path}" changed to ${a.value}`)),
    ...report.restartNeeded.map((path) =>
      notice(`setting "${path}" changed; it takes effect after a restart`, { severity: "WARNING" })
    ),
  ];
  if (notices.length === 0) notices.push(notice("no setting changed"));
  return done("RELOAD", notices);
}
