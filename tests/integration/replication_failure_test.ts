/**
 * @module
 * What usogres does when a server is not where the replication needs it, on a throwaway original
 * and two copies that these tests stop and start: a copy that diverges (marked stale, persisted
 * in the state file, still stale after a restart, no more writes), a copy killed under pgbench
 * load, a copy down when usogres starts or when a session starts, and an original that is down at
 * connect (FATAL 57P03). Clients see no error when only a copy fails (DESIGN.md, "Failure and
 * recovery"); every step ends by reading the servers directly.
 */

import assert from "node:assert/strict";
import {
  pgbench,
  pgClient,
  type PgServer,
  type ProxyProcess,
  psql,
  startCluster,
  type TestCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import {
  assertEverywhere,
  assertPgbenchIdentical,
  pgbenchReport,
  psqlSession,
  staleCopies,
  withDeadline,
} from "./_replication.ts";

/** A temporary directory removed by `await using`. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "usogres-replication-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** The backend states usogres persisted, by name. */
async function persistedStates(file: string): Promise<Record<string, string>> {
  // The state file names the original and each backend's state (`usogres.state`).
  const saved = JSON.parse(await Deno.readTextFile(file)) as {
    original: string;
    backends: Record<string, { kind: string }>;
  };
  return Object.fromEntries(Object.entries(saved.backends).map(([name, s]) => [name, s.kind]));
}

/** Whether a table exists on a server (psql prints `t` or `f`). */
async function hasTable(cluster: TestCluster, index: number, db: string, table: string) {
  const out = await cluster.all[index]!.psql(`SELECT to_regclass('${table}') IS NOT NULL`, { db });
  return out === "t\n";
}

/** Runs `fn` and returns the SQLSTATE it rejected with; fails when it resolves. */
async function rejectsWith(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e: unknown) {
    return typeof e === "object" && e !== null && "code" in e ? String(e.code) : undefined;
  }
  assert.fail("expected a failure");
}

Deno.test("replication: failed and diverged copies are dropped without client errors", async (t) => {
  await using cluster = await startCluster({ copies: 2, source: "local" });
  const [copy, copy2] = cluster.copies as [PgServer, PgServer];
  /** Prints the logs when `fn` fails, and ends it when it hangs. */
  const guarded = (p: ProxyProcess, fn: () => Promise<void>) =>
    withLogsOnFailure(p, cluster, () => withDeadline(p, fn));

  await t.step(
    "divergence: a copy with other data is marked stale, persisted, and gets no more writes",
    async () => {
      const db = "diverge";
      await cluster.recreateDatabase(db);
      await using logDir = await tempDir();
      const sections = { log: { dir: logDir.path, level: "info" } };
      const stateFile = `${logDir.path}/usogres.state`;
      {
        await using proxy = await cluster.startProxy({ sections });
        await guarded(proxy, async () => {
          const url = proxy.url(db);
          const setup = await psql(
            url,
            "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)",
          );
          assert.equal(setup.code, 0, setup.stderr);
          await copy2.psql("INSERT INTO t VALUES (100, 0)", { db });
          const update = await psql(url, "UPDATE t SET v = v + 1");
          assert.equal(update.code, 0, update.stderr);
          assert.equal(update.stdout, "UPDATE 3\n", "the client gets the original's row count");
          assert.match(proxy.output(), /divergence on copy "copy2"/);
          assert.deepEqual(staleCopies(proxy), ["copy2"]);
          assert.equal((await psql(url, "INSERT INTO t VALUES (4, 0)")).code, 0);
          await assertEverywhere(
            cluster,
            db,
            "SELECT id, v FROM t ORDER BY id",
            "1|1\n2|1\n3|1\n4|0\n",
            [
              copy,
            ],
          );
          // copy2 ran the UPDATE (that is how its row count was seen), and nothing after it.
          assert.equal(
            await copy2.psql("SELECT id, v FROM t ORDER BY id", { db }),
            "1|1\n2|1\n3|1\n100|1\n",
          );
          assert.deepEqual(await persistedStates(stateFile), {
            original: "inSync",
            copy: "inSync",
            copy2: "stale",
          });
        });
      }
      // A new usogres with the same log directory: copy2 is still stale.
      await using proxy = await cluster.startProxy({ sections });
      await guarded(proxy, async () => {
        assert.match(proxy.output(), /backend "copy2" is stale \(restored from/);
        const r = await psql(proxy.url(db), "INSERT INTO t VALUES (5, 0)");
        assert.equal(r.code, 0, r.stderr);
        await assertEverywhere(
          cluster,
          db,
          "SELECT id, v FROM t ORDER BY id",
          "1|1\n2|1\n3|1\n4|0\n5|0\n",
          [copy],
        );
        assert.equal(
          await copy2.psql("SELECT id, v FROM t ORDER BY id", { db }),
          "1|1\n2|1\n3|1\n100|1\n",
        );
        assert.equal((await persistedStates(stateFile)).copy2, "stale");
      });
    },
  );

  await t.step(
    "divergence: a copy failing a statement mid-transaction is dropped, and the client commits",
    async () => {
      const db = "diverge_tx";
      await cluster.recreateDatabase(db);
      await using proxy = await cluster.startProxy({ sections: { log: { level: "info" } } });
      await guarded(proxy, async () => {
        const url = proxy.url(db);
        assert.equal((await psql(url, "CREATE TABLE t (id int PRIMARY KEY)")).code, 0);
        await copy.psql("INSERT INTO t VALUES (2)", { db });
        const r = await psqlSession(url, [
          "BEGIN",
          "INSERT INTO t VALUES (1)",
          "INSERT INTO t VALUES (2)",
          "INSERT INTO t VALUES (3)",
          "COMMIT",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^COMMIT$/m);
        assert.deepEqual(staleCopies(proxy), ["copy"]);
        await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n2\n3\n", [copy2]);
        // The copy's own transaction was abandoned, not committed.
        assert.equal(await copy.psql("SELECT id FROM t ORDER BY id", { db }), "2\n");
      });
    },
  );

  await t.step(
    "copy failure: a copy that does not answer within copy_timeout is dropped",
    async () => {
      const db = "timeout";
      await cluster.recreateDatabase(db);
      await using proxy = await cluster.startProxy({
        sections: { log: { level: "info" }, replication: { copy_timeout: 1 } },
      });
      await guarded(proxy, async () => {
        const url = proxy.url(db);
        assert.equal((await psql(url, "CREATE TABLE t (id int)")).code, 0);
        // Someone holds a lock on copy2 directly: the replicated INSERT waits there.
        await using locker = await pgClient(copy2.url(db));
        await locker.query("BEGIN");
        await locker.query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
        const started = Date.now();
        const r = await psql(url, "INSERT INTO t VALUES (1)");
        assert.equal(r.code, 0, r.stderr);
        assert.ok(Date.now() - started < 10_000, "the client waited far beyond copy_timeout");
        assert.deepEqual(staleCopies(proxy), ["copy2"]);
        await locker.query("ROLLBACK");
        assert.equal((await psql(url, "INSERT INTO t VALUES (2)")).code, 0);
        await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n2\n", [copy]);
        // copy2's contents are not checked: closing the connection does not stop its INSERT, which
        // commits once the lock is gone. It is stale either way, and gets nothing after.
        assert.equal(await copy2.psql("SELECT count(*) FROM t WHERE id = 2", { db }), "0\n");
      });
    },
  );

  await t.step(
    "copy_timeout: a BEGIN the copies get with the next statement does not time out meanwhile",
    async () => {
      const db = "timeout_begin";
      await cluster.recreateDatabase(db);
      await using proxy = await cluster.startProxy({
        sections: { log: { level: "info" }, replication: { copy_timeout: 1 } },
      });
      await guarded(proxy, async () => {
        const url = proxy.url(db);
        assert.equal((await psql(url, "CREATE TABLE t (id int)")).code, 0);
        await using client = await pgClient(url);
        await client.query("BEGIN");
        // Longer than copy_timeout: the copies have not been sent the BEGIN yet.
        await new Promise((r) => setTimeout(r, 2500));
        await client.query("INSERT INTO t VALUES (1)");
        await client.query("COMMIT");
        assert.deepEqual(staleCopies(proxy), []);
        await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n");
      });
    },
  );

  await t.step(
    "copy failure: pgbench has no failed transaction when a copy is killed under load",
    async () => {
      const db = "kill";
      await cluster.recreateDatabase(db);
      await using proxy = await cluster.startProxy({ sections: { log: { level: "info" } } });
      await guarded(proxy, async () => {
        const init = await pgbench(proxy.url(db), ["-i", "-s", "1", "-q"]);
        assert.equal(init.code, 0, init.stderr);
        const load = pgbench(proxy.url(db), ["-c", "4", "-j", "2", "-T", "4", "-n"]);
        try {
          await waitFor(
            async () =>
              Number(await cluster.original.psql("SELECT count(*) FROM pgbench_history", { db })) >=
                50,
            { what: "pgbench to get going" },
          );
          await copy2.stop("immediate");
        } finally {
          const r = await load;
          assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
          const report = pgbenchReport(r.stdout);
          assert.equal(report.failed, 0);
          assert.ok(report.processed >= 50);
          await assertPgbenchIdentical(cluster, db, report.processed, [copy]);
        }
        assert.deepEqual(staleCopies(proxy), ["copy2"]);
        await copy2.start();
        // Back up, but stale: later writes do not reach it.
        assert.equal((await psql(proxy.url(db), "CREATE TABLE after_kill (id int)")).code, 0);
        assert.ok(await hasTable(cluster, 1, db, "after_kill"));
        assert.ok(!(await hasTable(cluster, 2, db, "after_kill")));
      });
    },
  );

  await t.step("copy failure: a copy down when usogres starts is stale, clients work", async () => {
    const db = "down_at_start";
    await cluster.recreateDatabase(db);
    await copy2.stop("fast");
    try {
      await using proxy = await cluster.startProxy({ sections: { log: { level: "info" } } });
      await guarded(proxy, async () => {
        const r = await psql(proxy.url(db), "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(staleCopies(proxy), ["copy2"]);
        await copy2.start();
        assert.equal((await psql(proxy.url(db), "INSERT INTO t VALUES (2)")).code, 0);
        await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n2\n", [copy]);
        assert.ok(!(await hasTable(cluster, 2, db, "t")));
      });
    } finally {
      if (await copy2.pid() === undefined) await copy2.start();
    }
  });

  await t.step(
    "copy failure: a copy down when a session starts is stale, and idle sessions go on",
    async () => {
      const db = "down_at_session";
      await cluster.recreateDatabase(db);
      await using proxy = await cluster.startProxy({ sections: { log: { level: "info" } } });
      await guarded(proxy, async () => {
        const url = proxy.url(db);
        assert.equal(
          (await psql(url, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)")).code,
          0,
        );
        await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n");
        // A session opened while every copy was up, idle while one goes down.
        await using idle = await pgClient(url);
        // "fast", not "immediate": the throwaway servers run with synchronous_commit = off, and
        // the row the copy already has must survive its restart for the check at the end.
        await copy.stop("fast");
        try {
          const r = await psql(url, "INSERT INTO t VALUES (2)");
          assert.equal(r.code, 0, r.stderr);
          // A new connection finds the copy down; a session reusing cached connections finds its
          // link broken at the first write: stale either way, and the client sees nothing.
          assert.match(
            proxy.output(),
            /"copy" is now stale: (unreachable at session start|failed: )/,
          );
          assert.deepEqual(staleCopies(proxy), ["copy"]);
          assert.equal((await idle.query("INSERT INTO t VALUES (3)")).rowCount, 1);
          await assertEverywhere(cluster, db, "SELECT id FROM t ORDER BY id", "1\n2\n3\n", [copy2]);
        } finally {
          await copy.start();
        }
        assert.equal(await copy.psql("SELECT id FROM t ORDER BY id", { db }), "1\n");
      });
    },
  );

  await t.step("original down: a client connecting gets FATAL 57P03", async () => {
    await using proxy = await cluster.startProxy({ sections: { log: { level: "info" } } });
    await guarded(proxy, async () => {
      await cluster.original.stop("immediate");
      try {
        assert.equal(await rejectsWith(() => pgClient(proxy.url())), "57P03");
        assert.deepEqual(staleCopies(proxy), []);
      } finally {
        await cluster.original.start();
      }
      await using c = await pgClient(proxy.url());
      assert.deepEqual((await c.query("SELECT 1 AS ok")).rows, [{ ok: 1 }]);
    });
  });
});
