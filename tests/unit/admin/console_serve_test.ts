/**
 * @module
 * Unit tests of the admin console's session loop (`AdminConsole.serve`) over scripted bytes:
 * the greeting psql needs, a simple Query, the extended protocol refused once per batch and
 * resynchronised at Sync, FunctionCall refused, Terminate, and unknown messages (08P01).
 */

import assert from "node:assert/strict";
import { AdminConsole } from "../../../src/admin/mod.ts";
import { SocketWriter } from "../../../src/backend/mod.ts";
import {
  encodeBind,
  encodeEmptyMessage,
  encodeExecute,
  encodeParse,
  encodeQuery,
  FrameReader,
  FrontendCode,
  frontendMaxLength,
  ProtocolError,
} from "../../../src/protocol/mod.ts";
import { ChunkedSource } from "../protocol/_support.ts";
import { testAdmin } from "./_context.ts";
import { decodeAll, type Decoded } from "./_wire.ts";

/** Collects everything written. */
class Sink {
  bytes: number[] = [];
  write(p: Uint8Array): Promise<number> {
    this.bytes.push(...p);
    return Promise.resolve(p.length);
  }
}

async function serve(input: Uint8Array[], chunk = 7): Promise<{ out: Decoded[]; error?: unknown }> {
  const all = new Uint8Array(input.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of input) {
    all.set(p, off);
    off += p.length;
  }
  const sink = new Sink();
  const reader = new FrameReader(new ChunkedSource(all, [chunk]), {
    maxLength: frontendMaxLength(),
  });
  let error: unknown;
  try {
    await new AdminConsole(testAdmin()).serve({
      reader,
      writer: new SocketWriter(sink),
      remote: "127.0.0.1:1",
      user: "postgres",
    });
  } catch (e: unknown) {
    error = e;
  }
  return { out: await decodeAll(new Uint8Array(sink.bytes)), error };
}

const TERMINATE = encodeEmptyMessage(FrontendCode.Terminate);
const SYNC = encodeEmptyMessage(FrontendCode.Sync);

Deno.test("admin console serve: greets like a server, answers a Query, ends at Terminate", async () => {
  const { out, error } = await serve([encodeQuery("SHOW VERSION"), TERMINATE]);
  assert.equal(error, undefined);
  const types = out.map((m) => m.type);
  assert.deepEqual(types.slice(0, 1), ["AuthenticationOk"]);
  const params = new Map(
    out.flatMap((m) => (m.type === "ParameterStatus" ? [[m.name, m.value] as const] : [])),
  );
  assert.match(params.get("server_version") ?? "", /^15\.0 \(usogres \d+\.\d+\.\d+/);
  for (const [k, v] of [["client_encoding", "UTF8"], ["integer_datetimes", "on"]]) {
    assert.equal(params.get(k!), v);
  }
  assert.equal(params.get("standard_conforming_strings"), "on");
  assert.ok(params.has("DateStyle"));
  const afterGreeting = types.slice(types.indexOf("BackendKeyData"));
  assert.deepEqual(afterGreeting, [
    "BackendKeyData",
    "ReadyForQuery",
    "RowDescriptionColumns",
    "DataRowValues",
    "CommandComplete",
    "ReadyForQuery",
  ]);
});

Deno.test("admin console serve: an empty Query gets EmptyQueryResponse", async () => {
  const { out } = await serve([encodeQuery("  "), TERMINATE]);
  assert.deepEqual(out.slice(-2).map((m) => m.type), ["EmptyQueryResponse", "ReadyForQuery"]);
});

Deno.test("admin console serve: refuses an extended batch once (0A000) and answers its Sync", async () => {
  const batch = [
    encodeParse("", "SHOW BACKENDS", []),
    encodeBind({ portal: "", statement: "" }),
    encodeExecute(),
    SYNC,
  ];
  const { out, error } = await serve([...batch, ...batch, encodeQuery("SHOW VERSION"), TERMINATE]);
  assert.equal(error, undefined);
  const tail = out.slice(out.findIndex((m) => m.type === "BackendKeyData") + 2);
  assert.deepEqual(tail.map((m) => m.type), [
    "ErrorResponse",
    "ReadyForQuery",
    "ErrorResponse",
    "ReadyForQuery",
    "RowDescriptionColumns",
    "DataRowValues",
    "CommandComplete",
    "ReadyForQuery",
  ]);
  const e = tail[0]!;
  assert.equal(e.type === "ErrorResponse" ? e.code : "", "0A000");
});

Deno.test("admin console serve: ends at EOF and rejects an unknown message type with 08P01", async () => {
  assert.equal((await serve([encodeQuery("SHOW STATS")])).error, undefined);
  const bogus = new Uint8Array([0x7a, 0, 0, 0, 4]); // 'z'
  const { error } = await serve([bogus]);
  assert.ok(error instanceof ProtocolError);
  assert.equal(error.code, "08P01");
});
