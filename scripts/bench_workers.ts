/**
 * @module
 * `deno run -A scripts/bench_workers.ts [--rounds N] [--seconds N] [--workers N]`: does
 * `listen.workers` help? One throwaway original and copy (pgbench scale 10), and usogres with
 * `workers = 1` and `workers = N` (default 2) measured interleaved, a few rounds, with pgbench
 * `-S`, `-S -M prepared` and TPC-B at `-c 8 -j 2`. Prints one line per run, the medians, and the
 * load average before and after (other work on the machine skews the numbers). Every process it
 * starts is stopped when it ends.
 */

import { parseArgs } from "node:util";
import { pgbenchInit, pgbenchRun, resetTpcb } from "./_bench_pgbench.ts";
import { CLIENTS, THREADS } from "./_bench_targets.ts";
import { startCluster } from "./pg_cluster.ts";
import { startProxy } from "../tests/harness/proxy.ts";

const DATABASE = "bench";
const WORKLOADS: readonly { title: string; args: string[]; writes: boolean }[] = [
  { title: "-S", args: ["-S"], writes: false },
  { title: "-S -M prepared", args: ["-S", "-M", "prepared"], writes: false },
  { title: "TPC-B", args: [], writes: true },
];

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    workers: { type: "string", default: "2" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const many = Number(values.workers);

async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

console.log(`load average before: ${await loadAverage()} (${navigator.hardwareConcurrency} cores)`);
await using cluster = await startCluster({ copies: 1, source: "local" });
await cluster.recreateDatabase(DATABASE);
for (const s of cluster.all) await pgbenchInit(s, 10, DATABASE);
const results = new Map<string, number[]>();
const signal = new AbortController().signal;
for (let round = 1; round <= rounds; round++) {
  for (const w of WORKLOADS) {
    const order = round % 2 === 1 ? [1, many] : [many, 1];
    for (const workers of order) {
      await using proxy = await startProxy(cluster, {
        sections: { listen: { workers, max_clients: 100 }, log: { level: "info", stderr: false } },
      });
      if (w.writes) await resetTpcb(cluster.all, DATABASE);
      const tps = await pgbenchRun(proxy.url(DATABASE), {
        clients: CLIENTS,
        threads: THREADS,
        seconds,
        args: w.args,
        signal,
      });
      const key = `${w.title}|${workers}`;
      results.set(key, [...(results.get(key) ?? []), tps]);
      console.log(`round ${round} ${w.title.padEnd(15)} workers=${workers}: ${tps.toFixed(0)} tps`);
    }
  }
}
console.log(`\nmedians (-c ${CLIENTS} -j ${THREADS} -T ${seconds}, ${rounds} rounds):`);
for (const w of WORKLOADS) {
  const one = median(results.get(`${w.title}|1`) ?? []);
  const n = median(results.get(`${w.title}|${many}`) ?? []);
  console.log(
    `${w.title.padEnd(15)} workers=1 ${one.toFixed(0)}  workers=${many} ${n.toFixed(0)}  ` +
      `ratio ${(n / one).toFixed(2)}`,
  );
}
console.log(`load average after: ${await loadAverage()}`);
