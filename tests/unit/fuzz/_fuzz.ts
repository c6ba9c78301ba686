/**
 * @module
 * Fuzzing support: the seeded PRNG, the case count (`USOGRES_FUZZ_CASES` for a long run, else a
 * count that keeps CI within seconds), the real client captures in `tests/fixtures/captures/`
 * (made by `scripts/capture_clients.ts`), and the mutations applied to them.
 */

import { prng } from "../protocol/_support.ts";

export { concat, prng } from "../protocol/_support.ts";

const CAPTURES = new URL("../../fixtures/captures/", import.meta.url).pathname;

/**
 * How many cases a fuzz test runs: `USOGRES_FUZZ_CASES` when set, else `ci`.
 *
 * @param ci the count for an ordinary test run
 * @returns the count
 */
export function fuzzCases(ci: number): number {
  const env = Deno.env.get("USOGRES_FUZZ_CASES");
  const n = env === undefined ? NaN : Number(env);
  return Number.isInteger(n) && n > 0 ? n : ci;
}

/**
 * The seed of a fuzz run: `USOGRES_FUZZ_SEED` when set (to replay a failure), else fixed.
 *
 * @param fallback the seed of an ordinary run
 * @returns the seed
 */
export function fuzzSeed(fallback: number): number {
  const env = Deno.env.get("USOGRES_FUZZ_SEED");
  return env === undefined ? fallback : Number(env) >>> 0;
}

/**
 * The client-to-server byte streams recorded from psql, node-postgres and postgres.js.
 *
 * @returns name and bytes of each capture
 */
export function captures(): { name: string; bytes: Uint8Array<ArrayBuffer> }[] {
  const out: { name: string; bytes: Uint8Array<ArrayBuffer> }[] = [];
  for (const entry of Deno.readDirSync(CAPTURES)) {
    if (entry.name.endsWith(".bin")) {
      out.push({ name: entry.name, bytes: Deno.readFileSync(`${CAPTURES}${entry.name}`) });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A random source of integers, bytes and choices built on {@link prng}. */
export class Rng {
  readonly #next: () => number;

  /**
   * Seeds the generator.
   *
   * @param seed the seed
   */
  constructor(seed: number) {
    this.#next = prng(seed);
  }

  /**
   * An integer in [0, n).
   *
   * @param n the bound
   * @returns the integer
   */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  /**
   * Random bytes.
   *
   * @param n how many
   * @returns the bytes
   */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /**
   * One element of a list.
   *
   * @param list the choices
   * @returns one of them
   */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

/** "Interesting" 32-bit values for length fields: limits, off-by-ones, signs. */
const LENGTHS = [
  0,
  1,
  3,
  4,
  5,
  7,
  8,
  9,
  9999,
  10000,
  10001,
  65535,
  65536,
  0x3fffffff,
  0x40000000,
  0x7fffffff,
  0x80000000,
  0xffffffff,
];

/**
 * Mutates bytes the ways fuzzers find framing bugs with: bit flips, byte changes, insertions,
 * deletions, truncation, duplicated or swapped spans, and length fields set to edge values.
 *
 * @param rng the generator
 * @param input the seed bytes (not changed)
 * @returns a new, mutated array
 */
export function mutate(rng: Rng, input: Uint8Array): Uint8Array<ArrayBuffer> {
  let b: number[] = [...input];
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(8)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (b.length > 0) b[at] = rng.int(256);
        break;
      case 2:
        b.splice(at, 0, ...rng.bytes(1 + rng.int(16)));
        break;
      case 3:
        b.splice(at, 1 + rng.int(16));
        break;
      case 4:
        b = b.slice(0, at);
        break;
      case 5: {
        const len = 1 + rng.int(32);
        b.splice(rng.int(b.length + 1), 0, ...b.slice(at, at + len));
        break;
      }
      case 6: {
        const v = rng.pick(LENGTHS);
        for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (v >>> (24 - 8 * i)) & 0xff;
        break;
      }
      default: {
        const other = rng.int(b.length + 1);
        const len = 1 + rng.int(16);
        const a = b.slice(at, at + len);
        const c = b.slice(other, other + len);
        b.splice(at, a.length, ...c);
        b.splice(other, c.length, ...a);
        break;
      }
    }
  }
  return new Uint8Array(b);
}
