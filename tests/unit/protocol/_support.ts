/**
 * @module
 * Test support for the protocol unit tests: scripted byte sources, a seeded PRNG and helpers to
 * drain a `FrameReader`.
 */

import type { ByteSource, Frame, FrameReader } from "../../../src/protocol/mod.ts";
import { retain } from "../../../src/protocol/mod.ts";

/** A source that hands out `bytes` in the given chunk sizes (the last one repeats), then EOF. */
export class ChunkedSource implements ByteSource {
  #bytes: Uint8Array;
  #pos = 0;
  #sizes: readonly number[];
  #call = 0;
  /** How many read() calls were made. */
  reads = 0;

  /**
   * @param bytes the stream
   * @param sizes chunk sizes, in order; the last one repeats
   */
  constructor(bytes: Uint8Array, sizes: readonly number[] = [bytes.length || 1]) {
    this.#bytes = bytes;
    this.#sizes = sizes;
  }

  /** @inheritdoc */
  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    if (this.#pos >= this.#bytes.length) return Promise.resolve(null);
    const want = this.#sizes[Math.min(this.#call++, this.#sizes.length - 1)] ?? 1;
    const n = Math.min(want, p.length, this.#bytes.length - this.#pos);
    p.set(this.#bytes.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return Promise.resolve(n);
  }
}

/**
 * Reads every frame from `reader` until EOF, retaining each.
 *
 * @param reader the reader
 * @returns the frames and whether the stream ended mid-message
 */
export async function drain(reader: FrameReader): Promise<{ frames: Frame[]; truncated: boolean }> {
  const frames: Frame[] = [];
  for (;;) {
    let f: Frame | undefined;
    while ((f = reader.tryNext()) !== undefined) frames.push(retain(f));
    if (!(await reader.fill())) break;
  }
  return { frames, truncated: reader.buffered > 0 };
}

/**
 * A small seeded PRNG (mulberry32), so random tests replay exactly.
 *
 * @param seed the seed
 * @returns a function returning uniform floats in [0, 1)
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Concatenates byte arrays.
 *
 * @param parts the arrays
 * @returns one new array
 */
export function concat(...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Builds bytes from a mix of numbers and ASCII strings (golden byte sequences).
 *
 * @param parts bytes and strings
 * @returns the bytes
 */
export function bytesOf(...parts: readonly (number | string)[]): Uint8Array<ArrayBuffer> {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else for (const ch of p) out.push(ch.charCodeAt(0));
  }
  return new Uint8Array(out);
}
