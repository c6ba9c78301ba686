/**
 * @module
 * Backend states, health checks, the write gate and the fan-out histogram for the whole process:
 * the only entry point of `src/cluster/`.
 */

export {
  type Member,
  type MemberCounters,
  type MemberRole,
  Membership,
  type MembershipSnapshot,
  type MemberState,
} from "./membership.ts";
export { type BackendHealth, HealthChecker, type HealthCheckerOptions } from "./health.ts";
export { type GateControl, WriteGate } from "./write_gate.ts";
export { FANOUT_BUCKETS, Histogram, type HistogramSnapshot } from "./histogram.ts";
export { type Authority, type AuthorityAnswer, MembershipReplica } from "./membership_replica.ts";
