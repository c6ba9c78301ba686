/**
 * @module
 * The admin console, health checks and metrics of a running usogres in front of an original and
 * one copy: every SHOW through psql, who may connect, DETACH (writes stop reaching the copy,
 * read directly) and ATTACH refused then forced, PAUSE holding a write until RESUME, RELOAD
 * and SIGHUP, `/metrics`, `/healthz` and `/readyz` over HTTP, a stopped copy going down then
 * stale (never in sync) when it returns, `usogres status`, and SHUTDOWN. The servers are
 * throwaway ones, since the copy is stopped here.
 */

import assert from "node:assert/strict";
import {
  freePort,
  pgClient,
  type ProxyProcess,
  psql,
  startCluster,
  type StartProxyOptions,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** Fast health checks, so that a stopped copy is down within a second or two. */
const HEALTH = { interval: 0.2, timeout: 2, retries: 2 };

/** Runs one admin command through psql and returns its rows (`-At`, fields split on `|`). */
async function admin(proxy: ProxyProcess, sql: string): Promise<string[][]> {
  const r = await psql(proxy.url("usogres"), sql, { args: ["-At"] });
  assert.equal(r.code, 0, `${sql}: ${r.stderr}`);
  return r.stdout.trimEnd().split("\n").filter((l) => l !== "").map((l) => l.split("|"));
}

/** Runs one admin command through psql with headers, returning column names and rows. */
async function adminTable(
  proxy: ProxyProcess,
  sql: string,
): Promise<{ columns: string[]; rows: Record<string, string>[] }> {
  const r = await psql(proxy.url("usogres"), sql, { args: ["-A", "-F", "\t", "-P", "footer=off"] });
  assert.equal(r.code, 0, `${sql}: ${r.stderr}`);
  const [header, ...lines] = r.stdout.trimEnd().split("\n");
  const columns = (header ?? "").split("\t");
  const rows = lines.map((l) => Object.fromEntries(l.split("\t").map((v, i) => [columns[i], v])));
  return { columns, rows };
}

/** The SHOW BACKENDS row of one server. */
async function backend(proxy: ProxyProcess, name: string): Promise<Record<string, string>> {
  const { rows } = await adminTable(proxy, "SHOW BACKENDS");
  const row = rows.find((r) => r.name === name);
  assert.ok(row, `no SHOW BACKENDS row for ${name}`);
  return row;
}

/** Runs an admin command expected to fail; returns the SQLSTATE and fields. */
async function adminError(
  proxy: ProxyProcess,
  sql: string,
): Promise<{ code?: string; detail?: string; hint?: string }> {
  await using client = await pgClient(proxy.url("usogres"));
  try {
    await client.query(sql);
  } catch (e: unknown) {
    return e as { code?: string; detail?: string; hint?: string };
  }
  assert.fail(`${sql} succeeded`);
}

Deno.test("admin: console, health checks and metrics", async (t) => {
  await using cluster = await startCluster({ copies: 1, source: "local" });

  /** Runs a step with a fresh usogres (fast health checks, metrics on a free port). */
  const step = (
    name: string,
    fn: (proxy: ProxyProcess, metricsPort: number) => Promise<void>,
    opts: StartProxyOptions = {},
  ) =>
    t.step(name, async () => {
      const metricsPort = await freePort();
      await using proxy = await cluster.startProxy({
        ...opts,
        sections: {
          admin: { metrics_listen: `127.0.0.1:${metricsPort}` },
          health: HEALTH,
          ...opts.sections,
        },
      });
      await withLogsOnFailure(proxy, cluster, () => fn(proxy, metricsPort));
    });

  await step("psql: every SHOW command answers with its columns", async (proxy) => {
    const backends = await adminTable(proxy, "SHOW BACKENDS");
    for (const c of ["name", "host", "port", "role", "state", "last_error", "writes_applied"]) {
      assert.ok(backends.columns.includes(c), c);
    }
    for (const c of ["writes_failed", "divergences", "lag", "last_check", "check_latency_ms"]) {
      assert.ok(backends.columns.includes(c), c);
    }
    assert.deepEqual(backends.rows.map((r) => [r.name, r.role, r.state]), [
      ["original", "original", "in_sync"],
      ["copy", "copy", "in_sync"],
    ]);
    assert.equal(backends.rows[1]!.port, String(cluster.copies[0]!.port));
    // Health checks run at once: the original's first check soon shows.
    await waitFor(async () => (await backend(proxy, "original")).up === "t", {
      what: "the original's first health check",
    });

    const clients = await adminTable(proxy, "SHOW CLIENTS");
    assert.deepEqual(clients.columns, [
      "remote",
      "user",
      "database",
      "state",
      "connected_since",
      "bytes_in",
      "bytes_out",
      "worker",
    ]);
    assert.ok(clients.rows.some((r) => r.database === "usogres" && r.state === "admin"));

    const stats = new Map((await admin(proxy, "SHOW STATS")).map(([k, v]) => [k, v]));
    for (const k of ["uptime_seconds", "connections_accepted", "bytes_to_clients", "divergences"]) {
      assert.ok(stats.has(k), k);
    }
    assert.ok(Number(stats.get("connections_accepted")) >= 1);

    const config = new Map((await admin(proxy, "SHOW CONFIG")).map(([k, v, s]) => [k, [v, s]]));
    assert.deepEqual(config.get("health.retries"), [
      "2",
      `${proxy.configFile}:${await lineOf(proxy, "retries")}`,
    ]);
    assert.equal(config.get("listen.port")?.[0], String(proxy.port));

    const [[version]] = await admin(proxy, "show version;") as [[string]];
    assert.match(version, /^usogres \d+\.\d+\.\d+/);
  });

  await step(
    "connections: a non-admin role is refused (28000); bad commands get 42601, 42704 or 55000",
    async (proxy) => {
      let refused: { code?: string } | undefined;
      try {
        await using _ = await pgClient(proxy.url("usogres", "app"));
      } catch (e: unknown) {
        refused = e as { code?: string };
      }
      assert.equal(refused?.code, "28000");
      assert.equal((await adminError(proxy, "SELECT 1")).code, "42601");
      assert.equal((await adminError(proxy, "DETACH nope")).code, "42704");
      // An in-sync copy needs no recovery; PROMOTE of an unknown server is refused.
      assert.equal((await adminError(proxy, "RECOVER copy")).code, "55000");
      assert.equal((await adminError(proxy, "PROMOTE nope")).code, "42704");
      // Other databases still go to the servers.
      const r = await psql(proxy.url(), "SELECT 1", { args: ["-At"] });
      assert.equal(r.stdout, "1\n");
    },
  );

  await step(
    "DETACH: writes stop reaching the copy; ATTACH is refused, then forced",
    async (proxy) => {
      await cluster.recreateDatabase("detach");
      const url = proxy.url("detach");
      assert.equal((await psql(url, "CREATE TABLE t (id int PRIMARY KEY)")).code, 0);
      assert.equal((await psql(url, "INSERT INTO t VALUES (1)")).code, 0);
      assert.equal(
        await cluster.copies[0]!.psql("SELECT count(*) FROM t", { db: "detach" }),
        "1\n",
      );

      assert.deepEqual(await admin(proxy, "DETACH copy"), [["DETACH"]]);
      const detached = await backend(proxy, "copy");
      assert.equal(detached.state, "stale");
      assert.match(detached.last_error ?? "", /^detached by admin/);

      assert.equal((await psql(url, "INSERT INTO t VALUES (2)")).code, 0);
      assert.equal(await cluster.original.psql("SELECT count(*) FROM t", { db: "detach" }), "2\n");
      assert.equal(
        await cluster.copies[0]!.psql("SELECT count(*) FROM t", { db: "detach" }),
        "1\n",
      );

      const refused = await adminError(proxy, "ATTACH copy");
      assert.equal(refused.code, "55000");
      assert.match(refused.detail ?? "", /missed writes/);
      assert.match(refused.hint ?? "", /RECOVER copy/);
      assert.equal((await backend(proxy, "copy")).state, "stale");

      assert.deepEqual(await admin(proxy, "ATTACH copy FORCE"), [["ATTACH"]]);
      assert.equal((await backend(proxy, "copy")).state, "in_sync");
      assert.equal((await psql(url, "INSERT INTO t VALUES (3)")).code, 0);
      assert.equal(
        await cluster.copies[0]!.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t", {
          db: "detach",
        }),
        "1,3\n",
      );
    },
  );

  await step(
    "PAUSE and RESUME: a write waits at the gate until RESUME; reads go on",
    async (proxy) => {
      await cluster.recreateDatabase("pause");
      const url = proxy.url("pause");
      assert.equal((await psql(url, "CREATE TABLE t (id int PRIMARY KEY)")).code, 0);
      assert.deepEqual(await admin(proxy, "PAUSE"), [["PAUSE"]]);
      let stats = new Map((await admin(proxy, "SHOW STATS")).map(([k, v]) => [k, v]));
      assert.equal(stats.get("writes_paused"), "t");

      const write = psql(url, "INSERT INTO t VALUES (1)");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const first = await Promise.race([
        write.then(() => "write finished"),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve("deadline"), 1500))),
      ]);
      clearTimeout(timer);
      assert.equal(first, "deadline", "the write finished while writes were paused");
      await waitFor(async () => {
        const s = new Map((await admin(proxy, "SHOW STATS")).map(([k, v]) => [k, v]));
        return s.get("write_batches_waiting") === "1";
      }, { what: "the write to wait at the gate" });
      const read = await psql(url, "SELECT count(*) FROM t", { args: ["-At"] });
      assert.equal(read.stdout, "0\n", "a read must not wait at the gate");
      assert.equal(await cluster.original.psql("SELECT count(*) FROM t", { db: "pause" }), "0\n");

      assert.deepEqual(await admin(proxy, "RESUME"), [["RESUME"]]);
      const done = await write;
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(await cluster.queryEach("SELECT count(*) FROM t", "pause"), ["1\n", "1\n"]);
      stats = new Map((await admin(proxy, "SHOW STATS")).map(([k, v]) => [k, v]));
      assert.equal(stats.get("writes_paused"), "f");
    },
  );

  await step("metrics: /metrics, /healthz and /readyz over HTTP", async (_proxy, metricsPort) => {
    const base = `http://127.0.0.1:${metricsPort}`;
    const healthz = await fetch(`${base}/healthz`);
    assert.equal(healthz.status, 200);
    assert.equal(await healthz.text(), "ok\n");
    await waitFor(async () => {
      const r = await fetch(`${base}/readyz`);
      await r.body?.cancel();
      return r.status === 200;
    }, { what: "/readyz to answer 200" });
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    for (
      const line of [
        'usogres_backend_state{backend="original",state="in_sync"} 1',
        'usogres_backend_state{backend="copy",state="in_sync"} 1',
        'usogres_backend_state{backend="copy",state="stale"} 0',
        'usogres_backend_up{backend="original"} 1',
        "# TYPE usogres_write_fanout_seconds histogram",
      ]
    ) {
      assert.ok(text.includes(`${line}\n`), `missing: ${line}`);
    }
    assert.match(text, /^usogres_connections_total \d+$/m);
    const missing = await fetch(`${base}/nope`);
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
  });

  await step(
    "health: a stopped copy is down, and stale (not in sync) when it is back",
    async (proxy, metricsPort) => {
      const copy = cluster.copies[0]!;
      await waitFor(async () => (await backend(proxy, "copy")).up === "t", {
        what: "the copy's first health check",
      });
      await copy.stop("immediate");
      try {
        const down = await waitFor(async () => {
          const row = await backend(proxy, "copy");
          return row.state === "down" ? row : undefined;
        }, { timeoutMs: 15_000, what: "the copy to be down" });
        assert.equal(down.up, "f");
        assert.match(down.last_error ?? "", /health checks in a row/);
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        assert.ok(text.includes('usogres_backend_state{backend="copy",state="down"} 1\n'));
        assert.ok(text.includes('usogres_backend_up{backend="copy"} 0\n'));
        // Clients carry on against the original.
        const r = await psql(proxy.url(), "SELECT 1", { args: ["-At"] });
        assert.equal(r.code, 0, r.stderr);
      } finally {
        await copy.start();
      }
      const back = await waitFor(async () => {
        const row = await backend(proxy, "copy");
        return row.state === "stale" ? row : undefined;
      }, { timeoutMs: 15_000, what: "the copy to be stale" });
      assert.equal(back.up, "t");
      assert.match(back.last_error ?? "", /missed writes/);
      assert.equal((await adminError(proxy, "ATTACH copy")).code, "55000");
    },
  );

  await step("RELOAD and SIGHUP: live settings change, others need a restart", async (proxy) => {
    const text = await Deno.readTextFile(proxy.configFile);
    await Deno.writeTextFile(
      proxy.configFile,
      text.replace(/^retries = 2$/m, "retries = 3").replace(/^level = "debug"$/m, 'level = "info"')
        .replace(/^max_clients = .*$/m, "").replace(/^\[listen\]$/m, "[listen]\nmax_clients = 7"),
    );
    await using client = await pgClient(proxy.url("usogres"));
    const notices: string[] = [];
    client.on("notice", (n) => notices.push((n as { message: string }).message));
    await client.query("RELOAD");
    await waitFor(() => notices.length >= 3, { what: "RELOAD's notices" });
    assert.ok(notices.includes('setting "health.retries" changed to 3'), notices.join("; "));
    assert.ok(notices.includes('setting "log.level" changed to "info"'), notices.join("; "));
    assert.ok(
      notices.includes('setting "listen.max_clients" changed; it takes effect after a restart'),
      notices.join("; "),
    );
    const config = async () => new Map((await admin(proxy, "SHOW CONFIG")).map(([k, v]) => [k, v]));
    assert.equal((await config()).get("health.retries"), "3");
    assert.equal((await config()).get("listen.max_clients"), "100");

    await Deno.writeTextFile(
      proxy.configFile,
      (await Deno.readTextFile(proxy.configFile)).replace(/^retries = 3$/m, "retries = 4"),
    );
    proxy.kill("SIGHUP");
    await waitFor(async () => (await config()).get("health.retries") === "4", {
      what: "SIGHUP to reload",
    });
  });

  await step(
    "usogres status: prints the backends and stats tables; exit 2 when unreachable",
    async (proxy) => {
      const run = async (configFile: string) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${REPO_ROOT}mod.ts`, "status", "--config", configFile],
          env: { NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      };
      const ok = await run(proxy.configFile);
      assert.equal(ok.code, 0, ok.stderr);
      const lines = ok.stdout.split("\n");
      assert.equal(lines[0], "backends");
      assert.match(lines[1] ?? "", /^\s+name\s+\|\s+host\s+\|/);
      assert.ok(lines.some((l) => /^ original \| 127\.0\.0\.1 .*\| in_sync /.test(l)), ok.stdout);
      assert.ok(lines.some((l) => /^ copy\s+\| 127\.0\.0\.1 .*\| in_sync /.test(l)), ok.stdout);
      assert.ok(lines.includes("(2 rows)"));
      assert.ok(lines.includes("stats"));
      assert.ok(lines.some((l) => /^ uptime_seconds\s+\| \d+$/.test(l)), ok.stdout);

      const elsewhere = `${proxy.configFile}.elsewhere.toml`;
      const closed = await freePort();
      await Deno.writeTextFile(
        elsewhere,
        (await Deno.readTextFile(proxy.configFile)).replace(/^port = \d+$/m, `port = ${closed}`),
      );
      try {
        const down = await run(elsewhere);
        assert.equal(down.code, 2, down.stdout + down.stderr);
        assert.match(down.stderr, /^usogres status: could not reach usogres at 127\.0\.0\.1:\d+/);
      } finally {
        await Deno.remove(elsewhere);
      }
    },
  );

  await step("SHUTDOWN: usogres answers, then stops gracefully with exit code 0", async (proxy) => {
    const r = await psql(proxy.url("usogres"), "SHUTDOWN");
    assert.equal(r.code, 0, r.stderr);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      proxy.status,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 15_000))),
    ]);
    clearTimeout(timer);
    assert.equal(status?.code, 0, proxy.output());
  });

  async function lineOf(proxy: ProxyProcess, key: string): Promise<number> {
    const lines = (await Deno.readTextFile(proxy.configFile)).split("\n");
    return lines.findIndex((l) => l.startsWith(`${key} = `)) + 1;
  }
});
