/**
 * @module
 * Online recovery of a stale copy while clients keep writing (DESIGN.md, "Failure and recovery"):
 *
 * 1. Arm the journal: every session records its units of work from now on. Wait until no unit
 *    that began before arming is still open (those will be in the snapshot).
 * 2. Pause new writes for a moment, let those in flight finish, export one snapshot per database
 *    on the original, and start keeping journaled units (everything ending later is after the
 *    snapshot). Resume writes.
 * 3. Copy each database at its snapshot into the copy (pg_dump | pg_restore --create).
 * 4. Replay the journal onto the copy, one connection per client session, in the order units
 *    ended on the original, until the backlog is small (holding new writes for short slices
 *    when the replay falls behind: see `catch_up.ts`).
 * 5. Pause new writes again (bounded), replay the rest, set the copy's sequences to the
 *    original's, mark it in sync, resume. Live sessions join the copy at their next write.
 *
 * Clients wait during the two pauses; they never fail. Any error leaves the copy stale.
 */

import { BackendConnection, type BackendTarget, simpleQuery } from "../backend/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Membership, WriteGate } from "../cluster/mod.ts";
import { resolveBackendPassword } from "../auth/mod.ts";
import { getLogger } from "../log/mod.ts";
import { quoteIdent, quoteLiteral } from "../replication/mod.ts";
import { Journal, type RecoveryState } from "../session/journal.ts";
import { catchUp } from "./catch_up.ts";
import { Replayer } from "./replayer.ts";
import { copyGlobals, dumpInto, pgBinDir, type PgEndpoint, type PipeProgress } from "./pg_tools.ts";

const log = getLogger("recovery");

/** Where a recovery is. */
export type RecoveryPhase = "arming" | "snapshot" | "copying" | "replaying" | "finishing" | "done";

/** Progress of a running recovery, for the CLI, SHOW BACKENDS and metrics. */
export interface RecoveryProgress {
  /** The copy. */
  readonly copy: string;
  /** Current phase. */
  phase: RecoveryPhase;
  /** 0 to 100. */
  percent: number;
  /** One line about what is going on. */
  detail: string;
  /** Why it failed, once it has. */
  error?: string;
}

/** What a recovery needs from the running process. */
export interface RecoveryContext {
  /** The effective configuration. */
  readonly config: Config;
  /** Backend states. */
  readonly membership: Membership;
  /** The write gate. */
  readonly writeGate: WriteGate;
  /** The journal and the sessions recording into it. */
  readonly recovery: RecoveryState;
}

const connectOptions = (config: Config) => ({
  connectTimeoutMs: config.backendAuth.connectTimeoutMs,
  maxMessageSize: config.listen.maxMessageSize,
});

/**
 * Recovers one copy online; resolves when it is in sync again.
 *
 * @param ctx the process's state
 * @param name the copy
 * @param onProgress receives progress updates
 * @returns when the copy is in sync
 * @throws Error when the copy cannot be recovered (it stays stale; the message says why)
 */
export async function recoverCopy(
  ctx: RecoveryContext,
  name: string,
  onProgress: (p: RecoveryProgress) => void = () => {},
): Promise<void> {
  const { config, membership, writeGate, recovery } = ctx;
  const target = config.copies.find((c) => c.name === name);
  if (!target) throw new Error(`unknown copy "${name}"`);
  const member = membership.get(name);
  if (member.state.kind === "inSync") throw new Error(`copy "${name}" is already in sync`);
  if (member.state.kind === "recovering") throw new Error(`copy "${name}" is already recovering`);
  if (recovery.journal) throw new Error("another recovery is running");
  const progress: RecoveryProgress = { copy: name, phase: "arming", percent: 0, detail: "" };
  const report = (phase: RecoveryPhase, percent: number, detail: string) => {
    progress.phase = phase;
    progress.percent = Math.max(0, Math.min(100, Math.round(percent)));
    progress.detail = detail;
    onProgress(progress);
  };
  const user = config.backendAuth.user || "postgres";
  const endpoint = async (t: BackendTarget, database: string): Promise<PgEndpoint> => ({
    host: t.host,
    port: t.port,
    user,
    password: await resolveBackendPassword({
      configured: config.backendAuth.password,
      env: Deno.env.toObject(),
      passfile: config.backendAuth.passfile,
      home: Deno.env.get("HOME") ?? "",
      host: t.host,
      port: t.port,
      database,
      user,
    }),
  });
  const connect = async (
    t: BackendTarget,
    database: string,
    params = new Map<string, string>(),
  ) => {
    const e = await endpoint(t, database);
    return BackendConnection.connect(t, {
      user,
      database,
      parameters: params,
      password: () => Promise.resolve(e.password),
    }, connectOptions(config));
  };

  // The copy must be reachable before anything changes.
  (await connect(target, "template1")).close();
  membership.transition(name, { kind: "recovering", since: new Date().toISOString() });
  const journal = new Journal(
    name,
    config.log.dir === "" ? "" : `${config.log.dir}/journal-${name}.log`,
  );
  const snapshots: BackendConnection[] = [];
  let paused = false;
  try {
    report("arming", 1, "waiting for transactions that began before recovery to end");
    recovery.arm(journal);
    await waitUntil(
      () => recovery.sessions.every((s) => !s.unitFromBeforeArm()),
      60_000,
      "transactions that began before recovery did not end within 60 s",
    );

    report("snapshot", 3, "taking a snapshot of the original");
    const admin = await connect(config.original, "postgres");
    const dbs = (await simpleQuery(
      admin,
      "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname",
    )).rows.map((r) => r[0]!);
    const sizes = (await simpleQuery(
      admin,
      "SELECT coalesce(sum(pg_database_size(datname)), 0)::text FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate",
    )).rows[0]?.[0];
    admin.close();
    const totalBytes = Math.max(1, Number(sizes ?? "1"));
    // Connections first, so the pause covers only the snapshot exports themselves.
    const conns = await Promise.all(dbs.map((db) => connect(config.original, db)));
    snapshots.push(...conns);
    const snapshotPause = performance.now();
    writeGate.pause();
    paused = true;
    await withTimeout(writeGate.drained(), 30_000, "writes in flight did not finish within 30 s");
    const ids: string[] = [];
    for (const c of conns) {
      await simpleQuery(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      ids.push((await simpleQuery(c, "SELECT pg_catalog.pg_export_snapshot()")).rows[0]![0]!);
    }
    journal.accept();
    writeGate.resume();
    paused = false;
    const snapshotPauseMs = Math.round(performance.now() - snapshotPause);

    report("copying", 5, `copying ${dbs.length} database(s)`);
    const bin = await pgBinDir();
    const from = await endpoint(config.original, "postgres");
    const to = await endpoint(target, "template1");
    await copyGlobals(bin, from, to);
    const copyAdmin = await connect(target, "template1");
    const pipe: PipeProgress = { bytes: 0 };
    const ticker = setInterval(() => {
      // pg_dump's custom format is compressed: the ratio is a rough guide only.
      report(
        "copying",
        5 + 70 * Math.min(1, (pipe.bytes * 3) / totalBytes),
        `${pipe.bytes} bytes copied`,
      );
    }, 500);
    try {
      for (let i = 0; i < dbs.length; i++) {
        const db = dbs[i]!;
        await simpleQuery(copyAdmin, `DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
        await dumpInto(bin, from, to, db, ids[i]!, pipe);
        await simpleQuery(conns[i]!, "COMMIT");
      }
    } finally {
      clearInterval(ticker);
      copyAdmin.close();
    }
    for (const c of snapshots.splice(0)) c.close();

    let finalPause = performance.now();
    const replayer = new Replayer(journal, target, connect, config.replication.copyTimeoutMs);
    try {
      report("replaying", 75, `${journal.backlog} unit(s) to replay`);
      const caught = await catchUp({
        journal,
        replay: (units) => replayer.replay(units),
        writeGate,
        target: 20,
        deadlineMs: 600_000,
        onProgress: (backlog, hold) =>
          report(
            "replaying",
            80,
            `${backlog} unit(s) to replay` + (hold > 0 ? `; writes held ${hold} ms at a time` : ""),
          ),
      });
      if (caught.holds > 0) {
        log.info('replay onto "{copy}" held writes {n} time(s) to catch up, at most {ms} ms', {
          copy: name,
          n: caught.holds,
          ms: caught.longestHoldMs,
        });
      }
      await replayer.replay(journal.take());

      report("finishing", 95, "pausing writes to catch up");
      finalPause = performance.now();
      writeGate.pause();
      paused = true;
      await withTimeout(writeGate.drained(), 30_000, "writes in flight did not finish within 30 s");
      const holders = recovery.sessions.filter((s) => s.hasTemporaryObjects());
      if (holders.length > 0) {
        throw new Error(
          `${holders.length} session(s) hold temporary objects and could not join the copy; retry when they end`,
        );
      }
      await replayer.replay(journal.take());
      await syncSequences(dbs, config.original, target, connect);
      membership.transition(name, { kind: "inSync" });
    } finally {
      replayer.close();
    }
    recovery.disarm();
    writeGate.resume();
    paused = false;
    const finalPauseMs = Math.round(performance.now() - finalPause);
    report("done", 100, `in sync (${journal.appended} unit(s) replayed)`);
    log.info(
      'copy "{copy}" recovered online: {units} unit(s) replayed; writes paused {snapshot} ms ' +
        "for the snapshot and {final} ms to finish",
      { copy: name, units: journal.appended, snapshot: snapshotPauseMs, final: finalPauseMs },
    );
  } catch (e: unknown) {
    recovery.disarm();
    if (paused) writeGate.resume();
    for (const c of snapshots) c.close();
    const reason = e instanceof Error ? e.message : String(e);
    progress.error = reason;
    onProgress(progress);
    if (membership.get(name).state.kind === "recovering") {
      membership.markStale(name, `recovery failed: ${reason}`);
    }
    log.error('recovery of copy "{copy}" failed: {reason}', { copy: name, reason });
    throw e;
  }
}

/** Sets every sequence on the copy to the original's state (writes are paused). */
async function syncSequences(
  dbs: readonly string[],
  original: BackendTarget,
  copy: BackendTarget,
  connect: (t: BackendTarget, db: string) => Promise<BackendConnection>,
): Promise<void> {
  for (const db of dbs) {
    const o = await connect(original, db);
    const c = await connect(copy, db);
    try {
      const seqs = await simpleQuery(
        o,
        "SELECT format('%I.%I', schemaname, sequencename), last_value::text, (last_value IS NOT NULL)::text FROM pg_catalog.pg_sequences",
      );
      for (const [name, value, called] of seqs.rows) {
        if (value === null || called !== "true") continue;
        await simpleQuery(c, `SELECT pg_catalog.setval(${quoteLiteral(name!)}, ${value}, true)`);
      }
    } finally {
      o.close();
      c.close();
    }
  }
}

async function waitUntil(cond: () => boolean, ms: number, message: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
