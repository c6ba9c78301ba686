/**
 * @module
 * Backend states, health checks, the write gate and the fan-out histogram for the whole process:
 * the only entry point of `src/cluster/`.
 */

export { type Member, type MemberRole, Membership, type MemberState } from "./membership.ts";
export { type BackendHealth, HealthChecker, type HealthCheckerOptions } from "./health.ts";
export { WriteGate } from "./write_gate.ts";
export { FANOUT_BUCKETS, Histogram, type HistogramSnapshot } from "./histogram.ts";
