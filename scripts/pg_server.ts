/**
 * @module
 * Throwaway PostgreSQL servers for the demo, the tests and the benchmarks. Each server is a
 * `cp -a` of a template made once by initdb (see `pg_template.ts`), in its own temporary
 * directory, listening on 127.0.0.1 on a free port, started and stopped with `pg_ctl` (as the
 * unprivileged `postgres` OS user when we are root). Importing this module has no side effects.
 *
 * @example
 * ```ts
 * await using pg = await startPgServer({ name: "original" });
 * console.log(await pg.psql("SELECT version()"), pg.url());
 * ```
 */

import { ensureTemplate } from "./pg_template.ts";
import { confQuote, pgBinary, pgUrl, run, runPsql, serverOsUser, tmpBase } from "./pg_tools.ts";
import { freePort } from "./pg_tools.ts";

export { firstFreePort, freePort } from "./pg_tools.ts";
export { externalServersFromEnv } from "./pg_external.ts";
export type { ExternalServers } from "./pg_external.ts";
export { TEST_ROLES } from "./pg_template.ts";

/** One PostgreSQL server: throwaway (ours) or external (CI's). */
export interface PgServer extends AsyncDisposable {
  /** Name used in logs and proxy configs: `original`, `copy`, `copy2`, ... */
  readonly name: string;
  /** Address it listens on; `127.0.0.1` for throwaway servers. */
  readonly host: string;
  /** TCP port it listens on. */
  readonly port: number;
  /** Data directory; undefined for external servers. */
  readonly dataDir: string | undefined;
  /** Superuser role (`postgres` for throwaway servers). */
  readonly superuser: string;
  /** True for servers given by environment variables, which we never stop or start. */
  readonly external: boolean;
  /**
   * Returns a libpq URL for this server.
   * @param db database (default `postgres`)
   * @param user role (default the superuser)
   */
  url(db?: string, user?: string): string;
  /**
   * Runs SQL with `psql -XAtq -v ON_ERROR_STOP=1` and returns its stdout.
   * @throws Error carrying psql's stderr when a statement fails
   */
  psql(sql: string, opts?: { db?: string; user?: string }): Promise<string>;
  /**
   * Stops the server (`pg_ctl stop -w`), keeping its data directory.
   * @throws Error for external servers, or when pg_ctl fails
   */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /**
   * Starts the server again after {@link stop}, on the same port.
   * @throws Error for external servers, or with the server log when it does not start
   */
  start(): Promise<void>;
  /** Returns the postmaster's pid from `postmaster.pid`, or undefined when it is not running. */
  pid(): Promise<number | undefined>;
  /** Returns the last lines of the server log (default 40). */
  logTail(lines?: number): Promise<string>;
}

/** Options of {@link startPgServer}. */
export interface StartPgServerOptions {
  /** Name of the server (default `pg`); also part of its temporary directory's name. */
  readonly name?: string;
  /** Extra settings written to postgresql.auto.conf, e.g. `{ max_connections: "50" }`. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The whole pg_hba.conf, replacing the template's (`TEST_HBA`): for tests of servers that
   * demand TLS or a password method.
   */
  readonly hba?: string;
  /**
   * Files written into the data directory before the server starts (name to contents), with
   * mode 0600 and owned by the server's OS user, as PostgreSQL wants `ssl_key_file`; settings
   * may name them relative to the data directory (`ssl_cert_file: "server.crt"`).
   */
  readonly files?: Readonly<Record<string, string>>;
  /**
   * Stop and remove the server when the process gets SIGINT or SIGTERM (default true). Callers
   * with their own signal handling (the demo) pass false and dispose the server themselves.
   * The synchronous "unload" safety net stays on either way.
   */
  readonly signals?: boolean;
}

const tracked = new Set<LocalServer>();
let unloadInstalled = false;
let signalsInstalled = false;

function onUnload(): void {
  // "unload" handlers cannot await: stop with the synchronous API, immediately.
  for (const server of tracked) server.stopAndRemoveSync();
}

/** Stops every tracked server, then exits as a shell would after the signal (128 + number). */
function exitAfterCleanup(code: number): void {
  const servers = [...tracked];
  void Promise.allSettled(servers.map((s) => s.dispose("immediate"))).then(() => Deno.exit(code));
}

const SIGNAL_HANDLERS: ReadonlyArray<[Deno.Signal, () => void]> = [
  ["SIGINT", () => exitAfterCleanup(130)],
  ["SIGTERM", () => exitAfterCleanup(143)],
];

/** Installs or removes the safety nets so they exist exactly while servers are tracked. */
function syncSafetyNets(): void {
  const wantUnload = tracked.size > 0;
  if (wantUnload !== unloadInstalled) {
    if (wantUnload) globalThis.addEventListener("unload", onUnload);
    else globalThis.removeEventListener("unload", onUnload);
    unloadInstalled = wantUnload;
  }
  const wantSignals = [...tracked].some((s) => s.signals);
  if (wantSignals !== signalsInstalled) {
    for (const [signal, handler] of SIGNAL_HANDLERS) {
      try {
        if (wantSignals) Deno.addSignalListener(signal, handler);
        else Deno.removeSignalListener(signal, handler);
      } catch {
        // Signals that the platform does not support (Windows) have no safety net.
      }
    }
    signalsInstalled = wantSignals;
  }
}

const POSTMASTER_GONE = /could not bind|Address already in use|could not create .*socket/i;

/** A throwaway server in a temporary directory. */
class LocalServer implements PgServer {
  readonly host = "127.0.0.1" as const;
  readonly superuser = "postgres";
  readonly external = false;
  readonly dataDir: string;
  #port = 0;
  #disposed = false;

  constructor(
    readonly name: string,
    readonly root: string,
    readonly settings: Readonly<Record<string, string>>,
    readonly signals: boolean,
    readonly pgCtl: string,
  ) {
    this.dataDir = `${root}/data`;
  }

  get port(): number {
    return this.#port;
  }

  url(db = "postgres", user = this.superuser): string {
    return pgUrl(this.host, this.#port, db, user);
  }

  psql(sql: string, opts: { db?: string; user?: string } = {}): Promise<string> {
    return runPsql(this.url(opts.db, opts.user), sql);
  }

  /** Writes postgresql.auto.conf for a port; later lines win over the template's. */
  async configure(port: number): Promise<void> {
    const settings: Record<string, string> = {
      listen_addresses: "127.0.0.1",
      port: String(port),
      unix_socket_directories: this.dataDir,
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      shared_buffers: "32MB",
      max_connections: "200",
      logging_collector: "off",
      ...this.settings,
    };
    const lines = ["# written by usogres scripts/pg_server.ts (ALTER SYSTEM keeps these)"];
    for (const [key, value] of Object.entries(settings)) lines.push(`${key} = ${confQuote(value)}`);
    await Deno.writeTextFile(`${this.dataDir}/postgresql.auto.conf`, lines.join("\n") + "\n");
    this.#port = port;
  }

  /** Starts the postmaster; returns false when the port was taken, so the caller can retry. */
  async tryStart(): Promise<boolean> {
    const r = await run(this.pgCtl, [
      "-D",
      this.dataDir,
      "-l",
      `${this.dataDir}/server.log`,
      "-w",
      "-t",
      "60",
      "start",
    ], { asServerUser: true });
    if (r.code === 0) return true;
    const log = await this.logTail(20);
    if (POSTMASTER_GONE.test(log)) return false;
    throw new Error(
      `server "${this.name}" did not start on port ${this.#port}: ${r.stderr.trim()}\n${log}`,
    );
  }

  async start(): Promise<void> {
    if (this.#disposed) throw new Error(`server "${this.name}" was disposed`);
    if (!(await this.tryStart())) {
      throw new Error(`server "${this.name}": port ${this.#port} is taken by another process`);
    }
  }

  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (await this.pid() === undefined) return;
    const r = await run(this.pgCtl, ["-D", this.dataDir, "-m", mode, "-w", "-t", "60", "stop"], {
      asServerUser: true,
    });
    if (r.code !== 0 && await this.pid() !== undefined) {
      throw new Error(`stopping server "${this.name}" failed: ${r.stderr.trim()}`);
    }
  }

  async pid(): Promise<number | undefined> {
    try {
      const text = await Deno.readTextFile(`${this.dataDir}/postmaster.pid`);
      const pid = Number(text.split("\n", 1)[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async logTail(lines = 40): Promise<string> {
    try {
      const text = await Deno.readTextFile(`${this.dataDir}/server.log`);
      return text.split("\n").slice(-lines - 1).join("\n");
    } catch {
      return `(no log for server "${this.name}")`;
    }
  }

  /** Stops (fast, then immediate if that fails) and removes the directory; idempotent. */
  async dispose(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.stop(mode).catch(() => this.stop("immediate"));
    } finally {
      await Deno.remove(this.root, { recursive: true }).catch(() => {});
      tracked.delete(this);
      syncSafetyNets();
    }
  }

  /** The "unload" safety net: synchronous immediate stop and removal. */
  stopAndRemoveSync(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      const args = ["-D", this.dataDir, "-m", "immediate", "-w", "stop"];
      const asRoot = Deno.uid() === 0;
      new Deno.Command(asRoot ? "runuser" : this.pgCtl, {
        args: asRoot ? ["-u", "postgres", "--", this.pgCtl, ...args] : args,
        cwd: "/",
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).outputSync();
    } catch {
      // Best effort while the process exits.
    }
    try {
      Deno.removeSync(this.root, { recursive: true });
    } catch {
      // Best effort while the process exits.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * Starts a throwaway PostgreSQL server: a copy of the initdb template in a fresh temporary
 * directory, on a free port of 127.0.0.1, with trust for `postgres` and the test roles of
 * {@link TEST_ROLES}. Dispose it (`await using`) to stop it and remove its directory.
 * @param opts name, extra settings, and whether SIGINT/SIGTERM clean it up
 * @returns the running server
 * @throws Error with initdb's, pg_ctl's or the server log's text when it cannot start
 * @example
 * ```ts
 * await using pg = await startPgServer({ settings: { max_connections: "20" } });
 * await pg.psql("CREATE TABLE t (id int)");
 * ```
 */
export async function startPgServer(opts: StartPgServerOptions = {}): Promise<PgServer> {
  const name = opts.name ?? "pg";
  const template = await ensureTemplate();
  const user = await serverOsUser();
  const root = await Deno.makeTempDir({
    dir: tmpBase(),
    prefix: `usogres-pg-${name.replace(/[^A-Za-z0-9_-]/g, "_")}-`,
  });
  const server = new LocalServer(
    name,
    root,
    opts.settings ?? {},
    opts.signals ?? true,
    await pgBinary("pg_ctl"),
  );
  tracked.add(server);
  syncSafetyNets();
  try {
    if (user.viaRunuser) await Deno.chown(root, user.uid, user.gid);
    const cp = await run("cp", ["-a", template, server.dataDir], { asServerUser: true });
    if (cp.code !== 0) throw new Error(`copying the template failed: ${cp.stderr.trim()}`);
    const files: Record<string, string> = { ...opts.files };
    if (opts.hba !== undefined) files["pg_hba.conf"] = opts.hba;
    for (const [file, text] of Object.entries(files)) {
      const path = `${server.dataDir}/${file}`;
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      await Deno.chmod(path, 0o600);
      if (user.viaRunuser) await Deno.chown(path, user.uid, user.gid);
    }
    for (let attempt = 1;; attempt++) {
      await server.configure(await freePort());
      if (await server.tryStart()) return server;
      if (attempt === 5) throw new Error(`server "${name}" found no free port in 5 attempts`);
    }
  } catch (e) {
    await server.dispose("immediate");
    throw e;
  }
}
