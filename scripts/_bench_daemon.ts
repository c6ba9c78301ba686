/**
 * @module
 * A peer proxy (PgBouncer, pgpool-II) run in the foreground for the benchmark: found on `PATH`
 * or in `/usr/sbin`, given a temporary directory it can write (owned by the `postgres` OS user
 * when we are root, because both refuse to run as root or should not), started through `runuser`
 * when root, waited for with `SELECT 1`, and stopped by the pid in its pid file, then the pid we
 * spawned. The bench's own `deno-forwarder` runs the same way, as ourselves and without a pid file.
 */

import { type OsUser, run, runPsql, serverOsUser, tmpBase } from "./pg_tools.ts";

/** A running peer proxy. Disposing it stops it and removes its directory. */
export interface Daemon extends AsyncDisposable {
  /** Target name in the report (`pgbouncer`, `pgpool`). */
  readonly name: string;
  /** libpq URL through it. */
  readonly url: string;
  /** The process started (`runuser` when run as root): the root of the daemon's process tree. */
  readonly pid: number;
  /** First line of `--version`. */
  readonly version: string;
  /** Stops it (its stop signal, then SIGKILL after 15 s) and removes its directory. */
  stop(): Promise<void>;
}

/** How to start a peer proxy. */
export interface DaemonSpec {
  /** Target name in the report. */
  readonly name: string;
  /** Its program, as found by {@link findProgram}. */
  readonly program: string;
  /** First line of `--version`. */
  readonly version: string;
  /** Arguments, given the temporary directory. */
  args(dir: string): string[];
  /** Files to write into the directory before starting, given the directory. */
  files(dir: string): Record<string, string>;
  /** Path of the pid file the daemon writes, given the directory; absent when it writes none. */
  pidFile?(dir: string): string;
  /**
   * Run it as the servers' OS user through `runuser` when we are root (default true: PgBouncer
   * and pgpool-II refuse root). False runs it as ourselves.
   */
  readonly asServerUser?: boolean;
  /** Signal that shuts it down quickly (pgpool: SIGINT; PgBouncer: SIGTERM). */
  readonly stopSignal: Deno.Signal;
  /** libpq URL through it. */
  readonly url: string;
}

const decoder = new TextDecoder();
const OUTPUT_LIMIT = 64 * 1024;

/**
 * Finds a program on `PATH` or in the sbin directories a non-root `PATH` may lack.
 * @param name program name
 * @returns its path and the first line of `<program> --version`, or undefined when not installed
 */
export async function findProgram(
  name: string,
): Promise<{ program: string; version: string } | undefined> {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs.filter((d) => d !== "")) {
    const program = `${dir}/${name}`;
    try {
      if (!(await Deno.stat(program)).isFile) continue;
    } catch {
      continue;
    }
    const r = await run(program, ["--version"], { cwd: "/" });
    const version = `${r.stdout}\n${r.stderr}`.trim().split("\n", 1)[0] ?? "";
    return { program, version };
  }
  return undefined;
}

/** Ourselves, for daemons that run as our own user (no `runuser`, no chown). */
function ownUser(): Promise<OsUser> {
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  return Promise.resolve({ name: String(uid), uid, gid, viaRunuser: false });
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    // pgpool pads its pid file with NUL bytes: take the leading digits only.
    const pid = Number(/^\s*(\d+)/.exec(await Deno.readTextFile(path))?.[1]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function signalPid(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts a peer proxy in the foreground and waits until `SELECT 1` works through it.
 * @param spec what to run and how to configure it
 * @returns the running daemon; dispose it to stop it
 * @throws Error with the daemon's output when it exits early or is not ready within 30 s
 */
export async function startDaemon(spec: DaemonSpec): Promise<Daemon> {
  const user = spec.asServerUser === false ? await ownUser() : await serverOsUser();
  const dir = await Deno.makeTempDir({ dir: tmpBase(), prefix: `usogres-bench-${spec.name}-` });
  for (const [file, text] of Object.entries(spec.files(dir))) {
    await Deno.writeTextFile(`${dir}/${file}`, text, { mode: 0o600 });
    if (user.viaRunuser) await Deno.chown(`${dir}/${file}`, user.uid, user.gid);
  }
  if (user.viaRunuser) await Deno.chown(dir, user.uid, user.gid);
  const argv = spec.args(dir);
  const child = new Deno.Command(user.viaRunuser ? "runuser" : spec.program, {
    args: user.viaRunuser ? ["-u", user.name, "--", spec.program, ...argv] : argv,
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const drain = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done || !value) return;
      output = (output + decoder.decode(value, { stream: true })).slice(-OUTPUT_LIMIT);
    }
  };
  const pumps = Promise.all(readers.map(drain));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const pid = spec.pidFile ? await readPid(spec.pidFile(dir)) : undefined;
      if (!exited) signalPid(pid ?? child.pid, spec.stopSignal);
      const timer = setTimeout(() => {
        if (pid !== undefined) signalPid(pid, "SIGKILL");
        signalPid(child.pid, "SIGKILL");
      }, 15_000);
      await status;
      clearTimeout(timer);
      // A worker left behind by a killed daemon would hold the pipes open: stop reading them.
      const drained = await Promise.race([pumps.then(() => true), delay(2_000).then(() => false)]);
      if (!drained) await Promise.allSettled(readers.map((r) => r.cancel()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return stopping;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await runPsql(spec.url, "SELECT 1");
      break;
    } catch (e: unknown) {
      if (exited || Date.now() > deadline) {
        await stop();
        const why = exited ? "exited early" : "did not answer SELECT 1 within 30 s";
        throw new Error(`${spec.name} ${why}: ${String(e)}\n${output.trim()}`);
      }
      await delay(200);
    }
  }
  return {
    name: spec.name,
    url: spec.url,
    pid: child.pid,
    version: spec.version,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
