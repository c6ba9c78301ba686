/**
 * @module
 * Records what real clients send (psql, node-postgres, postgres.js) while they log in with SCRAM
 * and run a few statements through usogres, into `tests/fixtures/captures/*.bin`: the seeds of
 * the fuzz tests in `tests/unit/fuzz/`. A relay between each client and usogres keeps the
 * client-to-server bytes. Run it again after a protocol change:
 * `deno run -A scripts/capture_clients.ts`.
 */

import { makeScramVerifier } from "../src/auth/mod.ts";
import { pgClient, postgresJs, psql, startCluster } from "../tests/harness/mod.ts";

const OUT = new URL("../tests/fixtures/captures/", import.meta.url).pathname;
const PASSWORD = "capture-secret";

/** A TCP relay to `port` that records the bytes clients send; returns its port. */
function relay(port: number, file: string): { port: number; done: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunks: Uint8Array[] = [];
  const pumps: Promise<void>[] = [];
  void (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      const pipe = async (from: Deno.Conn, to: Deno.Conn, keep: boolean) => {
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await from.read(buf);
            if (n === null) break;
            if (keep) chunks.push(buf.slice(0, n));
            let off = 0;
            while (off < n) off += await to.write(buf.subarray(off, n));
          }
        } catch {
          // One side closed.
        }
        try {
          to.close();
        } catch {
          // Closed already.
        }
      };
      pumps.push(pipe(client, server, true), pipe(server, client, false));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    done: async () => {
      listener.close();
      await Promise.all(pumps);
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      await Deno.writeFile(`${OUT}${file}`, all);
      console.log(`${file}: ${all.length} bytes`);
    },
  };
}

await using cluster = await startCluster({ copies: 0, source: "local" });
const verifier = await makeScramVerifier(PASSWORD);
await using proxy = await cluster.startProxy({
  sections: { auth: { method: "scram-sha-256" }, "auth.users": { postgres: verifier } },
});
const env = { PGPASSWORD: PASSWORD };

let r = relay(proxy.port, "psql_scram.bin");
await psql(
  `postgresql://postgres@127.0.0.1:${r.port}/postgres?sslmode=prefer`,
  "SELECT 1; SELECT $$x$$",
  { env },
);
await r.done();

r = relay(proxy.port, "pg_scram_extended.bin");
{
  const url = `postgresql://postgres:${PASSWORD}@127.0.0.1:${r.port}/postgres`;
  await using db = await pgClient(url);
  await db.query("SELECT $1::int AS n", [42]);
  // A named statement: node-postgres takes a query config object (not in the harness's type).
  const named = db as unknown as { query(q: object): Promise<unknown> };
  await named.query({ name: "named", text: "SELECT $1::text", values: ["a"] });
}
await r.done();

r = relay(proxy.port, "postgresjs_scram.bin");
{
  await using sql = postgresJs(`postgresql://postgres:${PASSWORD}@127.0.0.1:${r.port}/postgres`);
  await sql`SELECT ${1}::int AS n`;
  await sql`CREATE TEMP TABLE t (a int)`;
  await sql`COPY t FROM STDIN`.writable().then((w) =>
    new Promise<void>((resolve, reject) =>
      w.end("1\n2\n", (e?: Error | null) => (e ? reject(e) : resolve()))
    )
  );
}
await r.done();
