/**
 * @module
 * The PostgreSQL client programs online recovery runs (pg_dump, pg_restore, pg_dumpall, psql):
 * where they are, and how to pipe a snapshot dump of the original into a copy with back-pressure
 * (the pipe between the two processes, never a file, never in usogres's memory).
 */

/** Where the PostgreSQL binaries are: `$PG_BINDIR`, `pg_config --bindir`, or the newest Debian one. */
export async function pgBinDir(): Promise<string> {
  const env = Deno.env.get("PG_BINDIR");
  if (env) return env;
  try {
    const out = await new Deno.Command("pg_config", {
      args: ["--bindir"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (out.success) {
      const dir = new TextDecoder().decode(out.stdout).trim();
      if (dir !== "") return dir;
    }
  } catch {
    // No pg_config on PATH: look in the usual place.
  }
  const versions: number[] = [];
  try {
    for await (const e of Deno.readDir("/usr/lib/postgresql")) {
      const v = Number(e.name);
      if (e.isDirectory && Number.isInteger(v)) versions.push(v);
    }
  } catch {
    // Not Debian-like.
  }
  versions.sort((a, b) => b - a);
  if (versions.length > 0) return `/usr/lib/postgresql/${versions[0]}/bin`;
  return "/usr/bin";
}

/** Connection settings for one server, as libpq environment variables. */
export interface PgEndpoint {
  /** Host or socket directory. */
  readonly host: string;
  /** Port. */
  readonly port: number;
  /** Role. */
  readonly user: string;
  /** Password, if one is needed. */
  readonly password: string | undefined;
}

/**
 * The environment for a client program talking to one server (no other PG* variables leak in).
 *
 * @param e the server
 * @returns environment variables
 */
export function pgEnv(e: PgEndpoint): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("PG")) env[k] = v;
  }
  env.PGHOST = e.host;
  env.PGPORT = String(e.port);
  env.PGUSER = e.user;
  if (e.password !== undefined) env.PGPASSWORD = e.password;
  return env;
}

/** Bytes that went through a dump pipe, for progress. */
export interface PipeProgress {
  /** Bytes the dump produced so far. */
  bytes: number;
}

/**
 * Pipes `pg_dump` of one database (at an exported snapshot) into `pg_restore --create` on the
 * copy, which recreates the database there.
 *
 * @param bin directory of the binaries
 * @param from the original
 * @param to the copy
 * @param database the database
 * @param snapshot the exported snapshot id
 * @param progress receives the byte count as it grows
 * @returns when both programs finished
 * @throws Error naming the program and its stderr when either fails
 */
export async function dumpInto(
  bin: string,
  from: PgEndpoint,
  to: PgEndpoint,
  database: string,
  snapshot: string,
  progress: PipeProgress,
): Promise<void> {
  const dump = new Deno.Command(`${bin}/pg_dump`, {
    args: ["-Fc", "--no-sync", `--snapshot=${snapshot}`, "-d", database],
    env: pgEnv(from),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const restore = new Deno.Command(`${bin}/pg_restore`, {
    args: ["--create", "--exit-on-error", "-d", "template1"],
    env: pgEnv(to),
    clearEnv: true,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      progress.bytes += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const piping = dump.stdout.pipeThrough(counter).pipeTo(restore.stdin);
  const [dumpStatus, dumpErr, restoreStatus, restoreErr] = await Promise.all([
    dump.status,
    new Response(dump.stderr).text(),
    restore.status,
    new Response(restore.stderr).text(),
    piping.catch(() => {}),
  ]);
  if (!dumpStatus.success) throw new Error(`pg_dump of "${database}" failed: ${dumpErr.trim()}`);
  if (!restoreStatus.success) {
    throw new Error(`pg_restore of "${database}" failed: ${restoreErr.trim()}`);
  }
}

/**
 * Copies roles and other global objects (`pg_dumpall --globals-only`) to the copy; objects that
 * already exist there are reported by psql and skipped.
 *
 * @param bin directory of the binaries
 * @param from the original
 * @param to the copy
 * @returns when done
 */
export async function copyGlobals(bin: string, from: PgEndpoint, to: PgEndpoint): Promise<void> {
  const dump = await new Deno.Command(`${bin}/pg_dumpall`, {
    args: ["--globals-only"],
    env: pgEnv(from),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!dump.success) return; // Without superuser rights there is nothing to copy; roles must exist.
  const psql = new Deno.Command(`${bin}/psql`, {
    args: ["-X", "-q", "-d", "template1", "-f", "-"],
    env: pgEnv(to),
    clearEnv: true,
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = psql.stdin.getWriter();
  await w.write(dump.stdout);
  await w.close();
  await psql.output();
}
