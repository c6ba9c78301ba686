/**
 * @module
 * What the benchmark report says besides the numbers: the machine line (CPU count and model from
 * `/proc/cpuinfo`, memory from `/proc/meminfo`, kernel, load), the commit measured, and the
 * writing of `docs/benchmarks.md`, where only the "Latest results" section is replaced so the
 * methodology above it (and any section after it) stays as people wrote it.
 */

import { pgBinary, run } from "./pg_tools.ts";

/** Heading of the section the bench rewrites on every run. */
export const RESULTS_HEADING = "## Latest results";

const REPO_ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");

/** The intro written when `docs/benchmarks.md` does not exist yet. */
const DEFAULT_INTRO = `# usogres benchmarks

\`deno task bench\` (about 30 minutes) or \`deno task bench --quick\` (about one minute) measures
usogres against a direct connection and against its peers on the same machine in the same run,
and rewrites the "Latest results" section below. Issue #6 sets the targets.

## Method

- Throwaway PostgreSQL servers (\`scripts/pg_cluster.ts\`): an original and one copy on 127.0.0.1,
  \`fsync\`, \`synchronous_commit\` and \`full_page_writes\` off. \`pgbench -i\` runs on both servers
  directly, in a database \`bench\` (pgpool-II never caches connections to the \`postgres\`,
  \`template0\`, \`template1\` or \`regression\` databases), so the copy starts identical.
- Targets, each a libpq URL given to pgbench: \`direct\` (the original); \`usogres-pass\` (usogres
  with the original only); \`usogres-repl\` (usogres with the original and the copy); \`pgbouncer\`
  (session pooling, trust, in front of the original); \`pgpool\` (pgpool-II native replication
  over both servers, \`replicate_select = off\`, its default \`load_balance_mode = on\`, so its
  reads are spread over both servers while usogres reads from the original only; health checks
  off); and, for TPC-B, \`ceiling\`: two pgbench processes at once, \`-c 4 -j 1\` each, one per
  server directly, reported per server (the mean of the two). Replicating every write cannot be
  faster than that on one machine. Peers that are not installed are skipped with a note.
- Workloads: \`-S\`; \`-S -M prepared\`; TPC-B (pgbench's default script, simple protocol); \`-S -C\`
  (a new connection per transaction). Each run is \`pgbench -n -c 8 -j 2 -T 15\` (\`-T 3\` in quick
  mode). \`-n\` everywhere: before each TPC-B run the bench itself vacuums \`pgbench_branches\` and
  \`pgbench_tellers\` and truncates \`pgbench_history\` on both servers, as pgbench would.
- Each target first runs \`-S\` once, unrecorded (3 s; 1 s in quick mode), to warm it up. Then
  rounds run every target in turn (A B C, A B C, ...): 5 rounds, 1 in quick mode. Tables show
  the median TPS and the median over rounds of the ratio to each reference in the same round.
- Memory: usogres's \`VmRSS\` at start and after the runs; then N idle clients (1,000; 200 in quick
  mode) open through a fresh usogres in pass-through, each finished startup and holding one
  backend connection (usogres has no pool yet), and the growth of its RSS divided by N. A fresh
  process, because the heap of one that has just served the runs absorbs the clients unseen.
- pgbench, the servers, the peers and usogres share the machine's cores, as in issue #6: the
  numbers compare proxies with each other on the same machine, not with a production setup.
`;

/**
 * Describes the machine: CPU count and model, memory, kernel and load average.
 * @returns one line for the report
 */
export async function machineLine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const memory = Number.isFinite(memKiB) ? `${(memKiB / 1024 / 1024).toFixed(1)} GiB RAM` : "";
  const load = Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
  return [
    `${navigator.hardwareConcurrency} CPUs (nproc), ${model}`,
    memory,
    `Linux ${Deno.osRelease()}`,
    `load average at start ${load}`,
  ].filter((s) => s !== "").join("; ");
}

/**
 * Names the usogres code measured: the short commit, marked when `src/`, `mod.ts` or
 * `deno.json` have uncommitted changes.
 * @returns e.g. `ee38c98` or `ee38c98 + uncommitted changes`
 */
export async function commitMeasured(): Promise<string> {
  const head = await run("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT });
  if (head.code !== 0) return "unknown (not a git checkout)";
  const dirty = await run("git", ["status", "--porcelain", "--", "src", "mod.ts", "deno.json"], {
    cwd: REPO_ROOT,
  });
  return head.stdout.trim() + (dirty.stdout.trim() ? " + uncommitted changes in src/" : "");
}

/**
 * Returns the version line of the PostgreSQL server binaries.
 * @returns e.g. `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`
 */
export async function postgresVersion(): Promise<string> {
  const r = await run(await pgBinary("postgres"), ["--version"], { cwd: "/" });
  return r.stdout.trim() || "unknown";
}

/**
 * Replaces the "Latest results" section of the report (up to the next `## ` heading), keeping
 * everything else; writes the default intro first when the file does not exist.
 * @param path the report file (`docs/benchmarks.md`)
 * @param section the new section, starting with {@link RESULTS_HEADING}
 * @throws Error when the file cannot be read or written
 */
export async function writeLatestResults(path: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e: unknown) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    text = DEFAULT_INTRO;
  }
  const start = text.indexOf(`\n${RESULTS_HEADING}\n`);
  let before = text;
  let after = "";
  if (start >= 0) {
    before = text.slice(0, start + 1);
    const next = text.indexOf("\n## ", start + RESULTS_HEADING.length + 1);
    after = next >= 0 ? text.slice(next + 1) : "";
  }
  const body = section.trimEnd() + "\n";
  await Deno.writeTextFile(
    path,
    `${before.trimEnd()}\n\n${body}${after ? `\n${after.trimStart()}` : ""}`,
  );
}
