/**
 * @module
 * Authentication logic, with no sockets: usogres proving its password to a PostgreSQL backend
 * (MD5, SCRAM-SHA-256 client, the password file), and the server side (SCRAM-SHA-256 server,
 * verifiers) for authenticating usogres's own clients later. It follows libpq
 * (`fe-auth.c`, `fe-auth-scram.c`, `fe-connect.c`) and the PostgreSQL server
 * (`auth-scram.c`, `crypt.c`); every failure is an {@linkcode AuthError} with a SQLSTATE.
 *
 * This is the folder's only entry point for other folders.
 */

export { AuthError, type AuthErrorCode, type AuthErrorOptions } from "./errors.ts";
export { md5Password, md5SaltedVerifier, md5Verifier } from "./md5.ts";
export { saslPrep } from "./saslprep.ts";
export {
  type ChannelBinding,
  ScramClient,
  type ScramClientOptions,
  type ScramClientStateKind,
  type ScramMechanism,
} from "./scram_client.ts";
export {
  formatScramVerifier,
  makeScramVerifier,
  type MakeScramVerifierOptions,
  parseScramVerifier,
  ScramServer,
  type ScramServerOptions,
  type ScramServerStateKind,
  type ScramVerifier,
} from "./scram_server.ts";
export {
  lookupPgpass,
  parsePgpass,
  type PgpassEntry,
  type PgpassFile,
  type PgpassTarget,
  readPgpass,
  resolveBackendPassword,
  type ResolveBackendPasswordOptions,
} from "./pgpass.ts";
