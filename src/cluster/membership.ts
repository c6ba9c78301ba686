/**
 * @module
 * The state of every backend for the whole process: `inSync`, `stale`, `down` or `recovering`.
 * Only in-sync copies receive writes. Every change goes through {@link Membership.transition},
 * which checks the edge, persists the states (so a restarted usogres never writes to a stale copy),
 * logs, counts, and notifies listeners, PgBouncer's `change_server_state()` in spirit.
 *
 * Sessions read the write set once per batch, so a copy marked stale by one session stops
 * receiving writes from every session at once.
 */

import { getLogger } from "../log/mod.ts";

const log = getLogger("cluster");

/** A backend's replication state. */
export type MemberState =
  | { readonly kind: "inSync" }
  | { readonly kind: "stale"; readonly reason: string; readonly since: string }
  | { readonly kind: "down"; readonly reason: string; readonly since: string }
  | { readonly kind: "recovering"; readonly since: string };

/** The role a backend plays. */
export type MemberRole = "original" | "copy";

/** One backend's entry. */
export interface Member {
  /** Configured name. */
  readonly name: string;
  /** Role (changes when a copy is promoted). */
  role: MemberRole;
  /** Current state. */
  state: MemberState;
  /** Batches this copy applied in step with the original. */
  writesApplied: number;
  /** Batches that failed on this copy (each one made it stale). */
  writesFailed: number;
  /** Divergences detected on this copy. */
  divergences: number;
  /** Write batches this copy did not get because it was not in sync (counted by the relay). */
  writesSkipped: number;
  /** When the last divergence was detected (`Date.now()` milliseconds), if ever. */
  lastDivergenceAt: number | undefined;
  /** Last error seen, for SHOW BACKENDS. */
  lastError: string;
}

/** Allowed state changes; anything else is a bug. */
const EDGES: Readonly<Record<MemberState["kind"], readonly MemberState["kind"][]>> = {
  inSync: ["stale", "down"],
  stale: ["stale", "down", "recovering"],
  down: ["down", "stale", "recovering"],
  recovering: ["inSync", "stale", "down"],
};

/**
 * Edges only an administrator may take (`ATTACH name FORCE`): a stale copy declared in sync
 * although it missed writes. Never taken automatically.
 */
const FORCED_EDGES: Readonly<Record<MemberState["kind"], readonly MemberState["kind"][]>> = {
  inSync: [],
  stale: ["inSync"],
  down: [],
  recovering: [],
};

/**
 * What the main thread tells workers of the backends (`listen.workers` > 1): roles and states,
 * not the per-worker counters.
 */
export interface MembershipSnapshot {
  /** Name of the original. */
  readonly original: string;
  /** Every backend's state and last error. */
  readonly members: readonly {
    readonly name: string;
    readonly state: MemberState;
    readonly lastError: string;
  }[];
}

/** Per-backend counters a worker reports, summed on the main thread. */
export interface MemberCounters {
  /** Backend name. */
  readonly name: string;
  /** See {@link Member.writesApplied}. */
  readonly writesApplied: number;
  /** See {@link Member.writesFailed}. */
  readonly writesFailed: number;
  /** See {@link Member.divergences}. */
  readonly divergences: number;
  /** See {@link Member.writesSkipped}. */
  readonly writesSkipped: number;
  /** See {@link Member.lastDivergenceAt}. */
  readonly lastDivergenceAt: number | undefined;
}

/** Persisted form: which backend is the original, and every backend's state. */
interface StateFile {
  readonly original: string;
  readonly backends: Record<string, MemberState>;
}

/** Process-wide backend states. */
export class Membership {
  readonly #members = new Map<string, Member>();
  readonly #stateFile: string;
  readonly #listeners = new Set<(m: Member) => void>();
  /** Increments on every state change, so sessions notice cheaply that the write set changed. */
  version = 0;

  /**
   * Creates the table; call {@link load} to restore persisted states.
   *
   * @param original name of the original
   * @param copies names of the copies
   * @param stateFile path that persists states ("" for none)
   */
  constructor(original: string, copies: readonly string[], stateFile: string) {
    this.#stateFile = stateFile;
    this.#members.set(original, newMember(original, "original"));
    for (const c of copies) this.#members.set(c, newMember(c, "copy"));
  }

  /**
   * Restores states written by an earlier run: a copy that was stale stays stale.
   *
   * @returns when loaded; a missing file means every backend starts in sync
   * @throws Error when the file exists but cannot be read or parsed
   */
  async load(): Promise<void> {
    if (this.#stateFile === "") return;
    let text: string;
    try {
      text = await Deno.readTextFile(this.#stateFile);
    } catch (e: unknown) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    const parsed = JSON.parse(text) as Partial<StateFile> & Record<string, unknown>;
    // Files written before promotion existed are a flat name -> state map.
    const backends = (parsed.backends ?? parsed) as Record<string, MemberState>;
    if (typeof parsed.original === "string" && this.#members.has(parsed.original)) {
      this.#setOriginal(parsed.original);
    }
    for (const [name, state] of Object.entries(backends)) {
      const m = this.#members.get(name);
      if (!m || typeof state !== "object" || state === null || !("kind" in state)) continue;
      if (m.role === "original" || state.kind === "inSync") continue;
      // A recovery interrupted by a restart did not finish: the copy is stale.
      m.state = state.kind === "recovering"
        ? { kind: "stale", reason: "recovery interrupted by a restart", since: state.since }
        : state;
      log.warning('backend "{name}" is {state} (restored from {file}): {reason}', {
        name,
        state: m.state.kind,
        file: this.#stateFile,
        reason: "reason" in m.state ? m.state.reason : "",
      });
    }
  }

  /**
   * Returns a backend's entry.
   *
   * @param name backend name
   * @returns the entry
   * @throws Error for an unknown name
   */
  get(name: string): Member {
    const m = this.#members.get(name);
    if (!m) throw new Error(`unknown backend "${name}"`);
    return m;
  }

  /** Every backend, original first. */
  get members(): readonly Member[] {
    return [...this.#members.values()];
  }

  /**
   * Whether a copy currently receives writes.
   *
   * @param name backend name
   * @returns true when in sync
   */
  isInSync(name: string): boolean {
    return this.#members.get(name)?.state.kind === "inSync";
  }

  /**
   * Registers a callback run after every transition.
   *
   * @param fn the callback
   * @returns a function that unregisters it
   */
  onChange(fn: (m: Member) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Moves a backend to a new state: checks the edge, persists, logs, notifies.
   *
   * @param name backend name
   * @param next the new state
   * @returns true when the state changed, false when it already was `next.kind`
   * @throws Error on an edge that is not allowed (a bug)
   */
  transition(name: string, next: MemberState): boolean {
    return this.#transition(name, next, EDGES);
  }

  /**
   * Declares a stale copy in sync although it missed writes (`ATTACH name FORCE`): the one way
   * back to in sync other than recovery. Logged as an error, since the copy may now differ.
   *
   * @param name copy name
   * @param by who forced it, for the log (`admin console user "postgres" from 127.0.0.1:5000`)
   * @returns true when the state changed
   * @throws Error when the copy is not stale (a bug: callers check first)
   */
  forceInSync(name: string, by: string): boolean {
    const m = this.get(name);
    const missed = "reason" in m.state ? m.state.reason : m.state.kind;
    const changed = this.#transition(name, { kind: "inSync" }, FORCED_EDGES);
    if (changed) {
      log.error(
        'backend "{name}" FORCED in sync by {by} without recovery; it was stale ({reason}) ' +
          "and may differ from the original",
        { name, by, reason: missed },
      );
    }
    return changed;
  }

  #transition(
    name: string,
    next: MemberState,
    edges: Readonly<Record<MemberState["kind"], readonly MemberState["kind"][]>>,
  ): boolean {
    const m = this.get(name);
    const from = m.state.kind;
    if (from === next.kind && from !== "stale") return false;
    if (from === "stale" && next.kind === "stale") return false; // first reason wins
    if (!edges[from].includes(next.kind)) {
      throw new Error(`backend "${name}": invalid state change from ${from} to ${next.kind}`);
    }
    m.state = next;
    this.version++;
    if ("reason" in next) m.lastError = next.reason;
    log.warning('backend "{name}" is now {state}: {reason}', {
      name,
      state: next.kind,
      reason: "reason" in next ? next.reason : "",
    });
    this.#persist();
    for (const fn of this.#listeners) fn(m);
    return true;
  }

  /**
   * Marks a copy stale (divergence, failure): it gets no more writes until recovered.
   *
   * @param name copy name
   * @param reason one line for logs and SHOW BACKENDS
   * @returns true when this call changed the state
   */
  markStale(name: string, reason: string): boolean {
    return this.transition(name, { kind: "stale", reason, since: new Date().toISOString() });
  }

  /**
   * Roles and states, for the workers (`listen.workers` > 1).
   *
   * @returns a structured-clonable copy
   */
  snapshot(): MembershipSnapshot {
    return {
      original: this.original,
      members: this.members.map((m) => ({ name: m.name, state: m.state, lastError: m.lastError })),
    };
  }

  /**
   * Takes the roles and states of the authority (a worker's copy of the main thread's table):
   * no edge check and no state file, since the main thread did both. Counters are kept.
   *
   * @param s the main thread's snapshot
   * @returns true when anything changed (the version is bumped and listeners are told)
   */
  applySnapshot(s: MembershipSnapshot): boolean {
    const changed: Member[] = [];
    if (this.#members.has(s.original) && this.original !== s.original) {
      this.#setOriginal(s.original);
      changed.push(this.get(s.original));
    }
    for (const e of s.members) {
      const m = this.#members.get(e.name);
      if (!m || JSON.stringify(m.state) === JSON.stringify(e.state)) continue;
      m.state = e.state;
      m.lastError = e.lastError;
      changed.push(m);
    }
    if (changed.length === 0) return false;
    this.version++;
    for (const m of changed) for (const fn of this.#listeners) fn(m);
    return true;
  }

  /**
   * Every backend's counters (what a worker reports to the main thread).
   *
   * @returns one entry per backend
   */
  counters(): MemberCounters[] {
    return this.members.map((m) => ({
      name: m.name,
      writesApplied: m.writesApplied,
      writesFailed: m.writesFailed,
      divergences: m.divergences,
      writesSkipped: m.writesSkipped,
      lastDivergenceAt: m.lastDivergenceAt,
    }));
  }

  /**
   * Sets every backend's counters to the sum of the workers' reports (main thread).
   *
   * @param reports one list per worker
   */
  sumCounters(reports: readonly (readonly MemberCounters[])[]): void {
    for (const m of this.#members.values()) {
      const mine = reports.flatMap((r) => r.filter((c) => c.name === m.name));
      m.writesApplied = mine.reduce((n, c) => n + c.writesApplied, 0);
      m.writesFailed = mine.reduce((n, c) => n + c.writesFailed, 0);
      m.divergences = mine.reduce((n, c) => n + c.divergences, 0);
      m.writesSkipped = mine.reduce((n, c) => n + c.writesSkipped, 0);
      const last = mine.map((c) => c.lastDivergenceAt).filter((t) => t !== undefined);
      m.lastDivergenceAt = last.length === 0 ? undefined : Math.max(...last);
    }
  }

  /** Name of the backend that is the original now (a promoted copy after failover). */
  get original(): string {
    for (const m of this.#members.values()) if (m.role === "original") return m.name;
    throw new Error("no original backend");
  }

  #setOriginal(name: string): void {
    for (const m of this.#members.values()) m.role = m.name === name ? "original" : "copy";
  }

  /**
   * Makes an in-sync copy the original (PROMOTE, failover); the old original becomes stale.
   *
   * @param name the copy
   * @param reason why, for logs and the old original's state
   * @throws Error when the copy is unknown, is the original already, or is not in sync
   */
  promote(name: string, reason: string): void {
    const m = this.get(name);
    if (m.role === "original") throw new Error(`backend "${name}" is the original already`);
    if (m.state.kind !== "inSync") {
      throw new Error(`copy "${name}" is ${m.state.kind}: only an in-sync copy can be promoted`);
    }
    const old = this.get(this.original);
    this.#setOriginal(name);
    old.state = {
      kind: "stale",
      reason: `replaced by "${name}": ${reason}`,
      since: new Date().toISOString(),
    };
    old.lastError = old.state.reason;
    this.version++;
    log.warning('backend "{name}" is now the original ({reason}); "{old}" is stale', {
      name,
      reason,
      old: old.name,
    });
    this.#persist();
    for (const fn of this.#listeners) fn(m);
  }

  /**
   * Marks a copy down (it failed its health checks): it gets no writes, and when it answers
   * again it becomes stale, never in sync.
   *
   * @param name copy name
   * @param reason one line for logs and SHOW BACKENDS
   * @returns true when this call changed the state
   */
  markDown(name: string, reason: string): boolean {
    return this.transition(name, { kind: "down", reason, since: new Date().toISOString() });
  }

  #persist(): void {
    if (this.#stateFile === "") return;
    const backends: Record<string, MemberState> = {};
    for (const m of this.#members.values()) backends[m.name] = m.state;
    const out: StateFile = { original: this.original, backends };
    try {
      // Synchronous on purpose: the state must be on disk before any further write is routed.
      const tmp = `${this.#stateFile}.tmp`;
      Deno.writeTextFileSync(tmp, JSON.stringify(out, null, 2) + "\n");
      Deno.renameSync(tmp, this.#stateFile);
    } catch (e: unknown) {
      log.error("could not persist backend states to {file}: {error}", {
        file: this.#stateFile,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
}

function newMember(name: string, role: MemberRole): Member {
  return {
    name,
    role,
    state: { kind: "inSync" },
    writesApplied: 0,
    writesFailed: 0,
    divergences: 0,
    writesSkipped: 0,
    lastDivergenceAt: undefined,
    lastError: "",
  };
}
