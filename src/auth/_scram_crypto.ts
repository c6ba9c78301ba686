/**
 * @module
 * The SCRAM-SHA-256 primitives of RFC 5802 section 2.2 and RFC 7677, shared by the client and
 * server state machines: Hi() (PBKDF2), HMAC, H, XOR, a constant-time comparison, strict base64,
 * and PostgreSQL's nonce size (`SCRAM_RAW_NONCE_LEN` in `src/include/common/scram-common.h`).
 * Private to `src/auth/`.
 */

import { saslPrep } from "./saslprep.ts";

/** SHA-256 output length; every key, signature and proof has this size. */
export const SCRAM_KEY_LEN = 32;
/** Random bytes in a nonce before base64, as PostgreSQL uses. */
export const SCRAM_RAW_NONCE_LEN = 18;
/** Salt length PostgreSQL uses for new verifiers (`SCRAM_DEFAULT_SALT_LEN`). */
export const SCRAM_DEFAULT_SALT_LEN = 16;
/** Iteration count PostgreSQL uses for new verifiers (`scram_iterations` default). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;

/** Bytes a WebCrypto call accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();

/**
 * Encodes a string as UTF-8.
 *
 * @param text The string.
 * @returns Its UTF-8 bytes.
 */
export function utf8(text: string): Bytes {
  return encoder.encode(text);
}

/**
 * Computes Hi(password, salt, i) = PBKDF2-HMAC-SHA-256 with a 32-byte output.
 *
 * @param password The prepared password bytes.
 * @param salt The salt.
 * @param iterations A positive iteration count.
 * @returns SaltedPassword.
 */
export async function hi(password: Bytes, salt: Bytes, iterations: number): Promise<Bytes> {
  const key = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    SCRAM_KEY_LEN * 8,
  );
  return new Uint8Array(bits);
}

/**
 * Computes HMAC-SHA-256(key, data).
 *
 * @param key The key.
 * @param data The message, as bytes or a string encoded as UTF-8.
 * @returns The 32-byte MAC.
 */
export async function hmac(key: Bytes, data: Bytes | string): Promise<Bytes> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const message = typeof data === "string" ? utf8(data) : data;
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, message));
}

/**
 * Computes H(data) = SHA-256(data).
 *
 * @param data The input.
 * @returns The 32-byte digest.
 */
export async function sha256(data: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/**
 * XORs two byte strings of equal length.
 *
 * @param a The first operand.
 * @param b The second operand.
 * @returns A new array.
 * @throws {RangeError} If the lengths differ.
 */
export function xor(a: Bytes, b: Bytes): Bytes {
  if (a.length !== b.length) throw new RangeError("xor operands differ in length");
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * Compares two byte strings in time that depends only on their lengths, so a wrong proof or
 * signature leaks nothing about how much of it matched.
 *
 * @param a The first value.
 * @param b The second value.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The keys derived from SaltedPassword (RFC 5802 section 3). */
export interface DerivedKeys {
  /** HMAC(SaltedPassword, "Client Key"). */
  readonly clientKey: Bytes;
  /** H(ClientKey). */
  readonly storedKey: Bytes;
  /** HMAC(SaltedPassword, "Server Key"). */
  readonly serverKey: Bytes;
}

/**
 * Derives ClientKey, StoredKey and ServerKey from SaltedPassword.
 *
 * @param saltedPassword The output of {@linkcode hi}.
 * @returns The three keys.
 */
export async function deriveKeys(saltedPassword: Bytes): Promise<DerivedKeys> {
  const clientKey = await hmac(saltedPassword, "Client Key");
  const serverKey = await hmac(saltedPassword, "Server Key");
  return { clientKey, storedKey: await sha256(clientKey), serverKey };
}

/**
 * Encodes bytes as standard base64 with padding.
 *
 * @param bytes The input.
 * @returns The base64 text.
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard, padded base64 strictly: no whitespace, no missing padding.
 *
 * @param text The base64 text.
 * @returns The bytes, or `undefined` if `text` is not valid base64.
 */
export function decodeBase64(text: string): Bytes | undefined {
  if (!BASE64.test(text)) return undefined;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Makes a fresh nonce the way PostgreSQL does: 18 random bytes, base64-encoded (24 printable
 * characters, never a comma).
 *
 * @returns The nonce.
 */
export function randomNonce(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(SCRAM_RAW_NONCE_LEN)));
}

/**
 * Tells whether a nonce uses only the characters RFC 5802 allows: printable ASCII except ",".
 *
 * @param nonce The nonce.
 * @returns Whether it is valid and non-empty.
 */
export function isPrintableNonce(nonce: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce);
}

/**
 * Turns a password into the bytes SCRAM hashes: SASLprep'd UTF-8, or the raw UTF-8 when SASLprep
 * fails, as both PostgreSQL sides do.
 *
 * @param password The password as given.
 * @returns The bytes for {@linkcode hi}.
 */
export function scramPasswordBytes(password: string): Bytes {
  return utf8(saslPrep(password) ?? password);
}
