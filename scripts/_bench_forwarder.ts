/**
 * @module
 * `deno-forwarder`, the benchmark's reference target: a bare TCP forwarder in Deno that accepts
 * clients on 127.0.0.1, connects each to the original server, sets `TCP_NODELAY` on both sockets
 * and copies bytes both ways with a plain `read()`/`write()` loop (64 KiB buffer per direction,
 * each write repeated until every byte is out). It parses nothing, keeps no state beyond the
 * two sockets, and never uses `pipeTo` (issue #6 measured that 30-45 % slower than the loop).
 *
 * It is the floor for any Deno proxy: zero protocol work, so its CPU per transaction is what the
 * runtime's socket I/O alone costs, and its throughput is as far as a Deno process relaying every
 * byte gets on this machine. A proxy doing protocol work can only cost more.
 *
 * Because it parses nothing it cannot answer an SSLRequest itself: it would relay it to the
 * server. The bench therefore connects to it with `sslmode=disable`, so the session is plain text
 * whether or not the server has `ssl` on (as the client side of the other proxies is).
 *
 * Run: `deno run --allow-net scripts/_bench_forwarder.ts <listenPort> <targetHost> <targetPort>`.
 * It stops on SIGTERM or SIGINT: it closes its listener and every connection, then exits 0.
 *
 * @example
 * ```sh
 * deno run --allow-net scripts/_bench_forwarder.ts 6544 127.0.0.1 5432
 * ```
 */

/** Size of the buffer each direction of a connection reads into. */
export const BUFFER_SIZE = 64 * 1024;

/** Where the forwarder listens and what it connects to. */
export interface ForwarderAddress {
  /** Port to listen on, on 127.0.0.1 (0 picks a free one). */
  readonly listenPort: number;
  /** Host of the original server. */
  readonly targetHost: string;
  /** Port of the original server. */
  readonly targetPort: number;
}

/** The byte-level side of a socket the copy loop needs; `Deno.TcpConn` has it. */
export interface ByteStream {
  /** Reads into the buffer; null at end of stream. */
  read(into: Uint8Array): Promise<number | null>;
  /** Writes some of the bytes; returns how many. */
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Parses the command line: listen port, target host, target port.
 * @param args `Deno.args`
 * @returns the addresses
 * @throws TypeError when there are not three arguments, RangeError when a port is not one
 */
export function parseForwarderArgs(args: readonly string[]): ForwarderAddress {
  if (args.length !== 3) {
    throw new TypeError("usage: _bench_forwarder.ts <listenPort> <targetHost> <targetPort>");
  }
  const port = (text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > 65535) {
      throw new RangeError(`invalid port "${text}"`);
    }
    return n;
  };
  return {
    listenPort: port(args[0] ?? "", 0),
    targetHost: args[1] ?? "",
    targetPort: port(args[2] ?? "", 1),
  };
}

/**
 * Copies bytes from one stream to another until the source ends: one `read()`, then `write()`
 * until all of it has gone out, as `Deno.Conn.write` may write only part of a buffer.
 * @param from source
 * @param to destination
 * @param buffer scratch buffer, owned by this direction only
 * @returns the number of bytes copied
 * @throws whatever a read or write throws (a reset connection)
 */
export async function copyBytes(
  from: ByteStream,
  to: ByteStream,
  buffer: Uint8Array,
): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return total;
    let written = 0;
    while (written < n) written += await to.write(buffer.subarray(written, n));
    total += n;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed by the other direction.
  }
}

/** Relays one client: connects to the server, then copies both ways until both ends finish. */
async function relay(client: Deno.TcpConn, target: ForwarderAddress): Promise<void> {
  let server: Deno.TcpConn;
  try {
    server = await Deno.connect({ hostname: target.targetHost, port: target.targetPort });
  } catch {
    closeQuietly(client); // the client sees the connection close, as with a server that is down
    return;
  }
  // Without this each small message waits for Nagle's algorithm and the delayed ACK.
  client.setNoDelay(true);
  server.setNoDelay(true);
  const direction = async (from: Deno.TcpConn, to: Deno.TcpConn) => {
    try {
      await copyBytes(from, to, new Uint8Array(BUFFER_SIZE));
      await to.closeWrite(); // pass the end of stream on; the other direction may still run
    } catch {
      // A reset on either side ends the whole connection.
      closeQuietly(from);
      closeQuietly(to);
    }
  };
  await Promise.all([direction(client, server), direction(server, client)]);
  closeQuietly(client);
  closeQuietly(server);
}

/**
 * Listens and relays every client until the listener is closed.
 * @param listener a TCP listener
 * @param target the original server
 * @param open connections to close on shutdown; each relay adds its client and removes it
 * @returns when the listener is closed
 */
export async function serve(
  listener: Deno.Listener<Deno.TcpConn>,
  target: ForwarderAddress,
  open: Set<Deno.TcpConn>,
): Promise<void> {
  try {
    for await (const client of listener) {
      open.add(client);
      void relay(client, target).finally(() => open.delete(client));
    }
  } catch (e: unknown) {
    if (!(e instanceof Deno.errors.BadResource)) throw e; // closed on shutdown
  }
}

async function main(args: string[]): Promise<void> {
  const target = parseForwarderArgs(args);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: target.listenPort });
  const open = new Set<Deno.TcpConn>();
  const stop = () => {
    listener.close();
    for (const conn of open) closeQuietly(conn);
    Deno.exit(0);
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, stop);
  // The bench reads this line to know the forwarder is listening (and on which port).
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  await serve(listener, target, open);
}

if (import.meta.main) await main(Deno.args);
