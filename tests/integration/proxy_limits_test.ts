/**
 * @module
 * usogres's limits and its edges, driven through real sockets: `max_clients`, the startup
 * timeout, oversized and malformed messages, the startup packets it answers itself (protocol
 * negotiation, protocol 2.0, replication, SSLRequest, GSSENCRequest), back-pressure with bounded
 * memory under a slow reader, graceful shutdown on SIGTERM, and refusing a bad config. Raw
 * protocol bytes come from `_wire.ts`; psql and node-postgres stand in for real clients.
 */

import assert from "node:assert/strict";
import {
  freePort,
  pgClient,
  type ProxyProcess,
  psql,
  startCluster,
  type TestCluster,
  waitFor,
  withLogsOnFailure,
} from "../harness/mod.ts";
import {
  cStrings,
  errorFields,
  firstColumn,
  GSSENC_REQUEST_CODE,
  type Message,
  messageHeader,
  PROTOCOL_3_0,
  queryMessage,
  requestPacket,
  SSL_REQUEST_CODE,
  startupPacket,
  WireClient,
} from "./_wire.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Asserts that `messages` ends with exactly one FATAL ErrorResponse carrying `code`. */
function assertFatal(messages: readonly Message[], code: string): Record<string, string> {
  const last = messages.at(-1);
  assert.ok(last, "the server sent nothing before closing");
  assert.equal(last.type, "E", `expected an ErrorResponse last, got ${types(messages)}`);
  const fields = errorFields(last.body);
  assert.equal(fields.S, "FATAL");
  assert.equal(fields.V, "FATAL");
  assert.equal(fields.C, code, fields.M);
  return fields;
}

/** The type letters of some messages, e.g. `TDCZ`. */
function types(messages: readonly Message[]): string {
  return messages.map((m) => m.type).join("");
}

/** The first column of each DataRow in a reply. */
function column(messages: readonly Message[]): (string | null)[] {
  return messages.filter((m) => m.type === "D").map((m) => firstColumn(m.body));
}

/** Checks that usogres still serves a new client and has not exited. */
async function assertServing(proxy: ProxyProcess): Promise<void> {
  const r = await psql(proxy.url(), "SELECT 'still serving'", { args: ["-At"] });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "still serving\n");
}

/** Number of backends on the original whose application_name is `name`. */
async function backendsNamed(cluster: TestCluster, name: string): Promise<number> {
  return Number(
    await cluster.original.psql(
      `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${name}'`,
    ),
  );
}

/** The resident set size of a process, in bytes. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  assert.ok(kb, `no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Resolves with the process status, or rejects after `ms`. */
async function exitWithin(proxy: ProxyProcess, ms: number): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`usogres did not exit within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([proxy.status, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("proxy: limits and edges", async (t) => {
  await using cluster = await startCluster({ copies: 0 });

  await t.step("startup, framing and size limits", async (t) => {
    await using proxy = await cluster.startProxy({
      sections: { listen: { startup_timeout: 1, max_message_size: 1024 } },
    });
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, () => withLogsOnFailure(proxy, cluster, fn));

    await step(
      "startup: a client that sends nothing is dropped after startup_timeout",
      async () => {
        await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 5000 });
        const started = Date.now();
        assert.deepEqual(await client.readToEnd(), []);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 900 && elapsed < 4000, `closed after ${elapsed} ms`);
      },
    );

    await step(
      "max_message_size: a Query at the limit runs; one byte over gets FATAL 08P01, then EOF",
      async () => {
        await using client = await WireClient.connect(proxy.port);
        await client.startup({ user: "postgres", database: "postgres", application_name: "big" });
        // Declared length 1024 = 4 (length) + SQL + NUL.
        const sql = `SELECT '${"x".repeat(1024 - 4 - 1 - "SELECT ''".length)}'`;
        assert.equal(queryMessage(sql).length, 1025);
        const ok = await client.query(sql);
        assert.equal(column(ok)[0]?.length, 1024 - 4 - 1 - "SELECT ''".length);
        await client.write(messageHeader("Q", 1025));
        assertFatal(await client.readToEnd(), "08P01");
        await waitFor(async () => (await backendsNamed(cluster, "big")) === 0, {
          what: "the backend of the refused client to close",
        });
        await assertServing(proxy);
      },
    );

    await step(
      "framing: a length under 4, or a Sync over 10,000 bytes, gets FATAL 08P01",
      async () => {
        for (const header of [messageHeader("Q", 3), messageHeader("S", 10_001)]) {
          await using client = await WireClient.connect(proxy.port);
          await client.startup();
          await client.write(header);
          assertFatal(await client.readToEnd(), "08P01");
        }
        await assertServing(proxy);
      },
    );

    await step(
      "framing: an unknown message type, or a Parse without its NUL, gets FATAL 08P01",
      async () => {
        const text = new TextEncoder().encode("\0SELECT 1"); // statement "", then no terminator
        const parse = new Uint8Array([...messageHeader("P", 4 + text.length + 2), ...text, 0, 0]);
        for (const bad of [new Uint8Array([...messageHeader("z", 4)]), parse]) {
          await using client = await WireClient.connect(proxy.port);
          await client.startup();
          await client.write(bad);
          assertFatal(await client.readToEnd(), "08P01");
        }
        await assertServing(proxy);
      },
    );

    await step(
      "startup: protocol 3.2 or a _pq_ option gets NegotiateProtocolVersion, then a session",
      async () => {
        const cases = [
          { version: PROTOCOL_3_0 | 2, extra: {}, unrecognized: [] },
          { version: PROTOCOL_3_0, extra: { "_pq_.foo": "on" }, unrecognized: ["_pq_.foo"] },
        ];
        for (const c of cases) {
          await using client = await WireClient.connect(proxy.port);
          await client.write(
            startupPacket({ user: "postgres", database: "postgres", ...c.extra }, c.version),
          );
          const startup = await client.readUntil("Z");
          assert.equal(startup[0]?.type, "v", `got ${types(startup)}`);
          const body = startup[0].body;
          const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
          assert.equal(view.getInt32(0), 0, "newest minor version supported");
          assert.equal(view.getInt32(4), c.unrecognized.length);
          assert.deepEqual(cStrings(body.subarray(8)), c.unrecognized);
          assert.equal(startup[1]?.type, "R");
          assert.ok(!startup.some((m) => m.type === "E"), types(startup));
          assert.deepEqual(column(await client.query("SELECT 6 * 7")), ["42"]);
        }
      },
    );

    await step("startup: protocol 2.0 gets FATAL 0A000", async () => {
      await using client = await WireClient.connect(proxy.port);
      await client.write(startupPacket({ user: "postgres", database: "postgres" }, 2 << 16));
      assertFatal(await client.readToEnd(), "0A000");
    });

    await step("startup: a replication connection gets FATAL 0A000", async () => {
      for (const replication of ["database", "true"]) {
        await using client = await WireClient.connect(proxy.port);
        await client.write(startupPacket({ user: "postgres", database: "postgres", replication }));
        assertFatal(await client.readToEnd(), "0A000");
      }
    });

    await step("SSLRequest: answered 'N', then a plain-text session works", async () => {
      {
        await using client = await WireClient.connect(proxy.port);
        await client.write(requestPacket(SSL_REQUEST_CODE));
        assert.equal(await client.readByte(), "N");
        await client.startup();
        assert.deepEqual(column(await client.query("SELECT 'plain'")), ["plain"]);
      }
      const r = await psql(
        `${proxy.url()}?sslmode=prefer`,
        "SELECT ssl FROM pg_stat_ssl " +
          "WHERE pid = pg_backend_pid()",
        { args: ["-At"] },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "f\n");
    });

    await step(
      "SSLRequest: psql with sslmode=require gives up cleanly and usogres keeps serving",
      async () => {
        const r = await psql(`${proxy.url()}?sslmode=require`, "SELECT 1");
        assert.equal(r.code, 2, r.stderr);
        // libpq's own refusal (no SQLSTATE): the server answered 'N'.
        assert.match(r.stderr, /does not support SSL/);
        await assertServing(proxy);
      },
    );

    await step("GSSENCRequest: answered 'N', then a plain-text session works", async () => {
      await using client = await WireClient.connect(proxy.port);
      await client.write(requestPacket(GSSENC_REQUEST_CODE));
      assert.equal(await client.readByte(), "N");
      await client.startup();
      assert.deepEqual(column(await client.query("SELECT 'plain'")), ["plain"]);
    });
  });

  await t.step(
    "max_clients: the third client gets FATAL 53300; a slot frees when a client leaves",
    async () => {
      await using proxy = await cluster.startProxy({ sections: { listen: { max_clients: 2 } } });
      await withLogsOnFailure(proxy, cluster, async () => {
        await using first = await pgClient(proxy.url());
        {
          await using second = await pgClient(proxy.url());
          await second.query("SELECT 1");
          const refused = await pgClient(proxy.url()).then(
            (c) => c.end().then(() => "connected"),
            (e: unknown) => (e as { code?: string }).code,
          );
          assert.equal(refused, "53300");
        }
        // `second` is closed now; its slot comes back once usogres sees the Terminate.
        await using third = await waitFor(() => pgClient(proxy.url()), {
          what: "a free client slot",
        });
        const r = await third.query<{ n: number }>("SELECT 3 AS n");
        assert.deepEqual(r.rows, [{ n: 3 }]);
        await first.query("SELECT 1");
      });
    },
  );

  await t.step(
    "back-pressure: a 50 MB result streams to a slow reader with bounded memory",
    async () => {
      await using proxy = await cluster.startProxy();
      await withLogsOnFailure(proxy, cluster, async () => {
        const sql = (rows: number) => `select repeat('x', 1000) from generate_series(1, ${rows})`;
        {
          // Warm up at full speed with 10 MB, so that the runtime's own start-up growth (heap
          // sizing, code loading) is not counted as buffering.
          await using warm = await WireClient.connect(proxy.port);
          await warm.startup();
          assert.equal(column(await warm.query(sql(10_000))).length, 10_000);
        }
        const before = await rss(proxy.pid);
        let peakFirstHalf = 0;
        let peakSecondHalf = 0;
        let reads = 0;
        let checkedServer = false;
        await using client = await WireClient.connect(proxy.port, {
          readSize: 64 * 1024,
          afterRead: async () => {
            reads++;
            if (reads % 8 === 0) {
              const now = await rss(proxy.pid);
              if (client.bytesRead < 25_000_000) peakFirstHalf = Math.max(peakFirstHalf, now);
              else peakSecondHalf = Math.max(peakSecondHalf, now);
            }
            if (!checkedServer && client.bytesRead > 5_000_000) {
              checkedServer = true;
              // The original is blocked writing to usogres: usogres is not reading it ahead.
              await waitFor(
                async () =>
                  (await cluster.original.psql(
                    "SELECT wait_event FROM pg_stat_activity WHERE query LIKE 'select repeat%'" +
                      " AND state = 'active'",
                  )) === "ClientWrite\n",
                { what: "the original to wait on ClientWrite", timeoutMs: 5000 },
              );
            }
            await new Promise((resolve) => setTimeout(resolve, 10));
          },
        });
        await client.startup();
        await client.write(queryMessage(sql(50_000)));
        let rows = 0;
        let tag = "";
        const expected = "x".repeat(1000);
        for (;;) {
          const m = await client.readMessage(true);
          assert.ok(m, "the connection closed mid-result");
          if (m.type === "D") {
            rows++;
            if (rows % 5000 === 1) assert.equal(firstColumn(m.body), expected);
          } else if (m.type === "C") {
            tag = cStrings(m.body)[0] ?? "";
          } else if (m.type === "E") {
            assert.fail(JSON.stringify(errorFields(m.body)));
          } else if (m.type === "Z") break;
        }
        assert.equal(rows, 50_000);
        assert.equal(tag, "SELECT 50000");
        assert.ok(checkedServer);
        assert.ok(client.bytesRead > 50_000_000);
        const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
        const peak = Math.max(before, peakFirstHalf, peakSecondHalf);
        console.log(
          `usogres RSS: ${mib(before)} MiB after warm-up, peak ${mib(peak)} MiB while streaming ` +
            `${mib(client.bytesRead)} MiB (growth ${mib(peak - before)} MiB; ` +
            `second half's peak minus first half's ${mib(peakSecondHalf - peakFirstHalf)} MiB)`,
        );
        const growthMiB = (peak - before) / 2 ** 20;
        // Bounded means flat: memory that grows with the bytes streamed would keep rising.
        assert.ok(peakSecondHalf - peakFirstHalf < 8 * 2 ** 20, "RSS still rising mid-stream");
        assert.ok(growthMiB < 32, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
      });
    },
  );

  await t.step(
    "shutdown: on SIGTERM a running statement finishes, then FATAL 57P01, and exit 0",
    async () => {
      await using proxy = await cluster.startProxy();
      await withLogsOnFailure(proxy, cluster, async () => {
        await using client = await WireClient.connect(proxy.port);
        await client.startup({ user: "postgres", database: "postgres", application_name: "busy" });
        await client.write(queryMessage("SELECT pg_sleep(1), 42"));
        await waitFor(
          async () =>
            (await cluster.original.psql(
              "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'busy'" +
                " AND state = 'active'",
            )) === "1\n",
          { what: "pg_sleep running on the original" },
        );
        proxy.kill("SIGTERM");
        // New connections are refused at once, while the statement still runs.
        await waitFor(
          () =>
            Deno.connect({ hostname: proxy.host, port: proxy.port }).then(
              (c) => (c.close(), false),
              () => true,
            ),
          { what: "the listener to close" },
        );
        const messages = await client.readToEnd();
        assert.equal(
          types(messages),
          "TDCZE",
          JSON.stringify(messages.filter((m) => m.type === "E").map((m) => errorFields(m.body))),
        );
        const row = messages[1]!.body;
        const view = new DataView(row.buffer, row.byteOffset, row.byteLength);
        const firstLength = view.getInt32(2); // pg_sleep's void, as text: ""
        const secondAt = 6 + Math.max(firstLength, 0);
        const second = decoder.decode(
          row.subarray(secondAt + 4, secondAt + 4 + view.getInt32(secondAt)),
        );
        assert.equal(second, "42");
        assertFatal(messages, "57P01");
        assert.equal((await exitWithin(proxy, 10_000)).code, 0);
      });
    },
  );

  await t.step("shutdown: an idle client gets FATAL 57P01 at once on SIGTERM", async () => {
    await using proxy = await cluster.startProxy();
    await withLogsOnFailure(proxy, cluster, async () => {
      await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 3000 });
      await client.startup();
      assert.deepEqual(column(await client.query("SELECT 1")), ["1"]);
      const sent = Date.now();
      proxy.kill("SIGTERM");
      assertFatal(await client.readToEnd(), "57P01");
      const elapsed = Date.now() - sent;
      assert.ok(elapsed < 2000, `57P01 after ${elapsed} ms`);
      assert.equal((await exitWithin(proxy, 10_000)).code, 0);
    });
  });

  await t.step(
    "config: an unknown key stops usogres before it starts (exit 2, naming file and key)",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "usogres-bad-config-" });
      try {
        const file = `${dir}/bad.toml`;
        await Deno.writeTextFile(
          file,
          `[listen]\nhost = "127.0.0.1"\nport = ${await freePort()}\nmax_clietns = 2\n\n` +
            `[original]\nhost = "${cluster.original.host}"\nport = ${cluster.original.port}\n`,
        );
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${REPO_ROOT}mod.ts`, "--config", file],
          cwd: REPO_ROOT,
          env: { NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        // Should usogres accept the file and start, the test must fail, not hang.
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        const out = await child.output().finally(() => clearTimeout(timer));
        const stderr = decoder.decode(out.stderr);
        assert.equal(out.code, 2, stderr);
        assert.ok(stderr.includes(file), stderr);
        assert.ok(stderr.includes(`"listen.max_clietns"`), stderr);
        assert.ok(stderr.includes(`"listen.max_clients"`), "no suggestion in: " + stderr);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});
