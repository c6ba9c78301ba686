/**
 * @module
 * CPU time of a proxy's processes, for the benchmark's "proxy CPU per transaction" figures: the
 * user and system time of a process and of every process below it (pgpool-II forks a child per
 * connection slot, the peers run under `runuser`), read from `/proc` on Linux. CPU time per
 * transaction is steadier than throughput on a shared machine: it says what the proxy costs,
 * not how much of the machine it happened to get.
 *
 * The same snapshot gives the rest of a run's CPU budget: the servers (each postmaster's tree:
 * its backends, and the ended ones it reaped) and pgbench (the bench's own `cutime + cstime`,
 * which grows by a child's time when the child is reaped).
 */

/** One process as `/proc/<pid>/stat` shows it. */
export interface ProcStat {
  /** Process id. */
  readonly pid: number;
  /** Parent process id. */
  readonly ppid: number;
  /** User plus system time of the process, in clock ticks. */
  readonly ticks: number;
  /** User plus system time of its children that ended and were waited for, in clock ticks. */
  readonly childTicks: number;
}

/** Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may hold
 * spaces and parentheses itself, so the fields after it are counted from its last `)`.
 *
 * @param text the file's contents
 * @returns the process, or undefined when the text is not a stat line
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open));
  // After ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  const f = text.slice(close + 2).split(" ");
  const n = (i: number) => Number(f[i - 3]);
  const stat = {
    pid,
    ppid: n(4),
    ticks: n(14) + n(15),
    childTicks: n(16) + n(17),
  };
  return Object.values(stat).every(Number.isInteger) ? stat : undefined;
}

/**
 * Sums the CPU time of a process tree: the root, every process below it, and the children of
 * any of them that already ended.
 *
 * @param processes every process on the machine
 * @param root the tree's root pid
 * @returns seconds of CPU time, or undefined when the root is not among them
 */
export function treeSeconds(processes: readonly ProcStat[], root: number): number | undefined {
  const children = new Map<number, ProcStat[]>();
  let top: ProcStat | undefined;
  for (const p of processes) {
    if (p.pid === root) top = p;
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  if (!top) return undefined;
  let ticks = 0;
  const todo = [top];
  for (let p = todo.pop(); p; p = todo.pop()) {
    ticks += p.ticks + p.childTicks;
    todo.push(...(children.get(p.pid) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * Reads every process from `/proc` now.
 * @returns the processes, or undefined without `/proc`
 */
export async function readProcesses(): Promise<ProcStat[] | undefined> {
  const processes: ProcStat[] = [];
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const text = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
      const p = parseProcStat(text);
      if (p) processes.push(p);
    }
  } catch {
    return undefined;
  }
  return processes;
}

/**
 * Reads the CPU time of a process tree from `/proc` now.
 *
 * @param root the tree's root pid
 * @returns seconds of CPU time, or undefined without `/proc` or when the process is gone
 */
export async function processTreeSeconds(root: number): Promise<number | undefined> {
  const processes = await readProcesses();
  return processes && treeSeconds(processes, root);
}

/** Whose CPU time one run is charged with: the processes a {@link CpuSample} adds up. */
export interface CpuRoots {
  /** The proxy's process, the root of its tree; absent for targets without a proxy. */
  readonly proxy?: number;
  /** Each PostgreSQL postmaster the target uses (its backends are its children). */
  readonly servers: readonly number[];
  /**
   * The process that spawns and reaps pgbench (the bench itself): its ended children's time,
   * which grows by pgbench's CPU time when pgbench is reaped.
   */
  readonly client: number;
}

/** CPU seconds used so far by each part of a run; undefined where a process was not found. */
export interface CpuSample {
  /** The proxy's process tree. */
  readonly proxy: number | undefined;
  /** The servers' process trees, summed. */
  readonly servers: number | undefined;
  /** The ended children of the client's process (pgbench, once reaped). */
  readonly client: number | undefined;
}

/**
 * Adds up the CPU time of a run's parts in one snapshot of the processes.
 * @param processes every process on the machine
 * @param roots the proxy, the postmasters and the process that runs pgbench
 * @returns seconds of CPU time of each part
 */
export function cpuSample(processes: readonly ProcStat[], roots: CpuRoots): CpuSample {
  const servers = roots.servers.map((pid) => treeSeconds(processes, pid));
  const client = processes.find((p) => p.pid === roots.client);
  return {
    proxy: roots.proxy === undefined ? undefined : treeSeconds(processes, roots.proxy),
    servers: roots.servers.length > 0 && servers.every((s) => s !== undefined)
      ? servers.reduce((a, b) => a + b, 0)
      : undefined,
    client: client && client.childTicks / TICKS_PER_SECOND,
  };
}

/**
 * Tells whether nothing in the given trees started, ended or was reaped between two snapshots:
 * the same pids below each root, and the same ended-children time for each of them.
 *
 * One snapshot reads `/proc/<pid>/stat` file by file. A process that ends and is reaped between
 * the read of its parent and its own read is in neither (its time is lost from the sample), and
 * one read live before it is reaped into a parent read after is in both (counted twice). Backends
 * do end right around the samples: those of pgbench's connections when it exits, psql's after
 * the TPC-B reset. A lost backend made the next run's servers look hundreds of µs dearer per
 * transaction. Comparing two snapshots catches both: either the pid sets or a parent's
 * ended-children time differ.
 *
 * @param a the earlier snapshot
 * @param b the later snapshot
 * @param roots the trees' roots
 * @returns true when every tree is the same in both
 */
export function settled(
  a: readonly ProcStat[],
  b: readonly ProcStat[],
  roots: readonly number[],
): boolean {
  const members = (processes: readonly ProcStat[]) => {
    const children = new Map<number, ProcStat[]>();
    for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
    const found = new Map<number, number>();
    const todo = processes.filter((p) => roots.includes(p.pid));
    for (let p = todo.pop(); p; p = todo.pop()) {
      found.set(p.pid, p.childTicks);
      todo.push(...(children.get(p.pid) ?? []));
    }
    return found;
  };
  const x = members(a);
  const y = members(b);
  return x.size === y.size && [...x].every(([pid, childTicks]) => y.get(pid) === childTicks);
}

/** Snapshots to take at most before giving up on {@link readCpuSample}'s settling. */
const SETTLE_ATTEMPTS = 40;

/**
 * Reads {@link cpuSample} from `/proc` once the proxy's and servers' trees have settled: two
 * snapshots in a row in which, by {@link settled}, no process of theirs started or ended.
 * @param roots the proxy, the postmasters and the process that runs pgbench
 * @returns seconds of CPU time of each part; the proxy's and servers' are undefined when the
 *   trees did not settle within {@link SETTLE_ATTEMPTS} snapshots, all are without `/proc`
 */
export async function readCpuSample(roots: CpuRoots): Promise<CpuSample> {
  const trees = [...(roots.proxy === undefined ? [] : [roots.proxy]), ...roots.servers];
  let previous = await readProcesses();
  for (let attempt = 1; previous && attempt < SETTLE_ATTEMPTS; attempt++) {
    // Give a process that is exiting the time to be reaped, instead of spinning on /proc.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const next = await readProcesses();
    if (next && settled(previous, next, trees)) return cpuSample(next, roots);
    previous = next;
  }
  const client = previous && cpuSample(previous, roots).client;
  return { proxy: undefined, servers: undefined, client };
}

/** CPU time per transaction of each part of a run, in microseconds. */
export interface CpuPerTransaction {
  /** The proxy's. */
  readonly proxy: number | undefined;
  /** The servers', together. */
  readonly servers: number | undefined;
  /** pgbench's. */
  readonly client: number | undefined;
}

/**
 * Divides the CPU time each part used between two samples by the run's transactions.
 * @param before the sample taken just before the run
 * @param after the sample taken just after it
 * @param transactions transactions the run made (TPS × seconds)
 * @returns microseconds per transaction of each part, undefined where a sample lacks it or
 *   there were no transactions
 */
export function cpuPerTransaction(
  before: CpuSample,
  after: CpuSample,
  transactions: number,
): CpuPerTransaction {
  const per = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !(transactions > 0)
      ? undefined
      : (b - a) / transactions * 1e6;
  return {
    proxy: per(before.proxy, after.proxy),
    servers: per(before.servers, after.servers),
    client: per(before.client, after.client),
  };
}
