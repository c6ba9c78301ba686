/**
 * @module
 * The cluster integration tests run against: `scripts/pg_cluster.ts`'s throwaway original and
 * copies (or CI's external servers), plus `startProxy()` to put a fresh usogres in front of them.
 * One cluster per test file (an outer `Deno.test`), one usogres per step, all with `await using`.
 *
 * @example
 * ```ts
 * import { postgresJs } from "./clients.ts";
 *
 * Deno.test("copy: insert reaches every server", async (t) => {
 *   await using cluster = await startCluster({ copies: 1 });
 *   await t.step("insert", async () => {
 *     await using proxy = await cluster.startProxy();
 *     await using db = postgresJs(proxy.url());
 *     await db`CREATE TABLE t (id int)`;
 *   });
 * });
 * ```
 */

import {
  type Cluster,
  startCluster as startServers,
  type StartClusterOptions,
} from "../../scripts/pg_cluster.ts";
import { type ProxyProcess, startProxy, type StartProxyOptions } from "./proxy.ts";

export type { Cluster, StartClusterOptions } from "../../scripts/pg_cluster.ts";
export type { PgServer } from "../../scripts/pg_server.ts";
export { externalServersFromEnv, freePort, TEST_ROLES } from "../../scripts/pg_server.ts";
export { proxyConfig, startProxy, withLogsOnFailure } from "./proxy.ts";
export type { ProxyProcess, StartProxyOptions, TomlScalar } from "./proxy.ts";

/** A cluster that can also start usogres in front of itself. */
export interface TestCluster extends Cluster {
  /**
   * Starts a fresh usogres in front of this cluster (see {@link startProxy}).
   * @param opts extra config, arguments and environment
   * @returns the running usogres; dispose it to stop it
   */
  startProxy(opts?: StartProxyOptions): Promise<ProxyProcess>;
}

/**
 * Starts a cluster for tests (throwaway servers, or external ones from `USOGRES_TEST_ORIGINAL`
 * and `USOGRES_TEST_COPIES`).
 * @param opts number of copies, settings and where servers come from
 * @returns the cluster; dispose it to stop and remove its servers
 * @throws Error when a server cannot start
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const cluster = await startServers(opts);
  return Object.assign(cluster, {
    startProxy(proxyOpts?: StartProxyOptions): Promise<ProxyProcess> {
      return startProxy(cluster, proxyOpts);
    },
  });
}
