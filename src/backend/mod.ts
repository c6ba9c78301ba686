/**
 * @module
 * Connections from usogres to PostgreSQL servers: the only entry point of `src/backend/`.
 */

export {
  type BackendConnectOptions,
  BackendConnection,
  type BackendStartup,
  type BackendTarget,
} from "./connection.ts";
export { BackendError, type BackendFailure, describeFailure } from "./errors.ts";
export { type ByteSink, SocketWriter } from "./socket_writer.ts";
