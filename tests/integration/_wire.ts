/**
 * @module
 * A raw protocol-3 client on a plain TCP socket, for integration tests that send what no real
 * client sends (oversized or malformed messages, old protocol versions, an SSLRequest by hand) or
 * that read at their own pace. Messages are built and parsed by hand here, independently of
 * `src/protocol/`, so a bug there cannot hide on both sides of a test. Follows the protocol docs'
 * "Message Formats".
 */

/** Protocol version 3.0 as a StartupMessage code. */
export const PROTOCOL_3_0 = 3 << 16;
/** SSLRequest code. */
export const SSL_REQUEST_CODE = 80877103;
/** GSSENCRequest code. */
export const GSSENC_REQUEST_CODE = 80877104;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One message from the server: its type letter and its body (after the length). */
export interface Message {
  /** Type byte as a one-letter string, e.g. `Z` for ReadyForQuery. */
  readonly type: string;
  /** The bytes after the length word. */
  readonly body: Uint8Array;
}

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
}

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Builds a StartupMessage.
 * @param params startup parameters, e.g. `{ user: "postgres", database: "postgres" }`
 * @param version the protocol code (default 3.0); `(2 << 16)` for 2.0, `(3 << 16) | 2` for 3.2
 * @returns the packet
 */
export function startupPacket(
  params: Readonly<Record<string, string>>,
  version: number = PROTOCOL_3_0,
): Uint8Array<ArrayBuffer> {
  const pairs = Object.entries(params).map(([k, v]) => encoder.encode(`${k}\0${v}\0`));
  const body = concat([int32(version), ...pairs, new Uint8Array([0])]);
  return concat([int32(body.length + 4), body]);
}

/**
 * Builds an 8-byte request packet (SSLRequest, GSSENCRequest).
 * @param code the request code
 * @returns the packet
 */
export function requestPacket(code: number): Uint8Array<ArrayBuffer> {
  return concat([int32(8), int32(code)]);
}

/**
 * Builds a message header only: a type byte and a declared length, with no body.
 * @param type the type letter
 * @param length the declared length (which counts itself)
 * @returns the five bytes
 */
export function messageHeader(type: string, length: number): Uint8Array<ArrayBuffer> {
  return concat([encoder.encode(type), int32(length)]);
}

/**
 * Builds a simple Query message.
 * @param sql the statements
 * @returns the message
 */
export function queryMessage(sql: string): Uint8Array<ArrayBuffer> {
  const text = encoder.encode(`${sql}\0`);
  return concat([messageHeader("Q", text.length + 4), text]);
}

/** Builds a message from its type letter and body parts. */
function message(type: string, parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(parts);
  return concat([messageHeader(type, body.length + 4), body]);
}

function int16(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

/**
 * Builds a Parse message (no parameter types: the server infers them).
 * @param statement the statement name ("" for the unnamed one)
 * @param sql the statement
 * @returns the message
 */
export function parseMessage(statement: string, sql: string): Uint8Array<ArrayBuffer> {
  return message("P", [encoder.encode(`${statement}\0${sql}\0`), int16(0)]);
}

/**
 * Builds a Bind message with text parameters and text results.
 * @param portal the portal name ("" for the unnamed one)
 * @param statement the prepared statement's name
 * @param params the parameters as text (null for NULL)
 * @returns the message
 */
export function bindMessage(
  portal: string,
  statement: string,
  params: readonly (string | null)[] = [],
): Uint8Array<ArrayBuffer> {
  const values = params.flatMap((p) => {
    if (p === null) return [int32(-1)];
    const bytes = encoder.encode(p);
    return [int32(bytes.length), bytes];
  });
  return message("B", [
    encoder.encode(`${portal}\0${statement}\0`),
    int16(0),
    int16(params.length),
    ...values,
    int16(0),
  ]);
}

/**
 * Builds a Describe message.
 * @param kind `S` for a statement, `P` for a portal
 * @param name its name
 * @returns the message
 */
export function describeMessage(kind: "S" | "P", name: string): Uint8Array<ArrayBuffer> {
  return message("D", [encoder.encode(`${kind}${name}\0`)]);
}

/**
 * Builds an Execute message.
 * @param portal the portal name
 * @param maxRows the row limit (0 for none)
 * @returns the message
 */
export function executeMessage(portal: string, maxRows = 0): Uint8Array<ArrayBuffer> {
  return message("E", [encoder.encode(`${portal}\0`), int32(maxRows)]);
}

/** A Sync message. */
export const SYNC: Uint8Array<ArrayBuffer> = message("S", []);

/**
 * Joins messages into one buffer, to send them in one write.
 * @param messages the messages, in order
 * @returns the bytes
 */
export function pipeline(...messages: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat(messages);
}

/**
 * Parses the fields of an ErrorResponse or NoticeResponse body.
 * @param body the message body
 * @returns the fields keyed by their letter: `S` severity, `V` severity (not localized), `C`
 *   SQLSTATE, `M` message, `D` detail, `H` hint
 */
export function errorFields(body: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const key = String.fromCharCode(body[at]!);
    const end = body.indexOf(0, at + 1);
    if (end < 0) throw new Error("unterminated field in error message");
    fields[key] = decoder.decode(body.subarray(at + 1, end));
    at = end + 1;
  }
  return fields;
}

/**
 * Reads the NUL-terminated strings of a message body (RowDescription names aside, most text
 * messages are a list of them).
 * @param body the bytes
 * @returns the strings, in order
 */
export function cStrings(body: Uint8Array): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < body.length) {
    const end = body.indexOf(0, at);
    if (end < 0) break;
    out.push(decoder.decode(body.subarray(at, end)));
    at = end + 1;
  }
  return out;
}

/**
 * Reads the first column of a DataRow body as text.
 * @param body the DataRow body
 * @returns the value, or null for SQL NULL
 */
export function firstColumn(body: Uint8Array): string | null {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const length = view.getInt32(2);
  return length < 0 ? null : decoder.decode(body.subarray(6, 6 + length));
}

/** Options of {@link WireClient.connect}. */
export interface WireClientOptions {
  /** Address (default `127.0.0.1`). */
  readonly host?: string;
  /** Largest single socket read (default 64 KiB). */
  readonly readSize?: number;
  /** Called after every socket read, e.g. to pause and read slowly. */
  readonly afterRead?: (bytes: number) => Promise<void> | void;
  /** Deadline for any one read, in milliseconds (default 10,000): a test never hangs. */
  readonly readTimeoutMs?: number;
}

/** A raw protocol client; `await using` closes its socket. */
export class WireClient implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #opts: WireClientOptions;
  #buf: Uint8Array<ArrayBuffer>;
  #start = 0;
  #end = 0;
  #eof = false;
  #closed = false;
  /** Bytes read from the socket so far. */
  bytesRead = 0;

  private constructor(conn: Deno.TcpConn, opts: WireClientOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.#buf = new Uint8Array(Math.max(opts.readSize ?? 65536, 64));
  }

  /**
   * Opens a TCP connection.
   * @param port the port (usually usogres's)
   * @param opts address, read size, read hook and deadline
   * @returns the connected client
   */
  static async connect(port: number, opts: WireClientOptions = {}): Promise<WireClient> {
    const conn = await Deno.connect({ hostname: opts.host ?? "127.0.0.1", port });
    return new WireClient(conn, opts);
  }

  /**
   * Writes bytes, all of them.
   * @param bytes what to send
   */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Reads once more from the socket; false at end of stream (or on a reset). */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    const readSize = this.#opts.readSize ?? 65536;
    if (this.#buf.length - this.#end < readSize) {
      const pending = this.#end - this.#start;
      if (pending + readSize > this.#buf.length) {
        const next = new Uint8Array(pending + readSize);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#end = pending;
      this.#start = 0;
    }
    const timeoutMs = this.#opts.readTimeoutMs ?? 10_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.close();
    }, timeoutMs);
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buf.subarray(this.#end, this.#end + readSize));
    } catch (e: unknown) {
      if (timedOut) throw new Error(`no data from the server within ${timeoutMs} ms`);
      // A close with our bytes still unread on the other side arrives as a reset: count it as
      // the end of the stream, since everything sent before it was already read.
      if (e instanceof Deno.errors.ConnectionReset) n = null;
      else throw e;
    } finally {
      clearTimeout(timer);
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    this.bytesRead += n;
    await this.#opts.afterRead?.(n);
    return true;
  }

  /**
   * Reads one byte (the answer to an SSLRequest or GSSENCRequest).
   * @returns the byte as a one-letter string, or null at end of stream
   */
  async readByte(): Promise<string | null> {
    while (this.#end - this.#start < 1) if (!(await this.#fill())) return null;
    return String.fromCharCode(this.#buf[this.#start++]!);
  }

  /**
   * Reads the next message. The body is a copy unless `view` is set, in which case it is valid
   * only until the next read.
   * @param view return a view into the buffer instead of a copy (for bulk reads)
   * @returns the message, or null at a clean end of stream
   * @throws Error when the stream ends mid-message or the deadline passes
   */
  async readMessage(view = false): Promise<Message | null> {
    for (;;) {
      const avail = this.#end - this.#start;
      if (avail >= 5) {
        const b = this.#buf, s = this.#start;
        const length = new DataView(b.buffer, b.byteOffset + s + 1, 4).getInt32(0);
        if (length < 4) throw new Error(`invalid message length ${length} from the server`);
        if (avail >= length + 1) {
          this.#start = s + length + 1;
          const body = b.subarray(s + 5, s + length + 1);
          return { type: String.fromCharCode(b[s]!), body: view ? body : body.slice() };
        }
      }
      if (!(await this.#fill())) {
        if (this.#end > this.#start) throw new Error("the server closed mid-message");
        return null;
      }
    }
  }

  /**
   * Reads messages up to and including the first one of a type.
   * @param type the type letter to stop at (e.g. `Z`)
   * @returns the messages read
   * @throws Error when the stream ends first
   */
  async readUntil(type: string): Promise<Message[]> {
    const out: Message[] = [];
    for (;;) {
      const m = await this.readMessage();
      if (!m) {
        throw new Error(
          `the server closed before a "${type}" message; got ${out.map((x) => x.type).join("")}`,
        );
      }
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /**
   * Reads every message until the server closes the connection.
   * @returns the messages read
   */
  async readToEnd(): Promise<Message[]> {
    const out: Message[] = [];
    for (let m; (m = await this.readMessage());) out.push(m);
    return out;
  }

  /**
   * Sends a StartupMessage and reads up to its ReadyForQuery.
   * @param params startup parameters (default user and database `postgres`)
   * @returns the messages of the startup phase
   * @throws Error carrying the SQLSTATE when the server answers with an ErrorResponse
   */
  async startup(
    params: Readonly<Record<string, string>> = { user: "postgres", database: "postgres" },
  ): Promise<Message[]> {
    await this.write(startupPacket(params));
    const messages = await this.readUntil("Z");
    const error = messages.find((m) => m.type === "E");
    if (error) throw new Error(`startup failed: ${JSON.stringify(errorFields(error.body))}`);
    return messages;
  }

  /**
   * Runs a simple query and reads up to its ReadyForQuery.
   * @param sql the statements
   * @returns the messages of the reply
   */
  async query(sql: string): Promise<Message[]> {
    await this.write(queryMessage(sql));
    return await this.readUntil("Z");
  }

  /** Closes the socket; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
