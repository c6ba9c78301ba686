/**
 * @module
 * `listen.workers = 2`: two accept loops on one port (`reusePort`) in front of an original and a
 * copy. Many clients (node-postgres, psql, pgbench) are served, by both workers (SHOW CLIENTS'
 * `worker` column); writes reach both servers (compared directly); PAUSE holds writes in every
 * worker until RESUME; a copy made stale by a divergence seen in one worker, or by DETACH, stops
 * getting writes from every worker, and the state file says so; RECOVER and PROMOTE answer
 * 0A000 naming the setting; SIGTERM ends every worker and the process exits 0.
 */

import assert from "node:assert/strict";
import {
  pgbench,
  type PgClient,
  pgClient,
  type ProxyProcess,
  psql,
  startCluster,
  type StartProxyOptions,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { adminRows, backendStates } from "./_faults.ts";

const WORKERS: StartProxyOptions = {
  sections: { listen: { workers: 2, max_clients: 60 } },
};

/**
 * Opens `n` node-postgres clients through usogres, and more (up to 40) until both workers serve
 * some: the kernel spreads connections over the listeners by a hash of their addresses, so a
 * few may all land on one.
 */
async function clients(proxy: ProxyProcess, db: string, n: number): Promise<PgClient[]> {
  const open = await Promise.all(Array.from({ length: n }, () => pgClient(proxy.url(db))));
  while (open.length < 40 && (await workersOf(proxy, db)).size < 2) {
    open.push(await pgClient(proxy.url(db)));
  }
  return open;
}

/** The workers serving open client sessions of `db`, from SHOW CLIENTS. */
async function workersOf(proxy: ProxyProcess, db: string): Promise<Set<string>> {
  const rows = await adminRows(proxy, "SHOW CLIENTS");
  return new Set(rows.filter((r) => r.database === db).map((r) => r.worker!));
}

/** Count of rows in `t` on each server, read directly. */
async function counts(
  cluster: { queryEach(sql: string, db?: string): Promise<string[]> },
  db: string,
): Promise<number[]> {
  return (await cluster.queryEach("SELECT count(*) FROM t", db)).map((s) => Number(s.trim()));
}

Deno.test("workers: two accept loops share backend state", async (t) => {
  await using cluster = await startCluster({ copies: 1, source: "local" });

  await t.step("many clients are served by both workers and writes replicate", async () => {
    const db = "w_served";
    await cluster.recreateDatabase(db);
    await using proxy = await cluster.startProxy(WORKERS);
    await withLogsOnFailure(proxy, cluster, async () => {
      const init = await pgbench(proxy.url(db), ["-i", "-s", "1", "-q"]);
      assert.equal(init.code, 0, init.stderr);
      const run = await pgbench(proxy.url(db), ["-c", "8", "-j", "2", "-t", "50", "-n"]);
      assert.equal(run.code, 0, run.stderr);
      const prepared = await pgbench(proxy.url(db), [
        "-c",
        "8",
        "-j",
        "2",
        "-t",
        "50",
        "-S",
        "-M",
        "prepared",
        "-n",
      ]);
      assert.equal(prepared.code, 0, prepared.stderr);
      const open = await clients(proxy, db, 12);
      try {
        await Promise.all(open.map((c, i) => c.query("SELECT $1::int AS i", [i])));
        const viaPsql = await psql(proxy.url(db), "SELECT count(*) FROM pgbench_history", {
          args: ["-At"],
        });
        assert.equal(viaPsql.stdout.trim(), "400");
        assert.deepEqual([...await workersOf(proxy, db)].sort(), ["0", "1"]);
        const stats = Object.fromEntries(
          (await adminRows(proxy, "SHOW STATS")).map((r) => [r.stat, r.value]),
        );
        assert.equal(stats.workers, "2");
        assert.equal(stats.client_connections, String(open.length));
        assert.ok(Number(stats.connections_accepted) >= 8 + 8 + 12 + 4, stats.connections_accepted);
        const backends = await adminRows(proxy, "SHOW BACKENDS");
        const copy = backends.find((r) => r.name === "copy")!;
        assert.equal(copy.state, "in_sync");
      } finally {
        await Promise.all(open.map((c) => c.end()));
      }
      const fingerprint =
        "SELECT md5(string_agg(x::text, ',' ORDER BY aid)) FROM pgbench_accounts x " +
        "UNION ALL SELECT md5(string_agg(x::text, ',' ORDER BY tid, bid, aid, delta, mtime)) " +
        "FROM pgbench_history x UNION ALL SELECT md5(string_agg(x::text, ',' ORDER BY tid)) " +
        "FROM pgbench_tellers x";
      const [org, copy] = await cluster.queryEach(fingerprint, db);
      assert.equal(copy, org);
    });
  });

  await t.step("PAUSE holds writes in every worker until RESUME", async () => {
    const db = "w_pause";
    await cluster.recreateDatabase(db);
    await cluster.queryEach("CREATE TABLE t (id int PRIMARY KEY)", db);
    await using proxy = await cluster.startProxy(WORKERS);
    await withLogsOnFailure(proxy, cluster, async () => {
      const open = await clients(proxy, db, 10);
      try {
        assert.deepEqual([...await workersOf(proxy, db)].sort(), ["0", "1"]);
        const paused = await psql(proxy.url("usogres"), "PAUSE");
        assert.equal(paused.code, 0, paused.stderr);
        let done = 0;
        const writes = open.map((c, i) =>
          c.query("INSERT INTO t VALUES ($1)", [i]).then(() => void done++)
        );
        // Reported by the assertion below; not left unhandled when another assertion fails.
        for (const w of writes) w.catch(() => {});
        await new Promise((r) => setTimeout(r, 700));
        assert.equal(done, 0, "a write passed PAUSE");
        const n = open.length;
        // Reads go on, in both workers.
        await Promise.all(
          (await clients(proxy, db, 4)).map(async (c) => {
            await c.query("SELECT 1");
            await c.end();
          }),
        );
        const stats = Object.fromEntries(
          (await adminRows(proxy, "SHOW STATS")).map((r) => [r.stat, r.value]),
        );
        assert.equal(stats.writes_paused, "t");
        // Every client's write waits, in both workers (the clients span both).
        assert.equal(stats.write_batches_waiting, String(n));
        const resumed = await psql(proxy.url("usogres"), "RESUME");
        assert.equal(resumed.code, 0, resumed.stderr);
        await Promise.all(writes);
        assert.deepEqual(await counts(cluster, db), [n, n]);
      } finally {
        await Promise.all(open.map((c) => c.end()));
      }
    });
  });

  await t.step("a copy stale in one worker gets no writes from any worker", async () => {
    const db = "w_stale";
    await cluster.recreateDatabase(db);
    await cluster.queryEach("CREATE TABLE t (id int PRIMARY KEY)", db);
    // The copy alone holds id 0: the insert of 0 succeeds on the original and fails on the copy.
    await cluster.copies[0]!.psql("INSERT INTO t VALUES (0)", { db });
    await using proxy = await cluster.startProxy(WORKERS);
    await withLogsOnFailure(proxy, cluster, async () => {
      const open = await clients(proxy, db, 10);
      try {
        assert.deepEqual([...await workersOf(proxy, db)].sort(), ["0", "1"]);
        await open[0]!.query("INSERT INTO t VALUES (0)");
        assert.equal((await backendStates(proxy)).copy, "copy/stale");
        const state = JSON.parse(await Deno.readTextFile(`${proxy.logDir}/usogres.state`));
        assert.equal(state.backends.copy.kind, "stale");
        await Promise.all(open.map((c, i) => c.query("INSERT INTO t VALUES ($1)", [i + 1])));
        assert.deepEqual(await counts(cluster, db), [open.length + 1, 1]);
      } finally {
        await Promise.all(open.map((c) => c.end()));
      }
    });
  });

  await t.step("DETACH in the console reaches every worker", async () => {
    const db = "w_detach";
    await cluster.recreateDatabase(db);
    await cluster.queryEach("CREATE TABLE t (id int PRIMARY KEY)", db);
    await using proxy = await cluster.startProxy(WORKERS);
    await withLogsOnFailure(proxy, cluster, async () => {
      const open = await clients(proxy, db, 10);
      try {
        const n = open.length;
        assert.deepEqual([...await workersOf(proxy, db)].sort(), ["0", "1"]);
        await Promise.all(open.map((c, i) => c.query("INSERT INTO t VALUES ($1)", [i])));
        assert.deepEqual(await counts(cluster, db), [n, n]);
        const r = await psql(proxy.url("usogres"), "DETACH copy");
        assert.equal(r.code, 0, r.stderr);
        await Promise.all(open.map((c, i) => c.query("INSERT INTO t VALUES ($1)", [i + n])));
        assert.deepEqual(await counts(cluster, db), [2 * n, n]);
      } finally {
        await Promise.all(open.map((c) => c.end()));
      }
    });
  });

  await t.step("RECOVER and PROMOTE are refused with 0A000 naming listen.workers", async () => {
    await using proxy = await cluster.startProxy(WORKERS);
    await withLogsOnFailure(proxy, cluster, async () => {
      await using admin = await pgClient(proxy.url("usogres"));
      await admin.query("DETACH copy");
      for (const command of ["RECOVER", "PROMOTE"]) {
        const target = command === "RECOVER" ? "copy" : "original";
        const e = await admin.query(`${command} ${target}`).then(
          () => assert.fail(`${command} succeeded`),
          (e: unknown) => e as { code?: string; message?: string; hint?: string },
        );
        assert.equal(e.code, "0A000");
        assert.equal(e.message, `${command} needs listen.workers = 1`);
        assert.match(e.hint ?? "", /listen\.workers = 1/);
      }
      const cli = await psql(proxy.url("usogres"), "SHOW BACKENDS", { args: ["-At"] });
      assert.equal(cli.code, 0);
    });
  });

  await t.step("SIGTERM ends every worker's sessions and exits 0", async () => {
    const db = "w_stop";
    await cluster.recreateDatabase(db);
    await using proxy = await cluster.startProxy(WORKERS);
    const open = await clients(proxy, db, 8);
    const ended = open.map((c) =>
      new Promise<string | undefined>((resolve) => {
        c.on("error", (e) => resolve((e as { code?: string }).code));
        c.on("end", () => resolve(undefined));
      })
    );
    proxy.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      proxy.status,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("usogres did not exit in 20 s")), 20_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(status.code, 0, proxy.output());
    const codes = await Promise.all(ended);
    assert.ok(codes.every((c) => c === "57P01" || c === undefined), codes.join(","));
    assert.match(proxy.output(), /worker 0 stopped/);
    assert.match(proxy.output(), /worker 1 stopped/);
    assert.match(proxy.output(), /shutdown complete/);
  });
});
