/**
 * @module
 * Unit tests of the admin console's commands against a plain context (`src/admin/console.ts`
 * and the command files): columns and rows of every SHOW, DETACH and ATTACH with their SQLSTATEs,
 * PAUSE and RESUME, RECOVER and PROMOTE refused, RELOAD's notices, SHUTDOWN after the reply, and
 * who may connect.
 */

import assert from "node:assert/strict";
import { AdminConsole, isLoopback } from "../../../src/admin/mod.ts";
import { ConfigError } from "../../../src/config/mod.ts";
import { VERSION } from "../../../src/version.ts";
import { healthRecord, type TestAdmin, testAdmin } from "./_context.ts";
import { readResult, type Result } from "./_wire.ts";

const SESSION = { user: "postgres", remote: "127.0.0.1:50000" };

async function run(ctx: TestAdmin, sql: string): Promise<Result & { after: () => void }> {
  const reply = await new AdminConsole(ctx).execute(sql, SESSION);
  return { ...(await readResult(reply.messages)), after: reply.after ?? (() => {}) };
}

function column(r: Result, name: string): (string | null)[] {
  const i = r.columns.indexOf(name);
  assert.ok(i >= 0, `no column ${name} in ${r.columns.join(", ")}`);
  return r.rows.map((row) => row[i] ?? null);
}

Deno.test("admin console: SHOW BACKENDS lists the original then the copy with states and health", async () => {
  const ctx = testAdmin();
  ctx.healthRecords.set("original", healthRecord("original"));
  const r = await run(ctx, "SHOW BACKENDS");
  assert.deepEqual(r.columns, [
    "name",
    "host",
    "port",
    "role",
    "state",
    "since",
    "last_error",
    "writes_applied",
    "writes_failed",
    "writes_skipped",
    "divergences",
    "last_divergence",
    "lag",
    "up",
    "last_check",
    "check_latency_ms",
  ]);
  assert.deepEqual(column(r, "name"), ["original", "copy"]);
  assert.deepEqual(column(r, "port"), ["5433", "5434"]);
  assert.deepEqual(column(r, "role"), ["original", "copy"]);
  assert.deepEqual(column(r, "state"), ["in_sync", "in_sync"]);
  assert.deepEqual(column(r, "lag"), [null, "0"]);
  assert.deepEqual(column(r, "up"), ["t", null]);
  assert.deepEqual(column(r, "check_latency_ms"), ["2.5", null]);
  assert.deepEqual(column(r, "last_check"), ["2026-01-01T00:01:00.000Z", null]);
  assert.deepEqual(r.tags, ["SHOW"]);
});

Deno.test("admin console: SHOW BACKENDS gives a stale copy's reason, since and lag", async () => {
  const ctx = testAdmin();
  ctx.membership.markStale("copy", "diverged: tags differ");
  const r = await run(ctx, "show backends;");
  assert.equal(column(r, "state")[1], "stale");
  assert.equal(column(r, "last_error")[1], "diverged: tags differ");
  assert.ok(!Number.isNaN(Date.parse(column(r, "since")[1] ?? "")));
  assert.ok(Number(column(r, "lag")[1]) >= 0);
});

Deno.test("admin console: SHOW CLIENTS names states as pg_stat_activity does", async () => {
  const ctx = testAdmin();
  const base = {
    remote: "127.0.0.1:1",
    user: "app",
    database: "shop",
    state: "ready" as const,
    tx: "idle" as const,
    busy: false,
    admin: false,
    connectedAt: new Date("2026-01-01T00:00:02.000Z"),
    bytesIn: 10,
    bytesOut: 20,
  };
  ctx.clientList = [
    { ...base, tx: "inTransaction", connectedAt: new Date("2026-01-01T00:00:03.000Z") },
    base,
    { ...base, busy: true, remote: "127.0.0.1:2" },
    { ...base, tx: "failed" },
    { ...base, admin: true, database: "usogres" },
    { ...base, state: "authenticating", tx: undefined },
  ];
  const r = await run(ctx, "SHOW CLIENTS");
  assert.deepEqual(r.columns, [
    "remote",
    "user",
    "database",
    "state",
    "connected_since",
    "bytes_in",
    "bytes_out",
    "worker",
  ]);
  assert.deepEqual(column(r, "state"), [
    "idle",
    "active",
    "idle in transaction (aborted)",
    "admin",
    "authenticating",
    "idle in transaction",
  ]);
  assert.deepEqual(column(r, "bytes_out")[0], "20");
});

Deno.test("admin console: SHOW STATS has every counter, the uptime and the gate", async () => {
  const ctx = testAdmin();
  const r = await run(ctx, "SHOW STATS");
  assert.deepEqual(r.columns, ["stat", "value"]);
  const stats = Object.fromEntries(r.rows.map(([k, v]) => [k, v]));
  for (
    const key of [
      "uptime_seconds",
      "client_connections",
      "connections_accepted",
      "sessions_started",
      "connections_refused",
      "cancel_requests",
      "bytes_from_clients",
      "bytes_to_clients",
      "divergences",
      "writes_paused",
      "write_batches_waiting",
      "write_fanout_count",
      "write_fanout_seconds_sum",
    ]
  ) {
    assert.ok(key in stats, key);
  }
  assert.equal(stats.connections_accepted, "7");
  assert.equal(stats.writes_paused, "f");
});

Deno.test("admin console: SHOW CONFIG and SHOW VERSION", async () => {
  const ctx = testAdmin();
  const config = await run(ctx, "SHOW CONFIG");
  assert.deepEqual(config.columns, ["key", "value", "source"]);
  const values = new Map(config.rows.map(([k, v]) => [k, v]));
  assert.equal(values.get("original.port"), "5433");
  assert.equal(values.get("admin.users"), '["postgres"]');
  assert.equal(values.get("admin.database"), "usogres");
  const version = await run(ctx, "SHOW VERSION");
  assert.deepEqual(version.rows, [[`usogres ${VERSION}`]]);
});

Deno.test("admin console: DETACH makes an in-sync copy stale and says so when it already is", async () => {
  const ctx = testAdmin();
  const r = await run(ctx, "DETACH copy");
  assert.deepEqual(r.tags, ["DETACH"]);
  const state = ctx.membership.get("copy").state;
  assert.equal(state.kind, "stale");
  assert.match(state.kind === "stale" ? state.reason : "", /^detached by admin/);
  const again = await run(ctx, "DETACH copy");
  assert.deepEqual(again.notices, [{
    severity: "NOTICE",
    message: 'copy "copy" is already stale',
  }]);
});

Deno.test("admin console: DETACH and ATTACH refuse unknown servers (42704) and the original (42809)", async () => {
  const ctx = testAdmin();
  for (const sql of ["DETACH nope", "ATTACH nope", "RECOVER nope", "PROMOTE nope"]) {
    assert.equal((await run(ctx, sql)).errors[0]?.code, "42704", sql);
  }
  for (const sql of ["DETACH original", "ATTACH original FORCE", "RECOVER original"]) {
    assert.equal((await run(ctx, sql)).errors[0]?.code, "42809", sql);
  }
});

Deno.test("admin console: ATTACH refuses a stale copy (55000) with why and what to do", async () => {
  const ctx = testAdmin();
  ctx.membership.markStale("copy", "detached by admin");
  const r = await run(ctx, "ATTACH copy");
  const [e] = r.errors;
  assert.equal(e?.code, "55000");
  assert.equal(e?.message, 'copy "copy" is stale and cannot be attached');
  assert.match(e?.detail ?? "", /^It missed writes since .* \(detached by admin\)/);
  assert.match(e?.hint ?? "", /RECOVER copy.*ATTACH copy FORCE/);
  assert.equal(ctx.membership.get("copy").state.kind, "stale");
});

Deno.test("admin console: ATTACH FORCE attaches a stale copy with a warning", async () => {
  const ctx = testAdmin();
  ctx.membership.markStale("copy", "detached by admin");
  const r = await run(ctx, "ATTACH copy FORCE");
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.tags, ["ATTACH"]);
  assert.equal(r.notices[0]?.severity, "WARNING");
  assert.ok(ctx.membership.isInSync("copy"));
  const again = await run(ctx, "ATTACH copy");
  assert.deepEqual(again.notices, [{
    severity: "NOTICE",
    message: 'copy "copy" is already in sync',
  }]);
});

Deno.test("admin console: ATTACH refuses a down or recovering copy even with FORCE", async () => {
  const ctx = testAdmin();
  ctx.membership.markDown("copy", "failed 2 health checks in a row");
  const down = await run(ctx, "ATTACH copy FORCE");
  assert.equal(down.errors[0]?.code, "55000");
  assert.equal(down.errors[0]?.message, 'copy "copy" is down and cannot be attached');
  ctx.membership.transition("copy", { kind: "recovering", since: new Date().toISOString() });
  assert.equal((await run(ctx, "ATTACH copy FORCE")).errors[0]?.code, "55000");
});

Deno.test("admin console: RECOVER refuses an in-sync copy (55000) and starts for a stale one", async () => {
  const ctx = testAdmin();
  const inSync = await run(ctx, "RECOVER copy");
  assert.equal(inSync.errors[0]?.code, "55000");
  ctx.membership.markStale("copy", "test");
  const stale = await run(ctx, "RECOVER copy");
  assert.deepEqual(stale.errors, []);
  assert.deepEqual(stale.tags, ["RECOVER"]);
  assert.match(stale.notices[0]?.message ?? "", /SHOW RECOVERY/);
});

Deno.test("admin console: PROMOTE makes an in-sync copy the original, refuses a stale one", async () => {
  const ctx = testAdmin();
  assert.equal((await run(ctx, "PROMOTE nosuch")).errors[0]?.code, "42704");
  assert.equal((await run(ctx, "PROMOTE original")).errors[0]?.code, "55000");
  assert.deepEqual((await run(ctx, "PROMOTE copy")).tags, ["PROMOTE"]);
  assert.equal(ctx.membership.original, "copy");
  assert.equal(ctx.membership.get("original").state.kind, "stale");
  assert.equal((await run(ctx, "PROMOTE original")).errors[0]?.code, "55000");
});

Deno.test("admin console: PAUSE holds write batches until RESUME", async () => {
  const ctx = testAdmin();
  assert.deepEqual((await run(ctx, "PAUSE")).tags, ["PAUSE"]);
  assert.equal(ctx.writeGate.paused, true);
  let released = false;
  const write = ctx.writeGate.wait().then(() => (released = true));
  const again = await run(ctx, "pause");
  assert.deepEqual(again.notices.map((n) => n.message), ["writes are already paused"]);
  assert.equal(released, false);
  assert.deepEqual((await run(ctx, "RESUME")).tags, ["RESUME"]);
  await write;
  assert.equal(released, true);
  const idle = await run(ctx, "RESUME");
  assert.deepEqual(idle.notices.map((n) => n.message), ["writes are not paused by PAUSE"]);
});

Deno.test("admin console: RESUME releases only the console's own pause (pauses nest)", async () => {
  const ctx = testAdmin();
  ctx.writeGate.pause(); // an online recovery's pause
  assert.deepEqual((await run(ctx, "PAUSE")).notices, []);
  assert.deepEqual((await run(ctx, "RESUME")).tags, ["RESUME"]);
  assert.equal(ctx.writeGate.paused, true);
  ctx.writeGate.resume();
  assert.equal(ctx.writeGate.paused, false);
});

Deno.test("admin console: RELOAD reports applied settings, restarts needed and invalid files", async () => {
  const ctx = testAdmin();
  ctx.reloadImpl = () =>
    Promise.resolve({
      file: "f.toml",
      applied: [{ path: "health.interval", value: "1" }],
      restartNeeded: ["listen.port"],
    });
  const r = await run(ctx, "RELOAD");
  assert.deepEqual(r.tags, ["RELOAD"]);
  assert.deepEqual(r.notices, [
    { severity: "NOTICE", message: 'setting "health.interval" changed to 1' },
    {
      severity: "WARNING",
      message: 'setting "listen.port" changed; it takes effect after a restart',
    },
  ]);
  ctx.reloadImpl = () =>
    Promise.reject(
      new ConfigError({
        where: "f.toml:3",
        file: "f.toml",
        line: 3,
        key: "health.retries",
        message: 'invalid value for "health.retries"',
        expected: "an integer",
        actual: "0",
      }),
    );
  const bad = await run(ctx, "RELOAD");
  assert.equal(bad.errors[0]?.code, "F0000");
  assert.equal(bad.errors[0]?.detail, 'f.toml:3: invalid value for "health.retries"');
  ctx.reloadImpl = () => Promise.reject(new Error("no file"));
  assert.equal((await run(ctx, "RELOAD")).errors[0]?.code, "55000");
});

Deno.test("admin console: SHUTDOWN answers first and shuts down after", async () => {
  const ctx = testAdmin();
  const r = await run(ctx, "SHUTDOWN");
  assert.deepEqual(r.tags, ["SHUTDOWN"]);
  assert.equal(ctx.shutdowns, 0);
  r.after();
  assert.equal(ctx.shutdowns, 1);
});

Deno.test("admin console: several commands run in order and an error ends the Query", async () => {
  const ctx = testAdmin();
  const r = await run(ctx, "SHOW VERSION; DETACH nope; DETACH copy");
  assert.deepEqual(r.tags, ["SHOW"]);
  assert.equal(r.errors[0]?.code, "42704");
  assert.ok(ctx.membership.isInSync("copy"));
  const syntax = await run(ctx, "SHOW VERSION; SELECT 1");
  assert.deepEqual(syntax.tags, []); // a syntax error anywhere runs nothing, as in PostgreSQL
  assert.equal(syntax.errors[0]?.code, "42601");
});

Deno.test("admin console: refuses non-admin roles and remote hosts with 28000", () => {
  const ctx = testAdmin();
  const console = new AdminConsole(ctx);
  const local: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 5 };
  const remote: Deno.NetAddr = { transport: "tcp", hostname: "10.1.2.3", port: 5 };
  assert.equal(console.database, "usogres");
  assert.equal(console.authorize("postgres", local), undefined);
  const role = console.authorize("app", local);
  assert.equal(role?.code, "28000");
  assert.equal(role?.severity, "FATAL");
  assert.equal(role?.message, 'role "app" is not allowed to use the admin console');
  const host = console.authorize("postgres", remote);
  assert.equal(host?.code, "28000");
  assert.equal(host?.message, 'admin console connections from host "10.1.2.3" are not allowed');
  assert.equal(ctx.stats.connectionsRefused, 1 + 2);
});

Deno.test("isLoopback: 127.0.0.0/8, ::1, mapped loopback and Unix sockets only", () => {
  const tcp = (hostname: string): Deno.NetAddr => ({ transport: "tcp", hostname, port: 1 });
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) {
    assert.ok(isLoopback(tcp(h)), h);
  }
  for (const h of ["10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "fe80::1", "0.0.0.0"]) {
    assert.equal(isLoopback(tcp(h)), false, h);
  }
  assert.ok(isLoopback({ transport: "unix", path: "/tmp/.s.PGSQL.5432" }));
});
