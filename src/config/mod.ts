/**
 * @module
 * The configuration layer's only entry point: find, parse (TOML or the seed's legacy rc format),
 * validate and merge the configuration with command-line flags, and tell where each value came
 * from.
 *
 * @example
 * ```ts
 * import { ConfigError, formatEffectiveConfig, loadConfig } from "./mod.ts";
 * try {
 *   const loaded = await loadConfig({ configPath: "usogresrc.toml" });
 *   console.log(formatEffectiveConfig(loaded));
 * } catch (e: unknown) {
 *   if (!(e instanceof ConfigError)) throw e;
 *   for (const err of e.errors) console.error(err.message);
 * }
 * ```
 */

export type {
  AdminConfig,
  AuthConfig,
  AuthMethod,
  BackendAuthConfig,
  BackendConfig,
  Config,
  HbaRule,
  HealthConfig,
  ListenConfig,
  LoadedConfig,
  LogConfig,
  ReplicationConfig,
  SslMode,
  TlsConfig,
  ValueSource,
} from "./types.ts";
export { ConfigError, type ConfigErrorInit } from "./errors.ts";
export type { ConfigEnv } from "./_build.ts";
export {
  CONFIG_FLAGS,
  type ConfigFlag,
  configFlagOptions,
  type ConfigOverride,
  type ConfigOverrides,
  overridesFromFlags,
} from "./flags.ts";
export { parseConfigText, type ParseOptions } from "./parse.ts";
export { defaultSearchPaths, loadConfig, type LoadConfigOptions } from "./locate.ts";
export {
  type EffectiveSetting,
  effectiveSettings,
  formatEffectiveConfig,
  tomlValue,
} from "./format.ts";
export { type BackendPartial, type ConfigPartial, defaultConfig } from "./default_config.ts";
export { parseAddress } from "./_admin_settings.ts";
