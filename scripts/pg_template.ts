/**
 * @module
 * The initdb template: one data directory per machine, PostgreSQL major version and OS user,
 * made once (`initdb -U postgres --auth=trust -E UTF8 --locale=C --no-sync`), given the test
 * roles and the test `pg_hba.conf`, then copied with `cp -a` for every throwaway server, so a
 * server starts in well under a second. An exclusive `flock` on a lock file beside it keeps
 * parallel test processes from building it twice; a `.complete` marker says it is usable.
 */

import { freePort, pgBinary, pgMajorVersion, run, serverOsUser, tmpBase } from "./pg_tools.ts";

/** Roles every throwaway server has, one per password method, with their passwords. */
export const TEST_ROLES = {
  /** Password stored as md5, authenticated with `md5` in pg_hba.conf. */
  md5: { user: "usogres_md5", password: "md5secret" },
  /** Password stored as SCRAM-SHA-256, authenticated with `scram-sha-256`. */
  scram: { user: "usogres_scram", password: "scramsecret" },
  /** Password sent in clear (`password` method). */
  plain: { user: "usogres_plain", password: "plainsecret" },
} as const;

/**
 * The SQL that creates the test roles; idempotent, so it also serves external servers.
 * All are LOGIN SUPERUSER so tests can do anything through them.
 */
export const TEST_ROLES_SQL: string = `
SET password_encryption = 'md5';
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEST_ROLES.md5.user}') THEN
    CREATE ROLE ${TEST_ROLES.md5.user} LOGIN SUPERUSER;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEST_ROLES.scram.user}') THEN
    CREATE ROLE ${TEST_ROLES.scram.user} LOGIN SUPERUSER;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${TEST_ROLES.plain.user}') THEN
    CREATE ROLE ${TEST_ROLES.plain.user} LOGIN SUPERUSER;
  END IF;
END $$;
ALTER ROLE ${TEST_ROLES.md5.user} PASSWORD '${TEST_ROLES.md5.password}';
SET password_encryption = 'scram-sha-256';
ALTER ROLE ${TEST_ROLES.scram.user} PASSWORD '${TEST_ROLES.scram.password}';
ALTER ROLE ${TEST_ROLES.plain.user} PASSWORD '${TEST_ROLES.plain.password}';
`;

/** The pg_hba.conf of every throwaway server: one password method per test role. */
export const TEST_HBA: string = [
  "# written by usogres scripts/pg_template.ts",
  "local all all trust",
  `host all ${TEST_ROLES.md5.user} 127.0.0.1/32 md5`,
  `host all ${TEST_ROLES.scram.user} 127.0.0.1/32 scram-sha-256`,
  `host all ${TEST_ROLES.plain.user} 127.0.0.1/32 password`,
  "host all all 127.0.0.1/32 trust",
  "",
].join("\n");

let templatePromise: Promise<string> | undefined;

/**
 * Returns the template data directory, building it first when no complete one exists.
 * @returns the template's path (owned by the server OS user)
 * @throws Error with initdb's or the server log's text when building fails
 */
export function ensureTemplate(): Promise<string> {
  templatePromise ??= buildOnce().catch((e: unknown) => {
    templatePromise = undefined; // let a later call try again
    throw e;
  });
  return templatePromise;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function buildOnce(): Promise<string> {
  const major = await pgMajorVersion();
  const user = await serverOsUser();
  const dir = `${tmpBase()}/usogres-pg-template-${major}-${user.name}`;
  const marker = `${dir}.complete`;
  using lock = await Deno.open(`${dir}.lock`, { create: true, write: true });
  await lock.lock(true); // released when the file closes, or when the process dies
  if (await exists(marker) && await exists(`${dir}/PG_VERSION`)) return dir;
  await Deno.remove(dir, { recursive: true }).catch(() => {});

  const init = await run(await pgBinary("initdb"), [
    "-D",
    dir,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ], { asServerUser: true });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr.trim()}`);

  // Files initdb made belong to the server user; rewriting them keeps that owner.
  await Deno.writeTextFile(`${dir}/pg_hba.conf`, TEST_HBA);
  // The template itself listens only on its Unix socket, so building it never takes a TCP port.
  // Every server overrides these in postgresql.auto.conf (read after postgresql.conf).
  const port = await freePort();
  await Deno.writeTextFile(
    `${dir}/postgresql.conf`,
    [
      "",
      "# usogres throwaway server defaults",
      "listen_addresses = ''",
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      "fsync = off",
      "synchronous_commit = off",
      "full_page_writes = off",
      "shared_buffers = '32MB'",
      "max_connections = 200",
      "logging_collector = off",
      "",
    ].join("\n"),
    { append: true },
  );

  const pgCtl = await pgBinary("pg_ctl");
  const log = `${dir}/template.log`;
  const start = await run(pgCtl, ["-D", dir, "-l", log, "-w", "-t", "60", "start"], {
    asServerUser: true,
  });
  if (start.code !== 0) {
    const text = await Deno.readTextFile(log).catch(() => "");
    throw new Error(`template server did not start: ${start.stderr.trim()}\n${text}`);
  }
  try {
    const roles = await run(await pgBinary("psql"), [
      "-XAtq",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      dir,
      "-p",
      String(port),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-f",
      "-",
    ], { stdin: TEST_ROLES_SQL, asServerUser: true });
    if (roles.code !== 0) throw new Error(`creating test roles failed: ${roles.stderr.trim()}`);
  } finally {
    await run(pgCtl, ["-D", dir, "-m", "fast", "-w", "-t", "60", "stop"], { asServerUser: true });
  }
  await Deno.remove(log).catch(() => {});
  await Deno.writeTextFile(marker, `${new Date().toISOString()}\n`);
  return dir;
}
