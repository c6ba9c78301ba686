/**
 * @module
 * The catch-up phase of an online recovery: replays the journal onto the copy until the backlog
 * is small enough for the final pause.
 *
 * The replay applies units one after another, on one connection at a time, in the order they
 * ended on the original: about as fast as one client writes. Under a concurrent load the backlog
 * grew without end (measured on 2 cores: two node-postgres writers alone outran it), and the
 * recovery would only have ended after 10 minutes, with a final pause replaying the whole
 * backlog. So the replay runs in rounds of {@link OPEN_MS}; when a round does not shrink the
 * backlog by a quarter, the next rounds begin by holding new writes at the write gate for a slice
 * while the replay runs (clients wait, they do not fail; writes already past the gate finish),
 * the slice doubling while the backlog still does not shrink, up to `maxHoldMs`. A slice that
 * empties the backlog ends the catch-up, and the final pause follows at once. So the replay
 * converges whenever it replays in a slice what the writers add in a round: at 1 s slices, when
 * it is at least a fifth as fast as they are. Holding writes also frees the CPU it shares with
 * them.
 */

import type { WriteGate } from "../cluster/mod.ts";
import type { Journal, JournalUnit } from "../session/journal.ts";

/** Shortest hold of new writes, once the replay falls behind. */
const MIN_HOLD_MS = 100;
/** Time writes flow between two holds, and the length of a round (the replay goes on meanwhile). */
const OPEN_MS = 250;
/** Units replayed between two looks at the clock. */
const CHUNK = 50;

/** What {@link catchUp} needs. */
export interface CatchUpOptions {
  /** The armed journal. */
  readonly journal: Pick<Journal, "take" | "backlog" | "waitForUnits">;
  /** Applies units to the copy, in order. */
  readonly replay: (units: readonly JournalUnit[]) => Promise<void>;
  /** The gate new writes pass. */
  readonly writeGate: Pick<WriteGate, "pause" | "resume">;
  /** Backlog small enough to end with (the final pause replays it). */
  readonly target: number;
  /** Give up catching up after this long (the final pause then replays what is left). */
  readonly deadlineMs: number;
  /** Longest hold of new writes (default 1,000 ms). */
  readonly maxHoldMs?: number;
  /** Called after each round with the backlog and the current hold (0: writes not held). */
  readonly onProgress?: (backlog: number, holdMs: number) => void;
}

/** How the catch-up went. */
export interface CatchUpResult {
  /** Times new writes were held. */
  readonly holds: number;
  /** Longest hold, in milliseconds. */
  readonly longestHoldMs: number;
}

/**
 * Replays the journal until its backlog is at most `target` (or the deadline passes), holding new
 * writes for short slices when the replay falls behind. Every unit taken from the journal has
 * been replayed when it returns, so the caller goes on with `journal.take()`.
 *
 * @param o the journal, the replay, the gate and the limits
 * @returns how often and how long writes were held
 * @throws whatever the replay throws (the gate is open again)
 */
export async function catchUp(o: CatchUpOptions): Promise<CatchUpResult> {
  const maxHold = o.maxHoldMs ?? 1_000;
  const queue: JournalUnit[] = [];
  const backlog = () => queue.length + o.journal.backlog;
  const deadline = Date.now() + o.deadlineMs;
  let hold = 0;
  let holds = 0;
  let longest = 0;

  /** Replays for about `ms`; while writes are held, stops early once nothing is left. */
  const replayFor = async (ms: number, held: boolean): Promise<void> => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      if (queue.length === 0) queue.push(...o.journal.take());
      if (queue.length === 0) {
        if (held) return;
        await o.journal.waitForUnits(Math.max(1, until - performance.now()));
        continue;
      }
      await o.replay(queue.splice(0, CHUNK));
    }
  };

  while (backlog() > o.target && Date.now() < deadline) {
    const before = backlog();
    if (hold > 0) {
      o.writeGate.pause();
      const started = performance.now();
      try {
        await replayFor(hold, true);
      } finally {
        o.writeGate.resume();
      }
      holds++;
      longest = Math.max(longest, performance.now() - started);
      // Caught up while writes were held: the final pause follows at once.
      if (backlog() <= o.target) break;
    }
    await replayFor(OPEN_MS, false);
    const after = backlog();
    if (after > before * 0.75) hold = Math.min(maxHold, Math.max(MIN_HOLD_MS, hold * 2));
    o.onProgress?.(after, hold);
  }
  // Units taken but not replayed yet come before anything still in the journal.
  await o.replay(queue.splice(0));
  return { holds, longestHoldMs: Math.round(longest) };
}
