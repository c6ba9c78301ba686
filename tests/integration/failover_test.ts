/**
 * @module
 * Failure of the original under an 8-client write load (issue 5), on throwaway servers (a fresh
 * pair per destructive step): with `failover = "manual"` clients get clean errors (57P03 at
 * connect, 08006 or the server's own 57P01 mid-session), `PROMOTE copy` makes new sessions work,
 * and the old original comes back stale and is recovered as a copy; with `failover = "auto"` a
 * backend terminated on the original (57P01) alone changes nothing, and a stopped original is
 * replaced by the in-sync copy once health checks confirm it down, persisted in the state file.
 * Every acknowledged write is checked on the surviving server.
 */

import assert from "node:assert/strict";
import {
  pgClient,
  type PgServer,
  type ProxyProcess,
  psql,
  startCluster,
  type TestCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { withDeadline } from "./_replication.ts";
import {
  adminRows,
  assertIdentical,
  assertVerifyPasses,
  backendStates,
  recoverViaConsole,
  rejectsWith,
  usogresCli,
} from "./_faults.ts";
import {
  assertAckedPresent,
  DB,
  freshDatabase,
  prepareDatabase,
  type WriteError,
  WriteLoad,
} from "./_load.ts";

/** Fast health checks: an original that stops answering is confirmed down within about 2 s. */
const HEALTH = { interval: 0.5, timeout: 1, retries: 2 };

/** How long one step may run before usogres is killed to end it. */
const STEP_MS = 120_000;

/** Errors a client may see when the original goes away: nothing else, and never a hang. */
const CLEAN = new Set(["57P03", "08006", "57P01"]);

/** Counts writer errors by code (`closed` for a socket closed without an error message). */
function errorCodes(errors: readonly WriteError[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of errors) counts[e.code ?? "closed"] = (counts[e.code ?? "closed"] ?? 0) + 1;
  return counts;
}

/** Asserts that every writer error is a clean one, and that there was one. */
function assertCleanErrors(errors: readonly WriteError[]): void {
  assert.ok(errors.length > 0, "no writer noticed that the original went away");
  for (const e of errors) {
    assert.ok(
      (e.code !== undefined && CLEAN.has(e.code)) || /Connection terminated/.test(e.message),
      `unclean client error: ${e.code} ${e.message}`,
    );
  }
  assert.ok(errors.some((e) => e.code !== undefined && CLEAN.has(e.code)), "no SQLSTATE seen");
}

/** The original in the state file usogres keeps in its log directory. */
async function persistedOriginal(proxy: ProxyProcess): Promise<string> {
  const saved = JSON.parse(await Deno.readTextFile(`${proxy.logDir}/usogres.state`));
  return saved.original;
}

Deno.test("failover: the original fails under load", async (t) => {
  const start = async (cluster: TestCluster, failover: "manual" | "auto") => {
    await freshDatabase(cluster);
    return await cluster.startProxy({
      sections: { health: HEALTH, log: { level: "info" }, replication: { failover } },
    });
  };
  const guarded = (cluster: TestCluster, p: ProxyProcess, fn: () => Promise<void>) =>
    withLogsOnFailure(p, cluster, () => withDeadline(p, fn, STEP_MS));

  await t.step(
    "manual: clean errors, nothing acknowledged lost; PROMOTE copy; the old original is recovered",
    async () => {
      await using cluster = await startCluster({ copies: 1, source: "local" });
      const [original, copy] = cluster.all as [PgServer, PgServer];
      await using proxy = await start(cluster, "manual");
      await guarded(cluster, proxy, async () => {
        await prepareDatabase(proxy, DB);
        await using load = await WriteLoad.start(() => proxy.url(DB), { seconds: 30 });
        await load.going(original, DB);
        await original.stop("immediate");
        await waitFor(async () => (await adminRows(proxy, "SHOW BACKENDS"))[0]?.up === "f", {
          what: "health checks to find the original down",
          timeoutMs: 20_000,
        });
        assert.equal(await rejectsWith(() => pgClient(proxy.url(DB))), "57P03");
        // failover = "manual": nothing changes on its own.
        assert.deepEqual(await backendStates(proxy), {
          original: "original/in_sync",
          copy: "copy/in_sync",
        });
        const bench = await load.pgbenchRun();
        assert.notEqual(bench.result.code, 0, "pgbench went on without an original");
        const outage = load.errors();
        assertCleanErrors(outage);
        const ackedBeforePromote = load.acked().length;

        // Its answer is asserted at the end, so that the rest of the step runs either way.
        const promote = await psql(proxy.url("usogres"), "PROMOTE copy");
        assert.deepEqual(await backendStates(proxy), {
          original: "copy/stale",
          copy: "original/in_sync",
        });
        await waitFor(() => load.acked().length >= ackedBeforePromote + 50, {
          what: "the writers to work against the promoted copy",
          timeoutMs: 20_000,
        });
        await using fresh = await pgClient(proxy.url(DB));
        const port = await fresh.query<{ port: number }>(
          "SELECT current_setting('port')::int AS port",
        );
        assert.deepEqual(port.rows, [{ port: copy.port }]);
        await load.stopWriters();
        console.log(
          `  manual: writer errors while the original was down ${
            JSON.stringify(errorCodes(outage))
          }; pgbench exit ${bench.result.code} after ${bench.tpcb} TPC-B + ${bench.inserts} ` +
            `inserts; ${load.acked().length} acknowledged`,
        );
        await assertAckedPresent(copy, DB, load.acked());
        assert.equal(await persistedOriginal(proxy), "copy");
        // Before its recovery the old original (down, then stale) must be skipped, not compared;
        // asserted at the end, so that the rest of the step runs either way.
        const staleVerify = await usogresCli([
          ...["verify", "--config", proxy.configFile, "--database", DB],
        ]);

        await original.start();
        await waitFor(async () => (await backendStates(proxy)).original === "copy/stale", {
          what: "the old original to answer again, stale",
          timeoutMs: 20_000,
        });
        const recoveryMs = await recoverViaConsole(proxy, "original");
        console.log(`  manual: RECOVER original (as a copy) ${recoveryMs} ms`);
        assert.deepEqual(await backendStates(proxy), {
          original: "copy/in_sync",
          copy: "original/in_sync",
        });
        await assertVerifyPasses(proxy, DB);
        await assertIdentical([copy, original], DB);
        assert.equal(promote.code, 0, `PROMOTE copy: ${promote.stderr}`);
        assert.match(promote.stdout, /^PROMOTE$/m);
        assert.equal(
          staleVerify.code,
          0,
          `usogres verify after PROMOTE, before the old original's recovery:\n` +
            `${staleVerify.stdout}\n${staleVerify.stderr}`,
        );
      });
    },
  );

  await using cluster = await startCluster({ copies: 1, source: "local" });
  const [original, copy] = cluster.all as [PgServer, PgServer];

  await t.step(
    "auto: a backend terminated on the original (57P01) alone is no failover",
    async () => {
      await using proxy = await start(cluster, "auto");
      await guarded(cluster, proxy, async () => {
        await prepareDatabase(proxy, DB);
        await using victim = await pgClient(proxy.url(DB));
        // The FATAL may come while the client is idle (an "error" event) or answer its next query.
        let idleError: string | undefined;
        victim.on("error", (e) => idleError ??= (e as { code?: string }).code ?? "none");
        const { pid } = (await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))
          .rows[0]!;
        assert.equal(await original.psql(`SELECT pg_terminate_backend(${pid})`), "t\n");
        const terminatedAt = Date.now();
        const queryError = await rejectsWith(() => victim.query("SELECT 1"));
        assert.equal(queryError ?? idleError, "57P01");
        // Three more health checks of the original after it: a failover would have happened.
        await waitFor(async () => {
          const [row] = await adminRows(proxy, "SHOW BACKENDS");
          return row?.up === "t" && Date.parse(row.last_check!) > terminatedAt + 1_500;
        }, { what: "further health checks of the original", timeoutMs: 20_000 });
        assert.deepEqual(await backendStates(proxy), {
          original: "original/in_sync",
          copy: "copy/in_sync",
        });
        assert.doesNotMatch(proxy.output(), /promoted|is now the original/);
        await using next = await pgClient(proxy.url(DB));
        assert.equal(
          (await next.query("INSERT INTO events (client, note) VALUES (0, 'x')")).rowCount,
          1,
        );
      });
    },
  );

  await t.step(
    "auto: a stopped original is replaced by the copy; new sessions work; nothing acknowledged lost",
    async () => {
      await using proxy = await start(cluster, "auto");
      await guarded(cluster, proxy, async () => {
        await prepareDatabase(proxy, DB);
        await using load = await WriteLoad.start(() => proxy.url(DB), { seconds: 30 });
        await load.going(original, DB);
        await original.stop("immediate");
        const stoppedAt = Date.now();
        await waitFor(async () => (await backendStates(proxy)).copy === "original/in_sync", {
          what: "the copy to be promoted",
          timeoutMs: 20_000,
        });
        const failoverMs = Date.now() - stoppedAt;
        assert.equal((await backendStates(proxy)).original, "copy/stale");
        await using fresh = await pgClient(proxy.url(DB));
        const port = await fresh.query<{ port: number }>(
          "SELECT current_setting('port')::int AS port",
        );
        assert.deepEqual(port.rows, [{ port: copy.port }]);
        const acked = load.acked().length;
        await waitFor(() => load.acked().length >= acked + 50, {
          what: "the writers to work against the new original",
          timeoutMs: 20_000,
        });
        const bench = await load.pgbenchRun();
        await load.stopWriters();
        assertCleanErrors(load.errors());
        console.log(
          `  auto: failover ${failoverMs} ms after the stop; writer errors ${
            JSON.stringify(errorCodes(load.errors()))
          }; pgbench exit ${bench.result.code}; ${load.acked().length} acknowledged`,
        );
        await assertAckedPresent(copy, DB, load.acked());
        assert.equal(await persistedOriginal(proxy), "copy");
      });
    },
  );
});
