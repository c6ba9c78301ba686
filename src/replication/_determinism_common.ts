/**
 * @module
 * Helpers shared by the statement planners of row-based replication: the planning context,
 * the target relation as written, `unsafe` verdicts and their policy, the width of the client's
 * RETURNING list, column DEFAULTs judged by the same rules as statements, and the text the
 * original runs (the client's statement with RETURNING additions).
 */

import { parseSync } from "libpg-query";
import { isObject, type JsonObject, unwrap } from "./_classify_rules.ts";
import {
  addCounts,
  type CallJudge,
  emptyFindings,
  type Findings,
  scan,
  stringOf,
} from "./_determinism_scan.ts";
import { quoteIdent, type SequenceUse } from "./_determinism_sql.ts";
import type { ColumnInfo, DeterminismOptions, DmlPlan, TableInfo } from "./determinism.ts";

/** What every planner gets. */
export interface PlanContext {
  /** The statement's text up to its end (without a trailing `;` or what follows it). */
  readonly head: string;
  /** The table, once the caller has read the catalog. */
  readonly table: TableInfo | undefined;
  readonly opts: DeterminismOptions;
  readonly judge: CallJudge;
}

/** The target relation as the statement names it. */
export interface Relation {
  /** Canonical quoted name for the catalog (`"s"."t"`), case as the parser folded it. */
  readonly key: string;
  /** The name RETURNING refers to it by: the alias, else the relation's own name. */
  readonly ref: string;
  /** `ONLY t`: descendants excluded. */
  readonly only: boolean;
}

/**
 * Reads the target RangeVar of a statement.
 * @param rangeVar the `relation` field of an INSERT, UPDATE, DELETE or MERGE
 * @returns the relation
 */
export function relationOf(rangeVar: unknown): Relation {
  const rv = isObject(rangeVar) ? rangeVar : {};
  const parts = [rv.catalogname, rv.schemaname, rv.relname]
    .filter((p): p is string => typeof p === "string" && p !== "");
  const relname = typeof rv.relname === "string" ? rv.relname : "";
  const alias = isObject(rv.alias) && typeof rv.alias.aliasname === "string"
    ? rv.alias.aliasname
    : undefined;
  return { key: parts.map(quoteIdent).join("."), ref: alias ?? relname, only: rv.inh !== true };
}

/**
 * The policy of an `unsafe` verdict that comes from a limitation of row-based replication (not
 * from a user function): mark the copies stale only when so configured, else refuse.
 * @param opts the options
 * @returns "refuse" or "mark_stale"
 */
export function limitationPolicy(opts: DeterminismOptions): "refuse" | "mark_stale" {
  return opts.unknownFunctions === "mark_stale" ? "mark_stale" : "refuse";
}

/**
 * An `unsafe` verdict for a limitation.
 * @param reason why
 * @param opts the options (for the policy)
 * @returns the plan
 */
export function unsafe(reason: string, opts: DeterminismOptions): DmlPlan {
  return { kind: "unsafe", reason, policy: limitationPolicy(opts) };
}

/**
 * An `unsafe` verdict for a user-defined function under the "refuse" or "mark_stale" policy.
 * @param name the function's name as written
 * @param opts the options
 * @returns the plan
 */
export function unknownFunction(name: string, opts: DeterminismOptions): DmlPlan {
  const policy = opts.unknownFunctions === "mark_stale" ? "mark_stale" : "refuse";
  return { kind: "unsafe", reason: `calls function "${name}"`, policy };
}

/** The `asIs` plan, shared. */
export const AS_IS: DmlPlan = Object.freeze({ kind: "asIs" });

/**
 * Copies the first findings of `from` into `into` (nextval counts are the caller's business).
 * @param into the findings kept
 * @param from new findings
 * @param prefix put before a non-determinism reason, e.g. `default of column "c": `
 */
export function mergeFindings(into: Findings, from: Findings, prefix = ""): void {
  if (from.nondeterministic !== undefined) {
    into.nondeterministic ??= prefix + from.nondeterministic;
  }
  into.unknownFunction ??= from.unknownFunction;
  into.uncountable ??= from.uncountable;
  into.modifying ||= from.modifying;
}

/**
 * Scans a RETURNING list. What it computes only goes back to the client from the original, so
 * its non-determinism does not matter; a user function in it still does (it may write), and its
 * nextval calls, once per returned row, must be counted when the copies do not run it.
 * @param list the returningList
 * @param judge how calls are judged
 * @param found the statement's findings
 * @param perRow nextval calls per returned row
 */
export function scanReturning(
  list: unknown,
  judge: CallJudge,
  found: Findings,
  perRow: Map<string, number>,
): void {
  const part = emptyFindings();
  scan(list, true, judge, part);
  found.unknownFunction ??= part.unknownFunction;
  found.uncountable ??= part.uncountable;
  found.modifying ||= part.modifying;
  addCounts(perRow, part.nextvals);
}

/** Judged defaults by expression text, per judge (the options decide what a default is). */
const defaultCaches = new WeakMap<CallJudge, Map<string, Findings>>();
const DEFAULT_CACHE_SIZE = 1_000;

/**
 * Judges a column's DEFAULT, or an identity column's implicit nextval, by the statement rules;
 * the expression's `nextval` calls are counted (one evaluation per defaulted row).
 * @param column the column
 * @param judge how calls are judged
 * @returns the findings (non-determinism reason already prefixed with the column)
 */
export function defaultFindings(column: ColumnInfo, judge: CallJudge): Findings {
  const found = emptyFindings();
  if (column.generated) return found; // immutable by PostgreSQL's rules: computed alike everywhere
  if (column.identity !== "") {
    found.nondeterministic = `identity column "${column.name}"`;
    if (column.sequence === null) found.uncountable = `identity column "${column.name}"`;
    else found.nextvals.set(column.sequence, 1);
    return found;
  }
  if (column.defaultExpr === null) return found;
  let cache = defaultCaches.get(judge);
  if (cache === undefined) {
    cache = new Map();
    defaultCaches.set(judge, cache);
  }
  const key = column.defaultExpr;
  let cached = cache.get(key);
  if (cached === undefined) {
    cached = emptyFindings();
    try {
      const tree = parseSync(`SELECT ${column.defaultExpr}`) as unknown;
      const stmts = isObject(tree) && Array.isArray(tree.stmts) ? tree.stmts : [];
      const first = isObject(stmts[0]) ? unwrap(stmts[0].stmt).body : {};
      scan(first.targetList, true, judge, cached);
    } catch {
      // The catalog's own text always parses; if it ever does not, assume the worst.
      cached.nondeterministic = "an unreadable default";
      cached.uncountable = "an unreadable default";
    }
    if (cache.size >= DEFAULT_CACHE_SIZE) cache.clear();
    cache.set(key, cached);
  }
  mergeFindings(found, cached, `default of column "${column.name}": `);
  addCounts(found.nextvals, cached.nextvals);
  return found;
}

/**
 * Tells whether an expression is `DEFAULT` (a SetToDefault node).
 * @param node a parse-tree node
 * @returns true for DEFAULT
 */
export function isDefault(node: unknown): boolean {
  return isObject(node) && isObject(node.SetToDefault);
}

/**
 * The columns an UPDATE (or MERGE ... UPDATE, or ON CONFLICT DO UPDATE) SET list assigns, and
 * those it sets to DEFAULT, in order, each once.
 * @param targetList the SET list
 * @returns the assigned and defaulted column names
 */
export function setTargets(targetList: unknown): { set: string[]; defaults: string[] } {
  const set: string[] = [];
  const defaults: string[] = [];
  for (const item of Array.isArray(targetList) ? targetList : []) {
    const target = isObject(item) && isObject(item.ResTarget) ? item.ResTarget : {};
    const name = typeof target.name === "string" ? target.name : "";
    if (!set.includes(name)) set.push(name);
    let value: unknown = target.val;
    if (isObject(value) && isObject(value.MultiAssignRef)) {
      const ref = value.MultiAssignRef;
      const source = isObject(ref.source) && isObject(ref.source.RowExpr) ? ref.source.RowExpr : {};
      const args = Array.isArray(source.args) ? source.args : [];
      value = typeof ref.colno === "number" ? args[ref.colno - 1] : undefined;
    }
    if (isDefault(value) && !defaults.includes(name)) defaults.push(name);
  }
  return { set, defaults };
}

/**
 * How many result columns the client's RETURNING list produces.
 * @param list the statement's returningList
 * @param relation the target relation
 * @param table the target's catalog entry
 * @param hasFrom whether UPDATE ... FROM or DELETE ... USING adds relations (`*` covers them)
 * @returns the count, or a reason string when it cannot be known without more catalog reads
 */
export function returningWidth(
  list: unknown,
  relation: Relation,
  table: TableInfo,
  hasFrom: boolean,
): number | string {
  let width = 0;
  for (const item of Array.isArray(list) ? list : []) {
    const target = isObject(item) && isObject(item.ResTarget) ? item.ResTarget : {};
    const { type, body } = unwrap(target.val);
    if (type === "ColumnRef" && Array.isArray(body.fields)) {
      const last = body.fields[body.fields.length - 1];
      if (isObject(last) && isObject(last.A_Star)) {
        const names = body.fields.slice(0, -1).map((f) => stringOf(f) ?? "");
        if (names.length === 0 && hasFrom) return "RETURNING * with FROM or USING";
        if (names.length > 0 && names[names.length - 1] !== relation.ref) {
          return `RETURNING ${names.join(".")}.*`;
        }
        width += table.columns.length;
        continue;
      }
    }
    if (type === "A_Indirection" && Array.isArray(body.indirection)) {
      if (body.indirection.some((i) => isObject(i) && isObject(i.A_Star))) {
        return "RETURNING of a composite expanded with .*";
      }
    }
    width += 1;
  }
  return width;
}

/**
 * The statement the original runs: the client's text, then the added RETURNING columns.
 * @param ctx the planning context (its head is the client's statement)
 * @param returningList the client's RETURNING list (to know whether to add `RETURNING`)
 * @param relation the target (its `ref` qualifies the columns)
 * @param columns the added columns, in order
 * @returns the SQL text
 */
export function originalSqlOf(
  ctx: PlanContext,
  returningList: unknown,
  relation: Relation,
  columns: readonly string[],
): string {
  const list = columns.map((c) => `${quoteIdent(relation.ref)}.${quoteIdent(c)}`).join(", ");
  const hasReturning = Array.isArray(returningList) && returningList.length > 0;
  // A newline ends a trailing `--` comment before the addition.
  return `${ctx.head}\n${hasReturning ? ", " : "RETURNING "}${list}`;
}

/**
 * Turns counts into the plan's sequence list, sorted by name.
 * @param fixed calls that do not depend on the returned rows
 * @param perRow calls per returned row
 * @returns the sequences
 */
export function sequencesOf(
  fixed: Map<string, number>,
  perRow: Map<string, number>,
): SequenceUse[] {
  const names = [...new Set([...fixed.keys(), ...perRow.keys()])].sort();
  return names.map((name) => ({
    name,
    perRow: perRow.get(name) ?? 0,
    fixed: fixed.get(name) ?? 0,
  }));
}

/**
 * The primary key columns of a table, in attnum order.
 * @param table the table
 * @returns their names (empty when it has none)
 */
export function primaryKey(table: TableInfo): string[] {
  return table.columns.filter((c) => c.primaryKey).map((c) => c.name);
}

/** A parse-tree body's field as a JSON object, or an empty one. */
export function objectField(body: JsonObject, key: string): JsonObject {
  const value = body[key];
  return isObject(value) ? value : {};
}
