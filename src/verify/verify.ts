/**
 * @module
 * The runner of `usogres verify`: connects directly to the original and every in-sync copy (the
 * state file's view, as the proxy would route writes), and compares each table chunk by chunk
 * with checksums the servers compute themselves (SQL in `checksum.ts`). It returns a
 * {@link VerifyReport}; printing it is `report.ts`'s job.
 *
 * Snapshots: each table is read on every server in one `REPEATABLE READ READ ONLY` transaction,
 * begun on all servers at once. These are separate snapshots of separate servers, so while
 * clients write through usogres a chunk can differ only because a batch had committed on one
 * server and not yet on another. A chunk that differs is therefore checked again, after a short
 * wait, in new transactions, up to twice more; a write in flight has finished on every server by
 * then (usogres completes a batch on all of them before answering), so only a difference that
 * persists in every pass is reported.
 */

import { resolveBackendPassword } from "../auth/mod.ts";
import { BackendConnection, simpleQuery } from "../backend/mod.ts";
import { Membership } from "../cluster/mod.ts";
import type { BackendConfig, Config } from "../config/mod.ts";
import {
  BEGIN_SNAPSHOT_SQL,
  CANONICAL_SETTINGS,
  chunkBoundsSql,
  chunkChecksumSql,
  type Column,
  columnsSql,
  estimateRowsSql,
  keyColumnsSql,
  type KeyRange,
  type KeyValue,
  listTablesSql,
  resolveTableSql,
  type TableName,
} from "./checksum.ts";
import type { TableDifference, TableReport, VerifyOptions, VerifyReport } from "./types.ts";

interface Checksum {
  readonly count: number;
  readonly md5: string | null;
}

/** A chunk that differed on some copies in every pass so far. */
interface DifferingChunk {
  readonly range: KeyRange;
  readonly first: KeyValue | undefined;
  /** Latest checksum per server (original and every copy that compared the table). */
  readonly sums: Map<string, Checksum>;
  /** Copies it still differs on. */
  readonly copies: Set<string>;
}

type Described =
  | { readonly kind: "missing" }
  | { readonly kind: "notATable"; readonly relkind: string }
  | { readonly kind: "table"; readonly columns: readonly Column[] };

const DEFAULT_RECHECK_DELAYS_MS = [500, 1000];

/**
 * Compares the original with every in-sync copy.
 *
 * @param config the configuration (servers, credentials, state file)
 * @param opts tables, database, role, chunk size and progress callback
 * @returns the report; the caller decides the exit code
 * @throws {BackendError} when a server cannot be reached or authenticated
 * @throws {SimpleQueryError} when a server refuses a query (permissions, missing database)
 * @throws {Error} when a named table does not exist on the original or the state file is invalid
 */
export async function runVerify(config: Config, opts: VerifyOptions): Promise<VerifyReport> {
  const membership = new Membership(
    config.original.name,
    config.copies.map((c) => c.name),
    config.replication.stateFile,
  );
  await membership.load();
  if (membership.original !== config.original.name) {
    // A copy was promoted (the state file says which server is the original now).
    const promoted = config.copies.find((c) => c.name === membership.original)!;
    config = {
      ...config,
      original: promoted,
      copies: [...config.copies.filter((c) => c !== promoted), config.original],
    };
  }
  const compared = config.copies.filter((c) => membership.isInSync(c.name));
  const skipped = config.copies.filter((c) => !membership.isInSync(c.name))
    .map((c) => ({ name: c.name, state: membership.get(c.name).state }));
  const servers = [config.original, ...compared];
  const settled = await Promise.allSettled(servers.map((s) => connect(config, s, opts)));
  const conns = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  try {
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const run = new Run(conns, opts);
    const tables = await run.tables();
    return {
      database: opts.database,
      original: config.original.name,
      compared: compared.map((c) => c.name),
      skipped,
      tables,
    };
  } finally {
    await Promise.all(conns.map((c) => c.terminate()));
  }
}

function connect(
  config: Config,
  target: BackendConfig,
  opts: VerifyOptions,
): Promise<BackendConnection> {
  const env = Deno.env.toObject();
  const parameters = new Map([["application_name", "usogres verify"], ...CANONICAL_SETTINGS]);
  return BackendConnection.connect(target, {
    user: opts.user,
    database: opts.database,
    parameters,
    password: () =>
      resolveBackendPassword({
        configured: config.backendAuth.password,
        env,
        passfile: config.backendAuth.passfile,
        home: env.HOME ?? "",
        host: target.host,
        port: target.port,
        database: opts.database,
        user: opts.user,
      }),
  }, {
    connectTimeoutMs: config.backendAuth.connectTimeoutMs,
    maxMessageSize: config.listen.maxMessageSize,
  });
}

function tableKey(t: TableName): string {
  return JSON.stringify([t.schema, t.name]);
}

function compareNames(a: TableName, b: TableName): number {
  return a.schema < b.schema
    ? -1
    : a.schema > b.schema
    ? 1
    : a.name < b.name
    ? -1
    : +(a.name > b.name);
}

function sameColumns(a: readonly Column[], b: readonly Column[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]?.name && c.type === b[i]?.type);
}

function sameSum(a: Checksum | undefined, b: Checksum | undefined): boolean {
  return a !== undefined && b !== undefined && a.count === b.count && a.md5 === b.md5;
}

/** One run over open connections: the original first, then the compared copies. */
class Run {
  readonly #original: BackendConnection;
  readonly #copies: readonly BackendConnection[];
  readonly #opts: VerifyOptions;

  constructor(conns: readonly BackendConnection[], opts: VerifyOptions) {
    const [original, ...copies] = conns;
    if (!original) throw new Error("no connection to the original");
    this.#original = original;
    this.#copies = copies;
    this.#opts = opts;
  }

  /** Lists (or resolves) the tables and compares each. */
  async tables(): Promise<TableReport[]> {
    const reports: TableReport[] = [];
    let tables: TableName[];
    if (this.#opts.tables.length === 0) {
      const lists = await Promise.all(
        [this.#original, ...this.#copies].map((c) => simpleQuery(c, listTablesSql())),
      );
      const [originalList, ...copyLists] = lists.map((r) =>
        r.rows.map((row) => ({ schema: row[0] ?? "", name: row[1] ?? "" }))
      );
      tables = originalList ?? [];
      const known = new Set(tables.map(tableKey));
      const extra = new Map<string, { table: TableName; copies: string[] }>();
      copyLists.forEach((list, i) => {
        const copy = this.#copies[i]?.target.name ?? "";
        for (const t of list) {
          if (known.has(tableKey(t))) continue;
          const entry = extra.get(tableKey(t)) ?? { table: t, copies: [] };
          entry.copies.push(copy);
          extra.set(tableKey(t), entry);
        }
      });
      for (const { table, copies } of extra.values()) {
        const differences = copies.map((copy) => ({ kind: "onlyOnCopy", copy }) as const);
        reports.push({ table, rows: new Map(), differences });
      }
    } else {
      tables = await this.#resolve(this.#opts.tables);
    }
    for (const [i, table] of tables.entries()) {
      reports.push(await this.#compare(table, i + 1, tables.length));
    }
    return reports.sort((a, b) => compareNames(a.table, b.table));
  }

  async #resolve(names: readonly string[]): Promise<TableName[]> {
    const found = new Map<string, TableName>();
    for (const name of names) {
      const { rows } = await simpleQuery(this.#original, resolveTableSql(name));
      if (rows.length === 0) {
        throw new Error(`relation "${name}" does not exist on the original`);
      }
      const [schema, relname, relkind] = rows[0] ?? [];
      if (rows.length === 1 && relkind !== "r" && relkind !== "p") {
        throw new Error(`"${schema}.${relname}" is not a table (relkind "${relkind}")`);
      }
      for (const row of rows) {
        if (row[2] !== "r") continue;
        const t = { schema: row[0] ?? "", name: row[1] ?? "" };
        found.set(tableKey(t), t);
      }
    }
    return [...found.values()];
  }

  async #compare(table: TableName, index: number, count: number): Promise<TableReport> {
    const all = [this.#original, ...this.#copies];
    await Promise.all(all.map((c) => simpleQuery(c, BEGIN_SNAPSHOT_SQL)));
    const described = await Promise.all(all.map((c) => describe(c, table)));
    const [originalShape, ...copyShapes] = described;
    if (originalShape?.kind !== "table") {
      throw new Error(`relation "${table.schema}.${table.name}" no longer exists on the original`);
    }
    const columns = originalShape.columns;
    const differences: TableDifference[] = [];
    const active: BackendConnection[] = [];
    copyShapes.forEach((shape, i) => {
      const conn = this.#copies[i];
      if (!conn) return;
      const copy = conn.target.name;
      if (shape.kind === "missing") differences.push({ kind: "missing", copy });
      else if (shape.kind === "notATable") {
        differences.push({ kind: "notATable", copy, relkind: shape.relkind });
      } else if (!sameColumns(columns, shape.columns)) {
        differences.push({ kind: "columns", copy, original: columns, other: shape.columns });
      } else active.push(conn);
    });
    const key = (await simpleQuery(this.#original, keyColumnsSql(table))).rows
      .map((r) => r[0] ?? "");
    const estimate = Number(
      (await simpleQuery(this.#original, estimateRowsSql(table))).rows[0]?.[0] ?? 0,
    );
    const servers = [this.#original, ...active];
    const rows = new Map(servers.map((c) => [c.target.name, 0]));
    const differing: DifferingChunk[] = [];
    let after: KeyValue | undefined;
    let chunksDone = 0;
    let rowsDone = 0;
    for (;;) {
      let first: KeyValue | undefined;
      let last: KeyValue | undefined;
      if (key.length > 0) {
        const bounds = await simpleQuery(
          this.#original,
          chunkBoundsSql(table, key, after, this.#opts.chunkRows),
        );
        for (const row of bounds.rows) {
          const value = row.slice(1).map((v) => v ?? "");
          if (row[0] === "first") first = value;
          else last = value;
        }
      }
      const range = { after, upTo: last };
      const sums = await checksums(servers, chunkChecksumSql(table, columns, key, range));
      const copies = new Set(
        active.map((c) => c.target.name).filter((n) => !sameSum(sums.get(n), sums.get(this.#name))),
      );
      if (copies.size > 0) differing.push({ range, first, sums, copies });
      for (const [name, sum] of sums) rows.set(name, (rows.get(name) ?? 0) + sum.count);
      chunksDone++;
      rowsDone += sums.get(this.#name)?.count ?? 0;
      this.#opts.onProgress?.({
        table,
        tableIndex: index,
        tableCount: count,
        chunksDone,
        rowsDone,
        rowsEstimate: estimate,
      });
      if (key.length === 0 || last === undefined) break;
      after = last;
    }
    await Promise.all(all.map((c) => simpleQuery(c, "COMMIT")));
    await this.#recheck(table, columns, key, servers, differing, rows);
    for (const chunk of differing) {
      for (const copy of chunk.copies) {
        differences.push({
          kind: "rows",
          copy,
          key,
          range: chunk.range,
          first: chunk.first,
          originalRows: chunk.sums.get(this.#name)?.count ?? 0,
          copyRows: chunk.sums.get(copy)?.count ?? 0,
        });
      }
    }
    const order = new Map(this.#copies.map((c, i) => [c.target.name, i]));
    // A stable sort: within one copy, row ranges stay in key order.
    differences.sort((a, b) => (order.get(a.copy) ?? 0) - (order.get(b.copy) ?? 0));
    return { table, rows, differences };
  }

  get #name(): string {
    return this.#original.target.name;
  }

  /**
   * Checks differing chunks again in new snapshots, on every server that compared the table, so
   * row counts stay comparable; a copy stays reported only if it differs in every pass.
   */
  async #recheck(
    table: TableName,
    columns: readonly Column[],
    key: readonly string[],
    servers: readonly BackendConnection[],
    differing: DifferingChunk[],
    rows: Map<string, number>,
  ): Promise<void> {
    for (const delay of this.#opts.recheckDelaysMs ?? DEFAULT_RECHECK_DELAYS_MS) {
      if (differing.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      await Promise.all(servers.map((c) => simpleQuery(c, BEGIN_SNAPSHOT_SQL)));
      for (const chunk of differing) {
        const sums = await checksums(servers, chunkChecksumSql(table, columns, key, chunk.range));
        for (const [name, sum] of sums) {
          rows.set(name, (rows.get(name) ?? 0) - (chunk.sums.get(name)?.count ?? 0) + sum.count);
          chunk.sums.set(name, sum);
        }
        for (const copy of chunk.copies) {
          if (sameSum(sums.get(copy), sums.get(this.#name))) chunk.copies.delete(copy);
        }
      }
      await Promise.all(servers.map((c) => simpleQuery(c, "COMMIT")));
      differing.splice(0, differing.length, ...differing.filter((c) => c.copies.size > 0));
    }
  }
}

async function checksums(
  servers: readonly BackendConnection[],
  sql: string,
): Promise<Map<string, Checksum>> {
  const results = await Promise.all(servers.map((c) => simpleQuery(c, sql)));
  return new Map(results.map((r, i) => {
    const row = r.rows[0] ?? [];
    return [servers[i]?.target.name ?? "", { count: Number(row[0] ?? 0), md5: row[1] ?? null }];
  }));
}

async function describe(conn: BackendConnection, table: TableName): Promise<Described> {
  const { rows } = await simpleQuery(conn, columnsSql(table));
  const relkind = rows[0]?.[0];
  if (relkind === undefined || relkind === null) return { kind: "missing" };
  if (relkind !== "r") return { kind: "notATable", relkind };
  const columns = rows.flatMap((r) => (r[1] == null ? [] : [{ name: r[1], type: r[2] ?? "" }]));
  return { kind: "table", columns };
}
