/**
 * @module
 * The main thread's side of `listen.workers` > 1: it starts the workers (`worker_main.ts`), each
 * listening on the same port with `reusePort`, and stays the one authority over what they
 * share. It changes backend states (a worker's change arrives as `stateChange` and is answered
 * through shared memory once the state file is written), broadcasts every change, runs the
 * admin console's commands for the workers' console sessions, pauses and drains every worker's
 * write gate ({@link WorkerPool.gate}), lets one worker's batch run alone in the whole process,
 * passes CancelRequests and catalog invalidations between workers, sums their numbers for the
 * console and `/metrics` ({@link WorkerPool.refresh}), and stops them on shutdown.
 */

import type { Config } from "../config/mod.ts";
import type { GateControl, Histogram, Membership, MembershipSnapshot } from "../cluster/mod.ts";
import type { AdminReply, AdminSession } from "../admin/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { ClientInfo, ProxyStats } from "../session/context.ts";
import {
  Calls,
  type MainCall,
  type MainCallAnswer,
  type MainToWorker,
  STATE_ANSWER,
  type WorkerCall,
  type WorkerCallAnswer,
  type WorkerReport,
  type WorkerToMain,
} from "./worker_messages.ts";

const log = getLogger("server");

/** How long {@link WorkerPool.refresh} waits for a worker's numbers. */
const REPORT_TIMEOUT_MS = 2_000;

/** What the pool needs from the main thread. */
export interface WorkerPoolHost {
  /** The configuration in force. */
  config(): Config;
  /** Backend states: the authority. */
  readonly membership: Membership;
  /** Counters the pool fills with the workers' sums. */
  readonly stats: ProxyStats;
  /** Histogram the pool fills with the workers' sum. */
  readonly fanoutLatency: Histogram;
  /**
   * Runs one admin console Query.
   *
   * @param sql the Query text
   * @param session who is asking
   * @returns the reply
   */
  execute(sql: string, session: AdminSession): Promise<AdminReply>;
  /** The original's server version, for console greetings. */
  serverVersion(): string | undefined;
}

/** One started worker. */
interface Member {
  readonly index: number;
  readonly worker: Worker;
  readonly cells: Int32Array;
  readonly calls: Calls<MainCallAnswer>;
  stopped: Promise<void>;
  onStopped: () => void;
}

/** The workers and the main thread's authority over them. */
export class WorkerPool {
  readonly #host: WorkerPoolHost;
  readonly #members: Member[] = [];
  readonly #afters = new Map<number, () => void>();
  #nextAfter = 0;
  #port = 0;
  #clients: ClientInfo[] = [];
  #inFlight = 0;
  #waiting = 0;
  /** Workers waiting to run a batch alone, and the one running. */
  readonly #aloneQueue: { worker: Member; grant: () => void }[] = [];
  #aloneHolder: Member | undefined;
  /** PAUSE's count on the main thread; the workers hold their own. */
  #paused = 0;
  #resumeWaiters: (() => void)[] = [];

  private constructor(host: WorkerPoolHost) {
    this.#host = host;
  }

  /**
   * Starts `listen.workers` workers and waits until each listens.
   *
   * @param host the main thread
   * @param admission the shared `max_clients` count
   * @returns the running pool
   * @throws Deno.errors.AddrInUse (or the worker's error) when a worker cannot listen
   */
  static async start(host: WorkerPoolHost, admission: SharedArrayBuffer): Promise<WorkerPool> {
    const pool = new WorkerPool(host);
    const config = host.config();
    // Port 0: one port for all, reserved with reusePort until every worker has it.
    const reserve = config.listen.port === 0
      ? Deno.listen({ hostname: config.listen.host, port: 0, reusePort: true })
      : undefined;
    const port = reserve?.addr.port ?? config.listen.port;
    try {
      const listening = [];
      for (let i = 0; i < config.listen.workers; i++) {
        listening.push(pool.#spawn(i, port, admission));
      }
      const results = await Promise.allSettled(listening);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) {
        for (const m of pool.#members) m.worker.terminate();
        throw failed.reason;
      }
    } finally {
      reserve?.close();
    }
    pool.#port = port;
    return pool;
  }

  #spawn(index: number, port: number, admission: SharedArrayBuffer): Promise<void> {
    const worker = new Worker(new URL("./worker_main.ts", import.meta.url).href, {
      type: "module",
      name: `usogres worker ${index}`,
    });
    const stateAnswer = new SharedArrayBuffer(8);
    let onStopped = () => {};
    const member: Member = {
      index,
      worker,
      cells: new Int32Array(stateAnswer),
      calls: new Calls<MainCallAnswer>(),
      stopped: new Promise<void>((resolve) => (onStopped = resolve)),
      onStopped: () => onStopped(),
    };
    this.#members.push(member);
    return new Promise<void>((resolve, reject) => {
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        log.error("worker {worker} failed: {error}", { worker: index, error: e.message });
        reject(new Error(`worker ${index}: ${e.message}`));
        member.onStopped();
      };
      worker.onmessage = (event: MessageEvent<WorkerToMain>) => {
        const m = event.data;
        if (m.kind === "listening") resolve();
        else if (m.kind === "failed") {
          const ctor = m.name === "AddrInUse" ? Deno.errors.AddrInUse : Error;
          reject(new ctor(m.message));
        } else this.#handle(member, m);
      };
      const config = this.#host.config();
      this.#post(member, {
        kind: "init",
        init: {
          worker: index,
          workers: config.listen.workers,
          config,
          port,
          admission,
          stateAnswer,
          membership: this.#host.membership.snapshot(),
        },
      });
    });
  }

  /** The port every worker listens on. */
  get port(): number {
    return this.#port;
  }

  /** Number of workers. */
  get size(): number {
    return this.#members.length;
  }

  #post(m: Member, message: MainToWorker): void {
    try {
      m.worker.postMessage(message);
    } catch {
      // The worker is gone.
    }
  }

  #broadcast(message: MainToWorker, except?: Member): void {
    for (const m of this.#members) if (m !== except) this.#post(m, message);
  }

  /**
   * Tells every worker the backend states (after each change of the authority).
   *
   * @param snapshot the states
   */
  broadcastMembership(snapshot: MembershipSnapshot): void {
    this.#broadcast({ kind: "membership", snapshot });
  }

  /**
   * Tells every worker the configuration in force (RELOAD).
   *
   * @param config the configuration
   */
  broadcastConfig(config: Config): void {
    this.#broadcast({ kind: "config", config });
  }

  #handle(member: Member, m: WorkerToMain): void {
    switch (m.kind) {
      case "listening":
      case "failed":
        return;
      case "stateChange": {
        let answer: number = STATE_ANSWER.refused;
        try {
          answer = this.#host.membership.transition(m.name, m.next)
            ? STATE_ANSWER.changed
            : STATE_ANSWER.unchanged;
        } catch (e: unknown) {
          log.warning("worker {worker}: state change refused: {error}", {
            worker: member.index,
            error: e instanceof Error ? e.message : String(e),
          });
        }
        Atomics.store(member.cells, 1, answer);
        Atomics.store(member.cells, 0, 1);
        Atomics.notify(member.cells, 0);
        return;
      }
      case "cancel":
        this.#broadcast(m, member);
        return;
      case "catalogClear":
        this.#broadcast(m, member);
        return;
      case "adminAfter": {
        const after = this.#afters.get(m.afterId);
        this.#afters.delete(m.afterId);
        after?.();
        return;
      }
      case "aloneRelease":
        this.#releaseAlone(member);
        return;
      case "stopped":
        member.onStopped();
        return;
      case "call":
        void this.#answer(member, m.call).then((answer) =>
          this.#post(member, { kind: "answer", id: m.id, answer })
        );
        return;
      case "answer":
        member.calls.settle(m.id, m.answer);
        return;
    }
  }

  async #answer(member: Member, c: WorkerCall): Promise<WorkerCallAnswer> {
    switch (c.kind) {
      case "adminHello":
        return { kind: "adminHello", serverVersion: this.#host.serverVersion() };
      case "adminExecute": {
        const reply = await this.#host.execute(c.sql, c.session);
        let afterId: number | undefined;
        if (reply.after) {
          afterId = ++this.#nextAfter;
          this.#afters.set(afterId, reply.after);
        }
        return { kind: "adminExecute", messages: reply.messages, afterId };
      }
      case "aloneAcquire":
        await new Promise<void>((grant) => {
          this.#aloneQueue.push({ worker: member, grant });
          if (this.#aloneHolder === undefined) void this.#nextAlone();
        });
        return { kind: "aloneGranted" };
    }
  }

  /** Grants the next batch alone: every other worker's writes paused and drained first. */
  async #nextAlone(): Promise<void> {
    const next = this.#aloneQueue.shift();
    if (next === undefined) return;
    this.#aloneHolder = next.worker;
    const others = this.#members.filter((m) => m !== next.worker);
    for (const m of others) this.#post(m, { kind: "gate", op: "pause" });
    await Promise.all(others.map((m) => this.#call(m, { kind: "drain" })));
    next.grant();
  }

  #releaseAlone(member: Member): void {
    if (this.#aloneHolder !== member) return;
    this.#aloneHolder = undefined;
    for (const m of this.#members) if (m !== member) this.#post(m, { kind: "gate", op: "resume" });
    void this.#nextAlone();
  }

  #call(m: Member, c: MainCall): Promise<MainCallAnswer> {
    const { id, answer } = m.calls.open();
    this.#post(m, { kind: "call", id, call: c });
    return answer;
  }

  /**
   * Collects every worker's numbers: the host's counters, the backends' counters and the
   * histogram become their sums; clients and gate numbers are kept for {@link clients} and
   * {@link gate}. A worker that does not answer within 2 s is left out this time.
   *
   * @returns when collected
   */
  async refresh(): Promise<void> {
    const reports = await Promise.all(this.#members.map((m) => this.#report(m)));
    const got = reports.filter((r): r is WorkerReport => r !== undefined);
    const stats = this.#host.stats;
    for (const key of Object.keys(stats) as (keyof ProxyStats)[]) {
      stats[key] = got.reduce((n, r) => n + r.stats[key], 0);
    }
    this.#host.membership.sumCounters(got.map((r) => r.members));
    this.#host.fanoutLatency.setToSum(got.map((r) => r.fanout));
    this.#clients = got.flatMap((r) => r.clients);
    this.#inFlight = got.reduce((n, r) => n + r.gate.inFlight, 0);
    this.#waiting = got.reduce((n, r) => n + r.gate.waiting, 0);
  }

  async #report(m: Member): Promise<WorkerReport | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), REPORT_TIMEOUT_MS);
    });
    const answer = await Promise.race([this.#call(m, { kind: "report" }), timeout]);
    clearTimeout(timer);
    return answer?.kind === "report" ? answer.report : undefined;
  }

  /** Every worker's connections, as of the last {@link refresh}. */
  clients(): ClientInfo[] {
    return [...this.#clients];
  }

  /** The write gates of every worker, as PAUSE, RESUME, SHOW STATS and `/metrics` see them. */
  readonly gate: GateControl = this.#makeGate();

  #makeGate(): GateControl {
    // deno-lint-ignore no-this-alias
    const pool = this;
    return {
      pause: () => {
        this.#paused++;
        this.#broadcast({ kind: "gate", op: "pause" });
      },
      resume: () => {
        if (this.#paused === 0) return;
        this.#paused--;
        this.#broadcast({ kind: "gate", op: "resume" });
        if (this.#paused === 0) { for (const w of this.#resumeWaiters.splice(0)) w(); }
      },
      drained: async () => {
        await Promise.all(this.#members.map((m) => this.#call(m, { kind: "drain" })));
      },
      wait: () =>
        this.#paused === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => this.#resumeWaiters.push(resolve)),
      get paused(): boolean {
        return pool.#paused > 0;
      },
      get inFlight(): number {
        return pool.#inFlight;
      },
      get waiting(): number {
        return pool.#waiting;
      },
    };
  }

  /**
   * Stops every worker gracefully (each as one usogres would: stop accepting, let running
   * statements finish within `shutdown_timeout`, close), then ends the threads.
   *
   * @returns when every worker has stopped
   */
  async shutdown(): Promise<void> {
    while (this.#paused > 0) this.gate.resume();
    this.#broadcast({ kind: "shutdown" });
    const limit = this.#host.config().listen.shutdownTimeoutMs + 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, limit)));
    await Promise.race([Promise.all(this.#members.map((m) => m.stopped)), timeout]);
    clearTimeout(timer);
    for (const m of this.#members) m.worker.terminate();
  }

  /** Closes every worker's client connections at once (a second SIGINT/SIGTERM). */
  kill(): void {
    this.#broadcast({ kind: "kill" });
  }
}
