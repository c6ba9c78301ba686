/**
 * @module
 * Backend states for the whole process: the only entry point of `src/cluster/`.
 */

export { type Member, type MemberRole, Membership, type MemberState } from "./membership.ts";
export { WriteGate } from "./write_gate.ts";
