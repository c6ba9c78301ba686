/**
 * @module
 * Row-based replication of non-deterministic DML (DESIGN.md, "Determinism"): the pure half. A
 * statement whose values a server would compute itself (`now()`, `random()`, a serial or identity
 * column, a `DEFAULT gen_random_uuid()`, rows picked by physical order, ...) is planned here:
 * the original runs it with a RETURNING list added that gives every written column of the rows it
 * changed, and the copies run a deterministic statement built from those rows with typed
 * literals, which also advances the sequences the original advanced, as many times. Deterministic
 * statements (most of them) are replicated as their text, unchanged.
 *
 * The session supplies the catalog (columns, defaults, identity, primary key) through
 * {@link catalogQuery} and {@link parseCatalogRows}, run on its own connection to the original, so
 * the search_path and temporary tables are the client's. Parsing is PostgreSQL's own grammar
 * through libpg-query, loaded by `initClassifier()`.
 *
 * Known limits: triggers on the copies fire again and may recompute values; the base-table
 * defaults behind an updatable view are not seen; DO blocks and procedures are opaque (see
 * {@link unknownCallPolicy}); INSERT ... SELECT ... ON CONFLICT advances the copies' sequences by
 * the returned rows only, and INSERT ... SELECT * (width unknown) may advance them more than the
 * original did (never less, so a promoted copy does not collide); ORDER BY on a non-unique key with
 * LIMIT is taken as deterministic; the copies must read the captured text as the original wrote
 * it (same DateStyle and IntervalStyle, extra_float_digits >= 1 on the original's session).
 *
 * @example
 * ```ts
 * import { initClassifier } from "./classify.ts";
 * import { planStatement } from "./determinism.ts";
 * await initClassifier();
 * planStatement("UPDATE a SET b = b + $1 WHERE id = $2", undefined).kind; // "asIs"
 * planStatement("INSERT INTO t (x) VALUES (now())", undefined).kind; // "needsCatalog"
 * ```
 */

import { SqlError } from "libpg-query";
import { parseMemo } from "./_parse_memo.ts";
import { isObject, unwrap } from "./_classify_rules.ts";
import { AS_IS, type PlanContext, unsafe } from "./_determinism_common.ts";
import { planNode } from "./_determinism_plan.ts";
import { CallJudge, stringOf } from "./_determinism_scan.ts";
import { buildCopy, catalogSql, quoteIdent, type Template } from "./_determinism_sql.ts";
import { literalShape } from "./_literal_shape.ts";
import { type CapturedRow, rowTexts } from "./captured_row.ts";

/** One column of a table, from the catalog. */
export interface ColumnInfo {
  /** `attname`, case preserved. */
  readonly name: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`. */
  readonly type: string;
  /** `attgenerated = 's'`: a stored generated column, which cannot be written. */
  readonly generated: boolean;
  /** `attidentity`: "" (none), "a" (GENERATED ALWAYS) or "d" (BY DEFAULT). */
  readonly identity: "" | "a" | "d";
  /** `pg_get_expr(adbin, adrelid)` (or the domain's default); null when there is none. */
  readonly defaultExpr: string | null;
  /** `pg_get_serial_sequence(...)`: the sequence of a serial or identity column, else null. */
  readonly sequence: string | null;
  /** Part of the primary key. */
  readonly primaryKey: boolean;
}

/** A table as row-based replication needs it. */
export interface TableInfo {
  /** Fully quoted schema-qualified name from the catalog, e.g. `"public"."t"`. */
  readonly relation: string;
  /** Its columns in attnum order, dropped ones left out. */
  readonly columns: readonly ColumnInfo[];
}

/** Options of {@link planStatement}. */
export interface DeterminismOptions {
  /** User functions trusted to be deterministic and side-effect free, bare or `schema.name`. */
  readonly deterministicFunctions?: readonly string[];
  /** Policy for user-defined (non-pg_catalog) functions in writes; default "refuse". */
  readonly unknownFunctions?: "refuse" | "mark_stale" | "trust";
}

/** A sequence the original advanced: copies call nextval `fixed + perRow × rows` times. */
export interface SequenceAdvance {
  /** The sequence as `nextval` takes it (as written, or from `pg_get_serial_sequence`). */
  readonly name: string;
  /** Calls per affected (returned) row. */
  readonly perRow: number;
  /** Calls that do not depend on the returned rows (an INSERT's VALUES rows, conflicts included). */
  readonly fixed: number;
}

/** How one statement is replicated. */
export type DmlPlan =
  /** Deterministic: replicate the text unchanged. */
  | { readonly kind: "asIs" }
  /** Call planStatement again with the TableInfo of this relation (quoted: `"s"."t"`). */
  | { readonly kind: "needsCatalog"; readonly relation: string }
  | {
    readonly kind: "rowBased";
    readonly op: "insert" | "update" | "delete";
    /** The client's text (up to its end), "\n", then `RETURNING ...` or `, ...` additions. */
    readonly originalSql: string;
    /** How many result columns the client's own RETURNING gives (0 without one): they come first. */
    readonly clientColumns: number;
    /** The columns added after the client's, in the order copyStatement takes them. */
    readonly addedColumns: readonly string[];
    readonly table: TableInfo;
    /** Sequences the original advanced. */
    readonly sequences: readonly SequenceAdvance[];
    /** Opaque: what copyStatement needs. */
    readonly template: string;
  }
  /** Cannot be made deterministic: refuse it, or run it and mark the copies stale. */
  | { readonly kind: "unsafe"; readonly reason: string; readonly policy: "refuse" | "mark_stale" };

/**
 * SQL that reads the catalog for a relation named as the statement wrote it. It never raises an
 * error (it uses `to_regclass`) and returns no rows when the relation does not exist. Columns:
 * attname, type, attgenerated, attidentity, default, sequence, is_pk, nspname, relname.
 * @param relationAsWritten the relation, e.g. `"s"."t"` from a `needsCatalog` plan
 * @returns the query text
 */
export function catalogQuery(relationAsWritten: string): string {
  return catalogSql(relationAsWritten);
}

/**
 * Builds a TableInfo from the rows of {@link catalogQuery}.
 * @param rows the rows in text format, null for NULL
 * @returns the table, or undefined when there are no rows
 * @throws RangeError when a row does not have the query's 9 columns or a value is malformed
 */
export function parseCatalogRows(
  rows: readonly (readonly (string | null)[])[],
): TableInfo | undefined {
  const first = rows[0];
  if (first === undefined) return undefined;
  const columns = rows.map((row, i): ColumnInfo => {
    if (row.length < 9) throw new RangeError(`catalog row ${i + 1} has ${row.length} columns`);
    const [name, type, generated, identity, defaultExpr, sequence, pk] = row;
    if (name == null || type == null) throw new RangeError(`catalog row ${i + 1} lacks a name`);
    const id = identity ?? "";
    if (id !== "" && id !== "a" && id !== "d") {
      throw new RangeError(`catalog row ${i + 1} has identity "${id}"`);
    }
    return Object.freeze({
      name,
      type,
      generated: generated === "s",
      identity: id,
      defaultExpr: defaultExpr ?? null,
      sequence: sequence == null ? null : sequence.replace(TEMP_SCHEMA_PREFIX, "pg_temp."),
      primaryKey: pk === "t" || pk === "true",
    });
  });
  const relation = `${quoteIdent(ownTempSchema(first[7] ?? ""))}.${quoteIdent(first[8] ?? "")}`;
  return Object.freeze({ relation, columns: Object.freeze(columns) });
}

/**
 * A session's temporary schema is `pg_temp_N` with N chosen by each server: the copies name it
 * by its alias `pg_temp`, which always means the session's own (namespace.c).
 */
const TEMP_SCHEMA_PREFIX = /^pg_temp_\d+\./;

function ownTempSchema(nspname: string): string {
  return /^pg_temp_\d+$/.test(nspname) ? "pg_temp" : nspname;
}

const PLAN_CACHE_SIZE = 10_000;
/** Longest text cached: a multi-megabyte INSERT of literals is unlikely to come again. */
const MAX_CACHED_TEXT = 65_536;
// Two generations instead of one Map evicted oldest-first (see the Classifier's cache): deleting a
// Map's first entry leaves a hole V8 skips on every later `keys().next()`, and writes whose
// literals change (pgbench's INSERT) evicted on every plan, which cost 14 of the 43 µs of
// classifying and planning one.
let youngPlans = new Map<string, DmlPlan>();
let oldPlans = new Map<string, DmlPlan>();
/** A number per table content, so that a plan's cache key stays short (see {@link tableKey}). */
const tableIds = new Map<string, number>();
const tableKeys = new WeakMap<TableInfo, number>();
let lastTableId = 0;
const judges = new Map<string, CallJudge>();

/**
 * Plans one statement (a single statement's text, as the classifier sliced it). Pure, and cached
 * by text, table (its whole content, so a changed catalog plans afresh) and options.
 * @param sql the statement
 * @param table the target's catalog entry once a `needsCatalog` plan asked for it
 * @param opts user function lists and the policy for unknown functions
 * @returns the plan; a text that does not parse is `asIs` (every server reports the error)
 * @throws Error when the parser's WASM module is not loaded (`await initClassifier()`)
 */
export function planStatement(
  sql: string,
  table: TableInfo | undefined,
  opts: DeterminismOptions = {},
): DmlPlan {
  const optsKey = `${opts.unknownFunctions ?? "refuse"}\0${
    (opts.deterministicFunctions ?? []).join(",")
  }`;
  const prefix = `${optsKey}\0${table === undefined ? "" : tableKey(table)}\0`;
  // A statement that differs from an earlier one only in its numbers has its plan, with its own
  // text in front of the same additions (`_literal_shape.ts`, {@link ShapedPlan}).
  const shape = sql.length <= MAX_CACHED_TEXT ? literalShape(sql) : undefined;
  if (shape !== undefined) {
    const shaped = shapedPlans.get(prefix + shape);
    if (shaped !== undefined) return shaped.for(sql);
  }
  const key = prefix + sql;
  const cached = youngPlans.get(key) ?? oldPlans.get(key);
  if (cached !== undefined) return cached;
  let judge = judges.get(optsKey);
  if (judge === undefined) {
    judge = new CallJudge(opts.deterministicFunctions ?? [], opts.unknownFunctions === "trust");
    judges.set(optsKey, judge);
  }
  const plan = Object.freeze(planText(sql, table, opts, judge));
  const shaped = shape === undefined ? undefined : ShapedPlan.of(sql, plan);
  if (shaped !== undefined) {
    if (shapedPlans.size >= PLAN_CACHE_SIZE / 2) shapedPlans.clear();
    shapedPlans.set(prefix + shape!, shaped);
  } else if (sql.length <= MAX_CACHED_TEXT) {
    if (youngPlans.size >= PLAN_CACHE_SIZE / 2) {
      oldPlans = youngPlans;
      youngPlans = new Map();
    }
    youngPlans.set(key, plan);
  }
  return plan;
}

/** Plans by literal shape (see {@link planStatement}); cleared when half the cache size. */
const shapedPlans = new Map<string, ShapedPlan>();

/**
 * A plan that serves every text of its literal shape. What a plan holds besides the statement's
 * own text (its op, columns, table, sequences and template) comes from the statement's structure
 * and the catalog, never from the value of a number in it; a row-based plan's `originalSql` is
 * the statement's text followed by additions (`RETURNING ...`) that hold no literal either.
 * Unsafe plans are not shared: their reasons may quote the statement.
 */
class ShapedPlan {
  readonly #plan: DmlPlan;
  /** The text the plan was made for: it gets the very same plan back. */
  readonly #sql: string;
  /** What a row-based plan adds after the statement's text in `originalSql`. */
  readonly #additions: string;

  private constructor(plan: DmlPlan, sql: string, additions: string) {
    this.#plan = plan;
    this.#sql = sql;
    this.#additions = additions;
  }

  /**
   * Wraps a plan for reuse by shape.
   *
   * @param sql the text it was made for
   * @param plan the plan
   * @returns the reusable form, or undefined when the plan does not qualify
   */
  static of(sql: string, plan: DmlPlan): ShapedPlan | undefined {
    if (plan.kind === "asIs" || plan.kind === "needsCatalog") return new ShapedPlan(plan, sql, "");
    if (plan.kind !== "rowBased" || !plan.originalSql.startsWith(sql)) return undefined;
    return new ShapedPlan(plan, sql, plan.originalSql.slice(sql.length));
  }

  /**
   * The plan of another text of the same shape.
   *
   * @param sql the text
   * @returns the plan
   */
  for(sql: string): DmlPlan {
    const plan = this.#plan;
    if (plan.kind !== "rowBased" || sql === this.#sql) return plan;
    return Object.freeze({ ...plan, originalSql: sql + this.#additions });
  }
}

/**
 * The table's part of a plan's cache key: a number that tables of the same content share. Its
 * whole text in every key cost a long string to build and hash per plan, on every write.
 */
function tableKey(table: TableInfo): number {
  let key = tableKeys.get(table);
  if (key === undefined) {
    const content = JSON.stringify(table);
    key = tableIds.get(content);
    if (key === undefined) {
      // A new number for content seen before the clearing only costs a cache miss.
      if (tableIds.size >= PLAN_CACHE_SIZE) tableIds.clear();
      key = ++lastTableId;
      tableIds.set(content, key);
    }
    tableKeys.set(table, key);
  }
  return key;
}

/** The statements of a text, or undefined when it does not parse. */
function parseStatements(sql: string): unknown[] | undefined {
  if (sql.trim() === "" || sql.includes("\0")) return undefined;
  try {
    const tree = parseMemo(sql);
    return isObject(tree) && Array.isArray(tree.stmts) ? tree.stmts : [];
  } catch (e: unknown) {
    if (e instanceof SqlError) return undefined;
    throw e;
  }
}

function planText(
  sql: string,
  table: TableInfo | undefined,
  opts: DeterminismOptions,
  judge: CallJudge,
): DmlPlan {
  const stmts = parseStatements(sql);
  if (stmts === undefined || stmts.length === 0) return AS_IS;
  if (stmts.length > 1) {
    // The caller plans statement by statement; a batch is planned whole only to refuse it.
    for (const raw of stmts) {
      const { type, body } = unwrap(isObject(raw) ? raw.stmt : undefined);
      const ctx: PlanContext = { head: sql, table: undefined, opts, judge };
      if (planNode(type, body, ctx).kind !== "asIs") {
        return unsafe("several statements in one text", opts);
      }
    }
    return AS_IS;
  }
  const raw = isObject(stmts[0]) ? stmts[0] : {};
  const { type, body } = unwrap(raw.stmt);
  const start = typeof raw.stmt_location === "number" ? raw.stmt_location : 0;
  const length = typeof raw.stmt_len === "number" ? raw.stmt_len : 0;
  const head = length > 0 ? sliceBytes(sql, start + length) : sql.trimEnd();
  return planNode(type, body, { head, table, opts, judge });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The text up to a UTF-8 byte offset (the parser's offsets count bytes). */
function sliceBytes(sql: string, end: number): string {
  // deno-lint-ignore no-control-regex
  if (/^[\u0000-\u007f]*$/.test(sql)) return sql.slice(0, end).trimEnd();
  return decoder.decode(encoder.encode(sql).subarray(0, end)).trimEnd();
}

/**
 * The statement copies run, built from the rows the original returned: the added columns only,
 * in `addedColumns` order, text format, null for NULL. It produces the same CommandComplete tag as
 * the original ("INSERT 0 n", "UPDATE n", "DELETE n"), also for n = 0, and advances the plan's
 * sequences as many times as the original did.
 * @param plan a row-based plan from {@link planStatement}
 * @param rows the added columns of each returned row (captured, or text with null for NULL)
 * @param returning whether the statement returns the rows it writes (the added columns, in
 *   order), to compare them with the original's
 * @returns the SQL text
 * @throws RangeError when a row has the wrong number of values or the template is not the plan's
 */
export function copyStatement(
  plan: Extract<DmlPlan, { kind: "rowBased" }>,
  rows: readonly CapturedRow[],
  returning = false,
): string {
  let template: Template;
  try {
    template = JSON.parse(plan.template) as Template;
  } catch {
    throw new RangeError("row-based plan has a malformed template");
  }
  if (template.op !== plan.op) throw new RangeError("row-based plan's template is of another op");
  return buildCopy(plan, template, rows.map(rowTexts), { returning });
}

/**
 * The plan of a DO block or CALL, which are opaque: what they compute cannot be seen. Unless
 * unknown functions are trusted, they are `unsafe` with the configured policy (a procedure listed
 * in `deterministicFunctions` is replicated as it is); any other statement is `asIs`.
 * @param sql one statement
 * @param opts the options
 * @returns the plan
 * @throws Error when the parser's WASM module is not loaded
 */
export function unknownCallPolicy(sql: string, opts: DeterminismOptions = {}): DmlPlan {
  const stmts = parseStatements(sql) ?? [];
  const policy = opts.unknownFunctions ?? "refuse";
  if (policy === "trust") return AS_IS;
  const judge = new CallJudge(opts.deterministicFunctions ?? [], false);
  for (const raw of stmts) {
    const { type, body } = unwrap(isObject(raw) ? raw.stmt : undefined);
    if (type === "DoStmt") return { kind: "unsafe", reason: "DO block", policy };
    if (type === "CallStmt") {
      const call = isObject(body.funccall) ? body.funccall : {};
      const parts = Array.isArray(call.funcname) ? call.funcname.map((p) => stringOf(p) ?? "") : [];
      if (judge.judge(parts) !== "deterministic") {
        return { kind: "unsafe", reason: `calls procedure "${parts.join(".")}"`, policy };
      }
    }
  }
  return AS_IS;
}
