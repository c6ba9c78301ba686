/**
 * @module
 * Message type bytes, startup request codes and per-type length caps of the PostgreSQL frontend/
 * backend protocol, version 3. Names follow PostgreSQL's `src/include/libpq/protocol.h`
 * (`PqMsg_*`) and `pqcomm.h`; the length caps follow `SocketBackend()` in
 * `src/backend/tcop/postgres.c` (frontend) and `VALID_LONG_MESSAGE_TYPE` in libpq's
 * `fe-protocol3.c` (backend).
 */

/** Type bytes of the messages a client (frontend) sends after startup, as in `protocol.h`. */
export const FrontendCode = {
  Query: 0x51, // 'Q'
  Parse: 0x50, // 'P'
  Bind: 0x42, // 'B'
  Execute: 0x45, // 'E'
  Sync: 0x53, // 'S'
  Flush: 0x48, // 'H'
  Describe: 0x44, // 'D'
  Close: 0x43, // 'C'
  Terminate: 0x58, // 'X'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  FunctionCall: 0x46, // 'F'
  /** Also GSSResponse, SASLInitialResponse and SASLResponse: the meaning depends on auth state. */
  PasswordMessage: 0x70, // 'p'
} as const;

/** One of the frontend type bytes in {@link FrontendCode}. */
export type FrontendCode = typeof FrontendCode[keyof typeof FrontendCode];

/** Type bytes of the messages a server (backend) sends, as in `protocol.h`. */
export const BackendCode = {
  AuthenticationRequest: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;

/** One of the backend type bytes in {@link BackendCode}. */
export type BackendCode = typeof BackendCode[keyof typeof BackendCode];

/**
 * The int32 that follows `AuthenticationRequest` ('R'), as the `AUTH_REQ_*` values of
 * `protocol.h`.
 */
export const AuthRequest = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** The request code of an SSLRequest packet (1234.5679). */
export const SSL_REQUEST_CODE = 80877103;
/** The request code of a GSSENCRequest packet (1234.5680). */
export const GSSENC_REQUEST_CODE = 80877104;
/** The request code of a CancelRequest packet (1234.5678). */
export const CANCEL_REQUEST_CODE = 80877102;
/** Protocol version 3.0 as the 32-bit code of a StartupMessage (major 3 << 16 | minor 0). */
export const PROTOCOL_3_0 = 196608;
/** The newest minor version of protocol 3 that usogres speaks; later ones are negotiated down. */
export const PROTOCOL_LATEST_MINOR = 0;

/** Largest startup packet PostgreSQL accepts (`MAX_STARTUP_PACKET_LENGTH` in `pqcomm.h`). */
export const MAX_STARTUP_PACKET = 10_000;
/** Largest 'p' message PostgreSQL accepts (`PG_MAX_AUTH_TOKEN_LENGTH` in `auth.h`). */
export const MAX_AUTH_MESSAGE = 65_535;
/** Largest "short" message PostgreSQL accepts from clients (`PQ_SMALL_MESSAGE_LIMIT`). */
export const MAX_SMALL_MESSAGE = 10_000;
/** libpq's limit for server messages that are not of a long type (`fe-protocol3.c`). */
export const MAX_BACKEND_SHORT_MESSAGE = 30_000;
/** Default `max_message_size`: 1 GiB - 1, PostgreSQL's `PQ_LARGE_MESSAGE_LIMIT` (`MaxAllocSize`). */
export const DEFAULT_MAX_MESSAGE_SIZE = 1073741823;

function lengthTable(
  fallback: number,
  entries: ReadonlyArray<readonly [number, number]>,
): (code: number) => number {
  const table = new Float64Array(256).fill(fallback);
  for (const [code, max] of entries) table[code] = max;
  return (code: number): number => table[code] ?? fallback;
}

/**
 * Builds the per-type cap on declared lengths of client messages, as PostgreSQL's
 * `SocketBackend()`: Query, Parse, Bind, CopyData and FunctionCall may be up to
 * `maxMessageSize`; PasswordMessage ('p') up to {@link MAX_AUTH_MESSAGE}; every other message
 * up to {@link MAX_SMALL_MESSAGE}. The cap applies to the declared length, which counts itself.
 *
 * @param maxMessageSize the largest long message (default {@link DEFAULT_MAX_MESSAGE_SIZE})
 * @returns a function from type byte to the largest allowed declared length
 */
export function frontendMaxLength(
  maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE,
): (code: number) => number {
  const f = FrontendCode;
  return lengthTable(MAX_SMALL_MESSAGE, [
    [f.Query, maxMessageSize],
    [f.Parse, maxMessageSize],
    [f.Bind, maxMessageSize],
    [f.CopyData, maxMessageSize],
    [f.FunctionCall, maxMessageSize],
    [f.PasswordMessage, MAX_AUTH_MESSAGE],
  ]);
}

/**
 * Builds the per-type cap on declared lengths of server messages. libpq accepts long messages
 * only for RowDescription, DataRow, CopyData, FunctionCallResponse, ErrorResponse,
 * NoticeResponse and NotificationResponse (`VALID_LONG_MESSAGE_TYPE`); usogres also lets
 * ParameterStatus, AuthenticationRequest (SASL data), NegotiateProtocolVersion and
 * ParameterDescription grow to `maxMessageSize`, because their size depends on user data
 * (GUC values, parameter counts) that libpq reads through a different path. The fixed-size
 * messages (ReadyForQuery, ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended,
 * EmptyQueryResponse, BackendKeyData, CopyDone) are capped at {@link MAX_SMALL_MESSAGE}; all
 * others (CommandComplete, the COPY responses, unknown types) at libpq's
 * {@link MAX_BACKEND_SHORT_MESSAGE}.
 *
 * @param maxMessageSize the largest long message (default {@link DEFAULT_MAX_MESSAGE_SIZE})
 * @returns a function from type byte to the largest allowed declared length
 */
export function backendMaxLength(
  maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE,
): (code: number) => number {
  const b = BackendCode;
  const long = [
    b.RowDescription,
    b.DataRow,
    b.CopyData,
    b.FunctionCallResponse,
    b.ErrorResponse,
    b.NoticeResponse,
    b.NotificationResponse,
    b.ParameterStatus,
    b.AuthenticationRequest,
    b.NegotiateProtocolVersion,
    b.ParameterDescription,
  ].map((code) => [code, maxMessageSize] as const);
  const small = [
    b.ReadyForQuery,
    b.ParseComplete,
    b.BindComplete,
    b.CloseComplete,
    b.NoData,
    b.PortalSuspended,
    b.EmptyQueryResponse,
    b.BackendKeyData,
    b.CopyDone,
  ].map((code) => [code, MAX_SMALL_MESSAGE] as const);
  return lengthTable(MAX_BACKEND_SHORT_MESSAGE, [...long, ...small]);
}

/**
 * Tells a startup-packet code (a 32-bit request or protocol code) from a message type byte.
 *
 * @param code a {@link Frame}'s `code`
 * @returns true when the code cannot be a type byte, so the frame is a startup packet
 */
export function isStartupCode(code: number): boolean {
  return code > 0xff || code < 0;
}
