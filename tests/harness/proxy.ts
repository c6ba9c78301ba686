/**
 * @module
 * usogres as a subprocess in front of a cluster, for integration tests: a temporary TOML config
 * on a free port, `deno run -A mod.ts --config FILE` in the foreground, its stdout and stderr
 * kept in a bounded buffer, and a stop (SIGTERM, then SIGKILL after 10 s) that prints the log
 * tail when usogres did not exit cleanly.
 */

import type { Cluster } from "../../scripts/pg_cluster.ts";
import { TEST_ROLES } from "../../scripts/pg_template.ts";
import { freePort, pgUrl } from "../../scripts/pg_tools.ts";

/** A TOML scalar for {@link StartProxyOptions.sections}. */
export type TomlScalar = string | number | boolean;

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  /**
   * Extra keys merged into the generated tables, e.g. `{ listen: { max_clients: 2 } }`. Use this
   * rather than {@link config} for `listen`, `original`, `log`, `backend` and `admin`: TOML
   * forbids a table defined twice. Keys under `copy` go into every generated `[[copy]]` table.
   * The metrics listener is off (`admin.metrics_listen = ""`) unless `admin.metrics_listen` is
   * given here, so that usogres processes of parallel tests do not compete for its default port.
   */
  readonly sections?: Readonly<Record<string, Readonly<Record<string, TomlScalar>>>>;
  /** Raw TOML appended to the generated config (new tables only). */
  readonly config?: string;
  /** Extra command-line arguments after `--config FILE`. */
  readonly args?: string[];
  /** Extra environment variables for usogres. */
  readonly env?: Readonly<Record<string, string>>;
  /** Script to run instead of the repository's `mod.ts` (default `$USOGRES_TEST_ENTRY`, then `mod.ts`). */
  readonly entry?: string;
  /** How long to wait for the port to accept connections (default 15,000 ms). */
  readonly readyTimeoutMs?: number;
}

/** A running usogres subprocess. Disposing it stops it and removes its temporary files. */
export interface ProxyProcess extends AsyncDisposable {
  /** Address usogres listens on (`127.0.0.1`). */
  readonly host: string;
  /** Port usogres listens on. */
  readonly port: number;
  /** Process id. */
  readonly pid: number;
  /** Path of the generated config file. */
  readonly configFile: string;
  /** Log directory given to usogres. */
  readonly logDir: string;
  /** Exit status, once it exits. */
  readonly status: Promise<Deno.CommandStatus>;
  /**
   * Returns a libpq URL through usogres.
   * @param db database (default `postgres`)
   * @param user role (default `postgres`)
   */
  url(db?: string, user?: string): string;
  /** Returns the collected stdout and stderr (the last 1 MiB). */
  output(): string;
  /** Sends a signal (default SIGTERM); does nothing once the process has exited. */
  kill(signal?: Deno.Signal): void;
  /** Sends SIGTERM, waits (SIGKILL after 10 s), prints the output tail on a non-zero exit. */
  stop(): Promise<Deno.CommandStatus>;
}

const REPO_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
const OUTPUT_LIMIT = 1 << 20;

/** Keeps the last {@link OUTPUT_LIMIT} characters of a stream of text. */
class OutputBuffer {
  #chunks: string[] = [];
  #size = 0;

  push(text: string): void {
    this.#chunks.push(text);
    this.#size += text.length;
    while (this.#size > OUTPUT_LIMIT && this.#chunks.length > 1) {
      this.#size -= this.#chunks.shift()?.length ?? 0;
    }
  }

  toString(): string {
    return this.#chunks.join("");
  }
}

function tomlValue(value: TomlScalar): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function tomlTable(name: string, keys: Readonly<Record<string, TomlScalar>>): string {
  const lines = [`[${name}]`];
  for (const [key, value] of Object.entries(keys)) lines.push(`${key} = ${tomlValue(value)}`);
  return lines.join("\n");
}

/**
 * Builds the TOML config for usogres in front of a cluster.
 * @param cluster the servers (copies become `[[copy]]` entries named `copy`, `copy2`, ...)
 * @param port port usogres listens on
 * @param logDir usogres's log directory
 * @param opts extra keys, raw TOML and the `.pgpass` path for `[backend] passfile`
 * @returns the config text
 */
export function proxyConfig(
  cluster: Cluster,
  port: number,
  logDir: string,
  opts: Pick<StartProxyOptions, "sections" | "config"> & { readonly passfile?: string } = {},
): string {
  const extra = opts.sections ?? {};
  const tables: string[] = [
    tomlTable("listen", { host: "127.0.0.1", port, ...extra.listen }),
    tomlTable("original", {
      host: cluster.original.host,
      port: cluster.original.port,
      ...extra.original,
    }),
    tomlTable("log", { dir: logDir, level: "debug", stderr: true, ...extra.log }),
    tomlTable("backend", {
      user: "",
      ...(opts.passfile === undefined ? {} : { passfile: opts.passfile }),
      ...extra.backend,
    }),
    tomlTable("admin", { metrics_listen: "", ...extra.admin }),
  ];
  for (const [name, keys] of Object.entries(extra)) {
    if (!["listen", "original", "log", "backend", "copy", "admin"].includes(name)) {
      tables.push(tomlTable(name, keys));
    }
  }
  for (const copy of cluster.copies) {
    // An array of tables: the header `[[copy]]` comes from the name `[copy]`.
    tables.push(
      tomlTable("[copy]", { name: copy.name, host: copy.host, port: copy.port, ...extra.copy }),
    );
  }
  return tables.join("\n\n") + "\n" + (opts.config ? `\n${opts.config}\n` : "");
}

/**
 * Builds a `.pgpass` giving usogres the passwords of the test roles on every server and, for
 * external servers, of their superuser.
 */
function passfile(cluster: Cluster): string {
  const esc = (s: string) => s.replaceAll("\\", "\\\\").replaceAll(":", "\\:");
  const lines: string[] = [];
  for (const server of cluster.all) {
    const password = new URL(server.url()).password;
    if (password) {
      lines.push(
        [server.host, server.port, "*", server.superuser, decodeURIComponent(password)].map((v) =>
          esc(String(v))
        ).join(":"),
      );
    }
    for (const role of Object.values(TEST_ROLES)) {
      lines.push(
        [server.host, server.port, "*", role.user, role.password].map((v) => esc(String(v))).join(
          ":",
        ),
      );
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * Starts usogres (`deno run -A mod.ts --config FILE`) in front of a cluster on a free port and
 * waits until it accepts TCP connections. Backend passwords (the test roles', and an external
 * server's superuser's) reach it through a generated `[backend] passfile`.
 * @param cluster the servers to put it in front of
 * @param opts extra config, arguments and environment
 * @returns the running process; dispose it (`await using`) to stop it
 * @throws Error with usogres's output when it exits early or is not ready within the deadline
 */
export async function startProxy(
  cluster: Cluster,
  opts: StartProxyOptions = {},
): Promise<ProxyProcess> {
  const dir = await Deno.makeTempDir({ prefix: "usogres-proxy-" });
  try {
    const logDir = `${dir}/log`;
    await Deno.mkdir(logDir);
    const configFile = `${dir}/usogres.toml`;
    const pgpass = `${dir}/pgpass`;
    await Deno.writeTextFile(pgpass, passfile(cluster), { mode: 0o600 });
    // A port given in `sections.listen` (a restart test reusing its predecessor's) is the one
    // usogres listens on, so it is the one to wait for.
    const fixed = opts.sections?.listen?.port;
    const port = typeof fixed === "number" ? fixed : await freePort();
    await Deno.writeTextFile(
      configFile,
      proxyConfig(cluster, port, logDir, { ...opts, passfile: pgpass }),
    );
    const entry = opts.entry ?? (Deno.env.get("USOGRES_TEST_ENTRY") || `${REPO_ROOT}/mod.ts`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", entry, "--config", configFile, ...(opts.args ?? [])],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1", ...opts.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const proxy = new RunningProxy(child, port, dir, configFile, logDir);
    try {
      await proxy.waitReady(opts.readyTimeoutMs ?? 15_000);
    } catch (e) {
      await proxy.stop({ quiet: true });
      throw e;
    }
    return proxy;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

class RunningProxy implements ProxyProcess {
  readonly host = "127.0.0.1";
  readonly status: Promise<Deno.CommandStatus>;
  readonly #child: Deno.ChildProcess;
  readonly #buffer = new OutputBuffer();
  readonly #pumps: Promise<void>;
  #exited: Deno.CommandStatus | undefined;
  #stopping: Promise<Deno.CommandStatus> | undefined;

  constructor(
    child: Deno.ChildProcess,
    readonly port: number,
    readonly dir: string,
    readonly configFile: string,
    readonly logDir: string,
  ) {
    this.#child = child;
    this.status = child.status.then((s) => (this.#exited = s));
    const echo = Deno.env.get("USOGRES_TEST_ECHO") === "1";
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        this.#buffer.push(text);
        if (echo) Deno.stderr.writeSync(chunk);
      }
    };
    this.#pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => {});
  }

  get pid(): number {
    return this.#child.pid;
  }

  url(db = "postgres", user = "postgres"): string {
    return pgUrl(this.host, this.port, db, user);
  }

  output(): string {
    return this.#buffer.toString();
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the kill.
    }
  }

  /** Polls until the port accepts a TCP connection; fails early when the process exits. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#exited) {
        await this.#pumps;
        throw new Error(
          `usogres exited with code ${this.#exited.code} before listening on port ${this.port}:\n` +
            this.output(),
        );
      }
      try {
        const conn = await Deno.connect({ hostname: this.host, port: this.port });
        conn.close();
        return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `usogres did not listen on port ${this.port} within ${timeoutMs} ms:\n${this.output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  stop(opts: { quiet?: boolean } = {}): Promise<Deno.CommandStatus> {
    this.#stopping ??= (async () => {
      this.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill("SIGKILL");
          resolve();
        }, 10_000);
      });
      const status = await Promise.race([this.status, killed.then(() => this.status)]);
      clearTimeout(timer);
      await this.#pumps;
      if (!status.success && !opts.quiet) {
        console.error(
          `usogres (pid ${this.pid}) exited with code ${status.code}` +
            (status.signal ? ` (signal ${status.signal})` : "") + "; last output:\n" +
            this.output().split("\n").slice(-60).join("\n"),
        );
      }
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
      return status;
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Runs a test body and, if it throws, prints the tail of usogres's output and of every server
 * log before rethrowing, so a failed CI run shows why.
 * @param proxy the usogres process
 * @param cluster the servers behind it
 * @param fn the test body
 * @returns what `fn` returns
 * @throws whatever `fn` throws
 */
export async function withLogsOnFailure<T>(
  proxy: ProxyProcess,
  cluster: Cluster,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e: unknown) {
    const parts = [
      `--- usogres output (tail) ---\n${proxy.output().split("\n").slice(-60).join("\n")}`,
    ];
    for (const server of cluster.all) {
      parts.push(`--- server "${server.name}" log (tail) ---\n${await server.logTail(20)}`);
    }
    console.error(parts.join("\n"));
    throw e;
  }
}
