/**
 * @module
 * `usogres verify` against real servers: the CLI runs as a subprocess (`deno run -A mod.ts
 * verify --config FILE`) with a TOML config written here, and the servers are set up and changed
 * directly with psql, no proxy in between. Covers identical servers (exit 0), one changed row
 * (exit 1, naming the table and the key range), multi-column keys, quoted names, a table without
 * a key, `--table` with a partitioned table, a missing table, a stale copy that is skipped, a
 * difference that is gone by the re-check, and errors (unreachable copy, no permission: exit 2).
 */

import assert from "node:assert/strict";
import {
  freePort,
  pgClient,
  type PgServer,
  startCluster,
  type TestCluster,
  waitFor,
} from "../harness/mod.ts";

const REPO_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const DB = "verify_db";
const decoder = new TextDecoder();

/** Five leaf tables: a plain key, a quoted two-column key, no key, and two partitions. */
const SETUP = `
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2),
  opened timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00');
INSERT INTO accounts (id, owner, balance) SELECT g, 'owner ' || g, g * 1.25
  FROM generate_series(1, 5000) g;
CREATE TABLE "Order Lines" (region text, "Line" int, qty float8, PRIMARY KEY (region, "Line"));
INSERT INTO "Order Lines" SELECT 'r' || (g % 5), g, g / 7.0 FROM generate_series(1, 500) g;
CREATE TABLE events (at timestamptz, payload json);
INSERT INTO events SELECT '2024-01-01'::timestamptz + g * interval '1 minute',
  json_build_object('n', g) FROM generate_series(1, 200) g;
CREATE TABLE measurements (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE measurements_high PARTITION OF measurements FOR VALUES FROM (1000) TO (MAXVALUE);
INSERT INTO measurements SELECT g, g FROM generate_series(1, 2000) g;
`;

/** A role that may log in but read nothing. */
const NO_PRIVILEGES = { user: "usogres_verify_nopriv", password: "noprivsecret" };

interface Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

interface VerifyRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function toml(value: string | number): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The config verify reads: servers, backend role and passfile, and the state file. */
function verifyConfig(
  original: Target,
  copies: readonly Target[],
  opts: { user: string; passfile: string; stateFile: string },
): string {
  const lines = [
    "[original]",
    `host = ${toml(original.host)}`,
    `port = ${original.port}`,
    "",
    "[log]",
    'dir = ""',
    "",
    "[backend]",
    `user = ${toml(opts.user)}`,
    `passfile = ${toml(opts.passfile)}`,
    "",
    "[replication]",
    `state_file = ${toml(opts.stateFile)}`,
  ];
  for (const c of copies) {
    lines.push("", "[[copy]]", `name = ${toml(c.name)}`, `host = ${toml(c.host)}`);
    lines.push(`port = ${c.port}`);
  }
  return lines.join("\n") + "\n";
}

/** `.pgpass` lines for the superuser of external servers and for the no-privileges role. */
function passfile(servers: readonly PgServer[]): string {
  const esc = (s: string | number) => String(s).replaceAll("\\", "\\\\").replaceAll(":", "\\:");
  const lines: string[] = [];
  for (const s of servers) {
    const password = decodeURIComponent(new URL(s.url()).password);
    if (password) lines.push([s.host, s.port, "*", s.superuser, password].map(esc).join(":"));
    lines.push(
      [s.host, s.port, "*", NO_PRIVILEGES.user, NO_PRIVILEGES.password].map(esc).join(":"),
    );
  }
  return lines.join("\n") + "\n";
}

class Fixture {
  readonly cluster: TestCluster;
  readonly dir: string;
  readonly configFile: string;
  readonly stateFile: string;

  constructor(cluster: TestCluster, dir: string) {
    this.cluster = cluster;
    this.dir = dir;
    this.configFile = `${dir}/usogres.toml`;
    this.stateFile = `${dir}/usogres.state`;
  }

  get copy(): PgServer {
    const copy = this.cluster.copies[0];
    assert.ok(copy, "the cluster has a copy");
    return copy;
  }

  /** Writes the config for these servers (or a replacement list of copies). */
  async writeConfig(copies: readonly Target[] = this.cluster.copies): Promise<void> {
    await Deno.writeTextFile(`${this.dir}/pgpass`, passfile(this.cluster.all), { mode: 0o600 });
    await Deno.writeTextFile(
      this.configFile,
      verifyConfig(this.cluster.original, copies, {
        user: this.cluster.original.superuser,
        passfile: `${this.dir}/pgpass`,
        stateFile: this.stateFile,
      }),
    );
  }

  /** A fresh database with the same tables and rows on every server, and a clean state. */
  async reset(): Promise<void> {
    await Deno.remove(this.stateFile).catch(() => {});
    await this.writeConfig();
    await this.cluster.recreateDatabase(DB);
    await this.cluster.queryEach(SETUP, DB);
  }

  /** Runs `usogres verify --config FILE --database DB ...args`. */
  async verify(...args: string[]): Promise<VerifyRun> {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO_ROOT}mod.ts`,
        "verify",
        "--config",
        this.configFile,
        "--database",
        DB,
        ...args,
      ],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }
}

function explain(r: VerifyRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

Deno.test("verify: compares the original with its in-sync copies", async (t) => {
  await using cluster = await startCluster({ copies: 1 });
  const dir = await Deno.makeTempDir({ prefix: "usogres-verify-" });
  const f = new Fixture(cluster, dir);
  try {
    await t.step("identical servers: exit 0 and every table counted", async () => {
      await f.reset();
      const r = await f.verify("--chunk-rows", "1000");
      assert.equal(r.code, 0, explain(r));
      assert.match(
        r.stdout,
        /^comparing database "verify_db" on original "original" with copy "copy"$/m,
      );
      assert.match(r.stdout, /^summary: 5 tables identical \(1 copy compared\)$/m, explain(r));
    });

    await t.step(
      "one changed row on the copy: exit 1, naming the table and key range",
      async () => {
        await f.reset();
        await f.copy.psql("UPDATE accounts SET balance = balance + 0.01 WHERE id = 1234", {
          db: DB,
        });
        const r = await f.verify("--chunk-rows", "1000");
        assert.equal(r.code, 1, explain(r));
        const named = r.stdout.split("\n").filter((l) => l.startsWith("public."));
        assert.deepEqual(named, [
          'public.accounts: rows differ in id 1001..2000 on copy "copy" (rows: original 1000, copy 1000)',
          "public.accounts: rows: original 5000, copy 5000",
        ]);
        assert.match(r.stdout, /^summary: 1 of 5 tables differ \(1 copy compared\)$/m);
      },
    );

    await t.step("quoted names, a two-column key and a table without a key", async () => {
      await f.reset();
      await f.copy.psql(
        `DELETE FROM "Order Lines" WHERE region = 'r3' AND "Line" = 8;` +
          `UPDATE events SET payload = '{"n": 0}' WHERE payload->>'n' = '17'`,
        { db: DB },
      );
      const r = await f.verify("--chunk-rows", "50");
      assert.equal(r.code, 1, explain(r));
      // Sorted by (region, "Line"), r3 starts at row 301: the 7th chunk of 50 rows.
      assert.ok(
        r.stdout.includes(
          `public."Order Lines": rows differ in (region, "Line") (r3, 3)..(r3, 248) on copy "copy" ` +
            "(rows: original 50, copy 49)\n",
        ),
        explain(r),
      );
      assert.ok(
        r.stdout.includes(
          'public.events: rows differ on copy "copy" (rows: original 200, copy 200; ' +
            "no primary key or unique not-null index)\n",
        ),
        explain(r),
      );
      assert.match(r.stdout, /^summary: 2 of 5 tables differ/m);
    });

    await t.step(
      "--table: only the named tables; a partitioned table means its leaves",
      async () => {
        await f.reset();
        await f.copy.psql(
          "UPDATE measurements SET v = -1 WHERE id = 10; UPDATE accounts SET owner = 'x' WHERE id = 1",
          { db: DB },
        );
        const r = await f.verify(
          "--table",
          "measurements",
          "--table",
          '"Order Lines"',
          "--chunk-rows",
          "500",
        );
        assert.equal(r.code, 1, explain(r));
        assert.ok(
          r.stdout.includes('public.measurements_low: rows differ in id 1..500 on copy "copy"'),
        );
        assert.ok(!r.stdout.includes("public.accounts"), explain(r));
        assert.match(r.stdout, /^summary: 1 of 3 tables differ/m);

        const missing = await f.verify("--table", "no_such_table");
        assert.equal(missing.code, 2, explain(missing));
        assert.match(missing.stderr, /relation "no_such_table" does not exist on the original/);
      },
    );

    await t.step("a table missing on the copy, and one only the copy has: exit 1", async () => {
      await f.reset();
      await f.copy.psql("DROP TABLE events; CREATE TABLE only_here (i int)", { db: DB });
      const r = await f.verify();
      assert.equal(r.code, 1, explain(r));
      assert.match(r.stdout, /^public\.events: missing on copy "copy"$/m);
      assert.match(
        r.stdout,
        /^public\.only_here: exists only on copy "copy", not on the original$/m,
      );
    });

    await t.step("a copy the state file marks stale is skipped", async () => {
      await f.reset();
      await f.copy.psql("UPDATE accounts SET owner = 'diverged' WHERE id = 42", { db: DB });
      const since = new Date().toISOString();
      await Deno.writeTextFile(
        f.stateFile,
        JSON.stringify({
          original: { kind: "inSync" },
          copy: { kind: "stale", reason: "divergence on a test", since },
        }),
      );
      const r = await f.verify();
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, /^copy "copy" skipped: stale since .*: divergence on a test$/m);
      assert.match(r.stdout, /^summary: nothing compared: no copy is in sync/m);
    });

    await t.step("a difference gone by the re-check is not reported", async () => {
      await f.reset();
      await f.copy.psql("UPDATE accounts SET owner = 'in flight' WHERE id = 7", { db: DB });
      // The fix is committed on the copy only after verify's first pass over the table: the
      // first pass sees the difference, the re-check (a new snapshot) no longer does.
      await using fixer = await pgClient(f.copy.url(DB));
      // Polled from its own connection: inside a transaction, pg_stat_activity does not change.
      await using watcher = await pgClient(f.copy.url(DB));
      await fixer.query("BEGIN");
      await fixer.query("UPDATE accounts SET owner = 'owner 7' WHERE id = 7");
      const run = f.verify("--table", "accounts");
      await waitFor(async () => {
        const { rows } = await watcher.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = 'usogres verify' " +
            "AND state = 'idle' AND query = 'COMMIT'",
        );
        return rows.length > 0;
      }, { intervalMs: 10, what: "verify to finish its first pass" });
      await fixer.query("COMMIT");
      const r = await run;
      assert.equal(r.code, 0, explain(r));
      assert.match(r.stdout, /^summary: 1 table identical/m);
    });

    await t.step("an unreachable copy: exit 2", async () => {
      await f.reset();
      const dead = { name: "copy", host: "127.0.0.1", port: await freePort() };
      await f.writeConfig([dead]);
      const r = await f.verify();
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, /^usogres: verify failed: backend "copy": could not connect/m);
      assert.equal(r.stdout, "");
    });

    await t.step("a role that may not read the tables: exit 2", async () => {
      await f.reset();
      await cluster.queryEach(
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${NO_PRIVILEGES.user}')` +
          ` THEN CREATE ROLE ${NO_PRIVILEGES.user} LOGIN; END IF; END $$;` +
          `ALTER ROLE ${NO_PRIVILEGES.user} PASSWORD '${NO_PRIVILEGES.password}'`,
      );
      const r = await f.verify("--user", NO_PRIVILEGES.user, "--table", "accounts");
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, /permission denied .*\(SQLSTATE 42501\)/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
