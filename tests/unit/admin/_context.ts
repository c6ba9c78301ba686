/**
 * @module
 * A plain {@link AdminContext} for the admin unit tests: a real membership, write gate and
 * histogram, health results set by hand, fixed counters, and recorded RELOAD and SHUTDOWN calls.
 */

import { defaultConfig, type LoadedConfig } from "../../../src/config/mod.ts";
import { type BackendHealth, Histogram, Membership, WriteGate } from "../../../src/cluster/mod.ts";
import type { AdminContext, ReloadReport } from "../../../src/admin/mod.ts";
import { newProxyStats } from "../../../src/session/context.ts";
import type { ClientInfo } from "../../../src/session/context.ts";

/** A test context and the knobs tests turn. */
export interface TestAdmin extends AdminContext {
  /** Health records by server name; add or change entries to simulate checks. */
  readonly healthRecords: Map<string, BackendHealth>;
  /** The clients `clients()` returns. */
  clientList: ClientInfo[];
  /** What `reload()` does. */
  reloadImpl: () => Promise<ReloadReport>;
  /** How many times `requestShutdown()` was called. */
  shutdowns: number;
}

/** The time every test context started. */
export const STARTED_AT = new Date("2026-01-01T00:00:00.000Z");

/**
 * Builds a context around an original and one copy named `copy`.
 *
 * @param retries `health.retries`
 * @returns the context
 */
export function testAdmin(retries = 2): TestAdmin {
  const config = defaultConfig({
    original: { host: "127.0.0.1", port: 5433 },
    copies: [{ host: "127.0.0.1", port: 5434 }],
    log: { dir: "" },
    health: { retries },
  }, { env: {}, home: "/h" });
  const loaded: LoadedConfig = { config, file: undefined, sources: new Map() };
  const healthRecords = new Map<string, BackendHealth>();
  const ctx: TestAdmin = {
    healthRecords,
    clientList: [],
    reloadImpl: () => Promise.reject(new Error("no reload here")),
    shutdowns: 0,
    loaded: () => loaded,
    membership: new Membership("original", ["copy"], ""),
    health: {
      get: (name) => healthRecords.get(name),
      isUp: (name) => {
        const h = healthRecords.get(name);
        return h === undefined || h.checks === 0 ? undefined : h.failures < retries;
      },
      originalReady: () => {
        const h = healthRecords.get("original");
        return h?.lastSuccessAt !== undefined && h.failures < retries;
      },
    },
    stats: { ...newProxyStats(), connectionsAccepted: 7, connectionsRefused: 1 },
    writeGate: new WriteGate(),
    adminPause: { active: false },
    fanoutLatency: new Histogram([0.001, 0.01, 0.1]),
    startedAt: STARTED_AT,
    clients: () => [...ctx.clientList],
    activeClients: () => ctx.clientList.filter((c) => !c.admin).length,
    accepting: () => true,
    reload: () => ctx.reloadImpl(),
    requestShutdown: () => {
      ctx.shutdowns++;
    },
    recover: () => Promise.reject(new Error("no recovery here")),
    recoveryProgress: () => undefined,
    promote: (name) => ctx.membership.promote(name, "test"),
  };
  return ctx;
}

/**
 * A health record after `checks` checks.
 *
 * @param name server name
 * @param fields what to set
 * @returns the record
 */
export function healthRecord(name: string, fields: Partial<BackendHealth> = {}): BackendHealth {
  return {
    name,
    checks: 1,
    failures: 0,
    lastCheckAt: new Date("2026-01-01T00:01:00.000Z"),
    lastSuccessAt: new Date("2026-01-01T00:01:00.000Z"),
    latencyMs: 2.5,
    lastError: "",
    serverVersion: "15.4",
    ...fields,
  };
}
