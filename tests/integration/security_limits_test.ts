/**
 * @module
 * Hardening against clients, end to end: slow-loris clients (one byte a second) cannot hold a
 * slot past `startup_timeout`, neither before their StartupMessage nor during SCRAM;
 * `max_clients_per_address` refuses a flood from one address with 53300; `client_idle_timeout`
 * (57P05) and `idle_in_transaction_timeout` (25P03, the transaction rolled back on every server);
 * and an unauthenticated client learns nothing about the servers (no ParameterStatus, no
 * version, no address), not even when `auth_query` cannot reach the original.
 */

import assert from "node:assert/strict";
import { makeScramVerifier } from "../../src/auth/mod.ts";
import { freePort, psql, startCluster, waitFor, withLogsOnFailure } from "../harness/mod.ts";
import { errorFields, type Message, startupPacket, WireClient } from "./_wire.ts";

const PASSWORD = "limits-secret";

/** Sends bytes one a second until the server closes; returns when it did (ms after start). */
async function dribble(client: WireClient, bytes: Uint8Array, started: number): Promise<number> {
  let closed = false;
  const end = client.readToEnd().then(() => {
    closed = true;
  }, () => {
    closed = true;
  });
  for (const b of bytes) {
    if (closed) break;
    try {
      await client.write(new Uint8Array([b]));
    } catch {
      break;
    }
    await Promise.race([end, new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
  await end;
  return Date.now() - started;
}

function sqlstates(messages: readonly Message[]): string[] {
  return messages.filter((m) => m.type === "E").map((m) => errorFields(m.body).C ?? "");
}

/** A SASLInitialResponse, by hand. */
function saslInitial(data: string): Uint8Array {
  const enc = new TextEncoder();
  const mech = enc.encode("SCRAM-SHA-256\0");
  const body = enc.encode(data);
  const out = new Uint8Array(1 + 4 + mech.length + 4 + body.length);
  const view = new DataView(out.buffer);
  out[0] = 0x70;
  view.setInt32(1, out.length - 1);
  out.set(mech, 5);
  view.setInt32(5 + mech.length, body.length);
  out.set(body, 9 + mech.length);
  return out;
}

Deno.test("security: limits", async (t) => {
  await using cluster = await startCluster({ copies: 1 });
  const verifier = await makeScramVerifier(PASSWORD);

  await t.step(
    "slow loris before startup: one byte a second holds the address slot only until startup_timeout",
    async () => {
      await using proxy = await cluster.startProxy({
        sections: { listen: { startup_timeout: 2, max_clients_per_address: 1 } },
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        // The harness's readiness probe may still hold the address's one slot for a moment.
        let slow: WireClient | undefined;
        let started = 0;
        await waitFor(async () => {
          started = Date.now();
          const candidate = await WireClient.connect(proxy.port, { readTimeoutMs: 10_000 });
          const refused = await Promise.race([
            candidate.readMessage().then(() => true, () => true),
            new Promise<false>((resolve) => setTimeout(() => resolve(false), 300)),
          ]);
          if (refused) candidate.close();
          else slow = candidate;
          return !refused;
        }, { what: "the address slot to be free", timeoutMs: 5000 });
        await using _slow = slow!;
        const slowDone = dribble(slow!, startupPacket({ user: "postgres" }), started);
        // While it dribbles, a second connection from the same address is refused at once.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await using second = await WireClient.connect(proxy.port, { readTimeoutMs: 5000 });
        assert.deepEqual(sqlstates(await second.readToEnd()), ["53300"]);
        const closedAfter = await slowDone;
        assert.ok(closedAfter >= 1800 && closedAfter < 4500, `closed after ${closedAfter} ms`);
        // The slot is free again.
        await waitFor(async () => {
          await using again = await WireClient.connect(proxy.port);
          await again.startup();
          return true;
        }, { what: "a new client to get in", timeoutMs: 5000 });
      });
    },
  );

  await t.step(
    "slow loris during SCRAM: the max_clients slot is freed at startup_timeout",
    async () => {
      await using proxy = await cluster.startProxy({
        sections: {
          listen: { startup_timeout: 2, max_clients: 1 },
          auth: { method: "scram-sha-256" },
          "auth.users": { postgres: verifier },
        },
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        const started = Date.now();
        await using slow = await WireClient.connect(proxy.port, { readTimeoutMs: 10_000 });
        await slow.write(startupPacket({ user: "postgres", database: "postgres" }));
        const sasl = await slow.readMessage();
        assert.equal(sasl?.type, "R");
        const slowDone = dribble(slow, saslInitial("n,,n=,r=slowlorisnonce"), started);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const env = { PGPASSWORD: PASSWORD };
        const url = `postgresql://postgres@127.0.0.1:${proxy.port}/postgres?sslmode=disable`;
        const busy = await psql(url, "SELECT 1", { env });
        assert.match(busy.stderr, /sorry, too many clients already/);
        const closedAfter = await slowDone;
        assert.ok(closedAfter >= 1800 && closedAfter < 4500, `closed after ${closedAfter} ms`);
        await waitFor(async () => (await psql(url, "SELECT 1", { env })).code === 0, {
          what: "psql to get the freed slot",
          timeoutMs: 5000,
        });
      });
    },
  );

  await t.step("client_idle_timeout: an idle session gets FATAL 57P05", async () => {
    await using proxy = await cluster.startProxy({
      sections: { listen: { client_idle_timeout: 1 } },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 10_000 });
      await client.startup();
      await client.query("SELECT 1"); // activity re-arms the timer
      const started = Date.now();
      assert.deepEqual(sqlstates(await client.readToEnd()), ["57P05"]);
      assert.ok(Date.now() - started >= 900);
    });
  });

  await t.step(
    "idle_in_transaction_timeout: FATAL 25P03, and the transaction is rolled back everywhere",
    async () => {
      await cluster.queryEach("CREATE TABLE IF NOT EXISTS idle_t (id int)");
      await using proxy = await cluster.startProxy({
        sections: { listen: { idle_in_transaction_timeout: 1 } },
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 10_000 });
        await client.startup();
        await client.query("BEGIN; INSERT INTO idle_t VALUES (1)");
        // Outside a transaction the session may idle forever (client_idle_timeout is 0).
        assert.deepEqual(sqlstates(await client.readToEnd()), ["25P03"]);
        await waitFor(async () => {
          const open = await cluster.queryEach(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'",
          );
          return open.every((n) => n.trim() === "0");
        }, { what: "the servers to roll back" });
        const rows = await cluster.queryEach("SELECT count(*) FROM idle_t");
        assert.deepEqual(rows.map((r) => r.trim()), ["0", "0"]);
      });
      await cluster.queryEach("DROP TABLE idle_t");
    },
  );

  await t.step(
    "an unauthenticated client learns no server version, parameter or address",
    async () => {
      await using proxy = await cluster.startProxy({
        sections: { auth: { method: "scram-sha-256" }, "auth.users": { postgres: verifier } },
      });
      await withLogsOnFailure(proxy, cluster, async () => {
        await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 5000 });
        await client.write(startupPacket({ user: "postgres", database: "postgres" }));
        const first = await client.readMessage();
        assert.equal(first?.type, "R");
        await client.write(saslInitial("n,,n=,r=someclientnonce"));
        await client.readMessage(); // SASLContinue
        const bogus = new TextEncoder().encode(
          "c=biws,r=x,p=" + "A".repeat(43) + "=",
        );
        const response = new Uint8Array(5 + bogus.length);
        response[0] = 0x70;
        new DataView(response.buffer).setInt32(1, 4 + bogus.length);
        response.set(bogus, 5);
        await client.write(response);
        const rest = await client.readToEnd();
        assert.deepEqual(rest.map((m) => m.type), ["E"]);
        const text = JSON.stringify(rest.map((m) => errorFields(m.body)));
        for (const server of cluster.all) assert.ok(!text.includes(String(server.port)));
        assert.ok(!/PostgreSQL|server_version|127\.0\.0\.1/.test(text), text);
      });
    },
  );

  await t.step("auth_query with the original unreachable: 57P03 without an address", async () => {
    const dead = await freePort();
    await using proxy = await cluster.startProxy({
      sections: {
        original: { port: dead },
        auth: {
          method: "scram-sha-256",
          auth_query: "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1",
          auth_user: "postgres",
        },
      },
    });
    await withLogsOnFailure(proxy, cluster, async () => {
      await using client = await WireClient.connect(proxy.port, { readTimeoutMs: 15_000 });
      await client.write(startupPacket({ user: "postgres", database: "postgres" }));
      const messages = await client.readToEnd();
      assert.deepEqual(sqlstates(messages), ["57P03"]);
      const text = JSON.stringify(messages.map((m) => errorFields(m.body)));
      assert.ok(!text.includes(String(dead)) && !text.includes("127.0.0.1"), text);
      assert.match(proxy.output(), /auth_query for role postgres failed/);
    });
  });
});
