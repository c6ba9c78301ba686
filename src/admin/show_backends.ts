/**
 * @module
 * `SHOW BACKENDS`: one row per server, the original first, with its replication state and
 * counters and what health checks last found.
 */

import type { MemberState } from "../cluster/mod.ts";
import type { AdminContext } from "./context.ts";
import { type AdminReply, type Cell, resultSet } from "./_reply.ts";

/** The state names the console and metrics use (lower_snake, as config keys and columns are). */
export const STATE_NAMES: Readonly<Record<MemberState["kind"], string>> = {
  inSync: "in_sync",
  stale: "stale",
  down: "down",
  recovering: "recovering",
};

/** Columns of SHOW BACKENDS, in order. */
export const BACKEND_COLUMNS: readonly string[] = [
  "name",
  "host",
  "port",
  "role",
  "state",
  "since",
  "last_error",
  "writes_applied",
  "writes_failed",
  "writes_skipped",
  "divergences",
  "last_divergence",
  "lag",
  "up",
  "last_check",
  "check_latency_ms",
];

/**
 * Answers SHOW BACKENDS.
 *
 * `lag` is "0" for an in-sync copy; for a stale or down copy, the seconds since it stopped
 * getting writes; NULL for the original and for a copy being recovered (recovery reports its
 * own progress). `up` is NULL until the server's first health check ends.
 *
 * @param ctx the running proxy
 * @param now the current time (for `lag`)
 * @returns the result set
 */
export function showBackends(ctx: AdminContext, now: Date = new Date()): AdminReply {
  const config = ctx.loaded().config;
  const targets = new Map([config.original, ...config.copies].map((b) => [b.name, b]));
  const rows: Cell[][] = ctx.membership.members.map((m) => {
    const target = targets.get(m.name);
    const health = ctx.health.get(m.name);
    const since = "since" in m.state ? new Date(m.state.since) : undefined;
    return [
      m.name,
      target?.host,
      target?.port,
      m.role,
      STATE_NAMES[m.state.kind],
      since,
      m.lastError || health?.lastError || null,
      m.writesApplied,
      m.writesFailed,
      m.writesSkipped,
      m.divergences,
      m.lastDivergenceAt === undefined ? null : new Date(m.lastDivergenceAt),
      lag(m.role, m.state, now),
      ctx.health.isUp(m.name),
      health?.lastCheckAt,
      health?.latencyMs,
    ];
  });
  return resultSet(BACKEND_COLUMNS, rows);
}

function lag(role: string, state: MemberState, now: Date): Cell {
  if (role === "original") return null;
  switch (state.kind) {
    case "inSync":
      return 0;
    case "stale":
    case "down":
      return Math.max(0, (now.getTime() - Date.parse(state.since)) / 1000);
    case "recovering":
      return null;
  }
}
