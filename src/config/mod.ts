/**
 * @module
 * The configuration layer's only entry point: the effective-configuration types (loading,
 * validation and provenance follow).
 */

export type {
  BackendAuthConfig,
  BackendConfig,
  Config,
  ListenConfig,
  LoadedConfig,
  LogConfig,
  SslMode,
  ValueSource,
} from "./types.ts";
