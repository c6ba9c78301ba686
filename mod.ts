/**
 * @module
 * usogres: a PostgreSQL wire-protocol proxy that keeps copy servers identical to an original server
 * by replicating every data-changing statement, serving reads from one, and surviving a backend's
 * failure without disturbing clients.
 *
 * As a library it exports the proxy server, the configuration loader and the types; run directly
 * (`deno run -A mod.ts [run|demo|check-config] [--config FILE]`) it is the `usogres` command.
 *
 * @example
 * ```ts
 * import { loadConfig, ProxyServer } from "./mod.ts";
 * const { config } = await loadConfig({ configPath: "usogresrc.toml" });
 * const server = await ProxyServer.start(config);
 * // ... later
 * await server.shutdown();
 * ```
 */

export {
  type AdminConfig,
  type AuthConfig,
  type AuthMethod,
  type BackendAuthConfig,
  type BackendConfig,
  type BackendPartial,
  type Config,
  type ConfigEnv,
  ConfigError,
  type ConfigOverride,
  type ConfigOverrides,
  type ConfigPartial,
  defaultConfig,
  formatEffectiveConfig,
  type HbaRule,
  type HealthConfig,
  type ListenConfig,
  loadConfig,
  type LoadConfigOptions,
  type LoadedConfig,
  type LogConfig,
  type ReplicationConfig,
  type SslMode,
  type TlsConfig,
  type ValueSource,
} from "./src/config/mod.ts";
export { ProxyServer, type ProxyServerOptions } from "./src/server/proxy_server.ts";
export { ExitCode, main } from "./src/cli.ts";
export { VERSION } from "./src/version.ts";
export { PgError, ProtocolError, type Severity, type TxStatus } from "./src/protocol/mod.ts";
export type { EntryKind } from "./src/replication/mod.ts";
export {
  type GateControl,
  type Member,
  type MemberCounters,
  type MemberRole,
  Membership,
  type MembershipSnapshot,
  type MemberState,
  WriteGate,
} from "./src/cluster/mod.ts";
export type { ProxyStats } from "./src/session/context.ts";
export type {
  Journal,
  JournalStep,
  JournalUnit,
  RecoveringSession,
  RecoveryState,
  SessionHeader,
} from "./src/session/journal.ts";
export type { RecoveryPhase, RecoveryProgress } from "./src/recovery/mod.ts";

if (import.meta.main) {
  const { main } = await import("./src/cli.ts");
  Deno.exit(await main(Deno.args));
}
