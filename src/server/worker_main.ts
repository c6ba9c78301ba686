/**
 * @module
 * The entry of one worker (`listen.workers` > 1), started by {@link WorkerPool} as a module
 * Web Worker with the process's permissions. It listens on the shared port with `reusePort`
 * and serves client sessions with its own backend connections, connection cache, classifier
 * and write gate. Backend states come from the main thread (which alone changes them and writes
 * the state file); PAUSE, counters and the admin console go through it too.
 */

import { DeadlineSweep } from "../session/deadlines.ts";
import type { Config } from "../config/mod.ts";
import { Histogram, MembershipReplica } from "../cluster/mod.ts";
import { RemoteAdminConsole } from "../admin/mod.ts";
import { Classifier, initClassifier } from "../replication/mod.ts";
import { getLogger, setupLogging, shutdownLogging } from "../log/mod.ts";
import { newProxyStats } from "../session/context.ts";
import { RecoveryState } from "../session/journal.ts";
import { BackendPool } from "../session/backend_pool.ts";
import { createClientSecurity } from "../session/security.ts";
import { Admission } from "./admission.ts";
import { backendPasswordSource, sessionContext, SessionHost } from "./session_host.ts";
import { WorkerCancelKeys, WorkerCatalogCache, WorkerWriteGate } from "./worker_shared.ts";
import { type AuthorityAnswer, type MemberState } from "../cluster/mod.ts";
import {
  Calls,
  type MainCall,
  type MainCallAnswer,
  type MainToWorker,
  STATE_ANSWER,
  type WorkerCall,
  type WorkerCallAnswer,
  type WorkerInit,
  type WorkerToMain,
} from "./worker_messages.ts";

const log = getLogger("server");

/** The worker's side of the message channel. */
interface Port {
  postMessage(message: WorkerToMain): void;
  onmessage: ((event: MessageEvent<MainToWorker>) => void) | null;
}

const port = self as unknown as Port;
const post = (m: WorkerToMain): void => port.postMessage(m);
const calls = new Calls<WorkerCallAnswer>();

function call(c: WorkerCall): Promise<WorkerCallAnswer> {
  const { id, answer } = calls.open();
  post({ kind: "call", id, call: c });
  return answer;
}

/** One worker's state after init. */
interface Running {
  config: Config;
  readonly init: WorkerInit;
  readonly host: SessionHost;
  readonly membership: MembershipReplica;
  readonly gate: WorkerWriteGate;
  readonly cancelKeys: WorkerCancelKeys;
  readonly catalog: WorkerCatalogCache;
  readonly stats: ReturnType<typeof newProxyStats>;
  readonly fanout: Histogram;
}

let running: Running | undefined;
const early: MainToWorker[] = [];

port.onmessage = (event) => {
  const m = event.data;
  if (m.kind === "init") {
    start(m.init).catch((e: unknown) => {
      post({
        kind: "failed",
        name: e instanceof Error ? e.name : "Error",
        message: e instanceof Error ? e.message : String(e),
      });
    });
    return;
  }
  if (running === undefined) early.push(m);
  else handle(running, m);
};

/** Blocks this worker until the main thread took (or refused) a backend state change. */
function authority(cells: Int32Array): (name: string, next: MemberState) => AuthorityAnswer {
  return (name, next) => {
    Atomics.store(cells, 0, 0);
    post({ kind: "stateChange", name, next });
    if (Atomics.wait(cells, 0, 0, 10_000) === "timed-out") return "timeout";
    const a = Atomics.load(cells, 1);
    return a === STATE_ANSWER.changed
      ? "changed"
      : a === STATE_ANSWER.refused
      ? "refused"
      : "unchanged";
  };
}

async function start(init: WorkerInit): Promise<void> {
  let config = init.config;
  await setupLogging(config.log);
  await initClassifier();
  const classifier = new Classifier({
    readOnlyFunctions: config.replication.readOnlyFunctions,
    writeFunctions: config.replication.writeFunctions,
  });
  const membership = new MembershipReplica(
    init.membership.original,
    init.membership.members.map((m) => m.name).filter((n) => n !== init.membership.original),
    authority(new Int32Array(init.stateAnswer)),
  );
  membership.applySnapshot(init.membership);
  const security = await createClientSecurity(config, backendPasswordSource(config));
  const listener = Deno.listen({ hostname: config.listen.host, port: init.port, reusePort: true });
  const stats = newProxyStats();
  const gate = new WorkerWriteGate(
    async () => {
      await call({ kind: "aloneAcquire" });
    },
    () => post({ kind: "aloneRelease" }),
  );
  const cancelKeys = new WorkerCancelKeys((processId, secretKey) =>
    post({ kind: "cancel", processId, secretKey })
  );
  const catalog = new WorkerCatalogCache(() => post({ kind: "catalogClear" }));
  const pool = new BackendPool(
    config.backendAuth.poolSize,
    config.backendAuth.poolIdleTimeoutMs,
    config.backendAuth.connectTimeoutMs,
  );
  const fanout = new Histogram();
  let sessionIds = 0;
  const adminConsole = new RemoteAdminConsole({
    config: () => config,
    stats,
    serverVersion: async () => {
      const a = await call({ kind: "adminHello" });
      return a.kind === "adminHello" ? a.serverVersion : undefined;
    },
    execute: async (sql, session) => {
      const a = await call({ kind: "adminExecute", sql, session });
      if (a.kind !== "adminExecute") return { messages: [] };
      const afterId = a.afterId;
      return {
        messages: a.messages,
        ...(afterId === undefined ? {} : { after: () => post({ kind: "adminAfter", afterId }) }),
      };
    },
  });
  const ctx = sessionContext({
    config: () => config,
    cancelKeys,
    stats,
    membership,
    classifier,
    catalog,
    writeGate: gate,
    recovery: new RecoveryState(),
    pool,
    startupDeadlines: new DeadlineSweep<() => void>((expired) => expired()),
    security,
    fanoutLatency: fanout,
    adminConsole,
    admission: new Admission(config.listen.maxClients, init.admission),
    shuttingDown: () => running?.host.stopping ?? true,
    // Unique in the process: worker w issues w + 1, w + 1 + n, w + 1 + 2n, ...
    nextSessionId: () => init.worker + 1 + init.workers * sessionIds++,
  });
  const host = new SessionHost(listener, ctx, pool);
  running = {
    get config() {
      return config;
    },
    set config(c: Config) {
      config = c;
    },
    init,
    host,
    membership,
    gate,
    cancelKeys,
    catalog,
    stats,
    fanout,
  };
  for (const m of early.splice(0)) handle(running, m);
  log.info("worker {worker} listening on {host}:{port}", {
    worker: init.worker,
    host: config.listen.host,
    port: host.port,
  });
  post({ kind: "listening", port: host.port });
}

function handle(r: Running, m: MainToWorker): void {
  switch (m.kind) {
    case "init":
      return;
    case "membership":
      r.membership.applySnapshot(m.snapshot);
      return;
    case "config":
      r.config = m.config;
      return;
    case "gate":
      if (m.op === "pause") r.gate.remotePause();
      else r.gate.remoteResume();
      return;
    case "cancel":
      void r.cancelKeys.lookupLocal(m.processId, m.secretKey)?.cancel();
      return;
    case "catalogClear":
      r.catalog.clearLocal();
      return;
    case "shutdown":
      void stop(r);
      return;
    case "kill":
      r.host.kill();
      return;
    case "call":
      void answer(r, m.call).then((a) => post({ kind: "answer", id: m.id, answer: a }));
      return;
    case "answer":
      calls.settle(m.id, m.answer);
      return;
  }
}

async function answer(r: Running, c: MainCall): Promise<MainCallAnswer> {
  switch (c.kind) {
    case "report":
      return {
        kind: "report",
        report: {
          worker: r.init.worker,
          stats: { ...r.stats },
          clients: r.host.clients().map((info) => ({ ...info, worker: r.init.worker })),
          members: r.membership.counters(),
          fanout: r.fanout.snapshot(),
          gate: { inFlight: r.gate.inFlight, waiting: r.gate.waiting },
        },
      };
    case "drain":
      await r.gate.drained();
      return { kind: "drained" };
  }
}

async function stop(r: Running): Promise<void> {
  // Writes held by a PAUSE must run for their sessions to end.
  while (r.gate.paused) r.gate.remoteResume();
  await r.host.shutdown(r.config);
  log.info("worker {worker} stopped", { worker: r.init.worker });
  await shutdownLogging();
  post({ kind: "stopped" });
}
