/**
 * @module
 * The typed framer: the only entry point of `src/protocol/` for other folders. It turns bytes
 * into {@link Frame}s (`FrameReader`), frames into typed messages (`decodeFrontend`,
 * `decodeBackend`, `decodeStartupPacket`), and builds messages (`Writer`, the `encodeX`
 * functions and pre-encoded constants). Errors a client may see are `PgError`s. It follows the
 * "Frontend/Backend Protocol" chapter of the PostgreSQL documentation, version 3.0.
 *
 * @example
 * ```ts
 * import { decodeFrontend, FrameReader, type FrontendMessage, frontendMaxLength } from "./mod.ts";
 * declare const conn: Deno.Conn;
 * declare function route(message: FrontendMessage): void;
 * const reader = new FrameReader(conn, { maxLength: frontendMaxLength() });
 * for (;;) {
 *   let frame;
 *   while ((frame = reader.tryNext())) route(decodeFrontend(frame));
 *   if (!(await reader.fill())) break;
 * }
 * ```
 */

export * from "./codes.ts";
export * from "./frame.ts";
export * from "./frame_reader.ts";
export * from "./writer.ts";
export * from "./errors.ts";
export * from "./startup.ts";
export * from "./auth.ts";
export * from "./simple_query.ts";
export * from "./extended_query.ts";
export * from "./copy.ts";
export * from "./async.ts";
export * from "./error_notice.ts";
export * from "./function_call.ts";
export * from "./frontend.ts";
export * from "./backend.ts";
