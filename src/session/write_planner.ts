/**
 * @module
 * Plans a write for row-based replication (src/replication/determinism.ts) with what only the
 * session knows: its `search_path`, its temporary tables, the definitions of the tables it
 * writes (from the shared catalog cache, or read from the original through the session's own
 * connection, or a second one inside an open extended batch), DDL earlier in the same string,
 * and SQL PREPARE bodies.
 */

import { bindResultsText, decodeBindFull, encodeBind, type Frame } from "../protocol/mod.ts";
import { type BackendConnection, simpleQuery } from "../backend/mod.ts";
import {
  type CapturedRows,
  CatalogCache,
  catalogQuery,
  type Classification,
  type DeterminismOptions,
  type DmlPlan,
  parseCatalogRows,
  planStatement,
  type RowPlan,
  type StatementInfo,
  type TableInfo,
  unknownCallPolicy,
} from "../replication/mod.ts";
import { errorText, getLogger } from "../log/mod.ts";
import type { SessionContext } from "./context.ts";

const log = getLogger("replication");

/** Statements the determinism planner looks at; the rest replicate as text. */
const DML_NODES = new Set([
  "InsertStmt",
  "UpdateStmt",
  "DeleteStmt",
  "MergeStmt",
  "SelectStmt",
  "CopyStmt",
  "ExplainStmt",
  "CreateTableAsStmt",
]);

const AS_IS: DmlPlan = { kind: "asIs" };

/** The plans of a write's statements, or why one cannot be made deterministic. */
export interface Planned {
  /** Per statement: its row plan, or undefined when it replicates as text. */
  readonly plans: (RowPlan | undefined)[];
  /** Set when a statement cannot be made deterministic (the plans stop before it). */
  readonly unsafe?: Extract<DmlPlan, { kind: "unsafe" }>;
}

/** What the planner needs from its session. */
export interface PlannerSession {
  /** Shared state (the catalog cache, the configuration). */
  readonly ctx: SessionContext;
  /** Database the client connected to. */
  readonly database: string;
  /** Role the client connected as. */
  readonly user: string;
  /** The client's startup parameters (`options` is part of the catalog cache key). */
  readonly parameters: ReadonlyMap<string, string>;
  /** Opens a second connection to the original (for catalog reads inside an open batch). */
  connectOriginal(): Promise<BackendConnection>;
  /** Runs a query of usogres's own on the session's connection, in order with the client's. */
  internalQuery(sql: string): Promise<CapturedRows | undefined>;
  /** Whether an extended batch is open with messages in it (a Query would end it early). */
  inOpenBatch(): boolean;
  /** Whether the session created temporary objects (it then bypasses the shared cache). */
  hasTemporary(): boolean;
  /** Whether the session's transaction is aborted. */
  txFailed(): boolean;
}

/** One session's planner of writes. */
export class WritePlanner {
  readonly #o: PlannerSession;
  /** The session's last `SET search_path` (part of the catalog cache key). */
  #searchPath = "";
  /** Second connection to the original for catalog reads, opened on first need. */
  #aside: Promise<BackendConnection> | undefined;

  /**
   * Creates the planner of one session.
   *
   * @param session what it needs from the session
   */
  constructor(session: PlannerSession) {
    this.#o = session;
  }

  /** Closes the catalog connection, if one was opened. */
  close(): void {
    const aside = this.#aside;
    this.#aside = undefined;
    if (aside) void aside.then((c) => c.terminate(), () => {});
  }

  /**
   * Plans the data-changing statements of a write for row-based replication, reading table
   * definitions from the catalog when needed.
   *
   * @param statements the write's statements
   * @param flush writes what the relay holds for the original (before a catalog read of its own)
   * @returns a plan per statement, or why one cannot be made deterministic
   */
  async plan(
    statements: Classification["statements"],
    flush: () => Promise<void>,
  ): Promise<Planned> {
    const plans: (RowPlan | undefined)[] = [];
    const opts = this.#determinismOptions();
    let ddlBefore = false;
    // Tables this string creates without any column default: an INSERT into one is deterministic
    // unless its own expressions are not.
    const plainCreated = new Set<string>();
    for (const st of statements) {
      this.#trackSessionState(st);
      if (/^(Create|Alter|Drop|Rename)/.test(st.node)) {
        this.#o.ctx.catalog.clear();
        ddlBefore = true;
        const created = plainCreateTable(st);
        if (created) plainCreated.add(created);
      }
      // SQL PREPARE: its body runs later by EXECUTE, as text on every server, so it must be
      // deterministic as written (row-based replication needs the protocol's own Parse).
      const prepared = st.node === "PrepareStmt" ? preparedBody(st.text) : undefined;
      const text = prepared ?? st.text;
      const alter = st.node === "AlterTableStmt" ? addsServerComputedColumn(st.text) : undefined;
      if (alter) {
        return {
          plans,
          unsafe: {
            kind: "unsafe",
            reason: `${alter}: every server would fill the existing rows itself`,
            policy: opts.unknownFunctions === "mark_stale" ? "mark_stale" : "refuse",
          },
        };
      }
      let plan: DmlPlan = st.deterministic
        ? AS_IS
        : DML_NODES.has(st.node) || prepared !== undefined
        ? planStatement(text, undefined, opts)
        : st.node === "DoStmt" || st.node === "CallStmt"
        ? unknownCallPolicy(st.text, opts)
        : AS_IS;
      if (plan.kind === "needsCatalog") {
        // After DDL in the same string, the catalog read now would describe the table before it.
        if (ddlBefore && plainCreated.has(normalizeRelation(plan.relation))) {
          const probe = planStatement(st.text, noDefaultsTable(plan.relation), opts);
          if (probe.kind === "asIs") {
            plans.push(undefined);
            continue;
          }
        }
        if (this.#o.txFailed()) {
          // The transaction is aborted: the original refuses the statement anyway.
          plans.push(undefined);
          continue;
        }
        const table = ddlBefore ? undefined : await this.#table(plan.relation, flush);
        if (table === undefined) {
          return {
            plans,
            unsafe: {
              kind: "unsafe",
              reason: ddlBefore
                ? `the definition of ${plan.relation} changes earlier in the same query string`
                : `the definition of ${plan.relation} could not be read`,
              policy: opts.unknownFunctions === "mark_stale" ? "mark_stale" : "refuse",
            },
          };
        }
        plan = table === null ? { kind: "asIs" } : planStatement(text, table, opts);
      }
      if (prepared !== undefined && plan.kind === "rowBased") {
        plan = {
          kind: "unsafe",
          reason: "the prepared statement computes values on the server (SQL PREPARE runs as text)",
          policy: "refuse",
        };
      }
      if (plan.kind === "unsafe") return { plans, unsafe: plan };
      plans.push(plan.kind === "rowBased" ? plan : undefined);
    }
    return { plans };
  }

  #determinismOptions(): DeterminismOptions {
    const r = this.#o.ctx.config.replication;
    return {
      deterministicFunctions: r.deterministicFunctions,
      unknownFunctions: r.unknownFunctions,
    };
  }

  /** Follows `SET search_path`, which changes what an unqualified table name means. */
  #trackSessionState(st: Classification["statements"][number]): void {
    if (st.node === "VariableSetStmt" && /search_path/i.test(st.text)) this.#searchPath = st.text;
  }

  /**
   * The definition of a table, from the cache or the catalog of the original (read through this
   * session's own connection, so its search_path and its uncommitted DDL apply).
   *
   * @returns the table, null when it does not exist, undefined when it cannot be read now
   */
  async #table(
    relation: string,
    flush: () => Promise<void>,
  ): Promise<TableInfo | null | undefined> {
    const cache = this.#o.ctx.catalog;
    // A session's temporary tables shadow others of the same name: such a session never uses
    // the shared cache, and temporary tables never enter it.
    const shared = !this.#o.hasTemporary();
    const key = CatalogCache.key(
      this.#o.database,
      `${this.#o.user}\u0000${this.#o.parameters.get("options") ?? ""}\u0000${this.#searchPath}`,
      relation,
    );
    const cached = shared ? cache.get(key) : undefined;
    if (cached !== undefined) return cached;
    let rows: CapturedRows | undefined;
    if (this.#o.inOpenBatch()) {
      // Inside an open extended batch (pgJDBC sends BEGIN and the first statement together) a
      // Query would end PostgreSQL's implicit transaction early: read the catalog on a second
      // connection, with this session's search_path.
      rows = await this.#catalogAside(relation);
    } else {
      await flush();
      rows = await this.#o.internalQuery(catalogQuery(relation));
    }
    if (rows === undefined) return undefined;
    const table = parseCatalogRows(rows) ?? null;
    if (shared && !table?.relation.startsWith('"pg_temp')) cache.set(key, table);
    return table;
  }

  /** Reads a table definition on a connection of its own (created once per session). */
  async #catalogAside(relation: string): Promise<CapturedRows | undefined> {
    try {
      this.#aside ??= this.#o.connectOriginal().then(async (conn) => {
        if (this.#searchPath !== "") await simpleQuery(conn, this.#searchPath);
        return conn;
      });
      const conn = await this.#aside;
      const result = await simpleQuery(conn, catalogQuery(relation));
      return result.rows.map((r) => [...r]);
    } catch (e: unknown) {
      log.warning("could not read the definition of {relation}: {error}", {
        relation,
        error: errorText(e),
      });
      this.#aside = undefined;
      return undefined;
    }
  }
}

/**
 * A Bind of a statement replicated by rows: the added columns come back as text, and a single
 * result format code is spelled out for the client's own columns. Undefined when the Bind asks
 * for text only (no format codes, or only 0): it serves as it is, and the original gets the
 * client's bytes along with the rest of the batch instead of a write of their own.
 */
export function rebindForRows(frame: Frame, plan: RowPlan): Uint8Array | undefined {
  if (bindResultsText(frame)) return undefined; // checked without decoding the parameters
  const m = decodeBindFull(frame);
  const added = plan.addedColumns.length;
  const k = plan.clientColumns;
  let resultFormats: number[];
  if (m.resultFormats.length === 0) resultFormats = [];
  else if (m.resultFormats.length === 1) {
    resultFormats = k === 0 ? [] : [...Array(k).fill(m.resultFormats[0]!), ...Array(added).fill(0)];
  } else resultFormats = [...m.resultFormats, ...Array(added).fill(0)];
  return encodeBind({
    portal: m.portal,
    statement: m.statement,
    paramFormats: m.paramFormats,
    params: m.params,
    resultFormats,
  });
}

/**
 * The table a CREATE TABLE makes when none of its columns can get a server-computed value.
 *
 * @returns the normalized name, or undefined
 */
function plainCreateTable(st: StatementInfo): string | undefined {
  if (st.node !== "CreateStmt") return undefined;
  if (
    /\b(default|serial\d?|bigserial|smallserial|identity|generated|like|inherits|partition)\b/i
      .test(st.text)
  ) {
    return undefined;
  }
  const m =
    /^create\s+(?:(?:global|local)\s+)?(?:temp\s+|temporary\s+|unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?([^\s(]+)/i
      .exec(st.text);
  return m ? normalizeRelation(m[1]!) : undefined;
}

/**
 * The statement inside `PREPARE name [(types)] AS statement`.
 *
 * @returns its text, or undefined when the text does not have that shape
 */
function preparedBody(text: string): string | undefined {
  const m = /^\s*prepare\s+("(?:[^"]|"")+"|[^\s(]+)\s*(?:\([^)]*\))?\s*as\s+([\s\S]+)$/i.exec(text);
  return m?.[2];
}

/**
 * Whether an ALTER TABLE adds a column whose existing rows each server would fill with a value it
 * computes itself (a volatile DEFAULT, serial, identity): then the copies diverge at once.
 *
 * @returns a description, or undefined when the statement is safe
 */
function addsServerComputedColumn(text: string): string | undefined {
  const add = /\badd\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?([\s\S]*)$/i.exec(text);
  if (!add) return undefined;
  const rest = add[1]!;
  if (
    /\b(serial\d?|bigserial|smallserial)\b/i.test(rest) ||
    /\bgenerated\b[\s\S]*\bidentity\b/i.test(rest)
  ) {
    return "ADD COLUMN with a serial or identity column";
  }
  const def = /\bdefault\b([\s\S]*)$/i.exec(rest);
  if (def && /\(|\bcurrent_|\blocaltime|\bnow\b|'(now|today|tomorrow|yesterday)'/i.test(def[1]!)) {
    return "ADD COLUMN with a DEFAULT the server computes";
  }
  return undefined;
}

/** Compares relation names loosely: lower case, quotes dropped. */
function normalizeRelation(name: string): string {
  return name.replaceAll('"', "").toLowerCase();
}

/** A stand-in definition with one default-less column, to ask the planner about expressions. */
function noDefaultsTable(relation: string): TableInfo {
  return {
    relation,
    columns: [{
      name: "\u0000",
      type: "text",
      generated: false,
      identity: "",
      defaultExpr: null,
      sequence: null,
      primaryKey: false,
    }],
  };
}
