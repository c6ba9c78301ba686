/**
 * @module
 * MD5 password authentication as PostgreSQL does it: `pg_md5_encrypt()` in
 * `src/common/md5_common.c`, used by libpq's `pg_password_sendauth()` (`fe-auth.c`) and by the
 * server's `CheckMD5Auth()` (`src/backend/libpq/crypt.c`). WebCrypto has no MD5, so this uses
 * `node:crypto`.
 */

import { createHash } from "node:crypto";

const encoder = new TextEncoder();

function md5Hex(...parts: Uint8Array[]): string {
  const hash = createHash("md5");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

/**
 * Computes the form PostgreSQL stores in `pg_authid.rolpassword` for an MD5 password:
 * `"md5" + md5hex(password + user)`.
 *
 * @example
 * ```ts
 * import { md5Verifier } from "./md5.ts";
 * console.assert(md5Verifier("postgres", "secret") === "md553f48b7c4b76a86ce72276c5755f217d");
 * ```
 *
 * @param user The role name (PostgreSQL salts with it).
 * @param password The cleartext password; encoded as UTF-8, with no SASLprep (as PostgreSQL).
 * @returns 35 characters: `md5` and 32 lower-case hex digits.
 */
export function md5Verifier(user: string, password: string): string {
  return "md5" + md5Hex(encoder.encode(password), encoder.encode(user));
}

/**
 * Computes the PasswordMessage payload answering AuthenticationMD5Password:
 * `"md5" + md5hex(md5hex(password + user) + salt)`.
 *
 * @param user The role name sent in the StartupMessage.
 * @param password The cleartext password.
 * @param salt The 4 bytes from AuthenticationMD5Password.
 * @returns 35 characters: `md5` and 32 lower-case hex digits.
 * @throws {RangeError} If `salt` is not 4 bytes long.
 */
export function md5Password(user: string, password: string, salt: Uint8Array): Promise<string> {
  return Promise.resolve().then(() => md5SaltedVerifier(md5Verifier(user, password), salt));
}

/**
 * Computes the response a client owes for a stored MD5 verifier and a salt; the server side
 * compares it with what the client sent.
 *
 * @param verifier The stored form, from {@linkcode md5Verifier}.
 * @param salt The 4 bytes sent in AuthenticationMD5Password.
 * @returns 35 characters: `md5` and 32 lower-case hex digits.
 * @throws {RangeError} If `salt` is not 4 bytes long or `verifier` is not an MD5 verifier.
 */
export function md5SaltedVerifier(verifier: string, salt: Uint8Array): string {
  if (salt.length !== 4) throw new RangeError(`md5 salt must be 4 bytes, got ${salt.length}`);
  if (!/^md5[0-9a-f]{32}$/.test(verifier)) throw new RangeError("invalid md5 verifier");
  return "md5" + md5Hex(encoder.encode(verifier.slice(3)), salt);
}
