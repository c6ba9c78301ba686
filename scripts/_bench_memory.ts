/**
 * @module
 * Memory figures for the benchmark: a process's resident set (`VmRSS` in `/proc/<pid>/status`,
 * Linux only), and idle clients: raw protocol-3.0 connections that finish startup (a
 * StartupMessage, then every message up to the first ReadyForQuery, as in the "Start-up" section
 * of the PostgreSQL protocol flow chapter) and then sit idle until closed with Terminate.
 */

/** Idle client connections; closing them sends Terminate on each. */
export interface IdleClients extends AsyncDisposable {
  /** How many are open. */
  readonly count: number;
  /** Sends Terminate on each connection and closes it. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const TERMINATE = new Uint8Array([0x58, 0, 0, 0, 4]); // 'X', length 4
const READY_FOR_QUERY = 0x5a; // 'Z'
const ERROR_RESPONSE = 0x45; // 'E'

/**
 * Reads a process's resident set size.
 * @param pid process id
 * @returns `VmRSS` in KiB, or undefined when it cannot be read (not Linux, or gone)
 */
export async function rssKiB(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function startupMessage(user: string, database: string): Uint8Array {
  const body = encoder.encode(`user\0${user}\0database\0${database}\0\0`);
  const message = new Uint8Array(8 + body.length);
  const view = new DataView(message.buffer);
  view.setInt32(0, message.length);
  view.setInt32(4, 196608); // protocol 3.0
  message.set(body, 8);
  return message;
}

/** Connects, sends the StartupMessage and reads messages until ReadyForQuery. */
async function openOne(
  port: number,
  user: string,
  database: string,
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(startupMessage(user, database));
    let pending = new Uint8Array(0);
    const chunk = new Uint8Array(16 * 1024);
    for (;;) {
      // Walk the complete messages buffered so far.
      let at = 0;
      while (pending.length - at >= 5) {
        const code = pending[at] ?? 0;
        const length = new DataView(pending.buffer, pending.byteOffset + at + 1, 4).getInt32(0);
        if (pending.length - at < 1 + length) break;
        if (code === ERROR_RESPONSE) {
          const text = new TextDecoder().decode(pending.subarray(at + 5, at + 1 + length));
          throw new Error(`startup failed: ${text.replaceAll("\0", " ").trim()}`);
        }
        if (code === READY_FOR_QUERY) return conn;
        at += 1 + length;
      }
      pending = pending.slice(at);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during startup");
      const grown = new Uint8Array(pending.length + n);
      grown.set(pending);
      grown.set(chunk.subarray(0, n), pending.length);
      pending = grown;
    }
  } catch (e: unknown) {
    conn.close();
    throw e;
  }
}

/**
 * Opens `count` client connections to a port, each through startup to ReadyForQuery, at most
 * `parallel` at a time, and leaves them idle.
 * @param port the port of usogres (or any PostgreSQL-speaking server) on 127.0.0.1
 * @param opts how many, as which user to which database, and how many startups at once
 * @returns the open connections; dispose them to close them
 * @throws Error when a connection fails (the ones already open are closed first)
 */
export async function openIdleClients(
  port: number,
  opts: { count: number; user: string; database: string; parallel?: number },
): Promise<IdleClients> {
  const conns: Deno.TcpConn[] = [];
  const close = async () => {
    await Promise.allSettled(conns.map(async (c) => {
      await c.write(TERMINATE).catch(() => 0);
      c.close();
    }));
    conns.length = 0;
  };
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    // Each worker stops at the first failure, so nothing opens after the cleanup below.
    while (next < opts.count && failure === undefined) {
      next++;
      try {
        conns.push(await openOne(port, opts.user, opts.database));
      } catch (e: unknown) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.parallel ?? 20 }, worker));
  if (failure !== undefined) {
    await close();
    throw failure;
  }
  return {
    get count() {
      return conns.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
