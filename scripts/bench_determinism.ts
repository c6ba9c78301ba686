/**
 * @module
 * `deno run -A scripts/bench_determinism.ts [--quick]`: the cost of deterministic replication
 * (issue 4, item 3). Eight pgbench clients insert through usogres, which replicates to one copy,
 * into a table with a serial key and a `DEFAULT now()` column (`serial`: the server computes the
 * key and the time, so usogres replicates each insert by rows) and, in alternation, into a table
 * given explicit keys and an explicit timestamp (`explicit`: replicated as the statement's text).
 * The target is `serial` at 0.9 × `explicit` or better, with identical servers; pgpool-II's
 * insert_lock, which keeps its copies identical for the same workload, halves its throughput.
 *
 * Each repetition runs both workloads (the order alternating), then compares the servers directly
 * (every row in key order, and the sequence) and fails when they differ, then empties the tables.
 * It prints the table and replaces the section "Determinism: serial + DEFAULT now() vs explicit
 * keys" of `docs/benchmarks.md` (unless `--no-write`).
 *
 * Flags: `--quick` (1 repetition of 3 s, simple protocol only); `--rounds N`, `--seconds N`;
 * `--modes simple,prepared`; `--no-write`; `--returning-hash`: a second usogres with
 * `replication.returning_hash = true` runs each workload too, in the same repetitions, and the
 * section "Determinism: cost of returning_hash" gets the ratios with / without. Every process it
 * starts is stopped when it ends or fails.
 *
 * @example
 * ```sh
 * deno run -A scripts/bench_determinism.ts --quick
 * ```
 */

import { parseArgs } from "node:util";
import { type Cluster, startCluster } from "./pg_cluster.ts";
import { cleanEnv, pgBinary, redact, run } from "./pg_tools.ts";
import { commitMeasured, machineLine } from "./_bench_report.ts";
import { type ProxyProcess, startProxy } from "../tests/harness/proxy.ts";

/** The section of `docs/benchmarks.md` this bench owns. */
export const SECTION_HEADING = "## Determinism: serial + DEFAULT now() vs explicit keys";
/** The section `--returning-hash` writes. */
export const HASH_SECTION_HEADING = "## Determinism: cost of returning_hash";

const REPO_ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const REPORT = `${REPO_ROOT}/docs/benchmarks.md`;
const DATABASE = "bench_det";
const CLIENTS = 8;
const THREADS = 2;
const TARGET_RATIO = 0.9;

/** The two workloads: pgbench scripts and the tables they write. */
const WORKLOADS = {
  serial: {
    table: "det_serial",
    create:
      "CREATE TABLE det_serial (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v int)",
    script: "\\set v random(1, 1000000)\nINSERT INTO det_serial (v) VALUES (:v);\n",
  },
  explicit: {
    table: "det_explicit",
    create: "CREATE TABLE det_explicit (id bigint PRIMARY KEY, at timestamptz NOT NULL, v int)",
    script: "\\set id random(1, 1000000000000)\n\\set v random(1, 1000000)\n" +
      "INSERT INTO det_explicit (id, at, v) VALUES (:id, '2026-01-01', :v);\n",
  },
} as const;

type Workload = keyof typeof WORKLOADS;

interface BenchOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly seconds: number;
  readonly warmSeconds: number;
  readonly modes: readonly string[];
  readonly write: boolean;
  readonly returningHash: boolean;
}

function options(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      seconds: { type: "string" },
      modes: { type: "string" },
      "no-write": { type: "boolean", default: false },
      "returning-hash": { type: "boolean", default: false },
    },
  });
  const positive = (text: string | undefined, fallback: number, flag: string): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${flag} must be a positive integer`);
    return n;
  };
  const quick = values.quick;
  const modes = (values.modes ?? (quick ? "simple" : "simple,prepared")).split(",");
  for (const m of modes) {
    if (!["simple", "extended", "prepared"].includes(m)) {
      throw new RangeError(`--modes: unknown pgbench query mode "${m}"`);
    }
  }
  return {
    quick,
    rounds: positive(values.rounds, quick ? 1 : 5, "rounds"),
    seconds: positive(values.seconds, quick ? 3 : 10, "seconds"),
    warmSeconds: quick ? 1 : 3,
    modes,
    write: !values["no-write"],
    returningHash: values["returning-hash"],
  };
}

/** Median of a list of numbers (undefined when empty). */
function median(xs: readonly number[]): number | undefined {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const decoder = new TextDecoder();

/** One timed pgbench run of a script file through a URL. */
async function pgbenchRun(
  url: string,
  file: string,
  mode: string,
  seconds: number,
): Promise<{ tps: number; transactions: number }> {
  const args = ["-n", "-M", mode, "-c", String(CLIENTS), "-j", String(THREADS)];
  args.push("-T", String(seconds), "-f", file, url);
  const out = await new Deno.Command(await pgBinary("pgbench"), {
    args,
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout((seconds + 60) * 1000),
  }).output();
  const stdout = decoder.decode(out.stdout);
  const tps = /^tps = ([0-9.]+)/m.exec(stdout);
  const done = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  const failed = /^number of failed transactions: ([1-9]\d*)/m.exec(stdout);
  if (out.code !== 0 || !tps?.[1] || !done?.[1] || failed) {
    const tail = `${stdout}\n${decoder.decode(out.stderr)}`.trim().split("\n").slice(-8);
    throw new Error(
      `pgbench -f ${file} on ${redact(url)} failed (exit ${out.code}):\n${tail.join("\n")}`,
    );
  }
  return { tps: Number(tps[1]), transactions: Number(done[1]) };
}

/** Rows, md5 of every row in key order, and the serial sequence, as one server sees them. */
const FINGERPRINT =
  Object.values(WORKLOADS).map((w) =>
    `SELECT '${w.table}', count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY id), '')) ` +
    `FROM ${w.table} x`
  ).join(" UNION ALL ") +
  " UNION ALL SELECT 'det_serial_id_seq', last_value, NULL FROM det_serial_id_seq ORDER BY 1";

/**
 * Compares the servers directly.
 * @returns the original's row count per table
 * @throws Error when a copy differs from the original
 */
async function assertIdentical(cluster: Cluster): Promise<Record<string, number>> {
  const [original, ...copies] = await cluster.queryEach(FINGERPRINT, DATABASE);
  copies.forEach((c, i) => {
    if (c !== original) {
      throw new Error(
        `copy "${cluster.copies[i]?.name}" differs from the original:\n` +
          `original:\n${original}\ncopy:\n${c}`,
      );
    }
  });
  return Object.fromEntries(
    (original ?? "").trim().split("\n").map((l) => l.split("|")).map(([n, c]) => [n!, Number(c)]),
  );
}

/** psql through usogres, failing on error. */
async function throughProxy(proxy: ProxyProcess, sql: string): Promise<void> {
  const r = await run(await pgBinary("psql"), [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    proxy.url(DATABASE),
    "-c",
    sql,
  ], {});
  if (r.code !== 0) throw new Error(`psql through usogres failed: ${r.stderr.trim()}`);
}

/** Replaces a section of the report (up to the next `## `), or appends it. */
async function writeSection(section: string, heading = SECTION_HEADING): Promise<void> {
  let text = await Deno.readTextFile(REPORT).catch((e: unknown) => {
    if (e instanceof Deno.errors.NotFound) return "# usogres benchmarks\n";
    throw e;
  });
  const start = text.indexOf(`\n${heading}\n`);
  const body = section.trimEnd() + "\n";
  if (start < 0) {
    text = `${text.trimEnd()}\n\n${body}`;
  } else {
    const next = text.indexOf("\n## ", start + heading.length + 1);
    const after = next >= 0 ? text.slice(next + 1) : "";
    text = `${text.slice(0, start + 1).trimEnd()}\n\n${body}${after ? `\n${after}` : ""}`;
  }
  await Deno.writeTextFile(REPORT, text);
}

async function main(): Promise<void> {
  const opts = options(Deno.args);
  const machine = await machineLine();
  const commit = await commitMeasured();
  const log = (line: string) => console.log(line);
  log(`bench_determinism: ${machine}; commit ${commit}`);
  await using cluster = await startCluster({ copies: 1, source: "local" });
  await cluster.recreateDatabase(DATABASE);
  await using proxy = await startProxy(cluster, {
    sections: { log: { level: "info", stderr: false } },
  });
  // With --returning-hash: a second usogres in front of the same servers, hashing RETURNING rows.
  await using hashed = opts.returningHash
    ? await startProxy(cluster, {
      sections: { log: { level: "info", stderr: false }, replication: { returning_hash: true } },
    })
    : undefined;
  await throughProxy(proxy, Object.values(WORKLOADS).map((w) => w.create).join(";\n"));
  const dir = await Deno.makeTempDir({ prefix: "usogres-bench-det-" });
  try {
    const files = {} as Record<Workload, string>;
    for (const [name, w] of Object.entries(WORKLOADS) as [Workload, typeof WORKLOADS[Workload]][]) {
      files[name] = `${dir}/${name}.sql`;
      await Deno.writeTextFile(files[name], w.script);
    }
    // Warm-up, unrecorded: usogres's planner and the servers' caches, as bench.ts does.
    for (const w of ["serial", "explicit"] as const) {
      await pgbenchRun(proxy.url(DATABASE), files[w], opts.modes[0]!, opts.warmSeconds);
    }
    await assertIdentical(cluster);
    await throughProxy(proxy, "TRUNCATE det_serial, det_explicit");
    const rows: string[] = [];
    const verdicts: string[] = [];
    const hashRows: string[] = [];
    for (const mode of opts.modes) {
      const tps: Record<Workload, number[]> = { serial: [], explicit: [] };
      const hashedTps: Record<Workload, number[]> = { serial: [], explicit: [] };
      const ratios: number[] = [];
      const hashRatios: Record<Workload, number[]> = { serial: [], explicit: [] };
      for (let round = 0; round < opts.rounds; round++) {
        const order: Workload[] = round % 2 === 0 ? ["serial", "explicit"] : ["explicit", "serial"];
        const got = {} as Record<Workload, { tps: number; transactions: number }>;
        const inserted: Record<Workload, number> = { serial: 0, explicit: 0 };
        for (const w of order) {
          // With a hashing usogres, each workload runs through both, in alternating order.
          const runs = hashed === undefined
            ? [false]
            : round % 2 === 0
            ? [false, true]
            : [true, false];
          for (const withHash of runs) {
            const through = withHash ? hashed! : proxy;
            const r = await pgbenchRun(through.url(DATABASE), files[w], mode, opts.seconds);
            inserted[w] += r.transactions;
            if (withHash) {
              hashedTps[w].push(r.tps);
            } else {
              got[w] = r;
              tps[w].push(r.tps);
            }
            log(
              `-M ${mode} round ${round + 1} ${w}${withHash ? " (returning_hash)" : ""}: ` +
                `${r.tps.toFixed(0)} tps`,
            );
          }
          if (hashed !== undefined) hashRatios[w].push(hashedTps[w].at(-1)! / got[w].tps);
        }
        const counts = await assertIdentical(cluster);
        for (const w of order) {
          if (counts[WORKLOADS[w].table] !== inserted[w]) {
            throw new Error(
              `${WORKLOADS[w].table} holds ${counts[WORKLOADS[w].table]} rows after ` +
                `${inserted[w]} inserts`,
            );
          }
        }
        log(`-M ${mode} round ${round + 1}: servers identical`);
        ratios.push(got.serial.tps / got.explicit.tps);
        await throughProxy(proxy, "TRUNCATE det_serial, det_explicit");
      }
      if (/is now stale/.test(proxy.output() + (hashed?.output() ?? ""))) {
        throw new Error("usogres marked the copy stale");
      }
      if (hashed !== undefined) {
        for (const w of ["serial", "explicit"] as const) {
          hashRows.push(
            `| ${mode} | ${w} | ${median(tps[w])!.toFixed(0)} | ${
              median(hashedTps[w])!.toFixed(0)
            } | ${median(hashRatios[w])!.toFixed(2)} | ${
              hashRatios[w].map((r) => r.toFixed(2)).join(", ")
            } |`,
          );
        }
      }
      const ratio = median(ratios) ?? NaN;
      rows.push(
        `| ${mode} | ${median(tps.serial)!.toFixed(0)} | ${median(tps.explicit)!.toFixed(0)} | ` +
          `${ratio.toFixed(2)} | ${tps.serial.map((t) => t.toFixed(0)).join(", ")} | ` +
          `${tps.explicit.map((t) => t.toFixed(0)).join(", ")} |`,
      );
      verdicts.push(
        `${mode} ${ratio.toFixed(2)} ${ratio >= TARGET_RATIO ? "≥" : "<"} ${TARGET_RATIO}`,
      );
    }
    const pgbenchLine =
      `pgbench -n -M MODE -c ${CLIENTS} -j ${THREADS} -T ${opts.seconds} -f SCRIPT URL`;
    const section = [
      SECTION_HEADING,
      "",
      `Issue 4, item 3. \`deno run -A scripts/bench_determinism.ts${
        opts.quick ? " --quick" : ""
      }\``,
      `(${opts.rounds} repetition${opts.rounds === 1 ? "" : "s"}, the two workloads alternating`,
      "within each, their order swapped every repetition).",
      "",
      `- Machine: ${machine}.`,
      `- Commit: ${commit}; usogres in front of an original and one copy (throwaway servers,`,
      "  `scripts/pg_cluster.ts`), logging at `info` to its file.",
      `- Each run: \`${pgbenchLine}\`.`,
      "- `serial`: `CREATE TABLE det_serial (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v int)`,",
      "  script `\\set v random(1, 1000000)` / `INSERT INTO det_serial (v) VALUES (:v);`. The server",
      "  computes the key and the time, so usogres replicates each insert by rows (RETURNING on the",
      "  original, explicit values and a sequence advance on the copy).",
      "- `explicit`: `CREATE TABLE det_explicit (id bigint PRIMARY KEY, at timestamptz NOT NULL, v int)`,",
      "  script `\\set id random(1, 1000000000000)` / `\\set v random(1, 1000000)` /",
      "  `INSERT INTO det_explicit (id, at, v) VALUES (:id, '2026-01-01', :v);`, replicated as its text.",
      "- After each repetition the bench compares both servers directly (row count equal to pgbench's",
      "  transactions, md5 of every row in key order, the sequence's last_value) and stops if they",
      "  differ; then it empties both tables (TRUNCATE through usogres).",
      `- First each workload runs ${opts.warmSeconds} s unrecorded (warm-up); then the repetitions.`,
      "- Ratio: the median over repetitions of serial TPS / explicit TPS in the same repetition.",
      "",
      "| mode | serial median TPS | explicit median TPS | serial / explicit | serial, each run | explicit, each run |",
      "| --- | ---: | ---: | ---: | --- | --- |",
      ...rows,
      "",
      `Servers identical after every repetition. Target ≥ ${TARGET_RATIO}: ${verdicts.join("; ")}.`,
      "For comparison, issue 4 measured pgpool-II on the same kind of workload: 959 TPS with its",
      "insert_lock (identical copies), 1,999 TPS without it (6,615 of 19,974 rows got different ids).",
      "",
      "What the copy gets: a `serial` insert reaches it as Bind and Execute of a statement its",
      "connection prepared once (`INSERT ... SELECT $1::integer, $2::timestamp with time zone,",
      "$3::integer WHERE nextval(...) IS NOT NULL`, `src/replication/row_statement.ts`), with the",
      "values the original returned as parameters, in both modes. An `explicit` insert reaches it",
      "as a new statement text each time with `-M simple`, and as Bind and Execute of the client's",
      "prepared statement with `-M prepared`. The original runs the `serial` insert with the added",
      "RETURNING columns. The servers, pgbench and usogres share the machine's cores, and other",
      "work ran on it (see the load average), so single runs vary widely; the ratio is taken within",
      "each repetition." +
      (hashed === undefined
        ? ""
        : " In this run each workload also ran through a second usogres with " +
          "`returning_hash = true`, between the runs above (see the next section)."),
    ].join("\n");
    log("");
    log(section);
    const hashSection = [
      HASH_SECTION_HEADING,
      "",
      `Issue 4, item 7. \`deno run -A scripts/bench_determinism.ts --returning-hash${
        opts.quick ? " --quick" : ""
      }\`: the`,
      "workloads of the previous section, each run also through a second usogres in front of the",
      "same servers with `[replication] returning_hash = true` (the copy's statement for a write",
      "replicated by rows then returns its rows, and both servers' rows are hashed and compared),",
      "the two runs back to back in alternating order. Ratio: the median over repetitions of TPS",
      "with / without the hash in the same repetition.",
      "",
      `- Machine: ${machine}.`,
      `- Commit: ${commit}.`,
      "",
      "| mode | workload | TPS without | TPS with | with / without | each repetition |",
      "| --- | --- | ---: | ---: | ---: | --- |",
      ...hashRows,
      "",
      "`explicit` inserts return no rows, so their ratio shows the noise of the measurement; the",
      "cost of the hash is in `serial`: the copy returns the row it wrote, and usogres hashes it",
      "and the row captured from the original.",
    ].join("\n");
    if (hashed !== undefined) {
      log("");
      log(hashSection);
    }
    if (opts.write) {
      await writeSection(section);
      if (hashed !== undefined) await writeSection(hashSection, HASH_SECTION_HEADING);
      log(`\nwrote ${REPORT}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e: unknown) {
    console.error(`bench_determinism: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
