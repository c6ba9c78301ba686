/**
 * @module
 * Copy failure and online recovery under an 8-client write load (issue 5), on a throwaway
 * original and copy: the copy's postmaster killed with SIGKILL, then the copy stalled with
 * SIGSTOP; each time clients see no error, the copy goes stale, and `usogres recover` or
 * `RECOVER` brings it back while the load runs, verified identical (pgbench's tables, a
 * serial/now() table, sequences; `usogres verify`). Then usogres restarted mid-load (a stale
 * copy stays stale), the admin console and `/metrics` after a load, and the connection cache
 * (issue 6 item 3): server connections bounded, no session state leaking between clients.
 */

import assert from "node:assert/strict";
import {
  freePort,
  pgbench,
  type PgClient,
  pgClient,
  type PgServer,
  type ProxyProcess,
  psql,
  startCluster,
  type StartProxyOptions,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { pgbenchReport, withDeadline } from "./_replication.ts";
import {
  adminRows,
  assertIdentical,
  assertVerifyPasses,
  backendStates,
  FINGERPRINT,
  killServer,
  recoverViaConsole,
  resumeProcesses,
  stopServer,
  usogresCli,
} from "./_faults.ts";
import { assertAckedPresent, DB, freshDatabase, prepareDatabase, WriteLoad } from "./_load.ts";

/** Fast health checks, so a dead copy is down within about two seconds. */
const HEALTH = { interval: 0.5, timeout: 1, retries: 2 };

/** How long one step may run before usogres is killed to end it. */
const STEP_MS = 120_000;

/** Runs a query as a named prepared statement (Parse with a name) through node-postgres. */
async function namedQuery(client: PgClient, name: string, text: string): Promise<unknown[]> {
  const named = client as unknown as {
    query(q: { name: string; text: string }): Promise<{ rows: unknown[] }>;
  };
  return (await named.query({ name, text })).rows;
}

/** Waits until SHOW BACKENDS shows the copy stale or down (it gets no more writes). */
function copyDropped(proxy: ProxyProcess): Promise<string> {
  return waitFor(async () => {
    const state = (await backendStates(proxy)).copy!;
    return /^copy\/(stale|down)$/.test(state) ? state : undefined;
  }, { what: "the copy to be marked stale or down", timeoutMs: 20_000 });
}

Deno.test("recovery: a failed copy comes back online while clients write", async (t) => {
  await using cluster = await startCluster({ copies: 1, source: "local" });
  const copy = cluster.copies[0] as PgServer;
  const guarded = (p: ProxyProcess, fn: () => Promise<void>) =>
    withLogsOnFailure(p, cluster, () => withDeadline(p, fn, STEP_MS));

  await t.step(
    "copy killed (SIGKILL): no client error, copy stale; `usogres recover` under load makes it identical",
    async () => {
      await freshDatabase(cluster);
      await using proxy = await cluster.startProxy({
        sections: { health: HEALTH, log: { level: "info" } },
      });
      await guarded(proxy, async () => {
        await prepareDatabase(proxy, DB);
        await using load = await WriteLoad.start(() => proxy.url(DB), { seconds: 12 });
        await load.going(cluster.original, DB);
        await killServer(copy);
        let dropped: string;
        try {
          dropped = await copyDropped(proxy);
        } finally {
          await copy.start(); // also when the step fails: the next steps need the copy
        }

        const ackedBefore = load.acked().length;
        const started = Date.now();
        const recover = await usogresCli(["recover", "copy", "--config", proxy.configFile]);
        const ended = Date.now();
        assert.equal(recover.code, 0, `${recover.stdout}\n${recover.stderr}`);
        // The progress bar, on stderr: `[#####...............]  25% copying 8192 bytes copied`.
        assert.match(recover.stderr, /^\[#*\.*\] +\d+% (arming|snapshot|copying|replaying)/m);
        assert.match(recover.stderr, /^\[#{20}\] 100% done/m);
        assert.match(recover.stdout, /copy "copy" is in sync/);
        assert.ok(load.acked().length > ackedBefore, "no write was acknowledged during recovery");
        const longest = load.maxLatency(started, ended + 1_000);
        const run = await load.finishCleanly();
        console.log(
          `  SIGKILL: copy ${dropped}; recovery ${ended - started} ms under load, longest ` +
            `acknowledged insert meanwhile ${longest.toFixed(0)} ms; pgbench ${run.tpcb} TPC-B + ` +
            `${run.inserts} inserts, ${run.failed} failed; ${load.acked().length} acknowledged`,
        );

        assert.deepEqual(await backendStates(proxy), {
          original: "original/in_sync",
          copy: "copy/in_sync",
        });
        await assertVerifyPasses(proxy, DB);
        await assertIdentical([cluster.original, copy], DB, {
          history: run.tpcb,
          events: run.inserts + load.acked().length,
        });
        await assertAckedPresent(cluster.original, DB, load.acked());
      });
    },
  );

  await t.step(
    "copy stalled (SIGSTOP): clients wait at most about copy_timeout, copy stale; RECOVER after SIGCONT",
    async () => {
      await freshDatabase(cluster);
      const copyTimeoutMs = 2_000;
      await using proxy = await cluster.startProxy({
        sections: {
          health: HEALTH,
          log: { level: "info" },
          replication: { copy_timeout: copyTimeoutMs / 1000 },
        },
      });
      await guarded(proxy, async () => {
        await prepareDatabase(proxy, DB);
        await using load = await WriteLoad.start(() => proxy.url(DB), { seconds: 14 });
        await load.going(cluster.original, DB);
        const stoppedAt = Date.now();
        const pids = await stopServer(copy);
        let continuedAt: number;
        let dropped: string;
        try {
          dropped = await copyDropped(proxy);
          // Writes go on while the copy is still frozen.
          const acked = load.acked().length;
          await waitFor(() => load.acked().length >= acked + 50, {
            what: "writes to be acknowledged while the copy is stopped",
            timeoutMs: 20_000,
          });
        } finally {
          resumeProcesses(pids);
          continuedAt = Date.now();
        }
        const stalled = load.maxLatency(stoppedAt, continuedAt);
        assert.ok(
          stalled < copyTimeoutMs + 3_000,
          `an insert took ${stalled.toFixed(0)} ms while the copy was stopped`,
        );
        const recoveryMs = await recoverViaConsole(proxy, "copy");
        const run = await load.finishCleanly();
        const longest = `${stalled.toFixed(0)} ms (copy_timeout ${copyTimeoutMs} ms)`;
        console.log(
          `  SIGSTOP: copy ${dropped}; longest acknowledged insert while stopped ${longest}; ` +
            `RECOVER ${recoveryMs} ms; pgbench ${run.tpcb} TPC-B + ${run.inserts} inserts, ` +
            `${run.failed} failed`,
        );
        assert.deepEqual(await backendStates(proxy), {
          original: "original/in_sync",
          copy: "copy/in_sync",
        });
        await assertVerifyPasses(proxy, DB);
        await assertIdentical([cluster.original, copy], DB, {
          history: run.tpcb,
          events: run.inserts + load.acked().length,
        });
        await assertAckedPresent(cluster.original, DB, load.acked());
      });
    },
  );

  await t.step(
    "usogres restarted mid-load: clients reconnect, a stale copy stays stale, RECOVER works after",
    async () => {
      await freshDatabase(cluster);
      const logDir = await Deno.makeTempDir({ prefix: "usogres-restart-" });
      try {
        // The same port and log directory (hence state file) for both processes.
        const opts: StartProxyOptions = {
          sections: {
            health: HEALTH,
            listen: { port: await freePort() },
            log: { dir: logDir, level: "info" },
          },
        };
        await using first = await cluster.startProxy(opts);
        await guarded(first, async () => {
          await prepareDatabase(first, DB);
          const detach = await psql(first.url("usogres"), "DETACH copy");
          assert.equal(detach.code, 0, detach.stderr);
        });
        const copyBefore = await copy.psql(FINGERPRINT, { db: DB });
        await using load = await WriteLoad.start(() => first.url(DB), { seconds: 0, writers: 8 });
        await waitFor(() => load.acked().length >= 40, { what: "the writers to get going" });
        first.kill("SIGTERM");
        assert.equal((await first.status).code, 0, first.output());
        const ackedAtRestart = load.acked().length;
        await using second = await cluster.startProxy(opts);
        await guarded(second, async () => {
          assert.match(second.output(), /backend "copy" is stale \(restored from/);
          await waitFor(() => load.acked().length >= ackedAtRestart + 100, {
            what: "the writers to reconnect to the new usogres",
            timeoutMs: 20_000,
          });
          const args = "-n -C -c 8 -j 2 -T 2".split(" ");
          const bench = await pgbench(second.url(DB), args);
          assert.equal(bench.code, 0, bench.stderr);
          assert.equal(pgbenchReport(bench.stdout).failed, 0);
          await load.stopWriters();
          // Every error is the restart's: shutting down (57P01), the closed socket, the gap.
          const errors = load.errors();
          for (const e of errors) {
            assert.ok(
              e.code === "57P01" || e.code === "ECONNREFUSED" || e.code === undefined,
              `unexpected writer error: ${e.code} ${e.message}`,
            );
          }
          console.log(
            `  restart: ${load.acked().length} acknowledged, writer errors during the restart: ` +
              JSON.stringify(errors.map((e) => e.code ?? "closed")),
          );
          assert.equal((await backendStates(second)).copy, "copy/stale");
          assert.equal(
            await copy.psql(FINGERPRINT, { db: DB }),
            copyBefore,
            "the copy was written",
          );
          await assertAckedPresent(cluster.original, DB, load.acked());

          await recoverViaConsole(second, "copy");
          await assertVerifyPasses(second, DB);
          await assertIdentical([cluster.original, copy], DB);
        });
      } finally {
        await Deno.remove(logDir, { recursive: true }).catch(() => {});
      }
    },
  );

  await t.step(
    "admin console and /metrics: SHOW BACKENDS, STATS, RECOVERY after a load; metric families",
    async () => {
      await freshDatabase(cluster);
      const metricsPort = await freePort();
      await using proxy = await cluster.startProxy({
        sections: { health: HEALTH, admin: { metrics_listen: `127.0.0.1:${metricsPort}` } },
      });
      await guarded(proxy, async () => {
        await prepareDatabase(proxy, DB);
        assert.deepEqual(await adminRows(proxy, "SHOW RECOVERY"), []);
        {
          await using load = await WriteLoad.start(() => proxy.url(DB), { seconds: 2 });
          await load.finishCleanly();
        }
        const backends = await adminRows(proxy, "SHOW BACKENDS");
        assert.deepEqual(backends.map((b) => [b.name, b.role, b.state]), [
          ["original", "original", "in_sync"],
          ["copy", "copy", "in_sync"],
        ]);
        assert.ok(Number(backends[1]!.writes_applied) > 0, JSON.stringify(backends[1]));
        assert.equal(backends[1]!.writes_failed, "0");
        const stats = new Map((await adminRows(proxy, "SHOW STATS")).map((r) => [r.stat, r.value]));
        assert.ok(Number(stats.get("sessions_started")) >= 8, JSON.stringify([...stats]));
        assert.ok(Number(stats.get("write_fanout_count")) > 0);
        assert.equal(stats.get("divergences"), "0");

        const detach = await psql(proxy.url("usogres"), "DETACH copy");
        assert.equal(detach.code, 0, detach.stderr);
        await recoverViaConsole(proxy, "copy");
        const [recovery] = await adminRows(proxy, "SHOW RECOVERY");
        assert.deepEqual(
          [recovery?.copy, recovery?.phase, recovery?.percent, recovery?.state],
          ["copy", "done", "100", "in_sync"],
        );

        const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        assert.equal(response.status, 200);
        const text = await response.text();
        for (const name of ["original", "copy"]) {
          assert.match(
            text,
            new RegExp(`^usogres_backend_state\\{backend="${name}",state="in_sync"\\} 1$`, "m"),
          );
          assert.match(
            text,
            new RegExp(`^usogres_backend_state\\{backend="${name}",state="stale"\\} 0$`, "m"),
          );
        }
        const applied = /^usogres_writes_applied_total\{backend="copy"\} (\d+)$/m.exec(text);
        assert.ok(applied && Number(applied[1]) > 0, "usogres_writes_applied_total of the copy");
        assert.match(text, /^usogres_write_fanout_seconds_bucket\{le="[^"]+"\} \d+$/m);
        assert.match(text, /^usogres_write_fanout_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
        assert.match(text, /^usogres_divergences_total\{backend="copy"\} 0$/m);
      });
    },
  );

  await t.step(
    "connection cache: -S -C keeps server connections bounded; no state leaks to the next client",
    async () => {
      await freshDatabase(cluster);
      const poolSize = 4;
      const clients = 4;
      await using proxy = await cluster.startProxy({
        sections: { backend: { pool_size: poolSize }, log: { level: "info" } },
      });
      await guarded(proxy, async () => {
        await prepareDatabase(proxy, DB);
        // pool_size bounds the idle sets of one role, database and set of parameters: pgbench's
        // (its application_name, which DISCARD ALL keeps); psql's and others' are kept apart.
        const activity = "SELECT pid FROM pg_stat_activity WHERE datname = '" + DB +
          "' AND application_name = 'pgbench'";
        const seen = new Set<string>();
        let most = 0;
        const bench = pgbench(proxy.url(DB), [
          ...["-n", "-S", "-C", "-c", String(clients), "-j", "2", "-T", "3"],
        ]);
        let running = true;
        void bench.finally(() => (running = false));
        while (running) {
          const pids = (await cluster.original.psql(activity)).trim().split("\n").filter(Boolean);
          for (const p of pids) seen.add(p);
          most = Math.max(most, pids.length);
        }
        const r = await bench;
        assert.equal(r.code, 0, r.stderr);
        const report = pgbenchReport(r.stdout);
        assert.equal(report.failed, 0);
        console.log(
          `  connection cache: ${report.processed} connections (-C) made ${seen.size} server ` +
            `backend(s) on the original, at most ${most} at once (pool_size ${poolSize})`,
        );
        assert.ok(report.processed >= 50, r.stdout);
        assert.ok(most <= poolSize + clients, `${most} server backends at once`);
        // Reused, not one per connection. Not at most pool_size + clients in all: a client that
        // reconnects while its last set is still being reset finds the cache empty and gets a new
        // set, and the cache, full when both come back, closes one.
        assert.ok(seen.size * 4 < report.processed, `${seen.size} server backends in all`);

        // One client leaves session state behind; the next one must not see it.
        const url = proxy.url(DB);
        let pid: number;
        {
          await using a = await pgClient(url);
          pid = (await a.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
          await a.query("SET search_path = leaked, public");
          await a.query("PREPARE leaked_sql AS SELECT 1");
          await namedQuery(a, "leaked_named", "SELECT 1 AS one");
          await a.query("LISTEN leaked_channel");
        }
        // The cache resets the connection (DISCARD ALL) before it keeps it.
        await waitFor(async () =>
          (await cluster.original.psql(
            `SELECT state || ':' || query FROM pg_stat_activity WHERE pid = ${pid}`,
          )) === "idle:DISCARD ALL\n", { what: "the connection to be reset and kept" });
        await using b = await pgClient(url);
        const notifications: unknown[] = [];
        b.on("notification", (n) => notifications.push(n));
        assert.equal(
          (await b.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid,
          pid,
          "the next client did not get the cached connection",
        );
        assert.deepEqual((await b.query("SHOW search_path")).rows, [{
          search_path: '"$user", public',
        }]);
        assert.deepEqual((await b.query("SELECT name FROM pg_prepared_statements")).rows, []);
        // A statement of that name left on the server would make this Parse fail with 42P05.
        assert.deepEqual(await namedQuery(b, "leaked_named", "SELECT 2 AS two"), [{ two: 2 }]);
        // A listener that should hear it, so the NOTIFY is known to have been delivered.
        await using c = await pgClient(url);
        const heard: unknown[] = [];
        c.on("notification", (n) => heard.push(n));
        await c.query("LISTEN leaked_channel");
        await cluster.original.psql("NOTIFY leaked_channel, 'after'", { db: DB });
        await waitFor(() => heard.length > 0, { what: "the control listener to be notified" });
        await b.query("SELECT 1");
        assert.deepEqual(notifications, [], "the next client got the old LISTEN's notification");
      });
    },
  );
});
