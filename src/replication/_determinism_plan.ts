/**
 * @module
 * The statement planners of row-based replication other than INSERT: UPDATE and DELETE (row-based
 * by primary key when non-deterministic), and the statements that are refused rather than
 * rewritten when non-deterministic: data-modifying WITH, MERGE, SELECT INTO, CREATE TABLE AS and
 * EXPLAIN ANALYZE of a write. Everything else is replicated as it is.
 */

import { isObject, type JsonObject, unwrap } from "./_classify_rules.ts";
import {
  AS_IS,
  defaultFindings,
  mergeFindings,
  originalSqlOf,
  type PlanContext,
  primaryKey,
  type Relation,
  relationOf,
  returningWidth,
  scanReturning,
  sequencesOf,
  setTargets,
  unknownFunction,
  unsafe,
} from "./_determinism_common.ts";
import { insertFindings, planInsert } from "./_determinism_insert.ts";
import { addCounts, emptyFindings, type Findings, scan, stringOf } from "./_determinism_scan.ts";
import type { Template } from "./_determinism_sql.ts";
import type { DmlPlan, TableInfo } from "./determinism.ts";

/**
 * Plans one parsed statement.
 * @param type the node type, e.g. `InsertStmt`
 * @param body the node's fields
 * @param ctx the planning context
 * @returns the plan
 */
export function planNode(type: string, body: JsonObject, ctx: PlanContext): DmlPlan {
  switch (type) {
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
      if (modifiesInWith(body, ctx)) return planModifyingWith(type, body, ctx);
      if (type === "InsertStmt") return planInsert(body, ctx);
      return planUpdateOrDelete(type === "UpdateStmt" ? "update" : "delete", body, ctx);
    case "SelectStmt":
      if (isObject(body.intoClause)) {
        return refuseIfNondeterministic(type, body, "SELECT INTO", ctx);
      }
      return modifiesInWith(body, ctx) ? planModifyingWith(type, body, ctx) : AS_IS;
    case "CreateTableAsStmt":
      return refuseIfNondeterministic(type, body, "CREATE TABLE AS", ctx);
    case "MergeStmt":
      return planMerge(body, ctx);
    case "ExplainStmt":
      return planExplain(body, ctx);
    case "PrepareStmt":
      return planPrepare(body, ctx);
    case "CopyStmt":
      return planCopyFrom(body, ctx);
    default:
      return AS_IS;
  }
}

function modifiesInWith(body: JsonObject, ctx: PlanContext): boolean {
  if (!isObject(body.withClause)) return false;
  const found = emptyFindings();
  scan(body.withClause, false, ctx.judge, found);
  return found.modifying;
}

/** Scans a whole statement; the verdict of a statement that is refused when non-deterministic. */
function refuseIfNondeterministic(
  type: string,
  body: JsonObject,
  reason: string,
  ctx: PlanContext,
): DmlPlan {
  const found = emptyFindings();
  scan({ [type]: body }, false, ctx.judge, found);
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, ctx.opts);
  return found.nondeterministic === undefined ? AS_IS : unsafe(reason, ctx.opts);
}

/** EXPLAIN ANALYZE runs its statement: refused when that statement would need rewriting. */
function planExplain(body: JsonObject, ctx: PlanContext): DmlPlan {
  const analyze = JSON.stringify(body.options ?? []).includes('"defname":"analyze"');
  if (!analyze) return AS_IS;
  const inner = unwrap(body.query);
  const plan = planNode(inner.type, inner.body, ctx);
  return plan.kind === "rowBased"
    ? unsafe("EXPLAIN ANALYZE of a non-deterministic statement", ctx.opts)
    : plan;
}

/**
 * SQL PREPARE of a statement that would need rewriting is refused: each later EXECUTE would run
 * it on every server as it is. The extended protocol's Parse is the way to prepare one.
 */
function planPrepare(body: JsonObject, ctx: PlanContext): DmlPlan {
  const inner = unwrap(body.query);
  const plan = planNode(inner.type, inner.body, ctx);
  return plan.kind === "rowBased"
    ? unsafe("PREPARE of a non-deterministic statement", ctx.opts)
    : plan;
}

/**
 * COPY ... FROM fills the columns it does not list with their defaults on each server, and it has
 * no RETURNING: it is refused when one of those defaults is non-deterministic (a serial or
 * identity column included). Listing every column, as pg_dump and pgbench do, is deterministic.
 */
function planCopyFrom(body: JsonObject, ctx: PlanContext): DmlPlan {
  if (body.is_from !== true || !isObject(body.relation)) return AS_IS;
  const listed = (Array.isArray(body.attlist) ? body.attlist : []).map((a) => stringOf(a) ?? "");
  if (listed.length === 0) return AS_IS;
  const table = ctx.table;
  if (table === undefined) return { kind: "needsCatalog", relation: relationOf(body.relation).key };
  const found = emptyFindings();
  for (const column of table.columns) {
    if (!listed.includes(column.name)) mergeFindings(found, defaultFindings(column, ctx.judge));
  }
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, ctx.opts);
  return found.nondeterministic === undefined
    ? AS_IS
    : unsafe(`COPY FROM leaving columns to their defaults: ${found.nondeterministic}`, ctx.opts);
}

/**
 * A WITH whose queries write: refused when anything in it is non-deterministic, including the
 * defaults of the one table it inserts into (or sets to DEFAULT); several such tables cannot be
 * checked with one catalog read, so they are refused.
 */
function planModifyingWith(type: string, body: JsonObject, ctx: PlanContext): DmlPlan {
  const reason = "data-modifying WITH";
  const found = emptyFindings();
  scan({ [type]: body }, false, ctx.judge, found);
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, ctx.opts);
  if (found.nondeterministic !== undefined) return unsafe(reason, ctx.opts);
  const writers = defaultWriters({ [type]: body });
  const keys = new Set(writers.map((w) => relationOf(w.body.relation).key));
  if (keys.size === 0) return AS_IS;
  if (keys.size > 1) return unsafe(`${reason} relying on the defaults of several tables`, ctx.opts);
  const [key] = keys;
  if (ctx.table === undefined) return { kind: "needsCatalog", relation: key ?? "" };
  const defaults = emptyFindings();
  for (const writer of writers) {
    if (writer.type === "InsertStmt") {
      mergeFindings(defaults, insertFindings(writer.body, ctx.table, ctx.judge));
    } else {
      mergeFindings(defaults, setDefaultFindings(writer.body.targetList, ctx.table, ctx));
    }
  }
  if (defaults.unknownFunction !== undefined) {
    return unknownFunction(defaults.unknownFunction, ctx.opts);
  }
  return defaults.nondeterministic === undefined ? AS_IS : unsafe(reason, ctx.opts);
}

/** The INSERTs and the UPDATEs with `SET c = DEFAULT` anywhere in a tree. */
function defaultWriters(root: unknown): { type: string; body: JsonObject }[] {
  const writers: { type: string; body: JsonObject }[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    if (!isObject(value)) continue;
    for (const key in value) {
      const child = value[key];
      if (!isObject(child) && !Array.isArray(child)) continue;
      if (isObject(child)) {
        if (key === "InsertStmt") writers.push({ type: key, body: child });
        if (key === "UpdateStmt" && setTargets(child.targetList).defaults.length > 0) {
          writers.push({ type: key, body: child });
        }
      }
      stack.push(child);
    }
  }
  return writers;
}

/** The findings of the defaults a SET list assigns with `DEFAULT`. */
function setDefaultFindings(targetList: unknown, table: TableInfo, ctx: PlanContext): Findings {
  const found = emptyFindings();
  for (const name of setTargets(targetList).defaults) {
    const column = table.columns.find((c) => c.name === name);
    if (column === undefined) continue;
    const own = defaultFindings(column, ctx.judge);
    mergeFindings(found, own);
    addCounts(found.nextvals, own.nextvals);
  }
  return found;
}

/**
 * MERGE is replicated as it is when deterministic and refused otherwise: which action each source
 * row takes could be captured only with RETURNING, which MERGE has only from PostgreSQL 17.
 */
function planMerge(body: JsonObject, ctx: PlanContext): DmlPlan {
  const found = emptyFindings();
  scan({ MergeStmt: body }, false, ctx.judge, found);
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, ctx.opts);
  if (found.nondeterministic !== undefined) return unsafe("MERGE", ctx.opts);
  const clauses = (Array.isArray(body.mergeWhenClauses) ? body.mergeWhenClauses : [])
    .map((c) => (isObject(c) && isObject(c.MergeWhenClause) ? c.MergeWhenClause : {}));
  const relies = clauses.some((c) =>
    c.commandType === "CMD_INSERT" ||
    (c.commandType === "CMD_UPDATE" && setTargets(c.targetList).defaults.length > 0)
  );
  if (!relies) return AS_IS;
  const table = ctx.table;
  if (table === undefined) return { kind: "needsCatalog", relation: relationOf(body.relation).key };
  const defaults = emptyFindings();
  for (const clause of clauses) {
    if (clause.commandType === "CMD_UPDATE") {
      mergeFindings(defaults, setDefaultFindings(clause.targetList, table, ctx));
    } else if (clause.commandType === "CMD_INSERT") {
      // The action as the equivalent single-row INSERT ... VALUES (or DEFAULT VALUES).
      const insert: JsonObject = Array.isArray(clause.values)
        ? {
          cols: clause.targetList,
          selectStmt: {
            SelectStmt: { valuesLists: [{ List: { items: clause.values } }], op: "SETOP_NONE" },
          },
        }
        : {};
      mergeFindings(defaults, insertFindings(insert, table, ctx.judge));
    }
  }
  if (defaults.unknownFunction !== undefined) {
    return unknownFunction(defaults.unknownFunction, ctx.opts);
  }
  return defaults.nondeterministic === undefined ? AS_IS : unsafe("MERGE", ctx.opts);
}

/**
 * Plans an UPDATE or a DELETE: deterministic ones go as they are without reading the catalog
 * (the fast path); others become row-based by primary key.
 */
function planUpdateOrDelete(op: "update" | "delete", body: JsonObject, ctx: PlanContext): DmlPlan {
  const { judge, opts } = ctx;
  const relation = relationOf(body.relation);
  if (isObject(body.whereClause) && isObject(body.whereClause.CurrentOfExpr)) return AS_IS;
  const found = emptyFindings();
  const perRow = new Map<string, number>();
  const counted = (root: unknown) => {
    const part = emptyFindings();
    scan(root, true, judge, part);
    mergeFindings(found, part);
    addCounts(perRow, part.nextvals);
  };
  // SET expressions and RETURNING are evaluated once per affected row; the rest is not counted.
  if (op === "update") counted(body.targetList);
  scanReturning(body.returningList, judge, found, perRow);
  for (const key of ["whereClause", "fromClause", "usingClause", "withClause"]) {
    scan(body[key], false, judge, found);
  }
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, opts);
  const { set, defaults } = op === "update"
    ? setTargets(body.targetList)
    : { set: [], defaults: [] };
  if (found.nondeterministic === undefined && defaults.length === 0) return AS_IS;
  const table = ctx.table;
  if (table === undefined) return { kind: "needsCatalog", relation: relation.key };
  const names = table.columns.map((c) => c.name);
  if (set.some((name) => !names.includes(name))) return AS_IS; // fails alike everywhere
  const defaulted = setDefaultFindings(body.targetList, table, ctx);
  mergeFindings(found, defaulted);
  addCounts(perRow, defaulted.nextvals);
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, opts);
  if (found.nondeterministic === undefined) return AS_IS;
  if (found.uncountable !== undefined) return unsafe(found.uncountable, opts);
  const key = primaryKey(table);
  if (key.length === 0) return unsafe("table has no primary key", opts);
  if (set.some((name) => key.includes(name))) {
    return unsafe("UPDATE assigns a primary key column", opts);
  }
  if (set.some((name) => table.columns.some((c) => c.name === name && c.identity === "a"))) {
    return unsafe("UPDATE assigns an identity column", opts);
  }
  const hasFrom = ["fromClause", "usingClause"].some((k) => {
    const value = body[k];
    return Array.isArray(value) && value.length > 0;
  });
  const width = returningWidth(body.returningList, relation, table, hasFrom);
  if (typeof width === "string") return unsafe(width, opts);
  return rowBased(op, body, ctx, relation, { table, key, set, width, perRow });
}

function rowBased(
  op: "update" | "delete",
  body: JsonObject,
  ctx: PlanContext,
  relation: Relation,
  parts: {
    table: TableInfo;
    key: string[];
    set: string[];
    width: number;
    perRow: Map<string, number>;
  },
): DmlPlan {
  const added = [...parts.key, ...parts.set];
  const template: Template = { op, only: relation.only, key: parts.key.length };
  return {
    kind: "rowBased",
    op,
    originalSql: originalSqlOf(ctx, body.returningList, relation, added),
    clientColumns: parts.width,
    addedColumns: added,
    table: parts.table,
    sequences: sequencesOf(new Map(), parts.perRow),
    template: JSON.stringify(template),
  };
}
