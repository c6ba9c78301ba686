/**
 * Random input (seeded, so failures replay): the framer and every decoder may only ever throw a
 * PgError with SQLSTATE 08P01 (or 0A000 for an unsupported startup protocol), never another
 * exception, and never hang.
 */
import assert from "node:assert/strict";
import {
  backendMaxLength,
  bindResultsText,
  dataRowOffset,
  decodeAuthentication,
  decodeBackend,
  decodeBindFull,
  decodeDataRow,
  decodeFrontend,
  decodeFunctionCallFull,
  decodeFunctionCallResponse,
  decodeGSSResponse,
  decodeParameterDescription,
  decodePassword,
  decodeRowDescription,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeStartupPacket,
  encodeBind,
  encodeCommandComplete,
  encodeDataRow,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeParse,
  encodeQuery,
  encodeStartupMessage,
  encodeTextRowDescription,
  type Frame,
  FrameReader,
  frontendMaxLength,
  PgError,
  ProtocolError,
  READY_FOR_QUERY_IDLE,
  SYNC,
} from "../../../src/protocol/mod.ts";
import { ChunkedSource, concat, prng } from "./_support.ts";

const FRONTEND_CODES = "QPBESHDCXdcfFp";
const BACKEND_CODES = "RK23CGHWdcDIEVvnNAtS1sZT";

let startupMode = false;
let frames = 0;

function allowed(e: unknown): boolean {
  if (e instanceof ProtocolError && e.code === "08P01") return true;
  // Only a startup packet may ask for an unsupported protocol version.
  return startupMode && e instanceof PgError && e.code === "0A000";
}

function tryDecode(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!allowed(e)) throw e;
  }
}

/** A random message with a plausible header: a known type byte and a correct length. */
function randomMessage(rand: () => number, codes: string): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(Math.floor(rand() * 24));
  for (let i = 0; i < body.length; i++) {
    // Mostly small values, so counts and terminators occur often.
    body[i] = rand() < 0.5 ? Math.floor(rand() * 4) : Math.floor(rand() * 256);
  }
  const out = new Uint8Array(5 + body.length);
  out[0] = codes.charCodeAt(Math.floor(rand() * codes.length));
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

function mutate(rand: () => number, valid: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = valid.slice();
  const flips = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < flips; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  return rand() < 0.2 ? out.slice(0, Math.floor(rand() * out.length)) : out;
}

const VALID_FRONTEND = [
  encodeQuery("SELECT 1"),
  encodeParse("s", "SELECT $1", [23]),
  encodeBind({ statement: "s", params: ["1", null], resultFormats: [0] }),
  SYNC,
];
const VALID_BACKEND = [
  encodeTextRowDescription(["a"]),
  encodeDataRow(["1", null]),
  encodeCommandComplete("SELECT 1"),
  encodeErrorResponse([["S", "ERROR"], ["C", "42601"], ["M", "x"]]),
  encodeNegotiateProtocolVersion(0, ["_pq_.x"]),
  READY_FOR_QUERY_IDLE,
];

function randomStream(rand: () => number, codes: string, valid: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.4) parts.push(randomMessage(rand, codes));
    else if (r < 0.8) parts.push(mutate(rand, valid[Math.floor(rand() * valid.length)]!));
    else {
      const junk = new Uint8Array(Math.floor(rand() * 16));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
      parts.push(junk);
    }
  }
  return concat(...parts);
}

async function readAll(
  bytes: Uint8Array,
  rand: () => number,
  opts: { startup: boolean; maxLength: (code: number) => number },
  decode: (f: Frame) => void,
): Promise<void> {
  const reader = new FrameReader(new ChunkedSource(bytes, [1 + Math.floor(rand() * 16)]), {
    ...opts,
    initialSize: 64,
  });
  try {
    for (let guard = 0; guard < 10_000; guard++) {
      let f: Frame | undefined;
      while ((f = reader.tryNext()) !== undefined) {
        frames++;
        decode(f);
      }
      if (!(await reader.fill())) return;
    }
    assert.fail("reader did not finish");
  } catch (e) {
    if (!allowed(e)) throw e;
  }
}

Deno.test("fuzz: frontend streams only ever raise protocol errors", async () => {
  startupMode = false;
  frames = 0;
  const rand = prng(0xc0ffee);
  const frontend = frontendMaxLength(4096);
  for (let i = 0; i < 3000; i++) {
    const bytes = randomStream(rand, FRONTEND_CODES, VALID_FRONTEND);
    await readAll(bytes, rand, { startup: false, maxLength: frontend }, (f) => {
      tryDecode(() => decodeFrontend(f));
      tryDecode(() => decodeBindFull(f));
      tryDecode(() => bindResultsText(f));
      tryDecode(() => decodeFunctionCallFull(f));
      tryDecode(() => decodePassword(f));
      tryDecode(() => decodeSASLInitialResponse(f));
      tryDecode(() => decodeSASLResponse(f));
      tryDecode(() => decodeGSSResponse(f));
    });
  }
  assert.ok(frames > 1000, `only ${frames} frames reached the decoders`);
});

Deno.test("fuzz: backend streams only ever raise protocol errors", async () => {
  startupMode = false;
  frames = 0;
  const rand = prng(0xbeef);
  const backend = backendMaxLength(4096);
  for (let i = 0; i < 3000; i++) {
    const bytes = randomStream(rand, BACKEND_CODES, VALID_BACKEND);
    await readAll(bytes, rand, { startup: false, maxLength: backend }, (f) => {
      tryDecode(() => decodeBackend(f));
      tryDecode(() => decodeAuthentication(f));
      tryDecode(() => decodeRowDescription(f));
      tryDecode(() => decodeDataRow(f));
      tryDecode(() => dataRowOffset(f, 1));
      tryDecode(() => decodeParameterDescription(f));
      tryDecode(() => decodeFunctionCallResponse(f));
    });
  }
  assert.ok(frames > 1000, `only ${frames} frames reached the decoders`);
});

Deno.test("fuzz: startup packets only ever raise protocol or unsupported-version errors", async () => {
  startupMode = true;
  frames = 0;
  const rand = prng(42);
  const valid = encodeStartupMessage({ user: "u", database: "d", "_pq_.x": "1" });
  const frontend = frontendMaxLength();
  for (let i = 0; i < 3000; i++) {
    const bytes = rand() < 0.7 ? mutate(rand, valid) : randomStream(rand, "", [valid]);
    await readAll(bytes, rand, { startup: true, maxLength: frontend }, (f) => {
      tryDecode(() => decodeStartupPacket(f));
    });
  }
  assert.ok(frames > 500, `only ${frames} packets reached the decoder`);
});
