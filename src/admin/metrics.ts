/**
 * @module
 * `/metrics`: the proxy's state in the Prometheus text exposition format, version 0.0.4. Two
 * pure steps, so the exact text is testable: {@link metricsSnapshot} reads the running proxy
 * into plain data, {@link renderMetrics} prints it. Names follow Prometheus conventions
 * (`_total` counters, `_seconds` units) with the `usogres_` prefix.
 *
 * A gauge with nothing to say is left out rather than printed as a made-up number: a backend
 * that never diverged has no `usogres_seconds_since_last_divergence`, one never checked has no
 * `usogres_health_check_latency_seconds`.
 */

import type { HistogramSnapshot, MemberRole, MemberState } from "../cluster/mod.ts";
import { VERSION } from "../version.ts";
import type { AdminContext } from "./context.ts";
import { STATE_NAMES } from "./show_backends.ts";

/** The `Content-Type` of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One server's numbers. */
export interface BackendMetrics {
  /** Server name. */
  readonly name: string;
  /** Role. */
  readonly role: MemberRole;
  /** Replication state. */
  readonly state: MemberState["kind"];
  /** Whether it answers health checks (or, without a check yet, is not down). */
  readonly up: boolean;
  /** Write batches applied in step with the original. */
  readonly writesApplied: number;
  /** Write batches that failed on it. */
  readonly writesFailed: number;
  /** Write batches it did not get while not in sync. */
  readonly writesSkipped: number;
  /** Divergences detected. */
  readonly divergences: number;
  /** Seconds since the last divergence, if any. */
  readonly secondsSinceDivergence: number | undefined;
  /** Duration of the last successful health check, if any. */
  readonly checkLatencySeconds: number | undefined;
}

/** Everything `/metrics` prints, as plain data. */
export interface MetricsSnapshot {
  /** The usogres version. */
  readonly version: string;
  /** Per server, the original first. */
  readonly backends: readonly BackendMetrics[];
  /** Client sessions now. */
  readonly clientConnections: number;
  /** Connections accepted since start. */
  readonly connectionsTotal: number;
  /** Connections refused since start. */
  readonly connectionsRefused: number;
  /** Bytes received from clients. */
  readonly bytesReceived: number;
  /** Bytes sent to clients. */
  readonly bytesSent: number;
  /** Whether writes are paused. */
  readonly writesPaused: boolean;
  /** Write batches waiting for RESUME. */
  readonly writeBatchesWaiting: number;
  /** Write fan-out latency. */
  readonly fanout: HistogramSnapshot;
}

/**
 * Reads the running proxy into a {@link MetricsSnapshot}.
 *
 * @param ctx the running proxy
 * @param now the current time in milliseconds (for seconds since the last divergence)
 * @returns the snapshot
 */
export function metricsSnapshot(ctx: AdminContext, now: number = Date.now()): MetricsSnapshot {
  const backends = ctx.membership.members.map((m): BackendMetrics => {
    const latency = ctx.health.get(m.name)?.latencyMs;
    return {
      name: m.name,
      role: m.role,
      state: m.state.kind,
      up: ctx.health.isUp(m.name) ?? m.state.kind !== "down",
      writesApplied: m.writesApplied,
      writesFailed: m.writesFailed,
      writesSkipped: m.writesSkipped,
      divergences: m.divergences,
      secondsSinceDivergence: m.lastDivergenceAt === undefined
        ? undefined
        : Math.max(0, (now - m.lastDivergenceAt) / 1000),
      checkLatencySeconds: latency === undefined ? undefined : latency / 1000,
    };
  });
  return {
    version: VERSION,
    backends,
    clientConnections: ctx.activeClients(),
    connectionsTotal: ctx.stats.connectionsAccepted,
    connectionsRefused: ctx.stats.connectionsRefused,
    bytesReceived: ctx.stats.bytesFromClients,
    bytesSent: ctx.stats.bytesToClients,
    writesPaused: ctx.writeGate.paused,
    writeBatchesWaiting: ctx.writeGate.waiting,
    fanout: ctx.fanoutLatency.snapshot(),
  };
}

/** One metric family: HELP, TYPE and its samples. */
interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  readonly samples: readonly (readonly [suffix: string, labels: string, value: number])[];
}

/**
 * Prints a snapshot in the Prometheus text format 0.0.4.
 *
 * @param s the snapshot
 * @returns the text, ending with a newline
 */
export function renderMetrics(s: MetricsSnapshot): string {
  const per = (
    value: (b: BackendMetrics) => number | undefined,
  ): Family["samples"] =>
    s.backends.flatMap((b) => {
      const v = value(b);
      return v === undefined ? [] : [["", labels({ backend: b.name }), v] as const];
    });
  const states = Object.keys(STATE_NAMES) as MemberState["kind"][];
  const families: Family[] = [
    {
      name: "usogres_info",
      type: "gauge",
      help: "Version of the running usogres.",
      samples: [["", labels({ version: s.version }), 1]],
    },
    {
      name: "usogres_backend_state",
      type: "gauge",
      help: "Replication state of each server: 1 for its current state, 0 for the others.",
      samples: s.backends.flatMap((b) =>
        states.map((st) =>
          ["", labels({ backend: b.name, state: STATE_NAMES[st] }), b.state === st ? 1 : 0] as const
        )
      ),
    },
    {
      name: "usogres_backend_up",
      type: "gauge",
      help: "Whether each server answers health checks (1) or counts as down (0).",
      samples: per((b) => (b.up ? 1 : 0)),
    },
    counter(
      "usogres_writes_applied_total",
      "Write batches a copy applied in step with the original.",
      per((b) => b.writesApplied),
    ),
    counter(
      "usogres_writes_failed_total",
      "Write batches that failed on a copy.",
      per((b) => b.writesFailed),
    ),
    counter(
      "usogres_writes_skipped_while_stale_total",
      "Write batches a copy did not get because it was not in sync.",
      per((b) => b.writesSkipped),
    ),
    counter(
      "usogres_divergences_total",
      "Divergences detected on a copy.",
      per((b) => b.divergences),
    ),
    {
      name: "usogres_seconds_since_last_divergence",
      type: "gauge",
      help: "Seconds since the last divergence of a copy (absent when it never diverged).",
      samples: per((b) => b.secondsSinceDivergence),
    },
    {
      name: "usogres_health_check_latency_seconds",
      type: "gauge",
      help: "Duration of the last successful health check of a server.",
      samples: per((b) => b.checkLatencySeconds),
    },
    histogram(
      "usogres_write_fanout_seconds",
      "Seconds from a write batch's start on the original to the last copy's answer.",
      s.fanout,
    ),
    gauge("usogres_client_connections", "Client sessions now open.", s.clientConnections),
    counter("usogres_connections_total", "Connections accepted.", [["", "", s.connectionsTotal]]),
    counter("usogres_connections_refused_total", "Connections refused.", [[
      "",
      "",
      s.connectionsRefused,
    ]]),
    counter("usogres_bytes_received_total", "Bytes received from clients.", [[
      "",
      "",
      s.bytesReceived,
    ]]),
    counter("usogres_bytes_sent_total", "Bytes sent to clients.", [["", "", s.bytesSent]]),
    gauge("usogres_writes_paused", "Whether writes are paused (PAUSE).", s.writesPaused ? 1 : 0),
    gauge(
      "usogres_write_batches_waiting",
      "Write batches waiting for RESUME.",
      s.writeBatchesWaiting,
    ),
  ];
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const [suffix, l, v] of f.samples) out.push(`${f.name}${suffix}${l} ${number(v)}`);
  }
  return out.join("\n") + "\n";
}

function counter(name: string, help: string, samples: Family["samples"]): Family {
  return { name, type: "counter", help, samples };
}

function gauge(name: string, help: string, value: number): Family {
  return { name, type: "gauge", help, samples: [["", "", value]] };
}

function histogram(name: string, help: string, h: HistogramSnapshot): Family {
  const samples: [string, string, number][] = h.bounds.map((b, i) => [
    "_bucket",
    labels({ le: number(b) }),
    h.cumulative[i] ?? 0,
  ]);
  samples.push(["_bucket", labels({ le: "+Inf" }), h.count], ["_sum", "", h.sum], [
    "_count",
    "",
    h.count,
  ]);
  return { name, type: "histogram", help, samples };
}

/** `{a="x",b="y"}` with values escaped as the format requires (backslash, quote, newline). */
function labels(pairs: Readonly<Record<string, string>>): string {
  const parts = Object.entries(pairs).map(([k, v]) =>
    `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** A sample value: integers as such, others in shortest round-trip form, Go's spellings of infinities. */
function number(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}
