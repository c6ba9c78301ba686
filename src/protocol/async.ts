/**
 * @module
 * Messages a server may send outside any query, plus the key it gives at startup:
 * ParameterStatus, NotificationResponse and BackendKeyData ("Asynchronous Operations" and
 * "Message Formats" in the protocol docs). BackendKeyData follows protocol 3.0 (a 4-byte key).
 */

import { Cursor } from "./_cursor.ts";
import { scratchWriter } from "./_encode.ts";
import { BackendCode } from "./codes.ts";
import type { Frame, FrameMessage } from "./frame.ts";

/** A run-time parameter's current value (`server_version`, `TimeZone`, ...). */
export interface ParameterStatus extends FrameMessage<"ParameterStatus"> {
  /** The parameter name. */
  readonly name: string;
  /** Its value. */
  readonly value: string;
}

/** A NOTIFY delivered to a listening session. */
export interface NotificationResponse extends FrameMessage<"NotificationResponse"> {
  /** Process ID of the notifying session. */
  readonly processId: number;
  /** The channel name. */
  readonly channel: string;
  /** The payload ("" when none). */
  readonly payload: string;
}

/** The key a client needs to cancel its queries. */
export interface BackendKeyData extends FrameMessage<"BackendKeyData"> {
  /** The session's process ID. */
  readonly processId: number;
  /** The session's secret key. */
  readonly secretKey: number;
}

/**
 * Decodes a ParameterStatus ('S').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeParameterStatus(frame: Frame): ParameterStatus {
  const c = Cursor.of(frame, BackendCode.ParameterStatus, "ParameterStatus");
  const name = c.cstring();
  const value = c.cstring();
  c.end();
  return { type: "ParameterStatus", frame, name, value };
}

/**
 * Encodes a ParameterStatus ('S').
 *
 * @param name the parameter name
 * @param value its value
 * @returns the message
 */
export function encodeParameterStatus(name: string, value: string): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.ParameterStatus).cstring(name).cstring(value).end()
    .finish();
}

/**
 * Decodes a NotificationResponse ('A').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed
 */
export function decodeNotificationResponse(frame: Frame): NotificationResponse {
  const c = Cursor.of(frame, BackendCode.NotificationResponse, "NotificationResponse");
  const processId = c.int32();
  const channel = c.cstring();
  const payload = c.cstring();
  c.end();
  return { type: "NotificationResponse", frame, processId, channel, payload };
}

/**
 * Encodes a NotificationResponse ('A').
 *
 * @param processId the notifying session's process ID
 * @param channel the channel name
 * @param payload the payload
 * @returns the message
 */
export function encodeNotificationResponse(
  processId: number,
  channel: string,
  payload: string,
): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.NotificationResponse).int32(processId).cstring(channel)
    .cstring(payload).end().finish();
}

/**
 * Decodes a BackendKeyData ('K').
 *
 * @param frame the message
 * @returns the message
 * @throws {ProtocolError} when malformed (including a key longer than protocol 3.0's 4 bytes)
 */
export function decodeBackendKeyData(frame: Frame): BackendKeyData {
  const c = Cursor.of(frame, BackendCode.BackendKeyData, "BackendKeyData");
  const processId = c.int32();
  const secretKey = c.int32();
  c.end();
  return { type: "BackendKeyData", frame, processId, secretKey };
}

/**
 * Encodes a BackendKeyData ('K').
 *
 * @param processId the process ID to report
 * @param secretKey the secret key to report
 * @returns the message
 */
export function encodeBackendKeyData(
  processId: number,
  secretKey: number,
): Uint8Array<ArrayBuffer> {
  return scratchWriter().start(BackendCode.BackendKeyData).int32(processId).int32(secretKey).end()
    .finish();
}
