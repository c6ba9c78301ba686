/**
 * @module
 * Fault injection and the checks around it, for `recovery_test.ts` and `failover_test.ts`: every
 * server read directly (pgbench's tables, the serial/now() table and every sequence compared by
 * md5 of ordered rows), the admin console through psql, the `usogres` CLI as a subprocess
 * (`recover`, `verify`), and a postmaster killed (SIGKILL) or stalled with its children
 * (SIGSTOP, SIGCONT). Private to `tests/integration/`.
 */

import assert from "node:assert/strict";
import { type PgServer, type ProxyProcess, psql, waitFor } from "../harness/mod.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Per server: count and md5 of every row in key order for the pgbench tables (history with its
 * `mtime`) and `events` (with its `now()` default), then every sequence's position.
 */
export const FINGERPRINT = [
  ["accounts", "pgbench_accounts x", "aid"],
  ["branches", "pgbench_branches x", "bid"],
  ["events", "events x", "id"],
  ["history", "pgbench_history x", "tid, bid, aid, delta, mtime"],
  ["tellers", "pgbench_tellers x", "tid"],
].map(([name, from, key]) =>
  `SELECT '${name}', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY ${key}), '')) FROM ${from}`
).join(" UNION ALL ") + " UNION ALL SELECT 'seq ' || schemaname || '.' || sequencename, " +
  "last_value, NULL FROM pg_sequences ORDER BY 1";

/**
 * Reads every server directly: pgbench's tables, `events` and the sequences are identical on
 * `servers`, and consistent on the first (history sums equal the balance sums).
 * @param servers the servers to compare, the reference first
 * @param expected row counts on the reference (history, events), when known
 */
export async function assertIdentical(
  servers: readonly PgServer[],
  db: string,
  expected: { history?: number; events?: number } = {},
): Promise<void> {
  const [first, ...others] = await Promise.all(servers.map((s) => s.psql(FINGERPRINT, { db })));
  const counts = Object.fromEntries(
    first!.trim().split("\n").map((l) => l.split("|")).map(([k, n]) => [k!, Number(n)]),
  );
  assert.equal(counts.accounts, 100_000, first);
  if (expected.history !== undefined) assert.equal(counts.history, expected.history, first);
  if (expected.events !== undefined) assert.equal(counts.events, expected.events, first);
  assert.ok(first!.includes("seq public.events_id_seq|"), first);
  others.forEach((out, i) => {
    assert.equal(out, first, `"${servers[i + 1]!.name}" differs from "${servers[0]!.name}"`);
  });
  const sums = await servers[0]!.psql(
    "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) " +
      "FROM pgbench_history) AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT " +
      "coalesce(sum(delta), 0) FROM pgbench_history)",
    { db },
  );
  assert.equal(sums, "t\n", "balances do not add up to the history");
}

/** Rows of an admin console command through psql, keyed by column name. */
export async function adminRows(
  proxy: ProxyProcess,
  sql: string,
): Promise<Record<string, string>[]> {
  const r = await psql(proxy.url("usogres"), sql, { args: ["-A", "-F", "\t", "-P", "footer=off"] });
  assert.equal(r.code, 0, `${sql}: ${r.stderr}`);
  const [header, ...lines] = r.stdout.trimEnd().split("\n");
  const columns = (header ?? "").split("\t");
  return lines.map((l) => Object.fromEntries(l.split("\t").map((v, i) => [columns[i], v])));
}

/** `name -> "role/state"` from SHOW BACKENDS, e.g. `{ original: "original/in_sync" }`. */
export async function backendStates(proxy: ProxyProcess): Promise<Record<string, string>> {
  const rows = await adminRows(proxy, "SHOW BACKENDS");
  return Object.fromEntries(rows.map((r) => [r.name!, `${r.role}/${r.state}`]));
}

/**
 * Starts `RECOVER name` in the admin console (psql) and follows SHOW RECOVERY until the copy is
 * in sync; fails at once when the recovery reports an error.
 * @returns the milliseconds from RECOVER to in sync
 */
export async function recoverViaConsole(
  proxy: ProxyProcess,
  name: string,
  timeoutMs = 90_000,
): Promise<number> {
  const started = Date.now();
  const r = await psql(proxy.url("usogres"), `RECOVER ${name}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^RECOVER$/m);
  assert.match(r.stderr, /recovery of copy ".+" started/);
  const row = await waitFor(async () => {
    const [row] = await adminRows(proxy, "SHOW RECOVERY");
    const ended = row?.copy === name && (row.error !== "" || row.state === "in_sync");
    return ended ? row : undefined;
  }, { what: `the recovery of "${name}"`, timeoutMs, intervalMs: 200 });
  assert.equal(row.error, "", `recovery of "${name}" failed`);
  assert.equal(row.phase, "done");
  assert.equal(row.percent, "100");
  return Date.now() - started;
}

/** Runs `fn` and returns the SQLSTATE (or driver code) it rejected with; fails when it resolves. */
export async function rejectsWith(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e: unknown) {
    return typeof e === "object" && e !== null && "code" in e ? String(e.code) : undefined;
  }
  assert.fail("expected a failure");
}

/** What a `usogres` subcommand printed. */
export interface CliResult {
  /** Exit code. */
  readonly code: number;
  /** stdout. */
  readonly stdout: string;
  /** stderr. */
  readonly stderr: string;
}

/** Runs `usogres <args>` (`deno run -A mod.ts`) as a subprocess. */
export async function usogresCli(args: readonly string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}mod.ts`, ...args],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** `usogres verify` of one database against the proxy's configuration and state file. */
export async function assertVerifyPasses(proxy: ProxyProcess, db: string): Promise<void> {
  const r = await usogresCli(["verify", "--config", proxy.configFile, "--database", db]);
  assert.equal(r.code, 0, `usogres verify exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

/** The processes whose parent is `pid` (from /proc/<pid>/stat). */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const fields = await statFields(Number(e.name));
    if (fields && Number(fields[1]) === pid) out.push(Number(e.name));
  }
  return out;
}

/** A process that exists and is not a zombie. */
export async function alive(pid: number): Promise<boolean> {
  const fields = await statFields(pid);
  return fields !== undefined && fields[0] !== "Z";
}

/** Fields of /proc/<pid>/stat after the command name: state, ppid, ... */
async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * Kills a server's postmaster with SIGKILL (`kill -9`), waits until it and every child are gone,
 * and removes its lock files when the dead postmaster is left a zombie (an init that does not reap
 * would otherwise keep PostgreSQL from starting again: it sees the pid as alive).
 * @returns the postmaster's pid
 */
export async function killServer(server: PgServer): Promise<number> {
  const pid = await server.pid();
  assert.ok(pid !== undefined, `server "${server.name}" is not running`);
  const children = await childPids(pid);
  Deno.kill(pid, "SIGKILL");
  await waitFor(async () => !(await Promise.all([pid, ...children].map(alive))).some(Boolean), {
    what: `the processes of the killed server "${server.name}" to exit`,
    timeoutMs: 20_000,
  });
  if (await statFields(pid) !== undefined) {
    for await (const e of Deno.readDir(server.dataDir!)) {
      if (e.name === "postmaster.pid" || /^\.s\.PGSQL\.\d+\.lock$/.test(e.name)) {
        await Deno.remove(`${server.dataDir}/${e.name}`).catch(() => {});
      }
    }
  }
  return pid;
}

/**
 * Stops a server's postmaster and every child of it with SIGSTOP (a stall: sockets stay open,
 * nothing answers), the postmaster first so that it starts no child meanwhile.
 * @returns the pids stopped, postmaster first; give them to {@link resumeProcesses}
 */
export async function stopServer(server: PgServer): Promise<number[]> {
  const pid = await server.pid();
  assert.ok(pid !== undefined, `server "${server.name}" is not running`);
  Deno.kill(pid, "SIGSTOP");
  const children = await childPids(pid);
  for (const p of children) {
    try {
      Deno.kill(p, "SIGSTOP");
    } catch {
      // A child that just exited.
    }
  }
  return [pid, ...children];
}

/** Sends SIGCONT to processes {@link stopServer} stopped: the children, then the postmaster. */
export function resumeProcesses(pids: readonly number[]): void {
  for (const p of [...pids.slice(1), ...pids.slice(0, 1)]) {
    try {
      Deno.kill(p, "SIGCONT");
    } catch {
      // Gone.
    }
  }
}
