/**
 * @module
 * Low-level helpers shared by the throwaway PostgreSQL servers: locating the PostgreSQL binaries
 * (`$PG_BINDIR`, `pg_config --bindir`, the newest `/usr/lib/postgresql/<n>/bin`), running a
 * command (as the unprivileged `postgres` OS user when we are root, because `initdb`, `pg_ctl`
 * and `postgres` refuse to run as root), free TCP ports, and a psql runner.
 */

/** What a finished subprocess printed, and its exit code. */
export interface RunResult {
  /** Exit code (non-zero on failure). */
  readonly code: number;
  /** Everything written to stdout, decoded as UTF-8. */
  readonly stdout: string;
  /** Everything written to stderr, decoded as UTF-8. */
  readonly stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Run as the server's OS user (see {@link serverOsUser}) instead of ourselves. */
  readonly asServerUser?: boolean;
  /** Working directory (default: a directory the server user can enter). */
  readonly cwd?: string;
  /** Text written to the subprocess's stdin; stdin is /dev/null when absent. */
  readonly stdin?: string;
  /** Extra environment variables, added to {@link cleanEnv}. */
  readonly env?: Readonly<Record<string, string>>;
}

/** The OS user that owns data directories and runs the servers. */
export interface OsUser {
  /** User name, for `runuser -u`. */
  readonly name: string;
  /** Numeric user id. */
  readonly uid: number;
  /** Numeric primary group id. */
  readonly gid: number;
  /** True when we are root and server commands go through `runuser`. */
  readonly viaRunuser: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Returns the directory for temporary files: `$TMPDIR`, else `/tmp`.
 * @returns an absolute directory path without a trailing slash
 */
export function tmpBase(): string {
  const dir = Deno.env.get("TMPDIR") || "/tmp";
  return dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
}

/**
 * Returns the environment for PostgreSQL subprocesses: ours without any `PG*` variable, so a
 * developer's `PGHOST`, `PGPASSWORD` or `PGSERVICE` cannot redirect a test to another server.
 * @returns a fresh environment object
 */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (!key.startsWith("PG")) env[key] = value;
  }
  env.PGCONNECT_TIMEOUT = "10";
  return env;
}

let osUserPromise: Promise<OsUser> | undefined;

/**
 * Finds the OS user that runs the servers: ourselves, or `postgres` when we are root.
 * @returns the user (cached for the process)
 * @throws Error when we are root and no `postgres` OS user exists
 */
export function serverOsUser(): Promise<OsUser> {
  osUserPromise ??= (async () => {
    const uid = Deno.uid() ?? 0;
    const gid = Deno.gid() ?? 0;
    if (uid !== 0) {
      return { name: Deno.env.get("USER") ?? String(uid), uid, gid, viaRunuser: false };
    }
    const u = await run("id", ["-u", "postgres"], { cwd: "/" });
    const g = await run("id", ["-g", "postgres"], { cwd: "/" });
    if (u.code !== 0 || g.code !== 0) {
      throw new Error(
        'running as root needs an unprivileged "postgres" OS user for initdb and pg_ctl: ' +
          "create it with `useradd --system --user-group postgres`",
      );
    }
    return {
      name: "postgres",
      uid: Number(u.stdout.trim()),
      gid: Number(g.stdout.trim()),
      viaRunuser: true,
    };
  })();
  return osUserPromise;
}

/**
 * Runs a command to completion and collects its output; never throws for a non-zero exit.
 * @param cmd program name or path
 * @param args its arguments
 * @param opts user, working directory, stdin and environment
 * @returns exit code, stdout and stderr
 * @throws Deno.errors.NotFound when the program does not exist
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  let program = cmd;
  let argv = args;
  if (opts.asServerUser) {
    const user = await serverOsUser();
    if (user.viaRunuser) {
      program = "runuser";
      argv = ["-u", user.name, "--", cmd, ...args];
    }
  }
  const child = new Deno.Command(program, {
    args: argv,
    cwd: opts.cwd ?? tmpBase(),
    env: { ...cleanEnv(), ...opts.env },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    // A program that exits before reading all of stdin makes the write fail; its exit code and
    // stderr below are the real story, so the write error is not the one to report.
    await writer.write(encoder.encode(opts.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

let binDirPromise: Promise<string> | undefined;

/**
 * Locates the PostgreSQL server binaries: `$PG_BINDIR`, else `pg_config --bindir` when it holds
 * `initdb`, else the newest `/usr/lib/postgresql/<major>/bin`.
 * @returns the directory holding `initdb`, `pg_ctl`, `postgres`, `psql` and `pgbench`
 * @throws Error naming what was tried when no directory holds `initdb`
 */
export function pgBinDir(): Promise<string> {
  binDirPromise ??= (async () => {
    const fromEnv = Deno.env.get("PG_BINDIR");
    if (fromEnv) {
      if (await isFile(`${fromEnv}/initdb`)) return fromEnv;
      throw new Error(`PG_BINDIR "${fromEnv}" holds no initdb`);
    }
    try {
      const r = await run("pg_config", ["--bindir"], { cwd: "/" });
      const dir = r.stdout.trim();
      if (r.code === 0 && dir && await isFile(`${dir}/initdb`)) return dir;
    } catch {
      // pg_config is not installed: fall through to the Debian layout.
    }
    const majors: number[] = [];
    try {
      for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
        const major = Number(entry.name);
        if (
          Number.isFinite(major) && await isFile(`/usr/lib/postgresql/${entry.name}/bin/initdb`)
        ) {
          majors.push(major);
        }
      }
    } catch {
      // No /usr/lib/postgresql at all.
    }
    majors.sort((a, b) => b - a);
    if (majors[0] !== undefined) return `/usr/lib/postgresql/${majors[0]}/bin`;
    throw new Error(
      "no PostgreSQL binaries found: tried $PG_BINDIR, `pg_config --bindir` and " +
        "/usr/lib/postgresql/*/bin (install them with `apt-get install postgresql`)",
    );
  })();
  return binDirPromise;
}

/**
 * Returns the full path of one PostgreSQL program (`psql`, `pgbench`, `pg_ctl`, ...).
 * @param name program name
 * @returns its path inside {@link pgBinDir}
 * @throws Error when no PostgreSQL binaries are found
 */
export async function pgBinary(name: string): Promise<string> {
  return `${await pgBinDir()}/${name}`;
}

let majorPromise: Promise<string> | undefined;

/**
 * Returns the major version of the PostgreSQL binaries, e.g. `"15"`.
 * @returns the major version as printed by `postgres --version`
 * @throws Error when `postgres --version` fails
 */
export function pgMajorVersion(): Promise<string> {
  majorPromise ??= (async () => {
    const r = await run(await pgBinary("postgres"), ["--version"], { cwd: "/" });
    const m = /\(PostgreSQL\)\s+(\d+)/.exec(r.stdout);
    if (r.code !== 0 || !m?.[1]) throw new Error(`postgres --version failed: ${r.stderr}`);
    return m[1];
  })();
  return majorPromise;
}

const handedOut = new Set<number>();

/**
 * Finds a TCP port on 127.0.0.1 that is free right now (bind to port 0, read it, close). The
 * same port is never handed out twice by one process; a caller must still retry if another
 * process takes it before it binds.
 * @returns a port number
 */
export function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return Promise.resolve(port);
    }
  }
  return Promise.reject(new Error("no free TCP port found on 127.0.0.1"));
}

/**
 * Finds the first port at or above `start` that is free on 127.0.0.1 (the demo asks for 5432 and
 * takes the next free one when it is taken).
 * @param start first port to try
 * @param end last port to try (default `start + 100`)
 * @returns a free port
 * @throws Error when every port in the range is taken
 */
export function firstFreePort(start: number, end: number = start + 100): Promise<number> {
  for (let port = start; port <= end && port <= 65535; port++) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return Promise.resolve(port);
    } catch {
      // Taken (or not allowed): try the next one.
    }
  }
  return Promise.reject(new Error(`no free TCP port on 127.0.0.1 between ${start} and ${end}`));
}

/**
 * Runs SQL through `psql -XAtq -v ON_ERROR_STOP=1` (the SQL on stdin, so each statement runs on
 * its own and `CREATE DATABASE` works in a script).
 * @param conninfo a libpq URL or connection string
 * @param sql the statements
 * @returns psql's stdout (unaligned, tuples only)
 * @throws Error carrying psql's stderr when psql exits non-zero
 */
export async function runPsql(conninfo: string, sql: string): Promise<string> {
  const r = await run(await pgBinary("psql"), [
    "-XAtq",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    conninfo,
    "-f",
    "-",
  ], { stdin: sql });
  if (r.code !== 0) {
    throw new Error(`psql failed (exit ${r.code}) on ${redact(conninfo)}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * Hides the password of a libpq URL for error messages.
 * @param url a libpq URL
 * @returns the URL with any password replaced by `***`
 */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, "$1:***@");
}

/**
 * Quotes a value as a PostgreSQL configuration-file string (`'...'`, quotes doubled).
 * @param value the setting's value
 * @returns the quoted value
 */
export function confQuote(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/**
 * Builds a libpq URL.
 * @param host host name or address
 * @param port TCP port
 * @param db database name
 * @param user role name
 * @param password password, if any
 * @returns `postgres://user[:password]@host:port/db`
 */
export function pgUrl(
  host: string,
  port: number,
  db: string,
  user: string,
  password?: string,
): string {
  const auth = encodeURIComponent(user) +
    (password === undefined ? "" : `:${encodeURIComponent(password)}`);
  return `postgres://${auth}@${host}:${port}/${encodeURIComponent(db)}`;
}
