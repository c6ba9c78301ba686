/**
 * @module
 * Health checks: every `health.interval` each server gets a fresh connection (as
 * `health.user`, to `health.database`), `SELECT 1`, and a Terminate, all within
 * `health.timeout`, as pgpool-II's health_check does. One of the three modules allowed sockets
 * and timers.
 *
 * What a result changes:
 * - a copy that fails `health.retries` checks in a row while in sync or stale becomes `down`
 *   (down is not in sync, so no session writes to it);
 * - a down copy that answers again becomes `stale`, never in sync: it missed writes, and only
 *   recovery (or `ATTACH name FORCE`) brings it back;
 * - a recovering copy is left to its recovery;
 * - the original's failures are recorded, logged and exposed to `SHOW BACKENDS`, `/metrics` and
 *   `/readyz`; with `replication.failover = "auto"` the `onOriginalDown` hook promotes a copy.
 *
 * A server that answers but refuses the check itself (bad password, no such role or database,
 * an authentication method usogres cannot do) is reachable: it counts as up, and the refusal is
 * logged once and shown as its last error, since marking copies down for a configuration
 * mistake would stop replication for no failure of theirs.
 */

import type { Config } from "../config/mod.ts";
import {
  BackendConnection,
  BackendError,
  type BackendTarget,
  describeFailure,
  simpleQuery,
} from "../backend/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { Membership } from "./membership.ts";

const log = getLogger("health");

/** What health checks know about one server. */
export interface BackendHealth {
  /** Server name. */
  readonly name: string;
  /** Checks run so far. */
  checks: number;
  /** Failed checks in a row (0 after a success). */
  failures: number;
  /** When the last check ended. */
  lastCheckAt: Date | undefined;
  /** When the last check succeeded. */
  lastSuccessAt: Date | undefined;
  /** Milliseconds the last successful check took (connect, authenticate, SELECT 1). */
  latencyMs: number | undefined;
  /** Why the last check failed or was refused; "" after a clean success. */
  lastError: string;
  /** `server_version` the server reported at the last successful check. */
  serverVersion: string | undefined;
}

/** What {@link HealthChecker} needs from the proxy. */
export interface HealthCheckerOptions {
  /** The configuration in effect (read at every check, so a RELOAD applies at the next one). */
  readonly config: () => Config;
  /** Backend states to update. */
  readonly membership: Membership;
  /** Called when the original has failed `retries` checks in a row (automatic failover). */
  readonly onOriginalDown?: (name: string, reason: string) => void;
  /** Called after each passing check of a copy that is stale (automatic recovery). */
  readonly onStaleCopyUp?: (name: string) => void;
  /** Finds the password for a server, as sessions do (config, PGPASSWORD, .pgpass). */
  readonly passwordFor: (
    host: string,
    port: number,
    database: string,
    user: string,
  ) => Promise<string | undefined>;
}

/** One check's result. */
type Outcome =
  | { readonly kind: "ok"; readonly latencyMs: number; readonly version: string | undefined }
  | { readonly kind: "refused"; readonly latencyMs: number; readonly error: string }
  | { readonly kind: "failed"; readonly error: string };

/** Runs the health checks of every server until stopped. */
export class HealthChecker implements AsyncDisposable {
  readonly #o: HealthCheckerOptions;
  readonly #health = new Map<string, BackendHealth>();
  readonly #loops = new Set<Promise<void>>();
  readonly #open = new Set<BackendConnection>();
  #stopped = false;
  readonly #wakeups = new Set<() => void>();

  /**
   * Creates the checker; nothing runs until {@link start}.
   *
   * @param opts configuration, membership and password lookup
   */
  constructor(opts: HealthCheckerOptions) {
    this.#o = opts;
    const config = opts.config();
    for (const b of [config.original, ...config.copies]) {
      this.#health.set(b.name, {
        name: b.name,
        checks: 0,
        failures: 0,
        lastCheckAt: undefined,
        lastSuccessAt: undefined,
        latencyMs: undefined,
        lastError: "",
        serverVersion: undefined,
      });
    }
  }

  /** Starts one check loop per server (the first checks run at once); no-op when interval is 0. */
  start(): void {
    if (this.#stopped || this.#loops.size > 0) return;
    const config = this.#o.config();
    if (config.health.intervalMs === 0) return;
    for (const target of [config.original, ...config.copies]) {
      const loop = this.#loop(target).finally(() => this.#loops.delete(loop));
      this.#loops.add(loop);
    }
  }

  /** Applies changed `[health]` settings: starts the loops when checks were off, wakes sleepers. */
  reconfigure(): void {
    if (this.#o.config().health.intervalMs > 0) this.start();
    for (const wake of [...this.#wakeups]) wake();
  }

  /**
   * Returns what is known about a server.
   *
   * @param name server name
   * @returns its health record, or undefined for an unknown name
   */
  get(name: string): Readonly<BackendHealth> | undefined {
    return this.#health.get(name);
  }

  /**
   * Whether a server answers health checks: fewer than `retries` failures in a row.
   *
   * @param name server name
   * @returns undefined before its first check ends (or when checks are off)
   */
  isUp(name: string): boolean | undefined {
    const h = this.#health.get(name);
    if (!h || h.checks === 0) return undefined;
    return h.failures < this.#o.config().health.retries;
  }

  /**
   * Whether the original is known to answer: it passed a check, and has not failed `retries`
   * in a row since. With checks off, true.
   *
   * @returns readiness as far as health checks tell
   */
  originalReady(): boolean {
    const config = this.#o.config();
    if (config.health.intervalMs === 0) return true;
    const h = this.#health.get(this.#o.membership.original);
    return h?.lastSuccessAt !== undefined && h.failures < config.health.retries;
  }

  /**
   * Stops every loop and closes connections of checks in flight.
   *
   * @returns when every loop has ended (a connect in progress ends within `health.timeout`)
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const wake of [...this.#wakeups]) wake();
    for (const c of this.#open) c.close();
    await Promise.all([...this.#loops]);
  }

  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #loop(target: BackendTarget): Promise<void> {
    while (!this.#stopped) {
      const outcome = await this.#check(target);
      if (this.#stopped) return;
      this.#record(target.name, outcome);
      await this.#sleep();
    }
  }

  /** Waits `health.interval` (read now), or until woken by reconfigure() or stop(). */
  #sleep(): Promise<void> {
    const ms = this.#o.config().health.intervalMs;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeups.delete(done);
        resolve();
      };
      // Checks switched off by a RELOAD: sleep until woken, then look at the interval again.
      const timer = ms > 0 ? setTimeout(done, ms) : undefined;
      this.#wakeups.add(done);
    });
  }

  async #check(target: BackendTarget): Promise<Outcome> {
    const config = this.#o.config();
    const { timeoutMs, database } = config.health;
    const user = config.health.user || config.backendAuth.user || "postgres";
    const started = performance.now();
    let conn: BackendConnection | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      conn?.close();
    }, timeoutMs);
    try {
      conn = await BackendConnection.connect(target, {
        user,
        database,
        parameters: new Map([["application_name", "usogres health check"]]),
        password: () => this.#o.passwordFor(target.host, target.port, database, user),
      }, { connectTimeoutMs: timeoutMs, maxMessageSize: 1 << 20 });
      this.#open.add(conn);
      if (timedOut || this.#stopped) throw new Error("check cut short");
      await simpleQuery(conn, "SELECT 1");
      const latencyMs = performance.now() - started;
      await conn.terminate();
      return { kind: "ok", latencyMs, version: conn.parameters.get("server_version") };
    } catch (e: unknown) {
      if (timedOut) return { kind: "failed", error: `timeout expired after ${timeoutMs} ms` };
      if (e instanceof BackendError && answeredButRefused(e)) {
        return {
          kind: "refused",
          latencyMs: performance.now() - started,
          error: `health check refused: ${describeFailure(e.failure)}`,
        };
      }
      const error = e instanceof BackendError
        ? describeFailure(e.failure)
        : e instanceof Error
        ? e.message
        : String(e);
      return { kind: "failed", error };
    } finally {
      clearTimeout(timer);
      if (conn) {
        conn.close();
        this.#open.delete(conn);
      }
    }
  }

  #record(name: string, outcome: Outcome): void {
    const h = this.#health.get(name)!;
    const config = this.#o.config();
    const retries = config.health.retries;
    const wasUp = h.checks === 0 ? true : h.failures < retries;
    h.checks++;
    h.lastCheckAt = new Date();
    if (outcome.kind === "failed") {
      h.failures++;
      if (h.lastError !== outcome.error || h.failures === retries) {
        log.warning('health check of "{name}" failed ({n} in a row): {error}', {
          name,
          n: h.failures,
          error: outcome.error,
        });
      }
      h.lastError = outcome.error;
    } else {
      if (outcome.kind === "refused" && h.lastError !== outcome.error) {
        log.warning('server "{name}" answers but {error}; it counts as up', {
          name,
          error: outcome.error,
        });
      }
      h.failures = 0;
      h.lastSuccessAt = h.lastCheckAt;
      h.latencyMs = outcome.latencyMs;
      h.lastError = outcome.kind === "refused" ? outcome.error : "";
      if (outcome.kind === "ok" && outcome.version) h.serverVersion = outcome.version;
    }
    const up = h.failures < retries;
    // Roles come from the membership: a PROMOTE makes a copy the original.
    if (this.#o.membership.get(name).role === "original") {
      if (wasUp && !up) {
        log.error(
          "the original server failed {n} health checks in a row: {error}; clients cannot work " +
            "until it answers again or a copy is promoted",
          { n: h.failures, error: h.lastError },
        );
        this.#o.onOriginalDown?.(
          name,
          `failed ${h.failures} health checks in a row: ${h.lastError}`,
        );
      } else if (!wasUp && up) log.info("the original server answers health checks again");
      return;
    }
    this.#applyToCopy(name, up, h);
  }

  /** Moves a copy between down and stale as its checks fail or pass again. */
  #applyToCopy(name: string, up: boolean, h: BackendHealth): void {
    const membership = this.#o.membership;
    const state = membership.get(name).state.kind;
    if (!up && (state === "inSync" || state === "stale")) {
      membership.markDown(name, `failed ${h.failures} health checks in a row: ${h.lastError}`);
    } else if (up && state === "down") {
      membership.markStale(name, "answers health checks again after being down; it missed writes");
    }
    if (up && membership.get(name).state.kind === "stale") this.#o.onStaleCopyUp?.(name);
  }
}

/** True when the server itself answered, refusing the check's role, database or method. */
function answeredButRefused(e: BackendError): boolean {
  const f = e.failure;
  switch (f.kind) {
    case "rejected":
      // 28xxx invalid authorization, 3D000 no such database; 57P03 (starting up, shutting
      // down) and 53300 (too many connections) are real unavailability.
      return f.sqlstate.startsWith("28") || f.sqlstate === "3D000";
    case "noPassword":
    case "unsupportedAuth":
      return true;
    case "unreachable":
    case "protocol":
    case "closed":
      return false;
  }
}
