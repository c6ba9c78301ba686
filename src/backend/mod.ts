/**
 * @module
 * Connections from usogres to PostgreSQL servers: the only entry point of `src/backend/`.
 */

export {
  BackendConnection,
  type BackendConnectOptions,
  type BackendStartup,
  type BackendTarget,
} from "./connection.ts";
export { BackendError, type BackendFailure, describeFailure } from "./errors.ts";
export { type ByteSink, SocketWriter } from "./socket_writer.ts";
export {
  connDuplex,
  readPemCertificates,
  type TlsHandshake,
  TlsStream,
  verifyCertificateIssuer,
  watchHandshake,
} from "./tls_stream.ts";
export { simpleQuery, SimpleQueryError, type SimpleQueryResult } from "./simple_query.ts";
