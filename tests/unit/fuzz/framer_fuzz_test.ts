/**
 * @module
 * Fuzz test of the framer: real client captures, mutated, and random streams, cut into random
 * chunk sizes, read by `FrameReader` in startup mode then normal mode as a session does. The
 * reader may only ever throw `ProtocolError` (08P01); every frame it returns must be exactly as
 * long as its header says and within the cap for its type; it must never hang or grow its
 * buffer past the largest allowed message. `USOGRES_FUZZ_CASES` sets the count.
 */

import assert from "node:assert/strict";
import {
  type ByteSource,
  decodeStartupPacket,
  FrameReader,
  frontendMaxLength,
  PgError,
  ProtocolError,
} from "../../../src/protocol/mod.ts";
import { captures, fuzzCases, fuzzSeed, mutate, Rng } from "./_fuzz.ts";

const MAX_MESSAGE = 1 << 20;

/** Hands out bytes in random chunk sizes, then EOF. */
class RandomChunks implements ByteSource {
  #at = 0;
  reads = 0;
  constructor(readonly bytes: Uint8Array, readonly rng: Rng) {}
  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    if (this.#at >= this.bytes.length) return Promise.resolve(null);
    const n = Math.min(p.length, 1 + this.rng.int(64), this.bytes.length - this.#at);
    p.set(this.bytes.subarray(this.#at, this.#at + n));
    this.#at += n;
    return Promise.resolve(n);
  }
}

function int32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Reads a whole stream as a session would; returns how it ended. */
async function readAll(bytes: Uint8Array, rng: Rng): Promise<string> {
  const maxLength = frontendMaxLength(MAX_MESSAGE);
  const src = new RandomChunks(bytes, rng);
  const reader = new FrameReader(src, { startup: true, maxLength, initialSize: 64 });
  try {
    for (;;) {
      let frame;
      while ((frame = reader.tryNext()) !== undefined) {
        if (reader.startup) {
          assert.equal(int32(frame.bytes, 0), frame.bytes.length);
          assert.ok(frame.bytes.length <= 10_000);
          // A StartupMessage ends startup mode, as the session does.
          try {
            if (decodeStartupPacket(frame).type === "StartupMessage") reader.startup = false;
          } catch (e: unknown) {
            if (!(e instanceof PgError) || !["08P01", "0A000"].includes(e.code)) throw e;
            return "refused";
          }
        } else {
          assert.equal(int32(frame.bytes, 1) + 1, frame.bytes.length);
          assert.ok(frame.bytes.length - 1 <= maxLength(frame.code));
        }
      }
      assert.ok(reader.bufferSize <= Math.max(4 * 64, MAX_MESSAGE + 1));
      assert.ok(src.reads <= bytes.length + 2, "reads without progress");
      if (!(await reader.fill())) return reader.buffered > 0 ? "truncated" : "eof";
    }
  } catch (e: unknown) {
    if (e instanceof ProtocolError && e.code === "08P01") return "08P01";
    throw e;
  }
}

Deno.test("fuzz: the framer survives mutated client captures and random streams", async () => {
  const seeds = captures();
  assert.ok(seeds.length >= 3);
  const cases = fuzzCases(10000);
  const rng = new Rng(fuzzSeed(0x5eed));
  const outcomes = new Map<string, number>();
  for (let i = 0; i < cases; i++) {
    const kind = i % 5;
    const input = kind === 4 ? rng.bytes(rng.int(300)) : mutate(rng, rng.pick(seeds).bytes);
    let outcome: string;
    try {
      outcome = await readAll(input, rng);
    } catch (e: unknown) {
      throw new Error(`case ${i} (seed ${fuzzSeed(0x5eed)}): ${String(e)}`, { cause: e });
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // Every kind of ending happened: the mutations reach the framer's error paths.
  for (const kind of ["eof", "truncated", "08P01"]) assert.ok(outcomes.has(kind), kind);
  // Unmutated captures read cleanly to the end.
  for (const seed of seeds) assert.equal(await readAll(seed.bytes, rng), "eof", seed.name);
});
