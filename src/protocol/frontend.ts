/**
 * @module
 * `FrontendMessage`, the union of every message a client sends after startup, and
 * `decodeFrontend()`, which dispatches on the type byte as `PostgresMain()` in PostgreSQL's
 * `postgres.c` does. Only routing fields are decoded; CopyData is never looked into.
 */

import { decodeEmpty } from "./_cursor.ts";
import type { PasswordMessage } from "./auth.ts";
import { FrontendCode } from "./codes.ts";
import type { CopyData, CopyDone, CopyFail } from "./copy.ts";
import { decodeCopyFail } from "./copy.ts";
import { ProtocolError } from "./errors.ts";
import type { Bind, Close, Describe, Execute, Flush, Parse, Sync } from "./extended_query.ts";
import {
  decodeBind,
  decodeClose,
  decodeDescribe,
  decodeExecute,
  decodeFlush,
  decodeParse,
  decodeSync,
} from "./extended_query.ts";
import type { Frame } from "./frame.ts";
import type { FunctionCall } from "./function_call.ts";
import { decodeFunctionCall } from "./function_call.ts";
import type { Query } from "./simple_query.ts";
import { decodeQuery } from "./simple_query.ts";
import type { Terminate } from "./startup.ts";

/** Every message a client may send after its StartupMessage. */
export type FrontendMessage =
  | Query
  | Parse
  | Bind
  | Execute
  | Describe
  | Close
  | Sync
  | Flush
  | Terminate
  | CopyData
  | CopyDone
  | CopyFail
  | FunctionCall
  | PasswordMessage;

/**
 * Decodes a client message after startup into its routing form.
 *
 * @param frame the message, as read with `frontendMaxLength()` caps
 * @returns the message; CopyData and PasswordMessage carry only their frame
 * @throws {ProtocolError} on an unknown type byte or malformed content (08P01)
 */
export function decodeFrontend(frame: Frame): FrontendMessage {
  switch (frame.code) {
    case FrontendCode.CopyData:
      return { type: "CopyData", frame };
    case FrontendCode.Query:
      return decodeQuery(frame);
    case FrontendCode.Parse:
      return decodeParse(frame);
    case FrontendCode.Bind:
      return decodeBind(frame);
    case FrontendCode.Execute:
      return decodeExecute(frame);
    case FrontendCode.Sync:
      return decodeSync(frame);
    case FrontendCode.Flush:
      return decodeFlush(frame);
    case FrontendCode.Describe:
      return decodeDescribe(frame);
    case FrontendCode.Close:
      return decodeClose(frame);
    case FrontendCode.Terminate:
      return decodeEmpty(frame, FrontendCode.Terminate, "Terminate");
    case FrontendCode.CopyDone:
      return decodeEmpty(frame, FrontendCode.CopyDone, "CopyDone");
    case FrontendCode.CopyFail:
      return decodeCopyFail(frame);
    case FrontendCode.FunctionCall:
      return decodeFunctionCall(frame);
    case FrontendCode.PasswordMessage:
      return { type: "PasswordMessage", frame };
    default:
      throw new ProtocolError(`invalid frontend message type ${frame.code}`);
  }
}
