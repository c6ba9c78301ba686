/**
 * @module
 * Authentication messages in both directions: the server's AuthenticationRequest ('R') variants
 * and the client's PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse (all 'p'),
 * as in "Message Flow: Start-up" and "SASL Authentication" in the protocol docs, and
 * `pg_fe_sendauth()` (libpq `fe-auth.c`) / `sendAuthRequest()` (`auth.c`). Byte fields are
 * copies, so they outlive the reader's buffer.
 */

import { Cursor, decodeUtf8 } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { AuthRequest, BackendCode, FrontendCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** The server accepted the client. */
export type AuthenticationOk = FrameMessage<"AuthenticationOk">;
/** Kerberos V5 (unsupported by PostgreSQL since 9.4; decoded so it can be refused clearly). */
export type AuthenticationKerberosV5 = FrameMessage<"AuthenticationKerberosV5">;
/** The server asks for the password in clear text. */
export type AuthenticationCleartextPassword = FrameMessage<"AuthenticationCleartextPassword">;
/** GSSAPI (unsupported by usogres). */
export type AuthenticationGSS = FrameMessage<"AuthenticationGSS">;
/** SSPI (unsupported by usogres). */
export type AuthenticationSSPI = FrameMessage<"AuthenticationSSPI">;

/** The server asks for an MD5-hashed password. */
export interface AuthenticationMD5Password extends FrameMessage<"AuthenticationMD5Password"> {
  /** The 4-byte salt. */
  readonly salt: Uint8Array<ArrayBuffer>;
}

/** More GSSAPI or SSPI data (unsupported by usogres). */
export interface AuthenticationGSSContinue extends FrameMessage<"AuthenticationGSSContinue"> {
  /** The GSSAPI or SSPI token. */
  readonly data: Uint8Array<ArrayBuffer>;
}

/** The server offers SASL mechanisms, in order of preference. */
export interface AuthenticationSASL extends FrameMessage<"AuthenticationSASL"> {
  /** Mechanism names such as `SCRAM-SHA-256`. */
  readonly mechanisms: readonly string[];
}

/** A SASL challenge (SCRAM server-first-message). */
export interface AuthenticationSASLContinue extends FrameMessage<"AuthenticationSASLContinue"> {
  /** The mechanism's data. */
  readonly data: Uint8Array<ArrayBuffer>;
}

/** The SASL outcome (SCRAM server-final-message). */
export interface AuthenticationSASLFinal extends FrameMessage<"AuthenticationSASLFinal"> {
  /** The mechanism's data. */
  readonly data: Uint8Array<ArrayBuffer>;
}

/** Every AuthenticationRequest ('R') variant. */
export type Authentication =
  | AuthenticationOk
  | AuthenticationKerberosV5
  | AuthenticationCleartextPassword
  | AuthenticationMD5Password
  | AuthenticationGSS
  | AuthenticationGSSContinue
  | AuthenticationSSPI
  | AuthenticationSASL
  | AuthenticationSASLContinue
  | AuthenticationSASLFinal;

/**
 * Any 'p' message from a client, undecoded: a password, SASLInitialResponse, SASLResponse or
 * GSSResponse, depending on the authentication exchange (decode with `decodePassword`,
 * `decodeSASLInitialResponse`, `decodeSASLResponse` or `decodeGSSResponse`).
 */
export type PasswordMessage = FrameMessage<"PasswordMessage">;

/** The first SASL message from a client: the chosen mechanism and its first data. */
export interface SASLInitialResponse extends FrameMessage<"SASLInitialResponse"> {
  /** The chosen mechanism. */
  readonly mechanism: string;
  /** SCRAM client-first-message; null when the client sent none (length -1). */
  readonly data: Uint8Array<ArrayBuffer> | null;
}

/** A later SASL message from a client (SCRAM client-final-message). */
export interface SASLResponse extends FrameMessage<"SASLResponse"> {
  /** The mechanism's data. */
  readonly data: Uint8Array<ArrayBuffer>;
}

/** A GSSAPI or SSPI token from a client (unsupported by usogres). */
export interface GSSResponse extends FrameMessage<"GSSResponse"> {
  /** The token. */
  readonly data: Uint8Array<ArrayBuffer>;
}

/**
 * Decodes an AuthenticationRequest ('R') into its variant.
 *
 * @param frame the message
 * @returns the variant
 * @throws {ProtocolError} when malformed or of an unknown kind
 */
export function decodeAuthentication(frame: Frame): Authentication {
  const c = Cursor.of(frame, BackendCode.AuthenticationRequest, "AuthenticationRequest");
  const kind = c.int32();
  let message: Authentication;
  switch (kind) {
    case AuthRequest.Ok:
      message = { type: "AuthenticationOk", frame };
      break;
    case AuthRequest.KerberosV5:
      message = { type: "AuthenticationKerberosV5", frame };
      break;
    case AuthRequest.CleartextPassword:
      message = { type: "AuthenticationCleartextPassword", frame };
      break;
    case AuthRequest.MD5Password:
      message = { type: "AuthenticationMD5Password", frame, salt: c.bytes(4).slice() };
      break;
    case AuthRequest.GSS:
      message = { type: "AuthenticationGSS", frame };
      break;
    case AuthRequest.GSSContinue:
      message = { type: "AuthenticationGSSContinue", frame, data: c.rest().slice() };
      break;
    case AuthRequest.SSPI:
      message = { type: "AuthenticationSSPI", frame };
      break;
    case AuthRequest.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const name = c.cstring();
        if (name === "") break;
        mechanisms.push(name);
      }
      message = { type: "AuthenticationSASL", frame, mechanisms };
      break;
    }
    case AuthRequest.SASLContinue:
      message = { type: "AuthenticationSASLContinue", frame, data: c.rest().slice() };
      break;
    case AuthRequest.SASLFinal:
      message = { type: "AuthenticationSASLFinal", frame, data: c.rest().slice() };
      break;
    default:
      throw new ProtocolError(`authentication method ${kind} not supported`);
  }
  c.end();
  return message;
}

function authRequest(kind: number, data?: Uint8Array): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.AuthenticationRequest).int32(kind);
  if (data !== undefined) w.bytes(data);
  return w.end().finish();
}

/**
 * Encodes AuthenticationOk.
 *
 * @returns the message
 */
export function encodeAuthenticationOk(): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.Ok);
}

/**
 * Encodes AuthenticationKerberosV5.
 *
 * @returns the message
 */
export function encodeAuthenticationKerberosV5(): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.KerberosV5);
}

/**
 * Encodes AuthenticationCleartextPassword.
 *
 * @returns the message
 */
export function encodeAuthenticationCleartextPassword(): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.CleartextPassword);
}

/**
 * Encodes AuthenticationMD5Password.
 *
 * @param salt the 4-byte salt
 * @returns the message
 * @throws {RangeError} when the salt is not 4 bytes
 */
export function encodeAuthenticationMD5Password(salt: Uint8Array): Uint8Array<ArrayBuffer> {
  if (salt.length !== 4) throw new RangeError("md5 salt must be 4 bytes");
  return authRequest(AuthRequest.MD5Password, salt);
}

/**
 * Encodes AuthenticationGSS.
 *
 * @returns the message
 */
export function encodeAuthenticationGSS(): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.GSS);
}

/**
 * Encodes AuthenticationGSSContinue.
 *
 * @param data the token
 * @returns the message
 */
export function encodeAuthenticationGSSContinue(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.GSSContinue, data);
}

/**
 * Encodes AuthenticationSSPI.
 *
 * @returns the message
 */
export function encodeAuthenticationSSPI(): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.SSPI);
}

/**
 * Encodes AuthenticationSASL.
 *
 * @param mechanisms mechanism names in order of preference
 * @returns the message
 */
export function encodeAuthenticationSASL(mechanisms: readonly string[]): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.AuthenticationRequest).int32(AuthRequest.SASL);
  for (const name of mechanisms) w.cstring(name);
  return w.int8(0).end().finish();
}

/**
 * Encodes AuthenticationSASLContinue.
 *
 * @param data the mechanism's data
 * @returns the message
 */
export function encodeAuthenticationSASLContinue(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.SASLContinue, data);
}

/**
 * Encodes AuthenticationSASLFinal.
 *
 * @param data the mechanism's data
 * @returns the message
 */
export function encodeAuthenticationSASLFinal(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return authRequest(AuthRequest.SASLFinal, data);
}

/**
 * Decodes a PasswordMessage ('p') sent for cleartext or MD5 authentication, checked as
 * `recv_password_packet()` does: one string filling the message.
 *
 * @param frame the message
 * @returns the password (or `md5...` hash)
 * @throws {ProtocolError} when malformed
 */
export function decodePassword(frame: Frame): string {
  const c = Cursor.of(frame, FrontendCode.PasswordMessage, "PasswordMessage");
  const password = c.cstring();
  c.end();
  return password;
}

/**
 * Decodes a SASLInitialResponse ('p').
 *
 * @param frame the message
 * @returns the mechanism and data
 * @throws {ProtocolError} when malformed
 */
export function decodeSASLInitialResponse(frame: Frame): SASLInitialResponse {
  const c = Cursor.of(frame, FrontendCode.PasswordMessage, "SASLInitialResponse");
  const mechanism = c.cstring();
  const len = c.int32();
  if (len < -1) throw new ProtocolError("invalid message format");
  const data = len === -1 ? null : c.bytes(len).slice();
  c.end();
  return { type: "SASLInitialResponse", frame, mechanism, data };
}

/**
 * Decodes a SASLResponse ('p').
 *
 * @param frame the message
 * @returns the data
 * @throws {ProtocolError} when the type byte or length is wrong
 */
export function decodeSASLResponse(frame: Frame): SASLResponse {
  const c = Cursor.of(frame, FrontendCode.PasswordMessage, "SASLResponse");
  return { type: "SASLResponse", frame, data: c.rest().slice() };
}

/**
 * Decodes a GSSResponse ('p').
 *
 * @param frame the message
 * @returns the token
 * @throws {ProtocolError} when the type byte or length is wrong
 */
export function decodeGSSResponse(frame: Frame): GSSResponse {
  const c = Cursor.of(frame, FrontendCode.PasswordMessage, "GSSResponse");
  return { type: "GSSResponse", frame, data: c.rest().slice() };
}

/**
 * Encodes a PasswordMessage ('p') for cleartext or MD5 authentication.
 *
 * @param password the password, or the `md5...` hash
 * @returns the message
 * @throws {TypeError} when the password contains NUL
 */
export function encodePasswordMessage(password: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.PasswordMessage).cstring(password).end().finish();
}

/**
 * Encodes a SASLInitialResponse ('p').
 *
 * @param mechanism the chosen mechanism
 * @param data the first data, or null for none
 * @returns the message
 */
export function encodeSASLInitialResponse(
  mechanism: string,
  data: Uint8Array | null,
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(FrontendCode.PasswordMessage).cstring(mechanism);
  if (data === null) w.int32(-1);
  else w.int32(data.length).bytes(data);
  return w.end().finish();
}

/**
 * Encodes a SASLResponse ('p').
 *
 * @param data the mechanism's data
 * @returns the message
 */
export function encodeSASLResponse(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.PasswordMessage).bytes(data).end().finish();
}

/**
 * Encodes a GSSResponse ('p').
 *
 * @param data the token
 * @returns the message
 */
export function encodeGSSResponse(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeSASLResponse(data);
}

/**
 * Decodes a SASL data payload as UTF-8 text (SCRAM messages are text).
 *
 * @param data the bytes
 * @returns the text
 * @throws {ProtocolError} on invalid UTF-8
 */
export function saslText(data: Uint8Array): string {
  return decodeUtf8(data);
}

/** AuthenticationOk, pre-encoded (do not mutate). */
export const AUTHENTICATION_OK: Uint8Array<ArrayBuffer> = encodeAuthenticationOk();
