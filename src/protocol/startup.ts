/**
 * @module
 * Startup packets (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage), the
 * NegotiateProtocolVersion reply and Terminate: "Message Flow: Start-up", "Canceling Requests in
 * Progress" and "Termination" in the protocol docs; decoding follows `ProcessStartupPacket()` in
 * PostgreSQL's `src/backend/tcop/backend_startup.c`.
 */

import { Cursor } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import {
  BackendCode,
  CANCEL_REQUEST_CODE,
  FrontendCode,
  GSSENC_REQUEST_CODE,
  MAX_STARTUP_PACKET,
  PROTOCOL_3_0,
  SSL_REQUEST_CODE,
} from "./codes.ts";
import { PgError, ProtocolError } from "./errors.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** A client asks for TLS; the answer is one byte, 'S' or 'N'. */
export type SSLRequest = FrameMessage<"SSLRequest">;
/** A client asks for GSSAPI encryption; the answer is one byte, 'G' or 'N'. */
export type GSSENCRequest = FrameMessage<"GSSENCRequest">;

/** A client asks to cancel the statement running in another session. */
export interface CancelRequest extends FrameMessage<"CancelRequest"> {
  /** The target session's process ID, from its BackendKeyData. */
  readonly processId: number;
  /** The target session's secret key, from its BackendKeyData. */
  readonly secretKey: number;
}

/** A client opens a session. */
export interface StartupMessage extends FrameMessage<"StartupMessage"> {
  /** Protocol major version (always 3: others are rejected at decode). */
  readonly majorVersion: number;
  /** Protocol minor version requested; above 0 it is negotiated down. */
  readonly minorVersion: number;
  /** Run-time parameters (`user`, `database`, `options`, GUCs), without the `_pq_.` ones. */
  readonly parameters: ReadonlyMap<string, string>;
  /** Names of the `_pq_.` protocol options requested, for NegotiateProtocolVersion. */
  readonly protocolOptions: readonly string[];
}

/** Any packet a client may send before its StartupMessage is accepted. */
export type StartupPacket = SSLRequest | GSSENCRequest | CancelRequest | StartupMessage;

/** A server's answer to a StartupMessage asking for a newer minor version or `_pq_.` options. */
export interface NegotiateProtocolVersion extends FrameMessage<"NegotiateProtocolVersion"> {
  /** The newest minor version the server supports for the requested major version. */
  readonly minorVersion: number;
  /** The `_pq_.` options the server did not recognise. */
  readonly unrecognized: readonly string[];
}

/** What a server says to Terminate: nothing; a client sends it before closing. */
export type Terminate = FrameMessage<"Terminate">;

/**
 * Decodes a startup packet (a frame read in startup mode).
 *
 * @param frame the packet: length, 32-bit code, payload
 * @returns the packet
 * @throws {ProtocolError} when the length or layout is invalid (08P01)
 * @throws {PgError} FATAL 0A000 when the protocol major version is not 3
 */
export function decodeStartupPacket(frame: Frame): StartupPacket {
  const b = frame.bytes;
  const c = new Cursor(b, 0);
  const len = c.int32();
  if (len !== b.length || len < 8 || len > MAX_STARTUP_PACKET) {
    throw new ProtocolError("invalid length of startup packet");
  }
  const code = c.uint32();
  switch (code) {
    case SSL_REQUEST_CODE:
    case GSSENC_REQUEST_CODE:
      if (len !== 8) throw new ProtocolError("invalid length of startup packet");
      return { type: code === SSL_REQUEST_CODE ? "SSLRequest" : "GSSENCRequest", frame };
    case CANCEL_REQUEST_CODE: {
      if (len !== 16) throw new ProtocolError("invalid length of startup packet");
      return { type: "CancelRequest", frame, processId: c.int32(), secretKey: c.int32() };
    }
  }
  const majorVersion = code >>> 16, minorVersion = code & 0xffff;
  if (majorVersion !== 3) throw PgError.unsupportedFrontendProtocol(majorVersion, minorVersion);
  const parameters = new Map<string, string>();
  const protocolOptions: string[] = [];
  for (;;) {
    if (c.peek() === 0) {
      c.uint8();
      break;
    }
    if (c.remaining === 0) {
      throw new ProtocolError("invalid startup packet layout: expected terminator as last byte");
    }
    const name = c.cstring();
    const value = c.cstring();
    if (name.startsWith("_pq_.")) protocolOptions.push(name);
    else parameters.set(name, value);
  }
  if (c.remaining !== 0) {
    throw new ProtocolError("invalid startup packet layout: expected terminator as last byte");
  }
  return { type: "StartupMessage", frame, majorVersion, minorVersion, parameters, protocolOptions };
}

/**
 * Encodes a StartupMessage for protocol 3.`minor`.
 *
 * @param parameters run-time parameters (`user` is required by servers), `_pq_.` options included
 * @param minor the minor version to request (default 0)
 * @returns the packet
 * @throws {TypeError} when a name or value contains NUL
 */
export function encodeStartupMessage(
  parameters: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  minor = 0,
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().startStartup().int32(PROTOCOL_3_0 + minor);
  const entries = parameters instanceof Map ? parameters.entries() : Object.entries(parameters);
  for (const [name, value] of entries) w.cstring(name).cstring(value);
  return w.int8(0).end().finish();
}

function encodeRequest(code: number): Uint8Array<ArrayBuffer> {
  return scratchWriter().startStartup().int32(code).end().finish();
}

/**
 * Encodes an SSLRequest.
 *
 * @returns the packet
 */
export function encodeSSLRequest(): Uint8Array<ArrayBuffer> {
  return encodeRequest(SSL_REQUEST_CODE);
}

/**
 * Encodes a GSSENCRequest.
 *
 * @returns the packet
 */
export function encodeGSSENCRequest(): Uint8Array<ArrayBuffer> {
  return encodeRequest(GSSENC_REQUEST_CODE);
}

/**
 * Encodes a CancelRequest.
 *
 * @param processId the target's process ID from BackendKeyData
 * @param secretKey the target's secret key from BackendKeyData
 * @returns the packet
 */
export function encodeCancelRequest(processId: number, secretKey: number): Uint8Array<ArrayBuffer> {
  return scratchWriter().startStartup().int32(CANCEL_REQUEST_CODE).int32(processId)
    .int32(secretKey).end().finish();
}

/**
 * Decodes a NegotiateProtocolVersion ('v').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeNegotiateProtocolVersion(frame: Frame): NegotiateProtocolVersion {
  const c = Cursor.of(frame, BackendCode.NegotiateProtocolVersion, "NegotiateProtocolVersion");
  const minorVersion = c.int32();
  const count = c.int32();
  if (count < 0 || count > c.remaining) throw new ProtocolError("invalid message format");
  const unrecognized: string[] = [];
  for (let i = 0; i < count; i++) unrecognized.push(c.cstring());
  c.end();
  return { type: "NegotiateProtocolVersion", frame, minorVersion, unrecognized };
}

/**
 * Encodes a NegotiateProtocolVersion ('v').
 *
 * @param minorVersion the newest minor version supported
 * @param unrecognized the `_pq_.` options not recognised
 * @returns the message
 */
export function encodeNegotiateProtocolVersion(
  minorVersion: number,
  unrecognized: readonly string[],
): Uint8Array<ArrayBuffer> {
  const w = scratchWriter().start(BackendCode.NegotiateProtocolVersion).int32(minorVersion)
    .int32(unrecognized.length);
  for (const name of unrecognized) w.cstring(name);
  return w.end().finish();
}

/**
 * Encodes a Terminate ('X').
 *
 * @returns the message
 */
export function encodeTerminate(): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(FrontendCode.Terminate).end().finish();
}

/** SSLRequest, pre-encoded (do not mutate). */
export const SSL_REQUEST: Uint8Array<ArrayBuffer> = encodeSSLRequest();
/** GSSENCRequest, pre-encoded (do not mutate). */
export const GSSENC_REQUEST: Uint8Array<ArrayBuffer> = encodeGSSENCRequest();
/** Terminate, pre-encoded (do not mutate). */
export const TERMINATE: Uint8Array<ArrayBuffer> = encodeTerminate();
/** The one-byte answer 'S' accepting an SSLRequest (do not mutate). */
export const SSL_ACCEPT: Uint8Array<ArrayBuffer> = new Uint8Array([0x53]);
/** The one-byte answer 'N' refusing an SSLRequest or GSSENCRequest (do not mutate). */
export const SSL_REFUSE: Uint8Array<ArrayBuffer> = new Uint8Array([0x4e]);
