/**
 * @module
 * `BackendMessage`, the union of every message a server sends, and `decodeBackend()`, which
 * dispatches on the type byte as libpq's `pqParseInput3()` does. DataRow, RowDescription,
 * CopyData, ParameterDescription and FunctionCallResponse are decided by the type byte alone
 * (O(1), never decoded); the messages routing needs are decoded and validated.
 */

import { decodeEmpty } from "./_cursor.ts";
import type { BackendKeyData, NotificationResponse, ParameterStatus } from "./async.ts";
import {
  decodeBackendKeyData,
  decodeNotificationResponse,
  decodeParameterStatus,
} from "./async.ts";
import type { Authentication } from "./auth.ts";
import { decodeAuthentication } from "./auth.ts";
import { BackendCode } from "./codes.ts";
import type { CopyData, CopyDone, CopyResponse } from "./copy.ts";
import { decodeCopyResponse } from "./copy.ts";
import type { ErrorResponse, NoticeResponse } from "./error_notice.ts";
import { decodeErrorResponse, decodeNoticeResponse } from "./error_notice.ts";
import { ProtocolError } from "./errors.ts";
import type {
  BindComplete,
  CloseComplete,
  NoData,
  ParameterDescription,
  ParseComplete,
  PortalSuspended,
} from "./extended_query.ts";
import type { Frame } from "./frame.ts";
import type { FunctionCallResponse } from "./function_call.ts";
import type {
  CommandComplete,
  DataRow,
  EmptyQueryResponse,
  ReadyForQuery,
  RowDescription,
} from "./simple_query.ts";
import { decodeCommandComplete, decodeReadyForQuery } from "./simple_query.ts";
import type { NegotiateProtocolVersion } from "./startup.ts";
import { decodeNegotiateProtocolVersion } from "./startup.ts";

/** Every message a server may send. */
export type BackendMessage =
  | Authentication
  | BackendKeyData
  | BindComplete
  | CloseComplete
  | CommandComplete
  | CopyResponse
  | CopyData
  | CopyDone
  | DataRow
  | EmptyQueryResponse
  | ErrorResponse
  | FunctionCallResponse
  | NegotiateProtocolVersion
  | NoData
  | NoticeResponse
  | NotificationResponse
  | ParameterDescription
  | ParameterStatus
  | ParseComplete
  | PortalSuspended
  | ReadyForQuery
  | RowDescription;

/**
 * Decodes a server message.
 *
 * @param frame the message, as read with `backendMaxLength()` caps
 * @returns the message; bulk messages (DataRow, RowDescription, CopyData, ...) carry only their
 *   frame
 * @throws {ProtocolError} on an unknown type byte or malformed content (08P01)
 */
export function decodeBackend(frame: Frame): BackendMessage {
  const b = BackendCode;
  switch (frame.code) {
    case b.DataRow:
      return { type: "DataRow", frame };
    case b.CopyData:
      return { type: "CopyData", frame };
    case b.RowDescription:
      return { type: "RowDescription", frame };
    case b.ParameterDescription:
      return { type: "ParameterDescription", frame };
    case b.FunctionCallResponse:
      return { type: "FunctionCallResponse", frame };
    case b.CommandComplete:
      return decodeCommandComplete(frame);
    case b.ReadyForQuery:
      return decodeReadyForQuery(frame);
    case b.ParseComplete:
      return decodeEmpty(frame, b.ParseComplete, "ParseComplete");
    case b.BindComplete:
      return decodeEmpty(frame, b.BindComplete, "BindComplete");
    case b.CloseComplete:
      return decodeEmpty(frame, b.CloseComplete, "CloseComplete");
    case b.NoData:
      return decodeEmpty(frame, b.NoData, "NoData");
    case b.PortalSuspended:
      return decodeEmpty(frame, b.PortalSuspended, "PortalSuspended");
    case b.EmptyQueryResponse:
      return decodeEmpty(frame, b.EmptyQueryResponse, "EmptyQueryResponse");
    case b.CopyDone:
      return decodeEmpty(frame, b.CopyDone, "CopyDone");
    case b.ErrorResponse:
      return decodeErrorResponse(frame);
    case b.NoticeResponse:
      return decodeNoticeResponse(frame);
    case b.NotificationResponse:
      return decodeNotificationResponse(frame);
    case b.ParameterStatus:
      return decodeParameterStatus(frame);
    case b.CopyInResponse:
    case b.CopyOutResponse:
    case b.CopyBothResponse:
      return decodeCopyResponse(frame);
    case b.AuthenticationRequest:
      return decodeAuthentication(frame);
    case b.BackendKeyData:
      return decodeBackendKeyData(frame);
    case b.NegotiateProtocolVersion:
      return decodeNegotiateProtocolVersion(frame);
    default:
      throw new ProtocolError(`unexpected message type ${frame.code} from server`);
  }
}
