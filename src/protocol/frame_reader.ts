/**
 * @module
 * `FrameReader`: cuts a byte stream into {@link Frame}s without copying, checking each declared
 * length against a per-type cap before buffering the message, as PostgreSQL's `pq_getmessage()`
 * (`pqcomm.c`) and `ProcessStartupPacket()` (`backend_startup.c`) do.
 *
 * The reader owns one growable buffer. `tryNext()` hands out views into it; `fill()` reads more
 * from the source into the free tail, first compacting (`copyWithin`) or growing the buffer when
 * needed, which invalidates every frame handed out before. So frames are valid only until the
 * next `fill()`, and the frames returned between two `fill()` calls are adjacent views of one
 * `ArrayBuffer`: a run of them can be forwarded with a single write.
 */

import { MAX_STARTUP_PACKET } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import type { Frame } from "./frame.ts";

/** Anything with `Deno.Conn`'s `read()`: a socket, a TLS adapter, a scripted test source. */
export interface ByteSource {
  /**
   * Reads into `p`.
   *
   * @param p where to put the bytes
   * @returns how many bytes were read, or null at end of stream
   */
  read(p: Uint8Array): Promise<number | null>;
}

/** Options for a {@link FrameReader}. */
export interface FrameReaderOptions {
  /** Start in startup mode: packets with no type byte (default false). */
  readonly startup?: boolean;
  /**
   * The largest allowed declared length (which counts itself) per type byte, such as
   * `frontendMaxLength()` or `backendMaxLength()`. Startup packets are always capped at
   * {@link MAX_STARTUP_PACKET}.
   */
  readonly maxLength: (code: number) => number;
  /** Initial buffer size in bytes (default 32 KiB, at least 64). */
  readonly initialSize?: number;
  /**
   * Buffer size while traffic is light (default: `initialSize`). An idle connection then holds
   * only this much; the buffer grows back to `initialSize` as soon as a read fills it, so a large
   * result still streams in big reads.
   */
  readonly idleSize?: number;
}

const DEFAULT_INITIAL_SIZE = 32 * 1024;

function int32At(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) |
    (b[at + 3] ?? 0);
}

function tooLong(code: number, length: number, limit: number): ProtocolError {
  const type = code >= 0x20 && code < 0x7f ? `"${String.fromCharCode(code)}"` : String(code);
  return new ProtocolError(
    `invalid message length: message of type ${type} is ${length} bytes, the limit is ${limit}`,
  );
}

/**
 * Reads frames from a {@link ByteSource}.
 *
 * @example
 * ```ts
 * import { frontendMaxLength } from "./codes.ts";
 * import type { Frame } from "./frame.ts";
 * declare const conn: Deno.Conn;
 * declare function route(frame: Frame): void;
 * const reader = new FrameReader(conn, { maxLength: frontendMaxLength(), startup: true });
 * for (;;) {
 *   let frame;
 *   while ((frame = reader.tryNext())) route(frame);
 *   if (!(await reader.fill())) break; // EOF; reader.buffered > 0 means truncated
 * }
 * ```
 */
export class FrameReader {
  /**
   * True while reading startup packets (no type byte; length and a 32-bit code). The session
   * sets it to false once a StartupMessage was accepted.
   */
  startup: boolean;
  readonly #src: ByteSource;
  readonly #maxLength: (code: number) => number;
  readonly #initialSize: number;
  readonly #maxRetainedSize: number;
  readonly #idleSize: number;
  /** Whether the last read filled all the free space (traffic is heavy: keep a big buffer). */
  #lastReadFull = false;
  #buf: Uint8Array<ArrayBuffer>;
  #start = 0;
  #end = 0;
  #bytesRead = 0;
  /** A read started by {@link readAhead}, handed to the next `fill()`. */
  #ahead: Promise<boolean> | undefined;

  /**
   * Creates a reader; nothing is read until `fill()`.
   *
   * @param src where the bytes come from
   * @param opts startup mode, length caps and initial buffer size
   */
  constructor(src: ByteSource, opts: FrameReaderOptions) {
    this.#src = src;
    this.#maxLength = opts.maxLength;
    this.startup = opts.startup ?? false;
    this.#initialSize = Math.max(64, opts.initialSize ?? DEFAULT_INITIAL_SIZE);
    // A buffer up to four times the initial size is kept, so a run of messages somewhat larger
    // than the buffer does not reallocate per message; anything bigger is dropped afterwards.
    this.#maxRetainedSize = 4 * this.#initialSize;
    this.#idleSize = Math.max(64, Math.min(opts.idleSize ?? this.#initialSize, this.#initialSize));
    this.#buf = new Uint8Array(this.#idleSize);
  }

  /** Bytes received but not yet returned as frames (after EOF: > 0 means truncated). */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Bytes read from the source so far (the admin console's SHOW CLIENTS). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** The current size of the reader's buffer in bytes (for tests and metrics). */
  get bufferSize(): number {
    return this.#buf.length;
  }

  /**
   * The total size of the message at the read position, checked against its cap; the header
   * size while the header itself is incomplete.
   */
  #pendingLength(): number {
    const b = this.#buf, s = this.#start, avail = this.#end - s;
    if (this.startup) {
      if (avail < 4) return 8;
      const len = int32At(b, s);
      if (len < 8 || len > MAX_STARTUP_PACKET) {
        throw new ProtocolError("invalid length of startup packet");
      }
      return len;
    }
    if (avail < 5) return 5;
    const code = b[s] ?? 0;
    const len = int32At(b, s + 1);
    if (len < 4) throw new ProtocolError("invalid message length");
    const limit = this.#maxLength(code);
    if (len > limit) throw tooLong(code, len, limit);
    return len + 1;
  }

  /**
   * The bytes received but not yet returned as frames, as a view into the reader's buffer (valid
   * until the next `fill()`): a caller may look at the messages that follow the current one.
   *
   * @returns the buffered bytes, starting at the next message
   */
  peek(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /**
   * Returns the next complete frame already buffered, without reading. The frame is a view into
   * the reader's buffer, valid until the next `fill()`.
   *
   * @returns the frame, or undefined when no complete message is buffered
   * @throws {ProtocolError} when the next message's declared length is invalid or over its cap
   */
  tryNext(): Frame | undefined {
    const s = this.#start;
    const total = this.#pendingLength();
    if (this.#end - s < total) return undefined;
    const b = this.#buf;
    this.#start = s + total;
    const code = this.startup ? int32At(b, s + 4) >>> 0 : b[s] ?? 0;
    return { code, bytes: b.subarray(s, s + total) };
  }

  /**
   * Reads once from the source into the buffer, compacting or growing it first when the pending
   * message would not fit. Invalidates all frames returned so far. Call it when `tryNext()`
   * returned undefined; with a complete message still buffered it returns true without reading.
   *
   * @returns false at end of stream (then `buffered > 0` means the stream ended mid-message)
   * @throws {ProtocolError} when the pending message's declared length is invalid or over its cap
   *   (checked before the buffer grows)
   */
  fill(): Promise<boolean> {
    const ahead = this.#ahead;
    if (ahead === undefined) return this.#fill();
    this.#ahead = undefined;
    return ahead;
  }

  /**
   * Starts the next read now, without waiting for anyone to ask: the next `fill()` returns this
   * same read instead of starting another. A connection kept idle (the connection cache) uses it
   * to learn at once that its server closed it or sent something while nobody was listening.
   *
   * @returns the read, as `fill()` would return it (false at end of stream)
   */
  readAhead(): Promise<boolean> {
    this.#ahead ??= this.#fill();
    return this.#ahead;
  }

  async #fill(): Promise<boolean> {
    const need = this.#pendingLength();
    // A complete message is still buffered: the caller should drain it first; reading now could
    // find no free tail, so report progress without reading.
    if (this.#end - this.#start >= need) return true;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // Nothing pending: size the buffer for the traffic the last read saw.
      const current = this.#buf.length;
      if (this.#lastReadFull && current < this.#initialSize) this.#replace(this.#initialSize);
      else if (!this.#lastReadFull && current > this.#idleSize && need <= this.#idleSize) {
        this.#replace(this.#idleSize);
      }
    }
    const avail = this.#end - this.#start;
    const size = this.#buf.length;
    if (size > this.#maxRetainedSize && need <= this.#initialSize && avail <= this.#initialSize) {
      this.#replace(this.#initialSize);
    } else if (need > size) {
      this.#replace(Math.max(need, Math.min(2 * size, this.#maxRetainedSize)));
    } else if (this.#start > 0 && (this.#start + need > size || this.#start >= size >>> 1)) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = avail;
    }
    const free = this.#buf.length - this.#end;
    const n = await this.#src.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#lastReadFull = n === free;
    this.#end += n;
    this.#bytesRead += n;
    return true;
  }

  #replace(size: number): void {
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#buf = next;
  }

  /**
   * Copies out and drops the buffered bytes, for handing the socket to TLS (bytes that arrive
   * after an SSLRequest, before the handshake, are a protocol violation the caller reports).
   *
   * @returns the bytes not yet returned as frames, owned by the caller
   */
  takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }
}
