/**
 * @module
 * Unit tests of `/metrics` (`src/admin/metrics.ts`): the exact Prometheus text for a known state,
 * label escaping, gauges left out when unknown, and the snapshot read from a running proxy.
 */

import assert from "node:assert/strict";
import { type MetricsSnapshot, metricsSnapshot, renderMetrics } from "../../../src/admin/mod.ts";
import { Histogram } from "../../../src/cluster/mod.ts";
import { VERSION } from "../../../src/version.ts";
import { healthRecord, testAdmin } from "./_context.ts";

function knownState(): MetricsSnapshot {
  const h = new Histogram([0.001, 0.01]);
  h.observe(0.0005);
  h.observe(0.002);
  h.observe(0.5);
  return {
    version: "1.2.3",
    backends: [
      {
        name: "original",
        role: "original",
        state: "inSync",
        up: true,
        writesApplied: 0,
        writesFailed: 0,
        writesSkipped: 0,
        divergences: 0,
        secondsSinceDivergence: undefined,
        checkLatencySeconds: 0.0025,
      },
      {
        name: "copy",
        role: "copy",
        state: "stale",
        up: false,
        writesApplied: 10,
        writesFailed: 1,
        writesSkipped: 4,
        divergences: 2,
        secondsSinceDivergence: 30.5,
        checkLatencySeconds: undefined,
      },
    ],
    clientConnections: 3,
    connectionsTotal: 12,
    connectionsRefused: 2,
    bytesReceived: 1000,
    bytesSent: 5000,
    writesPaused: true,
    writeBatchesWaiting: 1,
    fanout: h.snapshot(),
  };
}

const EXPECTED = `# HELP usogres_info Version of the running usogres.
# TYPE usogres_info gauge
usogres_info{version="1.2.3"} 1
# HELP usogres_backend_state Replication state of each server: 1 for its current state, 0 for the others.
# TYPE usogres_backend_state gauge
usogres_backend_state{backend="original",state="in_sync"} 1
usogres_backend_state{backend="original",state="stale"} 0
usogres_backend_state{backend="original",state="down"} 0
usogres_backend_state{backend="original",state="recovering"} 0
usogres_backend_state{backend="copy",state="in_sync"} 0
usogres_backend_state{backend="copy",state="stale"} 1
usogres_backend_state{backend="copy",state="down"} 0
usogres_backend_state{backend="copy",state="recovering"} 0
# HELP usogres_backend_up Whether each server answers health checks (1) or counts as down (0).
# TYPE usogres_backend_up gauge
usogres_backend_up{backend="original"} 1
usogres_backend_up{backend="copy"} 0
# HELP usogres_writes_applied_total Write batches a copy applied in step with the original.
# TYPE usogres_writes_applied_total counter
usogres_writes_applied_total{backend="original"} 0
usogres_writes_applied_total{backend="copy"} 10
# HELP usogres_writes_failed_total Write batches that failed on a copy.
# TYPE usogres_writes_failed_total counter
usogres_writes_failed_total{backend="original"} 0
usogres_writes_failed_total{backend="copy"} 1
# HELP usogres_writes_skipped_while_stale_total Write batches a copy did not get because it was not in sync.
# TYPE usogres_writes_skipped_while_stale_total counter
usogres_writes_skipped_while_stale_total{backend="original"} 0
usogres_writes_skipped_while_stale_total{backend="copy"} 4
# HELP usogres_divergences_total Divergences detected on a copy.
# TYPE usogres_divergences_total counter
usogres_divergences_total{backend="original"} 0
usogres_divergences_total{backend="copy"} 2
# HELP usogres_seconds_since_last_divergence Seconds since the last divergence of a copy (absent when it never diverged).
# TYPE usogres_seconds_since_last_divergence gauge
usogres_seconds_since_last_divergence{backend="copy"} 30.5
# HELP usogres_health_check_latency_seconds Duration of the last successful health check of a server.
# TYPE usogres_health_check_latency_seconds gauge
usogres_health_check_latency_seconds{backend="original"} 0.0025
# HELP usogres_write_fanout_seconds Seconds from a write batch's start on the original to the last copy's answer.
# TYPE usogres_write_fanout_seconds histogram
usogres_write_fanout_seconds_bucket{le="0.001"} 1
usogres_write_fanout_seconds_bucket{le="0.01"} 2
usogres_write_fanout_seconds_bucket{le="+Inf"} 3
usogres_write_fanout_seconds_sum 0.5025
usogres_write_fanout_seconds_count 3
# HELP usogres_client_connections Client sessions now open.
# TYPE usogres_client_connections gauge
usogres_client_connections 3
# HELP usogres_connections_total Connections accepted.
# TYPE usogres_connections_total counter
usogres_connections_total 12
# HELP usogres_connections_refused_total Connections refused.
# TYPE usogres_connections_refused_total counter
usogres_connections_refused_total 2
# HELP usogres_bytes_received_total Bytes received from clients.
# TYPE usogres_bytes_received_total counter
usogres_bytes_received_total 1000
# HELP usogres_bytes_sent_total Bytes sent to clients.
# TYPE usogres_bytes_sent_total counter
usogres_bytes_sent_total 5000
# HELP usogres_writes_paused Whether writes are paused (PAUSE).
# TYPE usogres_writes_paused gauge
usogres_writes_paused 1
# HELP usogres_write_batches_waiting Write batches waiting for RESUME.
# TYPE usogres_write_batches_waiting gauge
usogres_write_batches_waiting 1
`;

Deno.test("renderMetrics: prints the exact text format 0.0.4 for a known state", () => {
  assert.equal(renderMetrics(knownState()), EXPECTED);
});

Deno.test("renderMetrics: escapes backslash, quote and newline in label values", () => {
  const s = { ...knownState(), version: 'a\\b"c\nd', backends: [] };
  const text = renderMetrics(s);
  assert.ok(text.includes('usogres_info{version="a\\\\b\\"c\\nd"} 1\n'), text);
  assert.ok(!text.includes("usogres_backend_up{"));
});

Deno.test("renderMetrics: every sample line is name, optional labels, a number", () => {
  const line = /^[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/;
  for (const l of renderMetrics(knownState()).trimEnd().split("\n")) {
    if (!l.startsWith("#")) assert.match(l, line);
  }
});

Deno.test("metricsSnapshot: reads states, counters, health and the gate from the proxy", () => {
  const ctx = testAdmin();
  const copy = ctx.membership.get("copy");
  copy.writesApplied = 5;
  copy.writesSkipped = 2;
  copy.divergences = 1;
  copy.lastDivergenceAt = 1_000;
  ctx.membership.markStale("copy", "diverged");
  ctx.healthRecords.set("original", healthRecord("original", { latencyMs: 4 }));
  ctx.healthRecords.set("copy", healthRecord("copy", { failures: 2, latencyMs: undefined }));
  ctx.writeGate.pause();
  void ctx.writeGate.wait();
  ctx.fanoutLatency.observe(0.005);
  const s = metricsSnapshot(ctx, 11_000);
  assert.equal(s.version, VERSION);
  assert.deepEqual(s.backends.map((b) => [b.name, b.state, b.up]), [
    ["original", "inSync", true],
    ["copy", "stale", false],
  ]);
  assert.equal(s.backends[1]!.secondsSinceDivergence, 10);
  assert.equal(s.backends[1]!.writesSkipped, 2);
  assert.equal(s.backends[0]!.checkLatencySeconds, 0.004);
  assert.equal(s.backends[0]!.secondsSinceDivergence, undefined);
  assert.equal(s.connectionsTotal, 7);
  assert.equal(s.connectionsRefused, 1);
  assert.equal(s.writesPaused, true);
  assert.equal(s.writeBatchesWaiting, 1);
  assert.equal(s.fanout.count, 1);
  ctx.writeGate.resume();
});

Deno.test("metricsSnapshot: a server never checked is up unless it is down", () => {
  const ctx = testAdmin();
  ctx.membership.markDown("copy", "unreachable");
  const s = metricsSnapshot(ctx);
  assert.deepEqual(s.backends.map((b) => b.up), [true, false]);
});
