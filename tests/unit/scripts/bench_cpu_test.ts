/**
 * @module
 * The benchmark's proxy CPU figures: `/proc/<pid>/stat` parsing (a command name with spaces and
 * parentheses), the sum over a process tree (children, grandchildren, ended children), and the
 * per-workload table with its ratio to the reference proxy.
 */

import assert from "node:assert/strict";
import {
  parseProcStat,
  processTreeSeconds,
  type ProcStat,
  treeSeconds,
} from "../../../scripts/_bench_cpu.ts";
import { cpuTable, type WorkloadResult } from "../../../scripts/_bench_stats.ts";

/** A stat line as Linux writes it: utime, stime, cutime, cstime in fields 14-17. */
function statLine(pid: number, comm: string, ppid: number, times: number[]): string {
  const rest = ["S", ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, ...times, 20, 0, 1, 0];
  return `${pid} (${comm}) ${rest.join(" ")}`;
}

Deno.test("parseProcStat: fields counted from the last ')' of the command name", () => {
  assert.deepEqual(
    parseProcStat(statLine(42, "pgpool: wait for (connection) request", 7, [11, 5, 3, 2])),
    {
      pid: 42,
      ppid: 7,
      ticks: 16,
      childTicks: 5,
    },
  );
  assert.equal(parseProcStat(""), undefined);
  assert.equal(parseProcStat("garbage"), undefined);
});

Deno.test("treeSeconds: the root, every descendant and their ended children; others left out", () => {
  const ps: ProcStat[] = [
    { pid: 1, ppid: 0, ticks: 1000, childTicks: 0 },
    { pid: 10, ppid: 1, ticks: 100, childTicks: 50 }, // runuser: ended children count
    { pid: 11, ppid: 10, ticks: 200, childTicks: 0 }, // the daemon
    { pid: 12, ppid: 11, ticks: 30, childTicks: 0 }, // its worker
    { pid: 20, ppid: 1, ticks: 999, childTicks: 0 }, // unrelated
  ];
  assert.equal(treeSeconds(ps, 10), 3.8);
  assert.equal(treeSeconds(ps, 12), 0.3);
  assert.equal(treeSeconds(ps, 99), undefined);
});

Deno.test("processTreeSeconds: this process's own CPU time grows with work it does", async () => {
  const before = await processTreeSeconds(Deno.pid);
  assert.ok(before !== undefined, "/proc is readable on Linux");
  const until = performance.now() + 150;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  const after = await processTreeSeconds(Deno.pid);
  assert.ok(after !== undefined && after >= before + 0.05, `${before} -> ${after} (${x > 0})`);
});

Deno.test("cpuTable: medians per workload and the ratio to the reference proxy", () => {
  const result = (args: string[], cpu: Record<string, number[]>): WorkloadResult => ({
    title: args.join(" "),
    args,
    command: "pgbench",
    runs: new Map(),
    cpu: new Map(Object.entries(cpu)),
    references: [],
  });
  const lines = cpuTable([
    result(["-S"], { "usogres-pass": [40, 50, 60], pgbouncer: [20, 25, 30] }),
    result([], { "usogres-pass": [400], pgbouncer: [] }),
  ], "pgbouncer");
  assert.deepEqual(lines.slice(2), [
    "| usogres-pass | 50 | 400 | 2.00 | — |",
    "| pgbouncer | 25 | — | 1.00 | — |",
  ]);
  assert.deepEqual(cpuTable([result(["-S"], {})], "pgbouncer"), []);
});
