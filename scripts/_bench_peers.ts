/**
 * @module
 * The peers the benchmark compares usogres with, configured by the bench on loopback: PgBouncer
 * in session pooling mode in front of the original, and pgpool-II in native replication mode
 * over the original and the copy. Each is skipped, with a note, when it is not installed
 * (Debian packages `pgbouncer` and `pgpool2`). Settings follow the PgBouncer "Configuration"
 * page and pgpool-II's "Server Configuration" chapter; anything not set here is the peer's
 * default. Besides them, `deno-forwarder`: usogres's own floor, a Deno process that only relays
 * bytes (see `_bench_forwarder.ts`).
 */

import { type Daemon, findProgram, startDaemon } from "./_bench_daemon.ts";
import type { PgServer } from "./pg_server.ts";
import { freePort, pgUrl } from "./pg_tools.ts";

export type { Daemon } from "./_bench_daemon.ts";

/** A peer that could not be started, and why. */
export interface Skipped {
  /** Target name. */
  readonly name: string;
  /** Why it is missing from the results. */
  readonly note: string;
}

/** Options of {@link startPgpool}. */
export interface PgpoolOptions {
  /** Most concurrent clients it must serve (`num_init_children` is this plus 2). */
  readonly clients: number;
  /** `load_balance_mode`: spread reads over both servers (pgpool's default, on). */
  readonly loadBalance: boolean;
}

/**
 * Starts PgBouncer in session pooling mode, trusting every client, in front of the original.
 * @param original the server it pools connections to
 * @param database database clients connect to
 * @returns the running PgBouncer, or why it was skipped
 */
export async function startPgbouncer(
  original: PgServer,
  database: string,
): Promise<Daemon | Skipped> {
  const found = await findProgram("pgbouncer");
  if (!found) return { name: "pgbouncer", note: "not installed (apt-get install pgbouncer)" };
  const port = await freePort();
  const conf = (dir: string) =>
    [
      "[databases]",
      `* = host=${original.host} port=${original.port}`,
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${dir}/userlist.txt`,
      "pool_mode = session",
      "max_client_conn = 200",
      "default_pool_size = 20",
      `logfile = ${dir}/pgbouncer.log`,
      `pidfile = ${dir}/pgbouncer.pid`,
      "",
    ].join("\n");
  try {
    return await startDaemon({
      name: "pgbouncer",
      ...found,
      args: (dir) => [`${dir}/pgbouncer.ini`],
      files: (dir) => ({
        "pgbouncer.ini": conf(dir),
        // trust still looks the user name up in auth_file.
        "userlist.txt": `"${original.superuser}" ""\n`,
      }),
      pidFile: (dir) => `${dir}/pgbouncer.pid`,
      stopSignal: "SIGTERM",
      url: pgUrl("127.0.0.1", port, database, original.superuser),
    });
  } catch (e: unknown) {
    return { name: "pgbouncer", note: `could not start: ${firstLine(e)}` };
  }
}

/**
 * Starts pgpool-II in native replication mode over the original (node 0) and the copy
 * (node 1): writes run on node 0, then node 1; `replicate_select = off`; health checks off.
 * @param servers the original, then the copy
 * @param database database clients connect to
 * @param opts client count and load balancing
 * @returns the running pgpool-II, or why it was skipped
 */
export async function startPgpool(
  servers: readonly PgServer[],
  database: string,
  opts: PgpoolOptions,
): Promise<Daemon | Skipped> {
  const found = await findProgram("pgpool");
  if (!found) return { name: "pgpool", note: "not installed (apt-get install pgpool2)" };
  const port = await freePort();
  const pcpPort = await freePort();
  const conf = (dir: string) =>
    [
      "backend_clustering_mode = 'native_replication'",
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `socket_dir = '${dir}'`,
      "pcp_listen_addresses = '127.0.0.1'",
      `pcp_port = ${pcpPort}`,
      `pcp_socket_dir = '${dir}'`,
      `wd_ipc_socket_dir = '${dir}'`,
      `pid_file_name = '${dir}/pgpool.pid'`,
      `logdir = '${dir}'`,
      "log_destination = 'stderr'",
      "enable_pool_hba = off",
      "pool_passwd = ''",
      `num_init_children = ${opts.clients + 2}`,
      "replicate_select = off",
      `load_balance_mode = ${opts.loadBalance ? "on" : "off"}`,
      "health_check_period = 0",
      "sr_check_period = 0",
      "use_watchdog = off",
      ...servers.flatMap((s, i) => [
        `backend_hostname${i} = '${s.host}'`,
        `backend_port${i} = ${s.port}`,
        `backend_weight${i} = 1`,
      ]),
      "",
    ].join("\n");
  try {
    return await startDaemon({
      name: "pgpool",
      ...found,
      // -n: foreground; -D: forget node states of an earlier run.
      args: (dir) => ["-n", "-D", "-f", `${dir}/pgpool.conf`, "-F", `${dir}/pcp.conf`],
      files: (dir) => ({ "pgpool.conf": conf(dir), "pcp.conf": "" }),
      pidFile: (dir) => `${dir}/pgpool.pid`,
      stopSignal: "SIGINT", // fast shutdown; SIGTERM waits for clients to leave
      url: pgUrl("127.0.0.1", port, database, servers[0]?.superuser ?? "postgres"),
    });
  } catch (e: unknown) {
    return { name: "pgpool", note: `could not start: ${firstLine(e)}` };
  }
}

const FORWARDER = decodeURIComponent(new URL("./_bench_forwarder.ts", import.meta.url).pathname);

/**
 * Starts `deno-forwarder` (`_bench_forwarder.ts`, a bare byte relay in Deno) in front of the
 * original, as ourselves, with the Deno that runs the bench. Its URL carries `sslmode=disable`:
 * it would relay an SSLRequest to the server rather than answer it, so a client left to its
 * default would negotiate TLS end to end whenever the server has `ssl` on.
 * @param original the server it relays to
 * @param database database clients connect to
 * @returns the running forwarder, or why it was skipped
 */
export async function startDenoForwarder(
  original: PgServer,
  database: string,
): Promise<Daemon | Skipped> {
  const port = await freePort();
  try {
    return await startDaemon({
      name: "deno-forwarder",
      program: Deno.execPath(),
      version: `deno-forwarder (Deno ${Deno.version.deno})`,
      // Run from its temporary directory, so no deno.json applies: the floor loads nothing else.
      args:
        () => ["run", "--allow-net", FORWARDER, String(port), original.host, `${original.port}`],
      files: () => ({}),
      stopSignal: "SIGTERM",
      asServerUser: false,
      url: `${pgUrl("127.0.0.1", port, database, original.superuser)}?sslmode=disable`,
    });
  } catch (e: unknown) {
    return { name: "deno-forwarder", note: `could not start: ${firstLine(e)}` };
  }
}

/**
 * Tells a started peer from a skipped one.
 * @param peer what {@link startPgbouncer} or {@link startPgpool} returned
 * @returns true when it is running
 */
export function isDaemon(peer: Daemon | Skipped): peer is Daemon {
  return "url" in peer;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n").slice(0, 4).join(" / ");
}
