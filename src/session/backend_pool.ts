/**
 * @module
 * The connection cache: when a client leaves cleanly, its server connections (the original and
 * one per in-sync copy) are reset with `DISCARD ALL` and kept for the next client of the same
 * role, database and startup parameters, so a client that connects per transaction costs no
 * server startup or authentication (PgBouncer's session pooling, with the whole write set kept
 * together). A set is only reused while the cluster's topology is the one it was made for.
 */

import type { BackendConnection } from "../backend/mod.ts";
import type { CopyLink } from "./copy_link.ts";

/** Connections to every server one session used. */
export interface BackendSet {
  /** Connection to the original. */
  readonly original: BackendConnection;
  /** Links to the copies that were in sync. */
  readonly links: CopyLink[];
  /** Membership version the set matches (a copy that changed state invalidates it). */
  readonly membershipVersion: number;
}

interface Idle {
  readonly set: BackendSet;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Idle connection sets by session key. */
export class BackendPool {
  readonly #idle = new Map<string, Idle[]>();
  readonly #size: number;
  readonly #idleTimeoutMs: number;
  /** Sets handed out again. */
  hits = 0;
  /** Sessions that found no set to reuse. */
  misses = 0;

  /**
   * Creates an empty pool.
   *
   * @param size idle sets kept per key (0: the pool keeps nothing)
   * @param idleTimeoutMs how long an idle set is kept
   */
  constructor(size: number, idleTimeoutMs: number) {
    this.#size = size;
    this.#idleTimeoutMs = idleTimeoutMs;
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
    const params = [...parameters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify([user, database, params]);
  }

  /**
   * Takes an idle set for a session, if one matches the current topology.
   *
   * @param key the session key
   * @param membershipVersion the current membership version
   * @returns a set, or undefined
   */
  take(key: string, membershipVersion: number): BackendSet | undefined {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const idle = list.pop()!;
      clearTimeout(idle.timer);
      if (idle.set.membershipVersion === membershipVersion && !idle.set.original.closed) {
        this.hits++;
        return idle.set;
      }
      close(idle.set);
    }
    this.misses++;
    return undefined;
  }

  /**
   * Keeps a reset set for reuse; closes it when the key's list is full.
   *
   * @param key the session key
   * @param set the reset connections
   * @returns true when it was kept
   */
  give(key: string, set: BackendSet): boolean {
    const list = this.#idle.get(key) ?? [];
    if (list.length >= this.#size) {
      close(set);
      return false;
    }
    const timer = setTimeout(() => {
      const i = list.findIndex((e) => e.set === set);
      if (i >= 0) list.splice(i, 1);
      close(set);
    }, this.#idleTimeoutMs);
    list.push({ set, timer });
    this.#idle.set(key, list);
    return true;
  }

  /** Idle sets in the pool. */
  get idle(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Closes every idle set (shutdown). */
  close(): void {
    for (const list of this.#idle.values()) {
      for (const idle of list) {
        clearTimeout(idle.timer);
        close(idle.set);
      }
    }
    this.#idle.clear();
  }
}

function close(set: BackendSet): void {
  void set.original.terminate();
  for (const l of set.links) void l.close();
}
