/**
 * @module
 * libpq's password file (`~/.pgpass`, `$PGPASSFILE`), as `passwordFromFile()` and
 * `pwdfMatchesString()` read it in `src/interfaces/libpq/fe-connect.c`, and the order in which
 * libpq picks the password for a connection (`connectOptions2()`): the configured password, then
 * `PGPASSWORD`, then the file. See "The Password File" in the libpq documentation.
 *
 * Each line is `hostname:port:database:username:password`. A field that is exactly `*` matches
 * anything; `\:` and `\\` (any `\x`) stand for the escaped character; lines starting with `#`
 * are comments; lines with fewer than five fields can never match and are skipped; text after an
 * unescaped `:` following the password is ignored, as libpq ignores it. The first match wins.
 */

/** One usable line of a password file; a field of `undefined` was `*` and matches anything. */
export interface PgpassEntry {
  /** 1-based line number, for diagnostics. */
  readonly line: number;
  /** Host name, address or Unix-socket directory, or `undefined` for `*`. */
  readonly host: string | undefined;
  /** Port as written, or `undefined` for `*`. */
  readonly port: string | undefined;
  /** Database name, or `undefined` for `*`. */
  readonly database: string | undefined;
  /** Role name, or `undefined` for `*`. */
  readonly user: string | undefined;
  /** The password, unescaped. */
  readonly password: string;
}

/** What {@linkcode lookupPgpass} matches against: the connection's actual parameters. */
export interface PgpassTarget {
  /** Host, address or Unix-socket directory; "" means the default socket. */
  readonly host: string;
  /** Port; "" means 5432. */
  readonly port: number | string;
  /** Database; "" means the user name, as libpq defaults it. */
  readonly database: string;
  /** Role name. */
  readonly user: string;
}

/** The result of {@linkcode readPgpass}. */
export interface PgpassFile {
  /** The entries; empty when the file is missing or was ignored. */
  readonly entries: readonly PgpassEntry[];
  /** Why the file was ignored, worded as libpq's warning; absent when it was read or missing. */
  readonly warning?: string;
}

/**
 * Socket directories that match the host `localhost`. libpq maps only its compiled-in
 * `DEFAULT_PGSOCKET_DIR` (`/tmp` upstream, `/var/run/postgresql` in Debian and Red Hat builds);
 * usogres accepts all of them, since it cannot know which libpq wrote the file.
 */
const DEFAULT_SOCKET_DIRS: readonly string[] = ["/tmp", "/var/run/postgresql", "/run/postgresql"];

const DEFAULT_PORT = "5432";

interface Field {
  readonly text: string;
  readonly wildcard: boolean;
}

/** Splits a line at unescaped colons, unescaping `\x` to `x`. */
function splitFields(line: string): Field[] {
  const fields: Field[] = [];
  let text = "";
  let raw = "";
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (char === "\\" && i + 1 < line.length) {
      text += line[i + 1]!;
      raw += char + line[i + 1]!;
      i++;
    } else if (char === ":") {
      fields.push({ text, wildcard: raw === "*" });
      text = "";
      raw = "";
    } else {
      text += char;
      raw += char;
    }
  }
  fields.push({ text, wildcard: raw === "*" });
  return fields;
}

/**
 * Parses the text of a password file.
 *
 * @example
 * ```ts
 * import { parsePgpass } from "./pgpass.ts";
 * const [entry] = parsePgpass("# comment\ndb.example:*:app:alice:pa\\:ss\n");
 * console.assert(entry?.port === undefined && entry?.password === "pa:ss");
 * ```
 *
 * @param text The file's contents.
 * @returns The usable entries in file order; comments and malformed lines are skipped.
 */
export function parsePgpass(text: string): PgpassEntry[] {
  const entries: PgpassEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const [host, port, database, user, password] = splitFields(line);
    if (host === undefined || port === undefined || database === undefined) continue;
    if (user === undefined || password === undefined) continue;
    entries.push({
      line: i + 1,
      host: host.wildcard ? undefined : host.text,
      port: port.wildcard ? undefined : port.text,
      database: database.wildcard ? undefined : database.text,
      user: user.wildcard ? undefined : user.text,
      password: password.text,
    });
  }
  return entries;
}

/**
 * Finds the password for a connection; the first matching entry wins. An empty `host`, or one of
 * the usual default socket directories (`/tmp`, `/var/run/postgresql`, `/run/postgresql`),
 * matches entries for `localhost`, as libpq does for its default socket; any other socket
 * directory matches literally.
 *
 * @param entries Entries from {@linkcode parsePgpass}.
 * @param target The connection's host, port, database and user.
 * @returns The first matching entry's password (possibly "", which libpq treats as none), or
 *   `undefined` if no entry matches.
 */
export function lookupPgpass(
  entries: readonly PgpassEntry[],
  target: PgpassTarget,
): string | undefined {
  const host = target.host === "" || DEFAULT_SOCKET_DIRS.includes(target.host)
    ? "localhost"
    : target.host;
  const port = String(target.port) === "" ? DEFAULT_PORT : String(target.port);
  const database = target.database === "" ? target.user : target.database;
  const matches = (pattern: string | undefined, value: string) =>
    pattern === undefined || pattern === value;
  const entry = entries.find((e) =>
    matches(e.host, host) && matches(e.port, port) && matches(e.database, database) &&
    matches(e.user, target.user)
  );
  return entry?.password;
}

/**
 * Reads and parses a password file the way libpq does: a missing file is silently empty; a file
 * that is not a plain file, or (on POSIX) has any group or world permission (`mode & 0o077`), is
 * ignored with a warning.
 *
 * @param path The file's path.
 * @returns The entries, and a warning when the file was ignored.
 * @throws {Deno.errors.PermissionDenied} Only if Deno itself lacks `--allow-read` for `path`; an
 *   unreadable file is reported as a warning.
 */
export async function readPgpass(path: string): Promise<PgpassFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e: unknown) {
    if (e instanceof Deno.errors.NotFound) return { entries: [] };
    if (e instanceof Deno.errors.NotCapable) throw e;
    const reason = e instanceof Error ? e.message : String(e);
    return { entries: [], warning: `could not open password file "${path}": ${reason}` };
  }
  try {
    // fstat the open file, not the path, so the checked file is the one read.
    const info = await file.stat();
    if (!info.isFile) {
      return { entries: [], warning: `password file "${path}" is not a plain file` };
    }
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      return {
        entries: [],
        warning: `password file "${path}" has group or world access; ` +
          "permissions should be u=rw (0600) or less",
      };
    }
    return { entries: parsePgpass(await readAllText(file)) };
  } finally {
    file.close();
  }
}

async function readAllText(file: Deno.FsFile): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16 * 1024);
  let text = "";
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

/** Inputs of {@linkcode resolveBackendPassword}. */
export interface ResolveBackendPasswordOptions extends PgpassTarget {
  /** The password from usogres's configuration; "" if none. */
  readonly configured: string;
  /** The environment, for `PGPASSWORD` and `PGPASSFILE`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The configured password file; "" means `$PGPASSFILE`, else `<home>/.pgpass`. */
  readonly passfile: string;
  /** The home directory; "" means there is no default password file. */
  readonly home: string;
  /** Receives the warning when a password file is ignored. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Picks the password for a backend connection in libpq's order: the configured password, then
 * `PGPASSWORD`, then the password file. An empty value at any step counts as none, as in libpq.
 * The file is read only when the first two give nothing.
 *
 * @example
 * ```ts
 * import { resolveBackendPassword } from "./pgpass.ts";
 * const password = await resolveBackendPassword({
 *   configured: "", env: { PGPASSWORD: "from-env" }, passfile: "", home: "",
 *   host: "db", port: 5432, database: "app", user: "alice",
 * });
 * console.assert(password === "from-env");
 * ```
 *
 * @param opts The configured password, environment, password file and connection target.
 * @returns The password, or `undefined` if none applies (then only trust or peer can succeed).
 * @throws {Deno.errors.NotCapable} If Deno lacks read permission for the password file.
 */
export async function resolveBackendPassword(
  opts: ResolveBackendPasswordOptions,
): Promise<string | undefined> {
  if (opts.configured !== "") return opts.configured;
  const fromEnv = opts.env["PGPASSWORD"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const path = opts.passfile !== "" ? opts.passfile : opts.env["PGPASSFILE"] ||
    (opts.home === "" ? "" : `${opts.home.replace(/\/+$/, "")}/.pgpass`);
  if (path === "") return undefined;
  const file = await readPgpass(path);
  if (file.warning !== undefined) opts.onWarning?.(file.warning);
  const password = lookupPgpass(file.entries, opts);
  return password === "" ? undefined : password;
}
