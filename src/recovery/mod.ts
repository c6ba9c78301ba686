/**
 * @module
 * Online recovery of a stale copy: the only entry point of `src/recovery/`.
 */

export {
  recoverCopy,
  type RecoveryContext,
  type RecoveryPhase,
  type RecoveryProgress,
} from "./recover.ts";
