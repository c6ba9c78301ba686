/**
 * @module
 * The benchmark's proxy CPU figures: `/proc/<pid>/stat` parsing (a command name with spaces and
 * parentheses), the sum over a process tree (children, grandchildren, ended children), and the
 * per-workload table with its ratio to the reference proxy; the run's other CPU figures (the
 * postmasters' trees, pgbench as the bench's reaped children) and their per-transaction figures.
 */

import assert from "node:assert/strict";
import {
  cpuPerTransaction,
  cpuSample,
  parseProcStat,
  processTreeSeconds,
  type ProcStat,
  readCpuSample,
  settled,
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

Deno.test("cpuSample: the proxy's tree, the postmasters' trees summed, the client's ended children", () => {
  const ps: ProcStat[] = [
    { pid: 5, ppid: 1, ticks: 100, childTicks: 250 }, // the bench: pgbench reaped
    { pid: 6, ppid: 5, ticks: 40, childTicks: 0 }, // a proxy, the bench's child
    { pid: 7, ppid: 1, ticks: 10, childTicks: 300 }, // postmaster 1: backends ended
    { pid: 8, ppid: 7, ticks: 20, childTicks: 0 }, // a live backend
    { pid: 9, ppid: 1, ticks: 5, childTicks: 0 }, // postmaster 2
  ];
  const sample = cpuSample(ps, { proxy: 6, servers: [7, 9], client: 5 });
  assert.equal(sample.proxy, 0.4);
  assert.equal(sample.servers?.toFixed(6), (3.35).toFixed(6)); // (10 + 300 + 20) + 5 ticks
  assert.equal(sample.client, 2.5);
  assert.deepEqual(cpuSample(ps, { servers: [], client: 5 }), {
    proxy: undefined,
    servers: undefined,
    client: 2.5,
  });
  // A postmaster that is gone makes the servers' figure unknown, not smaller.
  assert.equal(cpuSample(ps, { servers: [7, 99], client: 5 }).servers, undefined);
  assert.equal(cpuSample(ps, { servers: [7], client: 99 }).client, undefined);
});

Deno.test("cpuPerTransaction: differences over the transactions, in µs", () => {
  const before = { proxy: 1, servers: 10, client: 2 };
  const after = { proxy: 1.5, servers: 13, client: 2.25 };
  assert.deepEqual(cpuPerTransaction(before, after, 10000), {
    proxy: 50,
    servers: 300,
    client: 25,
  });
  assert.deepEqual(cpuPerTransaction(before, { ...after, proxy: undefined }, 0), {
    proxy: undefined,
    servers: undefined,
    client: undefined,
  });
});

Deno.test("readCpuSample: pgbench-like children count once reaped", async () => {
  const roots = { servers: [], client: Deno.pid };
  const before = await readCpuSample(roots);
  // A child that burns CPU, then is waited for: the client figure grows by its time.
  await new Deno.Command(Deno.execPath(), {
    args: ["eval", "const t = performance.now() + 200; while (performance.now() < t);"],
    stdout: "null",
    stderr: "null",
  }).output();
  const after = await readCpuSample(roots);
  assert.ok(before.client !== undefined && after.client !== undefined);
  assert.ok(after.client - before.client >= 0.1, `${before.client} -> ${after.client}`);
});

Deno.test("settled: true when no process of the trees started, ended or was reaped", () => {
  const a: ProcStat[] = [
    { pid: 7, ppid: 1, ticks: 10, childTicks: 300 }, // postmaster
    { pid: 8, ppid: 7, ticks: 20, childTicks: 0 }, // backend
    { pid: 30, ppid: 1, ticks: 5, childTicks: 0 }, // unrelated
  ];
  // Live processes using CPU, and unrelated ones coming and going, do not matter.
  const busier = [{ ...a[0]!, ticks: 12 }, { ...a[1]!, ticks: 90 }];
  assert.equal(settled(a, busier, [7]), true);
  assert.equal(
    settled(a, [...a.slice(0, 2), { pid: 31, ppid: 1, ticks: 0, childTicks: 0 }], [7]),
    true,
  );
  // The backend ended and was reaped: gone, and its time moved into the postmaster's.
  assert.equal(settled(a, [{ ...a[0]!, childTicks: 320 }], [7]), false);
  // Read live once, then reaped into a parent read later: the parent's ended time changed.
  assert.equal(settled(a, [{ ...a[0]!, childTicks: 320 }, a[1]!], [7]), false);
  // Ended between the parent's read and its own: missing, the parent unchanged.
  assert.equal(settled(a, [a[0]!], [7]), false);
  // A new backend.
  assert.equal(settled(a, [...a, { pid: 9, ppid: 7, ticks: 0, childTicks: 0 }], [7]), false);
  // No roots: nothing to settle.
  assert.equal(settled(a, [], []), true);
});
