/**
 * @module
 * The connection cache (`backend.pool_size`, issue #6's `-S -C` workload) with real clients
 * against a real original and copy: a client never sees what the previous client of the same
 * cached connections left behind (temporary tables, SET and SET ROLE, advisory locks, WITH HOLD
 * cursors, prepared statements, LISTEN), on the original and on the copy; a client that leaves
 * inside a transaction never passes its connections on; and a set whose reset fails on one
 * server is closed, never handed out.
 */

import assert from "node:assert/strict";
import { type PgClient, pgClient, type PgServer, startCluster, waitFor } from "../harness/mod.ts";
import { backendStates } from "./_faults.ts";

const DB = "cache";

/** The original's backend pid of a client connected through usogres. */
async function backendPid(client: PgClient): Promise<number> {
  return (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
}

/** One value from a server, queried directly (not through usogres). */
async function direct(server: PgServer, sql: string): Promise<string> {
  return (await server.psql(sql, { db: DB })).trim();
}

/** A server connection's state and last query, as `state:query`. */
function stateOf(server: PgServer, where: string): Promise<string> {
  return direct(server, `SELECT state || ':' || query FROM pg_stat_activity WHERE ${where}`);
}

/** Waits until a server connection ran DISCARD ALL and is idle: the cache has reset it. */
function resetDone(server: PgServer, where: string): Promise<boolean> {
  return waitFor(async () => (await stateOf(server, where)) === "idle:DISCARD ALL", {
    what: `the connection (${where}) to be reset`,
  });
}

/** Waits until a server connection is idle without having run any query. */
function untouched(server: PgServer, where: string): Promise<boolean> {
  return waitFor(async () => (await stateOf(server, where)) === "idle:", {
    what: `the connection (${where}) to be idle, never used`,
  });
}

/** Waits until no server connection matches `where` any more. */
function connectionClosed(server: PgServer, where: string, what: string): Promise<boolean> {
  return waitFor(
    async () =>
      (await direct(server, `SELECT count(*) FROM pg_stat_activity WHERE ${where}`)) === "0",
    { what },
  );
}

/** Ends the server connections matching `where` on the server itself; asserts there was one. */
async function terminate(server: PgServer, where: string): Promise<void> {
  assert.equal(
    await direct(
      server,
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE ${where}`,
    ),
    "1",
  );
}

Deno.test("connection cache", async (t) => {
  await using cluster = await startCluster({ copies: 1 });
  const copy = cluster.copies[0]!;
  await cluster.recreateDatabase(DB);
  // Roles are per server: made on each directly. The table goes through usogres below.
  await cluster.queryEach(
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cache_role') " +
      "THEN CREATE ROLE cache_role NOLOGIN; END IF; END $$;",
  );
  await using proxy = await cluster.startProxy({
    sections: { backend: { pool_size: 2 }, log: { level: "info" } },
  });
  const url = (app: string) => `${proxy.url(DB)}?application_name=${app}`;
  {
    await using setup = await pgClient(url("setup"));
    await setup.query("CREATE TABLE t (id int PRIMARY KEY)");
    await setup.query("GRANT ALL ON t TO cache_role");
  }

  await t.step("reset: the next client sees none of the session state left behind", async () => {
    let pid: number;
    {
      await using a = await pgClient(url("leak"));
      pid = await backendPid(a);
      await a.query("CREATE TEMP TABLE tmp_leak (x int)");
      await a.query("SET statement_timeout = '1234ms'");
      await a.query("SELECT pg_advisory_lock(4242)");
      await a.query("BEGIN");
      await a.query("DECLARE held CURSOR WITH HOLD FOR SELECT 1");
      await a.query("COMMIT");
      await a.query("PREPARE leaked AS SELECT 1");
      await a.query("LISTEN leaked_channel");
      await a.query("SET ROLE cache_role");
      assert.equal((await a.query("SELECT current_user AS u")).rows[0]!.u, "cache_role");
    }
    await resetDone(cluster.original, `pid = ${pid}`);
    await resetDone(copy, "application_name = 'leak'");

    await using b = await pgClient(url("leak"));
    assert.equal(await backendPid(b), pid, "the next client did not get the cached connection");
    const state = await b.query(
      "SELECT current_user AS u, current_setting('statement_timeout') AS timeout, " +
        "(SELECT count(*) FROM pg_class WHERE relname = 'tmp_leak')::int AS temp, " +
        "(SELECT count(*) FROM pg_cursors)::int AS cursors, " +
        "(SELECT count(*) FROM pg_prepared_statements)::int AS prepared, " +
        "(SELECT count(*) FROM pg_listening_channels())::int AS listening, " +
        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' " +
        "AND pid = pg_backend_pid())::int AS locks",
    );
    assert.deepEqual(state.rows[0], {
      u: cluster.original.superuser,
      timeout: "0",
      temp: 0,
      cursors: 0,
      prepared: 0,
      listening: 0,
      locks: 0,
    });
    // Another session can take the advisory lock (it went to every server).
    await using c = await pgClient(url("other"));
    assert.equal((await c.query("SELECT pg_try_advisory_lock(4242) AS ok")).rows[0]!.ok, true);
    await c.query("SELECT pg_advisory_unlock(4242)");
    // On the copy too: no temporary table and no advisory lock survive the reset.
    assert.equal(
      await direct(copy, "SELECT count(*) FROM pg_class WHERE relname = 'tmp_leak'"),
      "0",
    );
    assert.equal(
      await direct(copy, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
      "0",
    );
    // The name is free again on the server: a PREPARE of it succeeds.
    await b.query("PREPARE leaked AS SELECT 2");
    assert.deepEqual((await b.query("EXECUTE leaked")).rows, [{ "?column?": 2 }]);
  });

  await t.step("open transaction: a client that leaves inside one passes nothing on", async () => {
    let pid: number;
    {
      await using a = await pgClient(url("tx"));
      pid = await backendPid(a);
      await a.query("BEGIN");
      await a.query("INSERT INTO t VALUES (1)");
    }
    // Its connections are closed (the server rolls the transaction back), not cached.
    await connectionClosed(
      cluster.original,
      `pid = ${pid}`,
      "the connection of the client that left inside a transaction to close",
    );
    await using b = await pgClient(url("tx"));
    assert.notEqual(await backendPid(b), pid);
    assert.equal((await b.query("SELECT count(*)::int AS n FROM t")).rows[0]!.n, 0);
    assert.deepEqual(await cluster.queryEach("SELECT count(*) FROM t", DB), ["0\n", "0\n"]);
  });

  await t.step(
    "failed reset: a set whose copy connection broke is closed, never handed out",
    async () => {
      let pid: number;
      {
        await using a = await pgClient(url("broken"));
        pid = await backendPid(a);
        // Session state on every server: the copy's connection needs its reset.
        await a.query("SET statement_timeout = '5s'");
        // The copy's connection of this session ends under it while the client is idle.
        await terminate(copy, "application_name = 'broken'");
      }
      // DISCARD ALL fails on the copy: the original's connection is closed too.
      await connectionClosed(
        cluster.original,
        `pid = ${pid}`,
        "the original's connection of the failed reset to close",
      );
      await using b = await pgClient(url("broken"));
      assert.notEqual(await backendPid(b), pid);
      await b.query("INSERT INTO t VALUES (2)");
      assert.deepEqual(await cluster.queryEach("SELECT count(*) FROM t", DB), ["1\n", "1\n"]);
    },
  );
  for (const side of ["original", "copy"] as const) {
    await t.step(
      `server closes a cached connection (${side}): the set is dropped at once, the next ` +
        "client gets new connections and the copy stays in sync",
      async () => {
        const app = `idle_${side}`;
        const server = side === "original" ? cluster.original : copy;
        let pid: number;
        {
          await using a = await pgClient(url(app));
          pid = await backendPid(a);
        }
        await resetDone(cluster.original, `pid = ${pid}`);
        // The client only read: its copy connection needed no reset, and ran nothing.
        await untouched(copy, `application_name = '${app}'`);
        // The server ends the idle cached connection (as pg_terminate_backend, a restart or
        // idle_session_timeout would); nothing goes through usogres meanwhile.
        const where = side === "original" ? `pid = ${pid}` : `application_name = '${app}'`;
        await terminate(server, where);
        // usogres closes the set's other connection as soon as it learns of it.
        const other = side === "original" ? copy : cluster.original;
        const otherWhere = side === "original" ? `application_name = '${app}'` : `pid = ${pid}`;
        await connectionClosed(
          other,
          otherWhere,
          `the set's ${side === "original" ? "copy" : "original"} connection to close`,
        );
        // The next client of the same key: its first statement is a write, and it succeeds on
        // fresh connections; the copy was not marked stale by a dead cached connection.
        await using b = await pgClient(url(app));
        const id = side === "original" ? 10 : 11;
        await b.query("INSERT INTO t VALUES ($1)", [id]);
        assert.notEqual(await backendPid(b), pid);
        assert.deepEqual(await backendStates(proxy), {
          original: "original/in_sync",
          copy: "copy/in_sync",
        });
        assert.deepEqual(
          await cluster.queryEach(`SELECT count(*) FROM t WHERE id = ${id}`, DB),
          ["1\n", "1\n"],
        );
      },
    );
  }

  await t.step(
    "reset: a copy the session never wrote to is handed on without DISCARD ALL; one it wrote to is reset",
    async () => {
      let pid: number;
      {
        await using a = await pgClient(url("reader"));
        pid = await backendPid(a);
        const n = (await a.query("SELECT count(*)::int AS n FROM t")).rows[0]!.n;
        assert.equal(String(n), await direct(cluster.original, "SELECT count(*) FROM t"));
      }
      await resetDone(cluster.original, `pid = ${pid}`);
      {
        // The set is back in the cache once this client gets it: the copy's reset, had there
        // been one, is over by then.
        await using b = await pgClient(url("reader"));
        assert.equal(await backendPid(b), pid, "the next client did not get the cached set");
        assert.equal(await stateOf(copy, "application_name = 'reader'"), "idle:");
        await b.query("INSERT INTO t VALUES (30)");
      }
      await resetDone(copy, "application_name = 'reader'");
      assert.deepEqual(
        await cluster.queryEach("SELECT count(*) FROM t WHERE id = 30", DB),
        ["1\n", "1\n"],
      );
    },
  );
});
