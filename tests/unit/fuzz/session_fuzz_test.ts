/**
 * @module
 * Fuzz test of the startup and authentication state machines, run as the real
 * `ClientConnection` over an in-memory socket (no network): mutated captures of psql,
 * node-postgres and postgres.js logging in with SCRAM, and random streams, against several
 * configurations (SCRAM for a remote address, md5 and cert rules, trust on loopback, TLS
 * required). Each session must end by itself, never raise, never send AuthenticationOk (the
 * servers behind are unreachable, and a replayed SCRAM proof is worthless against a fresh
 * nonce), and answer only with well-formed messages whose SQLSTATEs are ones PostgreSQL uses
 * for startup failures, never XX000. `USOGRES_FUZZ_CASES` sets the count.
 */

import assert from "node:assert/strict";
import { makeScramVerifier, md5Verifier } from "../../../src/auth/mod.ts";
import { Histogram, Membership, WriteGate } from "../../../src/cluster/mod.ts";
import { type Config, defaultConfig } from "../../../src/config/mod.ts";
import { decodeErrorResponse } from "../../../src/protocol/mod.ts";
import { CatalogCache, Classifier } from "../../../src/replication/mod.ts";
import { CancelKeys } from "../../../src/session/cancel_keys.ts";
import { ClientConnection } from "../../../src/session/client_connection.ts";
import { newProxyStats, type SessionContext } from "../../../src/session/context.ts";
import { createClientSecurity } from "../../../src/session/security.ts";
import { RecoveryState } from "../../../src/session/journal.ts";
import { BackendPool } from "../../../src/session/backend_pool.ts";
import { DeadlineSweep } from "../../../src/session/deadlines.ts";
import { captures, fuzzCases, fuzzSeed, mutate, Rng } from "./_fuzz.ts";

const FIXTURES = new URL("../../fixtures/tls/", import.meta.url).pathname;
const ALLOWED = new Set(["08P01", "0A000", "28P01", "28000", "57P03", "53300"]);

/** A socket that replays `input` in random chunks and records what the session writes. */
class MemoryConn {
  readonly output: number[] = [];
  closed = false;
  #at = 0;
  readonly remoteAddr: Deno.NetAddr;
  constructor(readonly input: Uint8Array, readonly rng: Rng, hostname: string) {
    this.remoteAddr = { transport: "tcp", hostname, port: 40000 + rng.int(20000) };
  }
  read(p: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    if (this.#at >= this.input.length) return Promise.resolve(null);
    const n = Math.min(p.length, 1 + this.rng.int(48), this.input.length - this.#at);
    p.set(this.input.subarray(this.#at, this.#at + n));
    this.#at += n;
    return Promise.resolve(n);
  }
  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
    for (const b of p) this.output.push(b);
    return Promise.resolve(p.length);
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
}

interface Preset {
  readonly name: string;
  readonly address: string;
  readonly config: Config;
}

async function presets(): Promise<Preset[]> {
  const verifier = await makeScramVerifier("capture-secret", { iterations: 64 });
  const base = {
    // A Unix-socket directory that does not exist: any backend connection fails at once.
    original: { host: "/nonexistent-usogres-fuzz", port: 5432 },
    log: { dir: "" },
    listen: { startupTimeoutMs: 5000 },
    backendAuth: { connectTimeoutMs: 200 },
    auth: { users: { postgres: verifier, alice: md5Verifier("alice", "pw") } },
  } as const;
  const tls = {
    certFile: `${FIXTURES}server.crt`,
    keyFile: `${FIXTURES}server.key`,
    caFile: `${FIXTURES}ca.crt`,
  };
  const env = { env: {} };
  return [
    { name: "scram (remote)", address: "10.1.2.3", config: defaultConfig(base, env) },
    {
      name: "md5 and cert rules",
      address: "10.1.2.3",
      config: defaultConfig({
        ...base,
        tls,
        hba: [
          { address: "10.0.0.0/8", database: ["certdb"], method: "cert" },
          { address: "10.0.0.0/8", method: "md5" },
        ],
      }, env),
    },
    { name: "trust (loopback)", address: "127.0.0.1", config: defaultConfig(base, env) },
    {
      name: "tls required",
      address: "10.1.2.3",
      config: defaultConfig({ ...base, tls: { ...tls, mode: "require" } }, env),
    },
  ];
}

let sessionIds = 0;
/** Startup timeouts of every fuzzed session; closed when the fuzz ends. */
const startupDeadlines = new DeadlineSweep<() => void>((expired) => expired());

async function contextFor(config: Config): Promise<SessionContext> {
  const security = await createClientSecurity(config, () => Promise.resolve(undefined));
  // What startup and authentication use. Built as a Partial so that fields other work adds to
  // the context do not break this test's compilation; a field startup starts to need shows up
  // as an XX000 below, which fails the test with its name.
  const ctx: Partial<SessionContext> = {
    config,
    cancelKeys: new CancelKeys(),
    stats: newProxyStats(),
    membership: new Membership(config.original.name, [], ""),
    classifier: new Classifier({}),
    catalog: new CatalogCache(),
    security,
    writeGate: new WriteGate(),
    recovery: new RecoveryState(),
    pool: new BackendPool(0, 0),
    startupDeadlines,
    fanoutLatency: new Histogram(),
    adminConsole: undefined,
    nextSessionId: () => ++sessionIds,
    shuttingDown: () => false,
    admit: () => true,
    release: () => {},
    passwordFor: () => Promise.resolve(undefined),
  };
  return ctx as SessionContext;
}

/** Checks what a session wrote: answers to SSL/GSS requests, then well-formed messages. */
function checkOutput(out: Uint8Array): string[] {
  const codes: string[] = [];
  let at = 0;
  // Single-byte answers to SSLRequest / GSSENCRequest ('N', 'S') come first.
  while (at < out.length && (out[at] === 0x4e || out[at] === 0x53)) {
    codes.push(String.fromCharCode(out[at]!));
    at++;
  }
  while (at < out.length) {
    const code = out[at]!;
    assert.ok(at + 5 <= out.length, "truncated message from usogres");
    const len =
      ((out[at + 1]! << 24) | (out[at + 2]! << 16) | (out[at + 3]! << 8) | out[at + 4]!) >>>
      0;
    assert.ok(len >= 4 && at + 1 + len <= out.length, "bad length from usogres");
    const bytes = out.slice(at, at + 1 + len);
    switch (code) {
      case 0x52: { // 'R'
        const kind = (bytes[5]! << 24) | (bytes[6]! << 16) | (bytes[7]! << 8) | bytes[8]!;
        assert.notEqual(kind, 0, "AuthenticationOk sent to a fuzzed client");
        codes.push(`R${kind}`);
        break;
      }
      case 0x45: { // 'E'
        const e = decodeErrorResponse({ code, bytes });
        assert.ok(ALLOWED.has(e.code), `unexpected SQLSTATE ${e.code}: ${e.message}`);
        assert.equal(e.severity, "FATAL");
        codes.push(e.code);
        break;
      }
      case 0x76: // 'v' NegotiateProtocolVersion
        codes.push("v");
        break;
      default:
        assert.fail(`unexpected message type ${String.fromCharCode(code)} from usogres`);
    }
    at += 1 + len;
  }
  return codes;
}

Deno.test({
  name: "fuzz: startup and authentication end cleanly for mutated captures and random bytes",
  // node:tls keeps a few internal promises alive briefly after a failed handshake.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const seeds = captures();
    const sets = await presets();
    const contexts = await Promise.all(sets.map((p) => contextFor(p.config)));
    const cases = fuzzCases(1500);
    const seed = fuzzSeed(0xf0221);
    const rng = new Rng(seed);
    const seen = new Set<string>();
    for (let i = 0; i < cases; i++) {
      const which = i % sets.length;
      const preset = sets[which]!;
      const input = i % 7 === 6 ? rng.bytes(rng.int(200)) : mutate(rng, rng.pick(seeds).bytes);
      const conn = new MemoryConn(input, rng, preset.address);
      const session = new ClientConnection(conn as unknown as Deno.Conn, contexts[which]!);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hung = new Promise<"hung">((resolve) => {
        timer = setTimeout(() => resolve("hung"), 10_000);
      });
      const result = await Promise.race([session.run().then(() => "done" as const), hung]);
      clearTimeout(timer);
      const where = `case ${i} (seed ${seed}, ${preset.name})`;
      assert.equal(result, "done", `${where}: the session did not end`);
      assert.ok(conn.closed, `${where}: the socket was left open`);
      try {
        for (const c of checkOutput(new Uint8Array(conn.output))) seen.add(c);
      } catch (e: unknown) {
        throw new Error(`${where}: ${String(e)}`, { cause: e });
      }
    }
    startupDeadlines.close();
    // The fuzz reaches the exchanges and their failures, not only the framer.
    for (const c of ["R10", "R11", "R5", "08P01", "28000"]) assert.ok(seen.has(c), c);
  },
});
