/**
 * @module
 * `deno task bench [--quick]`: usogres against a direct connection, PgBouncer and pgpool-II,
 * measured with pgbench on throwaway servers in one run, as issue #6 asks. It prints the tables
 * and rewrites the "Latest results" section of `docs/benchmarks.md` (whose intro explains the
 * method). Full mode takes about 35 minutes; `--quick` about 90 seconds.
 *
 * Besides the peers it runs `deno-forwarder` (`_bench_forwarder.ts`, a Deno process that only
 * relays bytes: the floor for any Deno proxy), and it measures the CPU time per transaction of
 * each proxy, of the servers and of pgbench, for the "CPU budget per transaction" section.
 *
 * Flags: `--quick`; `--rounds N` and `--seconds N` to override the mode's; `--without pgbouncer`,
 * `--without pgpool` or `--without deno-forwarder` to leave one out; `--no-write` to only print.
 * Every process it starts is stopped by pid when it ends, fails, or gets SIGINT/SIGTERM.
 *
 * @example
 * ```sh
 * deno task bench --quick
 * ```
 */

import { parseArgs } from "node:util";
import { openIdleClients, rssKiB } from "./_bench_memory.ts";
import {
  type Daemon,
  isDaemon,
  type Skipped,
  startDenoForwarder,
  startPgbouncer,
  startPgpool,
} from "./_bench_peers.ts";
import { budgetTable, FORWARDER, reachabilityLines } from "./_bench_budget.ts";
import { pgbenchInit } from "./_bench_pgbench.ts";
import {
  commitMeasured,
  machineLine,
  postgresVersion,
  RESULTS_HEADING,
  writeLatestResults,
} from "./_bench_report.ts";
import { cpuTable, fmt, medianRatio, type WorkloadResult, workloadTable } from "./_bench_stats.ts";
import {
  ceilingTarget,
  CLIENTS,
  runWorkload,
  type Target,
  urlTarget,
  WORKLOADS,
} from "./_bench_targets.ts";
import { type Cluster, startCluster } from "./pg_cluster.ts";
import { type ProxyProcess, startProxy } from "../tests/harness/proxy.ts";
import { VERSION } from "../src/version.ts";

/** What one bench run does. */
interface BenchOptions {
  readonly quick: boolean;
  readonly scale: number;
  readonly seconds: number;
  readonly warmSeconds: number;
  readonly rounds: number;
  readonly idleClients: number;
  readonly write: boolean;
  readonly without: readonly string[];
}

const DATABASE = "bench";
const REPORT = decodeURIComponent(new URL("../docs/benchmarks.md", import.meta.url).pathname);

function options(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      "no-write": { type: "boolean", default: false },
      without: { type: "string", multiple: true, default: [] },
    },
  });
  const positive = (text: string | undefined, fallback: number, flag: string): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${flag} must be a positive integer`);
    return n;
  };
  const quick = values.quick;
  return {
    quick,
    scale: quick ? 2 : 10,
    seconds: positive(values.seconds, quick ? 3 : 15, "seconds"),
    warmSeconds: quick ? 1 : 3,
    rounds: positive(values.rounds, quick ? 1 : 5, "rounds"),
    idleClients: quick ? 200 : 1000,
    write: !values["no-write"],
    without: values.without.flatMap((w) => w.split(",")),
  };
}

const log = (line: string) => console.log(line);

/** Starts usogres with the given servers; logging as in production (info, to its file). */
function usogres(cluster: Cluster, maxClients: number): Promise<ProxyProcess> {
  return startProxy(cluster, {
    sections: { listen: { max_clients: maxClients }, log: { level: "info", stderr: false } },
  });
}

/** The same servers with the copies left out: usogres in pass-through. */
function originalOnly(cluster: Cluster): Cluster {
  return {
    ...cluster,
    copies: [],
    all: [cluster.original],
    [Symbol.asyncDispose]: () => Promise.resolve(), // the real cluster owns the servers
  };
}

/** Returns the lines of usogres's log files that say a copy went stale, for the notes. */
async function staleLines(proxy: ProxyProcess): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(proxy.logDir)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${proxy.logDir}/${entry.name}`).catch(() => "");
    found.push(...text.split("\n").filter((l) => /is now stale/.test(l)).slice(0, 3));
  }
  return found;
}

/** Idle-client memory through usogres: the table, and RSS growth per client in KiB. */
interface IdleMemory {
  readonly lines: string[];
  readonly perClientKiB: number | undefined;
}

/**
 * Opens idle clients through a fresh usogres in pass-through and measures its RSS before and with
 * them open. A fresh process, because one that has just served the runs has a heap grown large
 * enough to absorb the clients without its RSS moving.
 */
async function idleMemory(cluster: Cluster, count: number): Promise<IdleMemory> {
  await using proxy = await usogres(originalOnly(cluster), count + 50);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = await rssKiB(proxy.pid);
  await using clients = await openIdleClients(proxy.port, {
    count,
    user: "postgres",
    database: DATABASE,
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after = await rssKiB(proxy.pid);
  const perClientKiB = before !== undefined && after !== undefined
    ? (after - before) / clients.count
    : undefined;
  const lines = [
    `| idle clients (fresh usogres-pass) | RSS before | RSS with them open | growth per client |`,
    `| ---: | ---: | ---: | ---: |`,
    `| ${clients.count} | ${mib(before)} | ${mib(after)} | ${fmt(perClientKiB, 1)} KiB |`,
  ];
  return { lines, perClientKiB };
}

function mib(kib: number | undefined): string {
  return kib === undefined ? "—" : `${(kib / 1024).toFixed(1)} MiB`;
}

/** Lines comparing the results with issue #6's targets. */
function goalLines(results: readonly WorkloadResult[], idle: IdleMemory): string[] {
  const ratio = (args: string, a: string, b: string) => {
    const r = results.find((w) => w.args.join(" ") === args);
    return medianRatio(r?.runs.get(a), r?.runs.get(b));
  };
  const rows: Array<[string, number | undefined, number | undefined]> = [
    ["`-S`: usogres-pass / pgbouncer", 1.0, ratio("-S", "usogres-pass", "pgbouncer")],
    [
      "`-S -M prepared`: usogres-pass / pgbouncer",
      1.0,
      ratio("-S -M prepared", "usogres-pass", "pgbouncer"),
    ],
    ["TPC-B: usogres-repl / pgpool", 1.4, ratio("", "usogres-repl", "pgpool")],
    ["TPC-B: usogres-repl / ceiling", 0.9, ratio("", "usogres-repl", "ceiling")],
    ["`-S -C`: usogres-repl / pgpool", 1.0, ratio("-S -C", "usogres-repl", "pgpool")],
    ["`-S -C`: usogres-pass / pgbouncer", 1.0, ratio("-S -C", "usogres-pass", "pgbouncer")],
    [
      `\`-S\`: ${FORWARDER} / pgbouncer (floor for a Deno proxy; informative, not a target)`,
      undefined,
      ratio("-S", FORWARDER, "pgbouncer"),
    ],
  ];
  const lines = ["| issue #6 target | wanted | measured | met |", "| --- | ---: | ---: | --- |"];
  for (const [what, wanted, got] of rows) {
    const met = got === undefined || wanted === undefined ? "—" : got >= wanted ? "yes" : "no";
    const want = wanted === undefined ? "—" : `≥ ${wanted.toFixed(1)}`;
    lines.push(`| ${what} | ${want} | ${fmt(got, 2)} | ${met} |`);
  }
  const kib = idle.perClientKiB;
  const met = kib === undefined ? "—" : kib <= 64 ? "yes" : "no";
  lines.push(`| idle client memory, KiB per client | ≤ 64 | ${fmt(kib, 1)} | ${met} |`);
  return lines;
}

async function main(args: string[]): Promise<number> {
  const opts = options(args);
  const abort = new AbortController();
  const onSignal = () => {
    log("\ninterrupted: stopping everything the bench started");
    abort.abort(new Error("interrupted"));
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, onSignal);
  const signal = abort.signal;
  const started = new Date();
  const command = ["deno task bench", ...args].join(" ");
  const notes: string[] = [];
  // Taken before anything starts: the load others put on the machine, and the code usogres loads.
  const machine = await machineLine();
  const loadAtStart = Deno.loadavg()[0] ?? 0;
  const commit = await commitMeasured();
  try {
    await using stack = new AsyncDisposableStack();
    log(`${command}: scale ${opts.scale}, ${opts.rounds} round(s) of ${opts.seconds} s per target`);
    const cluster = stack.use(
      await startCluster({
        copies: 1,
        source: "local",
        signals: false, // this script stops them itself, on signals too
        settings: { max_connections: String(opts.idleClients + 100) },
      }),
    );
    signal.throwIfAborted();
    await cluster.queryEach(`CREATE DATABASE ${DATABASE}`);
    await Promise.all(cluster.all.map((s) => pgbenchInit(s, opts.scale, DATABASE)));
    log(`servers: ${cluster.all.map((s) => `${s.name} ${s.port}`).join(", ")}; pgbench -i done`);
    signal.throwIfAborted();
    const pass = stack.use(await usogres(originalOnly(cluster), 100));
    const repl = stack.use(await usogres(cluster, 100));
    const peers: Daemon[] = [];
    const peerStarts: Array<[string, () => Promise<Daemon | Skipped>]> = [
      ["pgbouncer", () => startPgbouncer(cluster.original, DATABASE)],
      ["pgpool", () => startPgpool(cluster.all, DATABASE, { clients: CLIENTS, loadBalance: true })],
    ];
    const optional = async (name: string, start: () => Promise<Daemon | Skipped>) => {
      const started = opts.without.includes(name) ? { name, note: "--without" } : await start();
      if (isDaemon(started)) return stack.use(started);
      notes.push(`${started.name} skipped: ${started.note}`);
      return undefined;
    };
    for (const [name, start] of peerStarts) {
      const peer = await optional(name, start);
      if (peer) peers.push(peer);
    }
    // Not a peer: a reference for usogres-pass, so no ratio column of its own in the tables.
    const forwarder = await optional(
      FORWARDER,
      () => startDenoForwarder(cluster.original, DATABASE),
    );
    if (forwarder) {
      notes.push(
        `${FORWARDER}'s clients connect with sslmode=disable (it relays bytes and cannot answer an ` +
          "SSLRequest), so with `-S -C` they skip the SSLRequest round trip the other targets' " +
          "clients make (libpq's default sslmode=prefer)",
      );
    }
    for (const note of notes) log(`note: ${note}`);
    const rssStart = [await rssKiB(pass.pid), await rssKiB(repl.pid)];
    const original = [cluster.original];
    const targets: Target[] = [
      urlTarget("direct", cluster.original.url(DATABASE), { servers: original }),
      urlTarget("usogres-pass", pass.url(DATABASE), { pid: pass.pid, servers: original }),
      urlTarget("usogres-repl", repl.url(DATABASE), { pid: repl.pid, servers: cluster.all }),
      ...peers.map((p) =>
        urlTarget(p.name, p.url, {
          pid: p.pid,
          servers: p.name === "pgpool" ? cluster.all : original,
        })
      ),
      ...(forwarder
        ? [urlTarget(forwarder.name, forwarder.url, { pid: forwarder.pid, servers: original })]
        : []),
    ];
    log(`warm-up: -S for ${opts.warmSeconds} s on each target`);
    for (const target of targets) {
      signal.throwIfAborted();
      await target.run(["-S"], opts.warmSeconds, signal).catch((e: unknown) => {
        signal.throwIfAborted();
        notes.push(`warm-up of ${target.name} failed: ${e instanceof Error ? e.message : e}`);
      });
    }
    const results: WorkloadResult[] = [];
    for (const workload of WORKLOADS) {
      log(`\n${workload.title}`);
      const these = workload.writes ? [...targets, ceilingTarget(cluster.all, DATABASE)] : targets;
      results.push(
        await runWorkload(workload, these, {
          rounds: opts.rounds,
          seconds: opts.seconds,
          servers: cluster.all,
          database: DATABASE,
          signal,
          references: [
            ...peers.map((p) => p.name),
            ...(workload.writes ? ["ceiling"] : []),
          ],
          progress: log,
          failure: (line) => {
            log(`  FAILED ${line}`);
            notes.push(`run failed: ${line.split("\n").slice(0, 3).join(" / ")}`);
          },
        }),
      );
    }
    const rssEnd = [await rssKiB(pass.pid), await rssKiB(repl.pid)];
    notes.push(`load average after the runs: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    if (Math.max(loadAtStart, Deno.loadavg()[0] ?? 0) > navigator.hardwareConcurrency) {
      notes.push(
        "other work ran on the machine (load average above the CPU count): single runs vary, " +
          "so read the same-round ratios rather than the TPS",
      );
    }
    for (const line of await staleLines(repl)) {
      notes.push(`usogres-repl marked the copy stale: ${line}`);
    }
    log(`\nidle clients: opening ${opts.idleClients} through a fresh usogres-pass`);
    const idle = await idleMemory(cluster, opts.idleClients).catch((e: unknown) => {
      signal.throwIfAborted();
      notes.push(`idle-client measurement failed: ${e instanceof Error ? e.message : e}`);
      return { lines: [], perClientKiB: undefined };
    });
    const section = [
      RESULTS_HEADING,
      "",
      `- Date: ${started.toISOString().replace("T", " ").slice(0, 16)} UTC`,
      `- Command: \`${command}\` (scale ${opts.scale}, ${opts.rounds} round(s), ${opts.seconds} s per run)`,
      `- Machine: ${machine}`,
      `- usogres ${VERSION}, commit ${commit}; Deno ${Deno.version.deno}`,
      `- ${await postgresVersion()}; ${peers.map((p) => p.version).join("; ") || "no peers"}`,
      "",
      ...results.flatMap((
        r,
      ) => [`### ${r.title}`, "", `\`${r.command}\``, "", ...workloadTable(r), ""]),
      "### Proxy CPU per transaction",
      "",
      "Each proxy's own CPU time (user and system, its whole process tree, from `/proc`) over a " +
      "run, divided by the run's transactions; medians over the rounds. Steadier than TPS on a " +
      "shared machine: it is what the proxy costs, not how much of the machine it got.",
      "",
      ...cpuTable(results, "pgbouncer"),
      "",
      "### CPU budget per transaction",
      "",
      "Per run, the CPU time (user and system, from `/proc`) of the proxy's process tree, of the " +
      "process trees of the servers the target uses (each postmaster with its backends; both " +
      "servers for usogres-repl, pgpool and the ceiling) and of pgbench (the bench's reaped " +
      "children), divided by the run's transactions; medians over the rounds. The ceiling's " +
      "transaction is one on each server, as its TPS is per server. The zero-proxy bound is " +
      `${navigator.hardwareConcurrency} cores × 1e6 / (servers + pgbench µs/tx): the TPS this ` +
      "machine could reach for that target if the proxy cost nothing. Cores busy: total µs/tx × " +
      "median TPS over the cores, the share of the machine the run's own processes used. The " +
      "bound counts CPU only: a run whose cores busy is well under 100 % was held back by " +
      "waiting (round trips, locks) or by other work on the machine, not by these processes' CPU.",
      "",
      ...budgetTable(results, navigator.hardwareConcurrency),
      "",
      "Issue #6's throughput targets against these bounds:",
      "",
      ...reachabilityLines(results, navigator.hardwareConcurrency),
      "",
      "### Memory",
      "",
      "| usogres | RSS at start | RSS after the runs |",
      "| --- | ---: | ---: |",
      `| usogres-pass | ${mib(rssStart[0])} | ${mib(rssEnd[0])} |`,
      `| usogres-repl | ${mib(rssStart[1])} | ${mib(rssEnd[1])} |`,
      "",
      ...idle.lines,
      "",
      "### Against issue #6's targets",
      "",
      ...goalLines(results, idle),
      "",
      ...(notes.length ? ["### Notes", "", ...notes.map((n) => `- ${n}`), ""] : []),
    ].join("\n");
    log(`\n${section}`);
    if (opts.write) {
      await writeLatestResults(REPORT, section);
      log(`written to ${REPORT}`);
    }
    return 0;
  } catch (e: unknown) {
    if (signal.aborted) return 130;
    throw e;
  } finally {
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(s, onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
