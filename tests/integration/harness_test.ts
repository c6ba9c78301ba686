/**
 * @module
 * Tests of the test harness itself: throwaway clusters from `scripts/pg_cluster.ts` (or CI's
 * external servers), the test roles and their password methods, server stop and restart, the
 * clients in `tests/harness/clients.ts`, and clean disposal.
 */

import assert from "node:assert/strict";
import {
  externalServersFromEnv,
  pgbench,
  pgClient,
  postgresJs,
  psql,
  startCluster,
  TEST_ROLES,
  waitFor,
} from "../harness/mod.ts";

/** True while a process exists and is not a zombie (an unreaped postmaster is stopped). */
async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("harness: cluster of real servers", async (t) => {
  await using cluster = await startCluster({ copies: 1 });

  await t.step("startCluster: original and copy answer SELECT 1 on their own ports", async () => {
    assert.equal(cluster.all.length, 2);
    assert.deepEqual(cluster.all.map((s) => s.name), ["original", "copy"]);
    assert.notEqual(cluster.original.port, cluster.copies[0]?.port);
    for (const server of cluster.all) assert.equal(await server.psql("SELECT 1"), "1\n");
  });

  await t.step("queryEach: runs the same SQL on every server, original first", async () => {
    const ports = await cluster.queryEach("SELECT current_setting('port')");
    assert.deepEqual(ports, cluster.all.map((s) => `${s.port}\n`));
  });

  await t.step("psql: a failing statement rejects with the server's error", async () => {
    await assert.rejects(cluster.original.psql("SELECT 1/0"), /division by zero/);
  });

  await t.step("test roles: each logs in over TCP with its password", async () => {
    for (const server of cluster.all) {
      for (const role of Object.values(TEST_ROLES)) {
        const url = `postgresql://${role.user}@${server.host}:${server.port}/postgres`;
        const ok = await psql(url, "SELECT current_user", {
          args: ["-At"],
          env: { PGPASSWORD: role.password },
        });
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(ok.stdout, `${role.user}\n`);
        if (server.external) continue; // CI containers choose their own pg_hba.conf
        const bad = await psql(url, "SELECT 1", { env: { PGPASSWORD: "wrong" } });
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /password authentication failed/);
      }
    }
  });

  await t.step("test roles: md5 and scram passwords are stored as their names say", async () => {
    const stored = await cluster.original.psql(
      "SELECT rolname, left(rolpassword, 6) FROM pg_authid WHERE rolname LIKE 'usogres%' " +
        "ORDER BY rolname",
    );
    assert.match(stored, /^usogres_md5\|md5/m);
    assert.match(stored, /^usogres_scram\|SCRAM-/m);
  });

  await t.step("recreateDatabase: gives every server an empty database", async () => {
    await cluster.recreateDatabase("harness_db");
    await cluster.queryEach("CREATE TABLE t (id int)", "harness_db");
    await cluster.recreateDatabase("harness_db");
    const counts = await cluster.queryEach(
      "SELECT count(*) FROM pg_tables WHERE tablename = 't'",
      "harness_db",
    );
    assert.deepEqual(counts, cluster.all.map(() => "0\n"));
  });

  await t.step("clients: node-postgres and postgres.js connect and close", async () => {
    {
      await using client = await pgClient(cluster.original.url());
      const r = await client.query<{ n: number }>("SELECT $1::int AS n", [7]);
      assert.deepEqual(r.rows, [{ n: 7 }]);
    }
    {
      await using sql = postgresJs(cluster.copies[0]?.url() ?? "", { max: 1 });
      const rows = await sql`SELECT ${8}::int AS n`;
      assert.equal(rows[0]?.n, 8);
    }
  });

  await t.step("clients: pgbench takes a URL and reports tps", async () => {
    await cluster.original.psql("DROP TABLE IF EXISTS bench_t; CREATE TABLE bench_t (id int)");
    const script = await Deno.makeTempFile({ suffix: ".sql" });
    try {
      await Deno.writeTextFile(script, "INSERT INTO bench_t VALUES (1);\n");
      const r = await pgbench(cluster.original.url(), ["-n", "-t", "5", "-f", script]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.tps !== undefined && r.tps > 0);
      assert.equal(await cluster.original.psql("SELECT count(*) FROM bench_t"), "5\n");
    } finally {
      await Deno.remove(script);
    }
  });

  await t.step(
    "server: stop ends the postmaster and start brings it back on the same port",
    async () => {
      const server = cluster.copies[0];
      assert.ok(server);
      if (server.external) {
        console.log(`skipped: server "${server.name}" is external and cannot be stopped`);
        await assert.rejects(server.stop(), /external/);
        return;
      }
      const port = server.port;
      const pid = await server.pid();
      assert.ok(pid !== undefined && await processAlive(pid));
      await server.stop();
      assert.equal(await server.pid(), undefined);
      await waitFor(async () => !(await processAlive(pid)), { what: "postmaster exit" });
      await server.start();
      assert.equal(server.port, port);
      assert.equal(await server.psql("SELECT 1"), "1\n");
    },
  );

  await t.step("dispose: stops the postmasters and removes the data directories", async () => {
    const pids: number[] = [];
    const dirs: string[] = [];
    {
      await using local = await startCluster({ copies: 1, source: "local" });
      for (const server of local.all) {
        const pid = await server.pid();
        assert.ok(pid !== undefined && server.dataDir !== undefined);
        pids.push(pid);
        dirs.push(server.dataDir);
      }
      for (const dir of dirs) assert.ok(await exists(dir));
    }
    for (const pid of pids) assert.equal(await processAlive(pid), false, `pid ${pid} alive`);
    for (const dir of dirs) assert.equal(await exists(dir), false, `${dir} still exists`);
  });

  await t.step("externalServersFromEnv: parses the original and comma-separated copies", () => {
    assert.equal(externalServersFromEnv({}), undefined);
    const ext = externalServersFromEnv({
      USOGRES_TEST_ORIGINAL: "postgres://postgres:p%40ss@localhost:5433/postgres",
      USOGRES_TEST_COPIES: "postgres://postgres:x@localhost:5434/postgres, " +
        "postgres://postgres:x@localhost:5435/postgres",
    });
    assert.ok(ext);
    assert.equal(ext.original.port, 5433);
    assert.equal(ext.original.external, true);
    assert.equal(ext.original.dataDir, undefined);
    assert.equal(ext.original.url("db1"), "postgres://postgres:p%40ss@localhost:5433/db1");
    assert.deepEqual(ext.copies.map((s) => [s.name, s.port]), [["copy", 5434], ["copy2", 5435]]);
    assert.throws(() => externalServersFromEnv({ USOGRES_TEST_ORIGINAL: "nonsense" }), /ORIGINAL/);
  });
});
