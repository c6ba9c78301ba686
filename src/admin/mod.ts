/**
 * @module
 * The admin console (SQL commands over the proxy's own port, one command per file as PgDog's
 * `admin/` has them), the HTTP `/metrics`, `/healthz` and `/readyz` listener, and the
 * `usogres status` client: the only entry point of `src/admin/`. It sits above the session
 * layer: the server wires {@link AdminConsole} into the sessions as their `adminConsole` hook.
 *
 * @example
 * ```ts
 * import { AdminConsole, type AdminContext, MetricsServer } from "./mod.ts";
 * declare const ctx: AdminContext;
 * const console = new AdminConsole(ctx); // handed to sessions as SessionContext.adminConsole
 * const http = MetricsServer.start("127.0.0.1:9930", ctx);
 * await http.stop();
 * ```
 */

export type { AdminContext, ReloadReport } from "./context.ts";
export {
  AdminConsole,
  type AdminSession,
  authorizeAdmin,
  consoleGreeting,
  isLoopback,
  serveConsole,
} from "./console.ts";
export { RemoteAdminConsole, type RemoteConsoleLink } from "./remote_console.ts";
export type { AdminReply } from "./_reply.ts";
export { type AdminCommand, COMMAND_SUMMARY, parseCommands, type ParseResult } from "./command.ts";
export { LIVE_SETTINGS, planReload, type ReloadPlan } from "./reload.ts";
export {
  type BackendMetrics,
  METRICS_CONTENT_TYPE,
  type MetricsSnapshot,
  metricsSnapshot,
  renderMetrics,
} from "./metrics.ts";
export { handleHttp, MetricsServer } from "./http.ts";
export { formatTable, recoverCommand, statusCommand, type StatusOutput } from "./status.ts";
