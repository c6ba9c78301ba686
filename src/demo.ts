/**
 * @module
 * `usogres demo`: the embedded default. Starts a throwaway original and copy server (initdb into a
 * temporary directory, as the `postgres` user when run as root, on free loopback ports), starts
 * usogres in front of them on port 5432 or the next free one, prints how to connect, and on Ctrl-C
 * stops everything and removes the temporary data.
 */

import { defaultConfig } from "./config/mod.ts";
import { setupLogging, shutdownLogging } from "./log/mod.ts";
import { ProxyServer } from "./server/proxy_server.ts";
import { startCluster } from "../scripts/pg_cluster.ts";
import { firstFreePort } from "../scripts/pg_server.ts";
import { waitForStopSignal } from "./cli.ts";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Port for usogres; default 5432, or the next free one. */
  readonly port?: number | undefined;
}

const encoder = new TextEncoder();
function say(text: string): void {
  Deno.stdout.writeSync(encoder.encode(`${text}\n`));
}

/**
 * Runs the demo until SIGINT or SIGTERM.
 *
 * @param opts the port to listen on
 * @returns the exit code (0 after a clean stop, 1 when something could not start)
 */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  say("usogres demo: starting a throwaway original and copy server ...");
  await using cluster = await startCluster({ copies: 1, signals: false, source: "local" });
  const port = opts.port ?? await firstFreePort(5432);
  const copy = cluster.copies[0]!;
  const metricsPort = await firstFreePort(9930);
  const config = defaultConfig({
    original: { host: cluster.original.host, port: cluster.original.port },
    copies: [{ name: "copy", host: copy.host, port: copy.port }],
    listen: { host: "127.0.0.1", port },
    log: { dir: "", stderr: true, level: "info" },
    admin: { metricsListen: `127.0.0.1:${metricsPort}` },
  });
  await setupLogging(config.log);
  let server: ProxyServer;
  try {
    server = await ProxyServer.start(config);
  } catch (e: unknown) {
    say(`usogres demo: could not listen on 127.0.0.1:${port}: ${String(e)}`);
    await shutdownLogging();
    return 1;
  }
  say("");
  say(`  original  postgres://postgres@127.0.0.1:${cluster.original.port}/postgres`);
  say(`  copy      postgres://postgres@127.0.0.1:${copy.port}/postgres`);
  say(`  usogres   127.0.0.1:${server.port}`);
  say("");
  say("Connect with:");
  say(`  psql "host=127.0.0.1 port=${server.port} user=postgres dbname=postgres"`);
  say("Admin console (SHOW BACKENDS, SHOW STATS, ...) and metrics:");
  say(`  psql "host=127.0.0.1 port=${server.port} user=postgres dbname=usogres"`);
  say(`  http://127.0.0.1:${metricsPort}/metrics`);
  say("");
  say("Press Ctrl-C to stop usogres and both servers and remove their data.");
  await waitForStopSignal(() => server.kill());
  say("usogres demo: stopping ...");
  await server.shutdown();
  await shutdownLogging();
  return 0;
}
