/**
 * @module
 * The INSERT planner of row-based replication. An INSERT is non-deterministic when a value it
 * gives is, or when a column it leaves to its DEFAULT (omitted, `DEFAULT`, `DEFAULT VALUES`) has
 * a non-deterministic default or is an identity column (INSERT, "Description":
 * https://www.postgresql.org/docs/15/sql-insert.html). Then the original returns every column of
 * the rows it wrote and the copies insert exactly those rows.
 */

import { isObject, type JsonObject } from "./_classify_rules.ts";
import {
  AS_IS,
  defaultFindings,
  isDefault,
  mergeFindings,
  objectField,
  originalSqlOf,
  type PlanContext,
  primaryKey,
  relationOf,
  returningWidth,
  scanReturning,
  sequencesOf,
  setTargets,
  unknownFunction,
  unsafe,
} from "./_determinism_common.ts";
import {
  addCounts,
  type CallJudge,
  emptyFindings,
  type Findings,
  scan,
} from "./_determinism_scan.ts";
import type { Template } from "./_determinism_sql.ts";
import type { DmlPlan, TableInfo } from "./determinism.ts";

/** What the values and defaults of an INSERT do, before the table's defaults are known. */
interface InsertScan {
  readonly found: Findings;
  /** nextval calls made once per statement (VALUES rows, DEFAULT VALUES). */
  readonly fixed: Map<string, number>;
  /** nextval calls made once per inserted row (INSERT ... SELECT's target list, RETURNING). */
  readonly perRow: Map<string, number>;
}

/**
 * Scans an INSERT's own expressions (not yet its columns' defaults).
 * @param body the InsertStmt
 * @param judge how calls are judged
 * @returns the findings and counts
 */
function scanInsert(body: JsonObject, judge: CallJudge): InsertScan {
  const found = emptyFindings();
  const fixed = new Map<string, number>();
  const perRow = new Map<string, number>();
  const counted = (root: unknown, into: Map<string, number>) => {
    const part = emptyFindings();
    scan(root, true, judge, part);
    mergeFindings(found, part);
    addCounts(into, part.nextvals);
  };
  scan(body.withClause, false, judge, found);
  scan(body.onConflictClause, false, judge, found);
  const select = objectField(objectField(body, "selectStmt"), "SelectStmt");
  if (Array.isArray(select.valuesLists)) {
    counted(select.valuesLists, fixed);
    scan({ SelectStmt: { ...select, valuesLists: undefined } }, false, judge, found);
  } else if (isSimpleSelect(select)) {
    counted(select.targetList, perRow);
    scan({ SelectStmt: { ...select, targetList: undefined } }, false, judge, found);
  } else if (isObject(body.selectStmt)) {
    scan(body.selectStmt, false, judge, found);
  }
  scanReturning(body.returningList, judge, found, perRow);
  return { found, fixed, perRow };
}

/** A SELECT whose target list is evaluated once per output row. */
function isSimpleSelect(select: JsonObject): boolean {
  const empty = (key: string) => {
    const value = select[key];
    return value === undefined || (Array.isArray(value) && value.length === 0);
  };
  return Array.isArray(select.targetList) && select.op === "SETOP_NONE" &&
    empty("groupClause") && empty("distinctClause") && empty("windowClause") &&
    select.havingClause === undefined && select.groupDistinct !== true;
}

/**
 * Adds the defaults an INSERT relies on to its scan: which columns each row leaves to DEFAULT,
 * and what those defaults compute.
 * @param body the InsertStmt
 * @param table the target table
 * @param judge how calls are judged
 * @param into the scan to add to
 * @returns false when a named column does not exist (the statement fails on every server)
 */
function addDefaults(
  body: JsonObject,
  table: TableInfo,
  judge: CallJudge,
  into: InsertScan,
): boolean {
  const all = table.columns.map((c) => c.name);
  const named: string[] = [];
  for (const item of Array.isArray(body.cols) ? body.cols : []) {
    const target = isObject(item) && isObject(item.ResTarget) ? item.ResTarget : {};
    if (typeof target.name === "string") named.push(target.name);
  }
  if (named.some((name) => !all.includes(name))) return false;
  const targets = named.length > 0 ? named : all;
  const select = objectField(objectField(body, "selectStmt"), "SelectStmt");
  const note = (columns: Iterable<string>, counts: Map<string, number>) => {
    for (const name of columns) {
      const column = table.columns.find((c) => c.name === name);
      if (column === undefined) continue;
      const found = defaultFindings(column, judge);
      mergeFindings(into.found, found);
      addCounts(counts, found.nextvals);
    }
  };
  if (!isObject(body.selectStmt)) {
    note(all, into.fixed); // DEFAULT VALUES: one row, every column defaulted
  } else if (Array.isArray(select.valuesLists)) {
    for (const row of select.valuesLists) {
      const list = isObject(row) && isObject(row.List) ? row.List : {};
      const items = Array.isArray(list.items) ? list.items : [];
      const defaulted = all.filter((name) => {
        const position = targets.indexOf(name);
        return position < 0 || position >= items.length || isDefault(items[position]);
      });
      note(defaulted, into.fixed);
    }
  } else {
    // INSERT ... SELECT: columns the select does not reach take their defaults once per row.
    // A `*` in the select list hides its width; every column is then taken as possibly
    // defaulted, which can only make copies advance a sequence more often (never collide).
    const width = selectWidth(select);
    const covered = named.length > 0 ? named : all.slice(0, width ?? 0);
    note(all.filter((name) => !covered.includes(name)), into.perRow);
  }
  // ON CONFLICT ... DO UPDATE SET c = DEFAULT: evaluated per updated row, which is not known.
  const conflict = objectField(body, "onConflictClause");
  for (const name of setTargets(conflict.targetList).defaults) {
    const column = table.columns.find((c) => c.name === name);
    if (column === undefined) continue;
    const found = defaultFindings(column, judge);
    mergeFindings(into.found, found);
    if (found.nextvals.size > 0) {
      into.found.uncountable ??= `ON CONFLICT DO UPDATE SET "${name}" = DEFAULT calls nextval`;
    }
  }
  return true;
}

/** The number of columns a SELECT produces; undefined when a `*` hides it. */
function selectWidth(select: JsonObject): number | undefined {
  const list = Array.isArray(select.targetList) ? select.targetList : [];
  const starred = JSON.stringify(list).includes('"A_Star"');
  return starred || select.op !== "SETOP_NONE" ? undefined : list.length;
}

/**
 * Tells whether an INSERT relies on non-deterministic defaults or values (for a data-modifying
 * WITH or a MERGE, which are refused rather than made row-based).
 * @param body the InsertStmt (or a MERGE's INSERT action as an equivalent InsertStmt body)
 * @param table the target table
 * @param judge how calls are judged
 * @returns the findings
 */
export function insertFindings(body: JsonObject, table: TableInfo, judge: CallJudge): Findings {
  const scanned = scanInsert(body, judge);
  addDefaults(body, table, judge, scanned);
  return scanned.found;
}

/**
 * Plans an INSERT.
 * @param body the InsertStmt
 * @param ctx the planning context
 * @returns the plan
 */
export function planInsert(body: JsonObject, ctx: PlanContext): DmlPlan {
  const { judge, opts, table } = ctx;
  const relation = relationOf(body.relation);
  const scanned = scanInsert(body, judge);
  if (scanned.found.unknownFunction !== undefined) {
    return unknownFunction(scanned.found.unknownFunction, opts);
  }
  if (table === undefined) return { kind: "needsCatalog", relation: relation.key };
  if (!addDefaults(body, table, judge, scanned)) return AS_IS;
  const { found } = scanned;
  if (found.unknownFunction !== undefined) return unknownFunction(found.unknownFunction, opts);
  if (found.nondeterministic === undefined) return AS_IS;
  if (found.uncountable !== undefined) return unsafe(found.uncountable, opts);
  const added = table.columns.filter((c) => !c.generated).map((c) => c.name);
  if (added.length === 0) return AS_IS;
  const template: { op: "insert"; conflict?: { key: string[]; set: string[] } } = {
    op: "insert",
  };
  const conflict = objectField(body, "onConflictClause");
  if (conflict.action === "ONCONFLICT_UPDATE") {
    // The copy's row must end as the returned (final) row: insert it, or on a conflict of its
    // primary key (the same row as on the original, whatever target the client named) overwrite
    // every column. An update that moves the key would leave the old row on the copy.
    const key = primaryKey(table);
    if (key.length === 0) {
      return unsafe("ON CONFLICT DO UPDATE on a table without a primary key", opts);
    }
    const assigned = setTargets(conflict.targetList).set;
    if (assigned.some((name) => key.includes(name))) {
      return unsafe("ON CONFLICT DO UPDATE assigns a primary key column", opts);
    }
    const always = table.columns.filter((c) => c.identity === "a").map((c) => c.name);
    if (assigned.some((name) => always.includes(name))) {
      return unsafe("ON CONFLICT DO UPDATE assigns an identity column", opts);
    }
    const set = added.filter((name) => !key.includes(name) && !always.includes(name));
    template.conflict = { key, set: set.length > 0 ? set : key.slice(0, 1) };
  }
  // INSERT ... SELECT ... ON CONFLICT: nextval in defaults runs once per candidate row, and the
  // rows skipped by DO NOTHING (or by DO UPDATE ... WHERE) are not returned, so copies advance
  // by the returned rows only: an approximation that can leave a copy's sequence behind.
  const width = returningWidth(body.returningList, relation, table, false);
  if (typeof width === "string") return unsafe(width, opts);
  return {
    kind: "rowBased",
    op: "insert",
    originalSql: originalSqlOf(ctx, body.returningList, relation, added),
    clientColumns: width,
    addedColumns: added,
    table,
    sequences: sequencesOf(scanned.fixed, scanned.perRow),
    template: JSON.stringify(template satisfies Template),
  };
}
