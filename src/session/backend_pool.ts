/**
 * @module
 * The connection cache: when a client leaves cleanly, its server connections (the original and
 * one per in-sync copy) are reset with `DISCARD ALL` and kept for the next client of the same
 * role, database and startup parameters, so a client that connects per transaction costs no
 * server startup or authentication (PgBouncer's session pooling, with the whole write set kept
 * together). A set is only reused while the cluster's topology is the one it was made for.
 *
 * The reset runs after the leaving client is gone (its socket closed, its `max_clients` slot
 * free): the pool takes the set while `DISCARD ALL` is still in flight and hands it out only once
 * every server answered it without error ({@link BackendPool.giveAfterReset}). A client that
 * arrives while the only sets of its key are being reset waits for one (up to the wait limit)
 * instead of starting new server connections; a set whose reset fails, or does not end within
 * the reset limit, is closed and never handed out.
 *
 * An idle set keeps a read pending on each of its connections ({@link FrameReader.readAhead}):
 * a server that closes one while it waits (`pg_terminate_backend`, `idle_session_timeout`, a
 * restart) or sends anything at all is noticed at once, and the whole set is closed. Without it
 * the next client would get the dead connection and fail its first statement, and a dead copy
 * connection would make that client's first write mark the copy stale.
 */

import { BackendCode, decodeBackend, type FrameReader } from "../protocol/mod.ts";
import type { BackendConnection } from "../backend/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { CopyLink } from "./copy_link.ts";
import { DeadlineSweep } from "./deadlines.ts";

const log = getLogger("session");

/** Connections to every server one session used. */
export interface BackendSet {
  /** Connection to the original. */
  readonly original: BackendConnection;
  /** Links to the copies that were in sync. */
  readonly links: CopyLink[];
  /** Membership version the set matches (a copy that changed state invalidates it). */
  readonly membershipVersion: number;
}

/** A reset in progress. */
interface Resetting {
  /** Closes the set's connections, which makes its reset fail. */
  readonly abort: () => void;
}

/** A client waiting for a set of its key to finish its reset. */
interface Waiter {
  readonly membershipVersion: number;
  readonly resolve: (set: BackendSet | undefined) => void;
}

/** Per key: idle sets (most recently returned last), resets in progress, waiting clients. */
interface Slot {
  readonly idle: BackendSet[];
  resetting: number;
  readonly waiters: Waiter[];
}

/** Idle connection sets by session key. */
export class BackendPool {
  readonly #slots = new Map<string, Slot>();
  readonly #size: number;
  readonly #idleTimeoutMs: number;
  readonly #resetTimeoutMs: number;
  readonly #expiry = new DeadlineSweep<BackendSet>((set) => this.#expire(set));
  readonly #resets = new DeadlineSweep<Resetting>((r) => r.abort());
  readonly #keys = new Map<BackendSet, string>();
  readonly #inReset = new Set<Resetting>();
  /** The watch of each idle set; a read that ends while its set's entry is the same closes it. */
  readonly #watches = new Map<BackendSet, object>();
  #closed = false;
  /** Sets handed out again. */
  hits = 0;
  /** Sessions that found no set to reuse. */
  misses = 0;
  /** Resets that failed or timed out (their sets were closed). */
  resetFailures = 0;
  /** Idle sets closed because a server closed one of their connections or wrote to it. */
  closedWhileIdle = 0;

  /**
   * Creates an empty pool.
   *
   * @param size idle sets kept per key (0: the pool keeps nothing)
   * @param idleTimeoutMs how long an idle set is kept
   * @param resetTimeoutMs how long a reset may take (default 10 s)
   */
  constructor(size: number, idleTimeoutMs: number, resetTimeoutMs = 10_000) {
    this.#size = size;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#resetTimeoutMs = resetTimeoutMs;
  }

  /**
   * The key of a session: role, database and startup parameters.
   *
   * @param user backend role
   * @param database database
   * @param parameters startup parameters passed to servers
   * @returns the key
   */
  static key(user: string, database: string, parameters: ReadonlyMap<string, string>): string {
    let key = `${user}\u0000${database}`;
    if (parameters.size === 0) return key;
    const names = [...parameters.keys()].sort();
    for (const name of names) key += `\u0000${name}\u0000${parameters.get(name)}`;
    return key;
  }

  /**
   * Takes an idle set for a session, if one matches the current topology; when none is idle but
   * one of the key's sets is being reset, waits for that reset.
   *
   * @param key the session key
   * @param membershipVersion the current membership version
   * @param waitMs how long to wait for a reset in progress
   * @returns a set, or undefined (connect anew); a promise of either while a reset runs
   */
  take(
    key: string,
    membershipVersion: number,
    waitMs = 0,
  ): BackendSet | undefined | Promise<BackendSet | undefined> {
    const slot = this.#slots.get(key);
    while (slot && slot.idle.length > 0) {
      const set = slot.idle.pop()!;
      this.#expiry.delete(set);
      this.#keys.delete(set);
      this.#watches.delete(set);
      if (set.membershipVersion === membershipVersion && !set.original.closed) {
        this.hits++;
        return set;
      }
      close(set);
    }
    if (slot && waitMs > 0 && slot.resetting > slot.waiters.length) {
      return this.#wait(slot, membershipVersion, waitMs);
    }
    this.misses++;
    return undefined;
  }

  #wait(slot: Slot, membershipVersion: number, waitMs: number): Promise<BackendSet | undefined> {
    const { promise, resolve } = Promise.withResolvers<BackendSet | undefined>();
    const waiter: Waiter = {
      membershipVersion,
      resolve: (set) => {
        clearTimeout(timer);
        resolve(set);
      },
    };
    // Only a client that finds the cache empty while a reset runs gets a timer: the rare case.
    const timer = setTimeout(() => {
      const i = slot.waiters.indexOf(waiter);
      if (i >= 0) slot.waiters.splice(i, 1);
      this.misses++;
      resolve(undefined);
    }, waitMs);
    slot.waiters.push(waiter);
    return promise;
  }

  /**
   * Keeps a reset set for reuse; closes it when the key's list is full.
   *
   * @param key the session key
   * @param set the reset connections
   * @returns true when it was kept (or handed to a waiting client)
   */
  give(key: string, set: BackendSet): boolean {
    const slot = this.#slot(key);
    const waiter = slot.waiters.shift();
    if (waiter) {
      if (set.membershipVersion === waiter.membershipVersion && !set.original.closed) {
        this.hits++;
        waiter.resolve(set);
        this.#prune(key, slot);
        return true;
      }
      this.misses++;
      waiter.resolve(undefined);
    }
    if (this.#closed || slot.idle.length >= this.#size) {
      close(set);
      this.#prune(key, slot);
      return false;
    }
    slot.idle.push(set);
    this.#keys.set(set, key);
    this.#expiry.add(set, this.#idleTimeoutMs);
    this.#watch(set);
    return true;
  }

  /**
   * Keeps a read pending on every connection of an idle set. The session that takes the set
   * gets that read from its first `fill()`; a read that ends while the set is still idle means
   * the server closed the connection or sent something nobody asked for, and closes the set.
   */
  #watch(set: BackendSet): void {
    const token = {};
    this.#watches.set(set, token);
    const ended = (conn: BackendConnection) => (result: boolean | unknown) => {
      if (this.#watches.get(set) !== token) return; // taken, expired or closed meanwhile
      this.closedWhileIdle++;
      log.info("cached connections closed: {server} {what} while idle", {
        server: conn.target.name,
        what: result === true ? `sent ${describe(conn.reader)}` : "closed the connection",
      });
      this.#expire(set);
    };
    for (const conn of [set.original, ...set.links.map((l) => l.conn)]) {
      const onEnd = ended(conn);
      conn.reader.readAhead().then(onEnd, onEnd);
    }
  }

  /**
   * Takes a set whose reset is still running: kept (or handed to a waiting client) when `reset`
   * resolves to it; nothing more when it resolves to undefined (the caller closed the
   * connections). A reset still running after the reset limit is aborted.
   *
   * @param key the session key
   * @param reset resolves to the reset set, or undefined when the reset failed
   * @param abort closes the set's connections (the reset then resolves to undefined)
   */
  giveAfterReset(key: string, reset: Promise<BackendSet | undefined>, abort: () => void): void {
    const slot = this.#slot(key);
    slot.resetting++;
    const entry: Resetting = { abort };
    this.#resets.add(entry, this.#resetTimeoutMs);
    this.#inReset.add(entry);
    void reset.then(
      (set) => set,
      () => undefined,
    ).then((set) => {
      this.#resets.delete(entry);
      this.#inReset.delete(entry);
      slot.resetting--;
      if (set && !this.#closed) {
        this.give(key, set);
        return;
      }
      if (set) close(set);
      this.resetFailures++;
      // A client waiting for this set connects anew.
      const waiter = slot.waiters.shift();
      if (waiter) {
        this.misses++;
        waiter.resolve(undefined);
      }
      this.#prune(key, slot);
    });
  }

  /** Idle sets in the pool. */
  get idle(): number {
    let n = 0;
    for (const slot of this.#slots.values()) n += slot.idle.length;
    return n;
  }

  /** Sets whose reset is in progress. */
  get resetting(): number {
    let n = 0;
    for (const slot of this.#slots.values()) n += slot.resetting;
    return n;
  }

  /** Closes every idle set and aborts every reset (shutdown); later sets are closed at once. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#slots.values()) {
      for (const set of slot.idle) close(set);
      slot.idle.length = 0;
      for (const waiter of slot.waiters.splice(0)) waiter.resolve(undefined);
    }
    this.#expiry.close();
    this.#keys.clear();
    this.#watches.clear();
    this.#resets.close();
    // Aborting settles each reset, which then closes nothing more (its connections are closed).
    for (const r of [...this.#inReset]) r.abort();
  }

  #slot(key: string): Slot {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { idle: [], resetting: 0, waiters: [] };
      this.#slots.set(key, slot);
    }
    return slot;
  }

  #prune(key: string, slot: Slot): void {
    if (slot.idle.length === 0 && slot.resetting === 0 && slot.waiters.length === 0) {
      this.#slots.delete(key);
    }
  }

  #expire(set: BackendSet): void {
    const key = this.#keys.get(set);
    this.#keys.delete(set);
    this.#watches.delete(set);
    this.#expiry.delete(set);
    const slot = key === undefined ? undefined : this.#slots.get(key);
    if (slot) {
      const i = slot.idle.indexOf(set);
      if (i >= 0) slot.idle.splice(i, 1);
      this.#prune(key!, slot);
    }
    close(set);
  }
}

function close(set: BackendSet): void {
  void set.original.terminate();
  for (const l of set.links) void l.close();
}

/** What a server sent to an idle connection, for the log: its error message when it was one. */
function describe(reader: FrameReader): string {
  try {
    const frame = reader.tryNext();
    if (frame === undefined) return "a partial message";
    if (frame.code !== BackendCode.ErrorResponse) {
      return `message '${String.fromCharCode(frame.code)}'`;
    }
    const m = decodeBackend(frame);
    return m.type === "ErrorResponse" ? `${m.severity} ${m.code} "${m.message}"` : "a message";
  } catch {
    return "a malformed message";
  }
}
