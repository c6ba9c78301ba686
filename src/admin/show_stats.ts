/**
 * @module
 * `SHOW STATS`: every process-wide counter, the uptime, the write gate and the fan-out
 * latency totals, one `(stat, value)` row each.
 */

import type { AdminContext } from "./context.ts";
import { type AdminReply, type Cell, resultSet } from "./_reply.ts";

/**
 * The statistics as name and value pairs, in a fixed order.
 *
 * @param ctx the running proxy
 * @param now the current time (for the uptime)
 * @returns the pairs
 */
export function statRows(ctx: AdminContext, now: Date = new Date()): [string, Cell][] {
  const s = ctx.stats;
  const fanout = ctx.fanoutLatency.snapshot();
  return [
    ["uptime_seconds", Math.floor((now.getTime() - ctx.startedAt.getTime()) / 1000)],
    ["client_connections", ctx.activeClients()],
    ["connections_accepted", s.connectionsAccepted],
    ["sessions_started", s.sessionsStarted],
    ["connections_refused", s.connectionsRefused],
    ["cancel_requests", s.cancelRequests],
    ["bytes_from_clients", s.bytesFromClients],
    ["bytes_to_clients", s.bytesToClients],
    ["divergences", s.divergences],
    ["writes_paused", ctx.writeGate.paused],
    ["write_batches_waiting", ctx.writeGate.waiting],
    ["write_fanout_count", fanout.count],
    ["write_fanout_seconds_sum", fanout.sum],
    ["workers", ctx.loaded().config.listen.workers],
  ];
}

/**
 * Answers SHOW STATS.
 *
 * @param ctx the running proxy
 * @returns the result set
 */
export function showStats(ctx: AdminContext): AdminReply {
  return resultSet(["stat", "value"], statRows(ctx));
}
