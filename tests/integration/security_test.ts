/**
 * @module
 * Security end to end, with real clients and servers: psql with `sslmode=verify-full` and
 * `channel_binding=require`, node-postgres and postgres.js over TLS with SCRAM, all through
 * usogres to backends that themselves accept the test role only over TLS with SCRAM (`hostssl`);
 * a verifier made by `usogres passwd`; wrong passwords (28P01); plain-text clients where TLS is
 * required (28000); PostgreSQL 17's direct SSL with and without ALPN; client certificates;
 * md5; `auth_query` against the original; access rules.
 */

import assert from "node:assert/strict";
import pg from "pg";
import postgres from "postgres";
import {
  psql,
  startCluster,
  TEST_ROLES,
  type TestCluster,
  withLogsOnFailure,
} from "../harness/mod.ts";
import { startupPacket } from "./_wire.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = `${REPO_ROOT}tests/fixtures/tls`;
const CLIENT_PASSWORD = "client-secret";
const SCRAM_USER = TEST_ROLES.scram.user;

/** The fixtures, copied with key files at mode 0600 (libpq refuses readable keys). */
async function tlsFiles(): Promise<{ dir: string; path: (name: string) => string }> {
  const dir = await Deno.makeTempDir({ prefix: "usogres-tls-" });
  for (const entry of Deno.readDirSync(FIXTURES)) {
    if (!/\.(crt|key)$/.test(entry.name)) continue;
    await Deno.copyFile(`${FIXTURES}/${entry.name}`, `${dir}/${entry.name}`);
    await Deno.chmod(`${dir}/${entry.name}`, entry.name.endsWith(".key") ? 0o600 : 0o644);
  }
  return { dir, path: (name) => `${dir}/${name}` };
}

/** A verifier made the way an administrator makes one: `usogres passwd ROLE`. */
async function passwd(role: string, password: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}mod.ts`, "passwd", role],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${password}\n`));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** pg_hba.conf of the servers: the SCRAM role only over TLS, everyone else trusted. */
const SERVER_HBA = [
  "local all all trust",
  `hostssl all ${SCRAM_USER} 127.0.0.1/32 scram-sha-256`,
  `host all ${SCRAM_USER} 127.0.0.1/32 reject`,
  `host all ${TEST_ROLES.md5.user} 127.0.0.1/32 md5`,
  "host all all 127.0.0.1/32 trust",
  "",
].join("\n");

/** Runs a client that must be refused; returns the driver error's SQLSTATE. */
async function refusedCode(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e: unknown) {
    return (e as { code?: string }).code;
  }
  assert.fail("the connection succeeded");
}

/** Reads one message from a TLS connection: type letter and body. */
async function readMessage(
  conn: Deno.Conn,
  buffered: { bytes: Uint8Array },
): Promise<{ type: string; body: Uint8Array } | null> {
  for (;;) {
    const b = buffered.bytes;
    if (b.length >= 5) {
      const len = new DataView(b.buffer, b.byteOffset).getInt32(1);
      if (b.length >= len + 1) {
        buffered.bytes = b.slice(len + 1);
        return { type: String.fromCharCode(b[0]!), body: b.slice(5, len + 1) };
      }
    }
    const chunk = new Uint8Array(4096);
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return null;
    const next = new Uint8Array(b.length + n);
    next.set(b);
    next.set(chunk.subarray(0, n), b.length);
    buffered.bytes = next;
  }
}

Deno.test("security", async (t) => {
  const files = await tlsFiles();
  const text = (name: string) => Deno.readTextFileSync(files.path(name));
  await using cluster: TestCluster = await startCluster({
    copies: 1,
    source: "local",
    hba: SERVER_HBA,
    files: { "server.crt": text("server.crt"), "server.key": text("server.key") },
    settings: { ssl: "on", ssl_cert_file: "server.crt", ssl_key_file: "server.key" },
  });
  await cluster.queryEach("CREATE ROLE usogres_cert LOGIN SUPERUSER");
  const verifier = await passwd(SCRAM_USER, CLIENT_PASSWORD);
  assert.match(verifier, /^SCRAM-SHA-256\$4096:/);
  const ca = files.path("ca.crt");
  const backendTls = { sslmode: "verify-full", sslrootcert: ca };
  const serverTls = { cert_file: files.path("server.crt"), key_file: files.path("server.key") };
  const tlsRequired = {
    original: backendTls,
    copy: backendTls,
    tls: { ...serverTls, mode: "require", ca_file: ca },
    auth: { method: "scram-sha-256" },
    "auth.users": { [SCRAM_USER]: verifier },
  };
  const verifyFull = `sslmode=verify-full sslrootcert=${ca}`;
  const env = { PGPASSWORD: CLIENT_PASSWORD };

  await t.step(
    "psql: verify-full and channel_binding=require through usogres to hostssl SCRAM servers",
    async () => {
      await using proxy = await cluster.startProxy({ sections: tlsRequired });
      await withLogsOnFailure(proxy, cluster, async () => {
        const conn =
          `host=localhost port=${proxy.port} dbname=postgres user=${SCRAM_USER} ${verifyFull}`;
        const r = await psql(
          `${conn} channel_binding=require`,
          "CREATE TABLE IF NOT EXISTS tls_t (v text); INSERT INTO tls_t VALUES ('over tls'); " +
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
          { env, args: ["-At"] },
        );
        assert.equal(r.code, 0, r.stderr);
        // The session's backend connection is TLS too (pg_stat_ssl is the original's view).
        assert.match(r.stdout, /^t$/m);
        const rows = (await cluster.queryEach("SELECT v FROM tls_t")).map((r) => r.trim());
        assert.deepEqual(rows, ["over tls", "over tls"]);
        await cluster.queryEach("DROP TABLE tls_t");
      });
    },
  );

  await t.step("node-postgres: TLS with SCRAM-SHA-256-PLUS, certificate verified", async () => {
    await using proxy = await cluster.startProxy({ sections: tlsRequired });
    await withLogsOnFailure(proxy, cluster, async () => {
      const client = new pg.Client({
        host: "localhost",
        port: proxy.port,
        user: SCRAM_USER,
        password: CLIENT_PASSWORD,
        database: "postgres",
        ssl: { ca: text("ca.crt"), rejectUnauthorized: true },
        enableChannelBinding: true,
      });
      await client.connect();
      try {
        const r = await client.query("SELECT $1::text AS v", ["pg over tls"]);
        assert.equal(r.rows[0].v, "pg over tls");
      } finally {
        await client.end();
      }
    });
  });

  await t.step("postgres.js: TLS with SCRAM, certificate verified", async () => {
    await using proxy = await cluster.startProxy({ sections: tlsRequired });
    await withLogsOnFailure(proxy, cluster, async () => {
      const sql = postgres({
        host: "localhost",
        port: proxy.port,
        user: SCRAM_USER,
        password: CLIENT_PASSWORD,
        database: "postgres",
        ssl: { ca: text("ca.crt"), rejectUnauthorized: true },
        max: 1,
        onnotice: () => {},
      });
      try {
        const [row] = await sql`SELECT ${"postgres.js over tls"}::text AS v`;
        assert.equal(row?.v, "postgres.js over tls");
      } finally {
        await sql.end();
      }
    });
  });

  await t.step("wrong password: 28P01, over TLS and in plain text", async () => {
    await using proxy = await cluster.startProxy({
      sections: { ...tlsRequired, tls: { ...serverTls, mode: "allow" } },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      for (const ssl of [{ ca: text("ca.crt") }, false] as const) {
        const code = await refusedCode(async () => {
          const client = new pg.Client({
            host: "localhost",
            port: proxy.port,
            user: SCRAM_USER,
            password: "wrong",
            database: "postgres",
            ssl,
          });
          try {
            await client.connect();
          } finally {
            await client.end().catch(() => {});
          }
        });
        assert.equal(code, "28P01");
      }
      const r = await psql(`host=localhost port=${proxy.port} user=nobody ${verifyFull}`, "", {
        env,
      });
      assert.match(r.stderr, /password authentication failed for user "nobody"/);
    });
  });

  await t.step("plain text where TLS is required: 28000, and psql says why", async () => {
    await using proxy = await cluster.startProxy({ sections: tlsRequired });
    await withLogsOnFailure(proxy, cluster, async () => {
      const code = await refusedCode(async () => {
        const sql = postgres({
          host: "127.0.0.1",
          port: proxy.port,
          user: SCRAM_USER,
          password: CLIENT_PASSWORD,
          database: "postgres",
          ssl: false,
          max: 1,
        });
        try {
          await sql`SELECT 1`;
        } finally {
          await sql.end();
        }
      });
      assert.equal(code, "28000");
      const r = await psql(
        `host=127.0.0.1 port=${proxy.port} user=${SCRAM_USER} sslmode=disable`,
        "",
        {
          env,
        },
      );
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /no usogres access rule for host "127.0.0.1", user "usogres_scram", database "usogres_scram", no encryption/,
      );
    });
  });

  await t.step("direct SSL: ALPN postgresql gets a session; no ALPN is refused", async () => {
    await using proxy = await cluster.startProxy({ sections: tlsRequired });
    await withLogsOnFailure(proxy, cluster, async () => {
      const startup = startupPacket({ user: SCRAM_USER, database: "postgres" });
      const good = await Deno.connectTls({
        hostname: "localhost",
        port: proxy.port,
        caCerts: [text("ca.crt")],
        alpnProtocols: ["postgresql"],
      });
      try {
        assert.equal((await good.handshake()).alpnProtocol, "postgresql");
        await good.write(startup);
        const m = await readMessage(good, { bytes: new Uint8Array(0) });
        assert.equal(m?.type, "R");
        const body = m!.body;
        assert.equal(new DataView(body.buffer, body.byteOffset).getInt32(0), 10); // SASL
        assert.match(new TextDecoder().decode(body), /SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0/);
      } finally {
        good.close();
      }
      const bare = await Deno.connectTls({
        hostname: "localhost",
        port: proxy.port,
        caCerts: [text("ca.crt")],
      });
      try {
        await bare.handshake();
        await bare.write(startup).catch(() => 0);
        const buffered = { bytes: new Uint8Array(0) };
        const m = await readMessage(bare, buffered);
        assert.equal(m?.type, "E");
        assert.match(new TextDecoder().decode(m!.body), /C08P01\0/);
        assert.match(new TextDecoder().decode(m!.body), /without ALPN/);
        assert.equal(await readMessage(bare, buffered), null);
      } finally {
        bare.close();
      }
    });
  });

  await t.step("SSLRequest with plain bytes pipelined behind it: FATAL 08P01, no 'S'", async () => {
    await using proxy = await cluster.startProxy({ sections: tlsRequired });
    await withLogsOnFailure(proxy, cluster, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
      try {
        const ssl = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        const startup = startupPacket({ user: SCRAM_USER, database: "postgres" });
        const both = new Uint8Array(ssl.length + startup.length);
        both.set(ssl);
        both.set(startup, ssl.length);
        await conn.write(both);
        const m = await readMessage(conn, { bytes: new Uint8Array(0) });
        assert.equal(m?.type, "E");
        assert.match(new TextDecoder().decode(m!.body), /C08P01\0/);
        assert.match(new TextDecoder().decode(m!.body), /unencrypted data after SSL request/);
      } finally {
        conn.close();
      }
    });
  });

  await t.step(
    "client certificates: cert method takes a CA-signed CN, refuses others",
    async () => {
      await using proxy = await cluster.startProxy({
        sections: {
          tls: { ...serverTls, ca_file: ca },
          "auth.users": { [SCRAM_USER]: verifier },
        },
        config: [
          "[[hba]]",
          'user = "usogres_cert"',
          'method = "cert"',
          'tls = "required"',
          "[[hba]]",
          'address = "127.0.0.1/32"',
          'method = "scram-sha-256"',
        ].join("\n"),
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        const base =
          `host=localhost port=${proxy.port} dbname=postgres user=usogres_cert ${verifyFull}`;
        const ok = await psql(
          `${base} sslcert=${files.path("client.crt")} sslkey=${files.path("client.key")}`,
          "SELECT current_user",
          { args: ["-At"] },
        );
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(ok.stdout.trim(), "usogres_cert");
        const untrusted = await psql(
          `${base} sslcert=${files.path("untrusted-client.crt")} sslkey=${
            files.path("untrusted-client.key")
          }`,
          "SELECT 1",
        );
        assert.match(untrusted.stderr, /connection requires a valid client certificate/);
        // Without TLS the cert rule does not match; the next rule asks for a password.
        const plain = await psql(
          `host=127.0.0.1 port=${proxy.port} user=usogres_cert sslmode=disable`,
          "",
          {
            env: { PGPASSWORD: "x" },
          },
        );
        assert.match(plain.stderr, /password authentication failed for user "usogres_cert"/);
      });
    },
  );

  await t.step("auth_query: verifiers read from the original, md5 rule runs SCRAM", async () => {
    await using proxy = await cluster.startProxy({
      sections: {
        original: backendTls,
        copy: backendTls,
        auth: {
          method: "md5",
          auth_query: "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1",
          auth_user: "postgres",
        },
      },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      for (const role of [TEST_ROLES.scram, TEST_ROLES.md5]) {
        const r = await psql(
          `host=127.0.0.1 port=${proxy.port} dbname=postgres user=${role.user} sslmode=disable`,
          "SELECT current_user",
          { args: ["-At"], env: { PGPASSWORD: role.password } },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), role.user);
      }
      const wrong = await psql(
        `host=127.0.0.1 port=${proxy.port} dbname=postgres user=${SCRAM_USER} sslmode=disable`,
        "SELECT 1",
        { env: { PGPASSWORD: "nope" } },
      );
      assert.match(wrong.stderr, /password authentication failed/);
    });
  });

  await Deno.remove(files.dir, { recursive: true });
});
