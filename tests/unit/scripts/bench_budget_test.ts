/**
 * @module
 * The bench's CPU budget per transaction: the zero-proxy bound's arithmetic, the rows (targets
 * without a proxy count it as free, a proxy whose sample failed does not), the table, and the
 * lines saying whether issue #6's throughput targets are reachable in principle.
 */

import assert from "node:assert/strict";
import {
  budgetRows,
  budgetTable,
  reachabilityLines,
  zeroProxyBound,
} from "../../../scripts/_bench_budget.ts";
import type { WorkloadResult } from "../../../scripts/_bench_stats.ts";

type Figures = Record<
  string,
  { tps: number[]; proxy?: number[]; servers: number[]; client: number[] }
>;

function result(args: string[], figures: Figures): WorkloadResult {
  const pick = (f: (v: Figures[string]) => number[] | undefined) =>
    new Map(
      Object.entries(figures).flatMap(([k, v]) => {
        const runs = f(v);
        return runs ? [[k, runs] as const] : [];
      }),
    );
  return {
    title: args.join(" ") || "TPC-B",
    args,
    command: "pgbench",
    runs: pick((v) => v.tps),
    cpu: pick((v) => v.proxy),
    serverCpu: pick((v) => v.servers),
    clientCpu: pick((v) => v.client),
    references: [],
  };
}

const SELECT = result(["-S"], {
  direct: { tps: [20000, 22000, 21000], servers: [30, 32, 31], client: [18, 20, 19] },
  "usogres-pass": { tps: [10000], proxy: [45], servers: [33], client: [17] },
  pgbouncer: { tps: [16000], proxy: [20], servers: [31], client: [19] },
  "deno-forwarder": { tps: [12000], proxy: [30], servers: [30], client: [20] },
});

const TPCB = result([], {
  direct: { tps: [3000], servers: [560], client: [40] },
  "usogres-repl": { tps: [900], proxy: [150], servers: [1150], client: [50] },
  pgpool: { tps: [700], proxy: [300], servers: [1200], client: [50] },
  ceiling: { tps: [1500], servers: [1100], client: [80] },
});

Deno.test("zeroProxyBound: cores × 1e6 over the servers' and pgbench's µs per transaction", () => {
  assert.equal(zeroProxyBound(2, 30, 20), 40000);
  assert.equal(zeroProxyBound(4, 1000, 250), 3200);
  assert.equal(zeroProxyBound(2, undefined, 20), undefined);
  assert.equal(zeroProxyBound(2, 30, undefined), undefined);
  assert.equal(zeroProxyBound(2, 0, 0), undefined);
});

Deno.test("budgetRows: medians, totals, bound and busy share per target", () => {
  const rows = budgetRows(SELECT, 2);
  assert.deepEqual(rows.map((r) => r.target), [
    "direct",
    "usogres-pass",
    "pgbouncer",
    "deno-forwarder",
  ]);
  assert.deepEqual(rows[0], {
    target: "direct",
    tps: 21000,
    proxy: 0,
    servers: 31,
    client: 19,
    total: 50,
    bound: 40000,
    busy: 50 * 21000 / 2e6,
  });
  assert.equal(rows[1]?.total, 95);
  assert.equal(rows[1]?.bound, 2e6 / 50);
});

Deno.test("budgetRows: a proxy whose CPU sample failed has no total, not a free proxy", () => {
  const r = result(["-S"], {
    "usogres-pass": { tps: [10000], proxy: [], servers: [33], client: [17] },
  });
  const [row] = budgetRows(r, 2);
  assert.equal(row?.proxy, undefined);
  assert.equal(row?.total, undefined);
  assert.equal(row?.busy, undefined);
  assert.equal(row?.bound, 40000); // the bound does not need the proxy
});

Deno.test("budgetRows: results without server and pgbench figures give no totals", () => {
  const { serverCpu: _s, clientCpu: _c, ...old } = SELECT;
  const [row] = budgetRows(old, 2);
  assert.equal(row?.servers, undefined);
  assert.equal(row?.bound, undefined);
  assert.deepEqual(budgetTable([old], 2), []);
});

Deno.test("budgetTable: one bold line and one table per workload", () => {
  const lines = budgetTable([SELECT, TPCB], 2);
  assert.deepEqual(lines.slice(0, 8), [
    "**`-S`**",
    "",
    "| target | median TPS | proxy µs/tx | servers µs/tx | pgbench µs/tx | total µs/tx | " +
    "zero-proxy bound TPS | cores busy |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    "| direct | 21000 | — | 31 | 19 | 50 | 40000 | 53 % |",
    "| usogres-pass | 10000 | 45 | 33 | 17 | 95 | 40000 | 48 % |",
    "| pgbouncer | 16000 | 20 | 31 | 19 | 70 | 40000 | 56 % |",
    "| deno-forwarder | 12000 | 30 | 30 | 20 | 80 | 40000 | 48 % |",
  ]);
  assert.deepEqual(lines.slice(8, 12), [
    "",
    "**TPC-B**",
    "",
    lines[2],
  ]);
  assert.equal(lines.at(-1), "| ceiling | 1500 | — | 1100 | 80 | 1180 | 1695 | 89 % |");
});

Deno.test("reachabilityLines: bound against factor × reference, and the forwarder for pass-through", () => {
  const lines = reachabilityLines([SELECT, TPCB], 2);
  assert.deepEqual(lines, [
    "- `-S`, usogres-pass ≥ 1.0 × pgbouncer (16000 TPS needed): the zero-proxy bound of " +
    "usogres-pass is 40000 TPS, 2.50 × that: reachable in principle: yes. deno-forwarder " +
    "(no protocol work) ran at 12000 TPS, 0.75 × pgbouncer (median of same-round ratios), at 30 " +
    "µs proxy CPU per transaction against pgbouncer's 20.",
    "- TPC-B, usogres-repl ≥ 1.4 × pgpool (980 TPS needed): the zero-proxy bound of " +
    "usogres-repl is 1667 TPS, 1.70 × that: reachable in principle: yes.",
    "- TPC-B, usogres-repl ≥ 0.9 × ceiling (1350 TPS needed): the zero-proxy bound of " +
    "usogres-repl is 1667 TPS, 1.23 × that: reachable in principle: yes.",
  ]);
});

Deno.test("reachabilityLines: 'no' when the bound is short, and a missing reference is said", () => {
  const tpcb = result([], {
    "usogres-repl": { tps: [900], proxy: [150], servers: [1900], client: [100] },
    ceiling: { tps: [1500], servers: [1100], client: [80] },
  });
  assert.deepEqual(reachabilityLines([tpcb], 2), [
    "- TPC-B, usogres-repl ≥ 1.4 × pgpool: pgpool did not run or has no throughput.",
    "- TPC-B, usogres-repl ≥ 0.9 × ceiling (1350 TPS needed): the zero-proxy bound of " +
    "usogres-repl is 1000 TPS, 0.74 × that: reachable in principle: no.",
  ]);
});

Deno.test("reachabilityLines: with -C the forwarder is said not to be a floor", () => {
  const connect = result(["-S", "-C"], {
    "usogres-pass": { tps: [1200], proxy: [450], servers: [200], client: [200] },
    pgbouncer: { tps: [2300], proxy: [150], servers: [180], client: [180] },
    "deno-forwarder": { tps: [230], proxy: [550], servers: [5200], client: [300] },
  });
  assert.deepEqual(reachabilityLines([connect], 2), [
    "- `-S -C`, usogres-repl ≥ 1.0 × pgpool: pgpool did not run or has no throughput.",
    "- `-S -C`, usogres-pass ≥ 1.0 × pgbouncer (2300 TPS needed): the zero-proxy bound of " +
    "usogres-pass is 5000 TPS, 2.17 × that: reachable in principle: yes. deno-forwarder opens " +
    "a server connection per client connection (no pooling), so it is no floor here: it ran at " +
    "230 TPS, 0.10 × pgbouncer (median of same-round ratios).",
  ]);
});
