/**
 * @module
 * How usogres authenticates to the original and what clients see when that fails: md5, SCRAM and
 * cleartext roles with passwords from the passfile, `PGPASSWORD` and `[backend] password`; the
 * server's own errors forwarded unchanged (bad password, no such database, the backend killed
 * mid-session); usogres's own errors (no password, original down); and the seed's legacy rc file
 * starting usogres as written. The servers are throwaway ones, since one is stopped here.
 */

import assert from "node:assert/strict";
import {
  freePort,
  pgClient,
  psql,
  startCluster,
  TEST_ROLES,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** The fields of a node-postgres error that tell whose error it is. */
interface PgErrorFields {
  readonly code?: string;
  readonly severity?: string;
  readonly hint?: string;
  /** The server function that raised it: set by PostgreSQL, absent from usogres's own errors. */
  readonly routine?: string;
}

/** Connects through node-postgres, expecting a refusal; returns the error's fields. */
async function refusal(url: string): Promise<PgErrorFields> {
  try {
    await using _ = await pgClient(url);
  } catch (e: unknown) {
    assert.ok(typeof e === "object" && e !== null, String(e));
    return e as PgErrorFields;
  }
  assert.fail(`the connection to ${url} succeeded`);
}

/** `SELECT current_user` through psql, asserting success. */
async function currentUser(url: string): Promise<string> {
  const r = await psql(url, "SELECT current_user", { args: ["-At"] });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** A temporary directory removed on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "usogres-auth-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("proxy: authentication to the original, and its failures", async (t) => {
  await using cluster = await startCluster({ copies: 1, source: "local" });
  await using tmp = await tempDir();
  /** A passfile path with no file: usogres finds no password there. */
  const noPassfile = `${tmp.path}/no-such-pgpass`;

  await t.step("with the generated passfile", async (t) => {
    await using proxy = await cluster.startProxy({ env: { PGPASSWORD: "" } });
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, () => withLogsOnFailure(proxy, cluster, fn));

    await step("passfile: md5, SCRAM and cleartext roles each log in to the original", async () => {
      for (const role of Object.values(TEST_ROLES)) {
        assert.equal(await currentUser(proxy.url("postgres", role.user)), role.user);
      }
    });

    await step("startup: a database that does not exist gets the server's 3D000", async () => {
      const e = await refusal(proxy.url("no_such_db"));
      assert.equal(e.code, "3D000");
      assert.equal(e.severity, "FATAL");
      assert.ok(e.routine, "the error is not the server's own");
    });

    await step(
      "original: a backend terminated mid-session gives its FATAL 57P01; the next query fails",
      async () => {
        const app = "killed_mid_session";
        await using client = await pgClient(`${proxy.url()}?application_name=${app}`);
        const errors: PgErrorFields[] = [];
        client.on("error", (e) => errors.push(e as PgErrorFields));
        const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        const pid = rows[0]?.pid;
        assert.ok(pid);
        assert.equal(
          await cluster.original.psql(`SELECT pg_terminate_backend(${pid})`),
          "t\n",
        );
        await waitFor(() => errors.length > 0, { what: "the client to get the FATAL" });
        assert.equal(errors[0]?.code, "57P01");
        assert.equal(errors[0]?.severity, "FATAL");
        assert.ok(errors[0]?.routine, "the error is not the server's own");
        await assert.rejects(client.query("SELECT 1"));
        // The session is over on every server, the copy included.
        for (const server of cluster.all) {
          await waitFor(
            async () =>
              (await server.psql(
                `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}'`,
              )) === "0\n",
            { what: `the session's backend on "${server.name}" to end` },
          );
        }
      },
    );

    await step("original: down at connect gets FATAL 57P03; back up, clients connect", async () => {
      await cluster.original.stop();
      try {
        const e = await refusal(proxy.url());
        assert.equal(e.code, "57P03");
        assert.equal(e.severity, "FATAL");
        const r = await psql(proxy.url(), "SELECT 1");
        assert.equal(r.code, 2, r.stderr);
      } finally {
        await cluster.original.start();
      }
      assert.equal(await currentUser(proxy.url()), "postgres");
    });
  });

  await t.step("PGPASSWORD: supplies the password when the passfile has none", async () => {
    const role = TEST_ROLES.scram;
    await using proxy = await cluster.startProxy({
      sections: { backend: { passfile: noPassfile } },
      env: { PGPASSWORD: role.password },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      assert.equal(await currentUser(proxy.url("postgres", role.user)), role.user);
    });
  });

  await t.step(
    "[backend] user and password: log in as that role whatever the client's role",
    async () => {
      const role = TEST_ROLES.md5;
      await using proxy = await cluster.startProxy({
        sections: { backend: { user: role.user, password: role.password, passfile: noPassfile } },
        env: { PGPASSWORD: "" },
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        assert.equal(await currentUser(proxy.url("postgres", "postgres")), role.user);
      });
    },
  );

  await t.step("[backend] password: a wrong one gets the server's own 28P01", async () => {
    await using proxy = await cluster.startProxy({
      sections: { backend: { password: "wrong" } },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      for (const role of Object.values(TEST_ROLES)) {
        const e = await refusal(proxy.url("postgres", role.user));
        assert.equal(e.code, "28P01", role.user);
        assert.equal(e.severity, "FATAL");
        assert.equal(e.routine, "auth_failed", "the error is not the server's own");
      }
    });
  });

  await t.step("no password anywhere: 28P01 from usogres, with a hint", async () => {
    await using proxy = await cluster.startProxy({
      sections: { backend: { passfile: noPassfile } },
      env: { PGPASSWORD: "" },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      for (const role of [TEST_ROLES.md5, TEST_ROLES.scram]) {
        const e = await refusal(proxy.url("postgres", role.user));
        assert.equal(e.code, "28P01");
        assert.equal(e.severity, "FATAL");
        assert.equal(e.routine, undefined, "usogres's own error carries no server routine");
        assert.ok(e.hint, "no hint");
      }
    });
  });

  await t.step("legacy rc file: the seed's file, as written, starts usogres for psql", async () => {
    const copy = cluster.copies[0];
    assert.ok(copy);
    const port = await freePort();
    // The seed's file verbatim, with local addresses and ports: `~/.usogres-log` stays unquoted.
    const rc = [
      `host = "127.0.0.1"`,
      `port = ${port}`,
      `hostorg = "${cluster.original.host}"`,
      `portorg = ${cluster.original.port}`,
      `hostcopy = "${copy.host}"`,
      `portcopy = ${copy.port}`,
      `logdir = ~/.usogres-log`,
      `max_process = 32`,
      "",
    ].join("\n");
    const file = `${tmp.path}/usogresrc`;
    await Deno.writeTextFile(file, rc);
    const home = `${tmp.path}/home`;
    await Deno.mkdir(home);
    // A HOME of its own keeps `~/.usogres-log` out of the real one; DENO_DIR stays the real cache.
    const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
    const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}mod.ts`, "--config", file],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1", HOME: home, DENO_DIR: denoDir, PGPASSWORD: "" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let stopped = false;
    try {
      await waitFor(
        () => Deno.connect({ hostname: "127.0.0.1", port }).then((c) => (c.close(), true)),
        { what: "usogres to listen on the legacy file's port", timeoutMs: 15_000 },
      );
      const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
      const r = await psql(url, "SELECT current_setting('port')", { args: ["-At"] });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${cluster.original.port}\n`);
      assert.ok((await Deno.stat(`${home}/.usogres-log/usogres.log`)).isFile);
      child.kill("SIGTERM");
      stopped = true;
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    } finally {
      if (!stopped) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited already.
        }
        const out = await output;
        console.error(new TextDecoder().decode(out.stderr).split("\n").slice(-40).join("\n"));
      }
    }
  });
});
