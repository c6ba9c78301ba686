/**
 * @module
 * The expression walker of the determinism rules: finds, anywhere in a subtree of libpg-query's
 * JSON parse tree (PostgreSQL's raw grammar output, `src/include/nodes/parsenodes.h`), what would
 * make a server compute a value of its own: the SQL value functions of `CURRENT_TIMESTAMP`'s
 * family, calls of non-deterministic or user-defined functions, `nextval` (counted where the
 * number of calls is known), rows chosen by physical order (LIMIT without ORDER BY, TABLESAMPLE,
 * SKIP LOCKED, DISTINCT ON), order-sensitive aggregates and window functions without ORDER BY,
 * system columns, and the date/time input strings `'now'`, `'today'`, `'tomorrow'`, `'yesterday'`.
 */

import { isObject, type JsonObject } from "./_classify_rules.ts";
import { READ_ONLY_FUNCTIONS } from "./read_only_functions.ts";
import {
  KNOWN_VOLATILE_BUILTINS,
  NONDETERMINISTIC_FUNCTIONS,
  NONDETERMINISTIC_PREFIXES,
} from "./_determinism_functions.ts";

/** How one function call behaves for replication. */
export type CallKind = "deterministic" | "nondeterministic" | "nextval" | "unknown";

/** Extension functions that give a new value on each call, in whatever schema they live. */
const EXTENSION_NONDETERMINISTIC = new Set([
  "uuid_generate_v1",
  "uuid_generate_v1mc",
  "uuid_generate_v4",
  "gen_random_uuid",
  "gen_random_bytes",
  "gen_salt",
]);

/** Judges function calls by name: the built-in lists adjusted by the configured options. */
export class CallJudge {
  readonly #deterministic: ReadonlySet<string>;
  /** True when user-defined functions are trusted (treated as non-deterministic, no side effect). */
  readonly trustUnknown: boolean;

  /**
   * Builds a judge from the configured lists.
   * @param deterministic user functions trusted to be deterministic, bare or `schema.name`
   * @param trustUnknown whether the policy for unknown functions is "trust"
   * @returns the judge
   */
  constructor(deterministic: readonly string[], trustUnknown: boolean) {
    this.#deterministic = new Set(deterministic.map(normaliseName));
    this.trustUnknown = trustUnknown;
  }

  /**
   * Classifies a call by its name parts as the parser gives them (`["pg_catalog", "now"]`).
   * @param parts the name parts (catalog and schema optional)
   * @returns how the call behaves
   */
  judge(parts: readonly string[]): CallKind {
    const name = parts[parts.length - 1] ?? "";
    const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
    const builtin = schema === undefined || schema === "pg_catalog";
    const qualified = builtin ? name : `${schema}.${name}`;
    if (this.#deterministic.has(name) || this.#deterministic.has(qualified)) return "deterministic";
    if (EXTENSION_NONDETERMINISTIC.has(name)) return "nondeterministic";
    if (!builtin) return "unknown";
    if (name === "nextval") return "nextval";
    if (NONDETERMINISTIC_FUNCTIONS.has(name)) return "nondeterministic";
    if (NONDETERMINISTIC_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      return "nondeterministic";
    }
    if (READ_ONLY_FUNCTIONS.has(name) || KNOWN_VOLATILE_BUILTINS.has(name)) return "deterministic";
    // A pg_catalog name we do not know comes from a newer server: assume it computes its value.
    return schema === "pg_catalog" ? "nondeterministic" : "unknown";
  }
}

/** Lower-cases a configured name and drops a `pg_catalog.` prefix, as the classifier does. */
function normaliseName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.startsWith("pg_catalog.") ? lower.slice("pg_catalog.".length) : lower;
}

/** What a walk found; fields keep the first finding in walk order. */
export interface Findings {
  /** Why the subtree is non-deterministic, e.g. `calls function "now"`. */
  nondeterministic: string | undefined;
  /** The first user-defined function called (only when unknown functions are not trusted). */
  unknownFunction: string | undefined;
  /** `nextval` calls at countable positions, by the sequence name as written. */
  readonly nextvals: Map<string, number>;
  /** Why some `nextval` call cannot be counted (conditional, in a WHERE, a computed name...). */
  uncountable: string | undefined;
  /** True when the subtree holds an INSERT, UPDATE, DELETE or MERGE (a data-modifying WITH). */
  modifying: boolean;
}

/**
 * Makes an empty set of findings.
 * @returns findings with nothing found
 */
export function emptyFindings(): Findings {
  return {
    nondeterministic: undefined,
    unknownFunction: undefined,
    nextvals: new Map(),
    uncountable: undefined,
    modifying: false,
  };
}

/**
 * Adds `nextval` counts to a map, each multiplied.
 * @param into the map that receives the counts
 * @param from the counts to add
 * @param times the multiplier (rows)
 */
export function addCounts(into: Map<string, number>, from: Map<string, number>, times = 1): void {
  for (const [name, count] of from) into.set(name, (into.get(name) ?? 0) + count * times);
}

/** The SQLValueFunction operators whose value is the server's clock (`SVFOP_*`, primnodes.h). */
const CLOCK_VALUE_FUNCTIONS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: "CURRENT_DATE",
  SVFOP_CURRENT_TIME: "CURRENT_TIME",
  SVFOP_CURRENT_TIME_N: "CURRENT_TIME",
  SVFOP_CURRENT_TIMESTAMP: "CURRENT_TIMESTAMP",
  SVFOP_CURRENT_TIMESTAMP_N: "CURRENT_TIMESTAMP",
  SVFOP_LOCALTIME: "LOCALTIME",
  SVFOP_LOCALTIME_N: "LOCALTIME",
  SVFOP_LOCALTIMESTAMP: "LOCALTIMESTAMP",
  SVFOP_LOCALTIMESTAMP_N: "LOCALTIMESTAMP",
};

/** Date/time input strings that read the clock (datetime.c: DTK_NOW, DTK_TODAY, ...). */
const CLOCK_STRINGS = /^\s*(now|today|tomorrow|yesterday)\s*$/i;

/** System columns: physical position, transaction ids, command ids and table OIDs differ. */
const SYSTEM_COLUMNS = new Set(["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"]);

/** Types whose values are local to one server: object ids, transaction, command and tuple ids. */
const SERVER_LOCAL_TYPES = new Set(["oid", "xid", "xid8", "cid", "tid"]);

/** Aggregates whose result depends on the order of their input rows. */
const ORDER_SENSITIVE_AGGREGATES = new Set([
  "array_agg",
  "string_agg",
  "json_agg",
  "jsonb_agg",
  "json_object_agg",
  "jsonb_object_agg",
  "xmlagg",
]);

/** Window functions whose result depends on the order of the rows in the window. */
const ORDER_SENSITIVE_WINDOWS = new Set([
  "row_number",
  "rank",
  "dense_rank",
  "percent_rank",
  "cume_dist",
  "ntile",
  "lag",
  "lead",
  "first_value",
  "last_value",
  "nth_value",
]);

const MODIFYING_NODES = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/**
 * Nodes through which a `nextval` stays countable: each is evaluated exactly once per evaluation
 * of its parent. CASE, COALESCE, AND/OR, subqueries and the like may evaluate a branch zero or
 * many times, so below them a call cannot be counted.
 */
const COUNTABLE_NODES = new Set([
  "ResTarget",
  "A_Expr",
  "TypeCast",
  "FuncCall",
  "RowExpr",
  "A_ArrayExpr",
  "CollateClause",
  "A_Indirection",
  "NamedArgExpr",
  "NullTest",
  "BooleanTest",
  "List",
]);

/**
 * Walks a subtree with an explicit stack (a deeply nested expression cannot overflow the call
 * stack) and records what it finds.
 * @param root the subtree (a node wrapper, a body, or an array of them)
 * @param countable whether `nextval` calls at the root are evaluated exactly once per row
 * @param judge how calls are judged
 * @param found the findings to add to
 */
export function scan(root: unknown, countable: boolean, judge: CallJudge, found: Findings): void {
  const stack: [unknown, boolean][] = [[root, countable]];
  while (stack.length > 0) {
    const [value, counted] = stack.pop() as [unknown, boolean];
    if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item === "object" && item !== null) stack.push([item, counted]);
      }
      continue;
    }
    if (!isObject(value)) continue;
    for (const key in value) {
      const child = value[key];
      if (typeof child !== "object" || child === null) continue;
      let childCounted = counted;
      const first = key.charCodeAt(0);
      if (first >= 65 && first <= 90) { // a node type (A-Z), not a field
        childCounted = counted && COUNTABLE_NODES.has(key);
        if (isObject(child)) childCounted = noteNode(key, child, childCounted, judge, found);
        else if (key === "A_Expr") childCounted = false;
      }
      // The raw grammar copies `SET (a, b) = (x, y)`'s source into each target: walk it once.
      if (key === "MultiAssignRef" && isObject(child) && child.colno !== 1) continue;
      stack.push([child, childCounted]);
    }
  }
}

/** Records one node; returns whether its children stay countable. */
function noteNode(
  type: string,
  node: JsonObject,
  counted: boolean,
  judge: CallJudge,
  found: Findings,
): boolean {
  switch (type) {
    case "SQLValueFunction": {
      const clock = typeof node.op === "string" ? CLOCK_VALUE_FUNCTIONS[node.op] : undefined;
      if (clock !== undefined) found.nondeterministic ??= clock;
      return counted;
    }
    case "FuncCall":
      return noteCall(node, counted, judge, found);
    case "A_Expr":
      return counted && node.kind === "AEXPR_OP";
    case "A_Const":
      if (typeof node.sval === "object" && isObject(node.sval)) {
        const text = node.sval.sval;
        if (typeof text === "string" && CLOCK_STRINGS.test(text)) {
          found.nondeterministic ??= `the date/time input '${text.trim().toLowerCase()}'`;
        }
      }
      return counted;
    case "ColumnRef": {
      const fields = Array.isArray(node.fields) ? node.fields : [];
      const last = stringOf(fields[fields.length - 1]);
      if (last !== undefined && SYSTEM_COLUMNS.has(last)) {
        found.nondeterministic ??= `system column "${last}"`;
      }
      return counted;
    }
    case "TypeCast": {
      const names = isObject(node.typeName) && Array.isArray(node.typeName.names)
        ? node.typeName.names
        : [];
      const type = stringOf(names[names.length - 1]);
      if (type !== undefined && SERVER_LOCAL_TYPES.has(type)) {
        found.nondeterministic ??= `a cast to ${type}`;
      }
      return counted;
    }
    case "SelectStmt":
      noteSelect(node, found);
      return false;
    case "RangeTableSample":
      found.nondeterministic ??= "TABLESAMPLE";
      return false;
    default:
      if (MODIFYING_NODES.has(type)) found.modifying = true;
      return counted;
  }
}

function noteSelect(node: JsonObject, found: Findings): void {
  const ordered = Array.isArray(node.sortClause) && node.sortClause.length > 0;
  if (!ordered && (isObject(node.limitCount) || isObject(node.limitOffset))) {
    found.nondeterministic ??= "LIMIT or OFFSET without ORDER BY";
  }
  const distinct = Array.isArray(node.distinctClause) ? node.distinctClause : [];
  if (!ordered && distinct.some((item) => isObject(item) && Object.keys(item).length > 0)) {
    found.nondeterministic ??= "DISTINCT ON without ORDER BY";
  }
  if (Array.isArray(node.lockingClause)) {
    for (const item of node.lockingClause) {
      const clause = isObject(item) && isObject(item.LockingClause) ? item.LockingClause : {};
      if (clause.waitPolicy === "LockWaitSkip") found.nondeterministic ??= "SKIP LOCKED";
    }
  }
}

function noteCall(call: JsonObject, counted: boolean, judge: CallJudge, found: Findings): boolean {
  const parts = Array.isArray(call.funcname) ? call.funcname.map((p) => stringOf(p) ?? "") : [];
  const name = parts.join(".");
  const bare = parts[parts.length - 1] ?? "";
  const over = isObject(call.over) ? call.over : undefined;
  const aggregate = over !== undefined || call.agg_star === true || call.agg_distinct === true ||
    isObject(call.agg_filter) || Array.isArray(call.agg_order);
  if (over !== undefined && ORDER_SENSITIVE_WINDOWS.has(bare)) {
    const named = typeof over.name === "string" || typeof over.refname === "string";
    if (!named && !(Array.isArray(over.orderClause) && over.orderClause.length > 0)) {
      found.nondeterministic ??= `window function "${name}" without ORDER BY`;
    }
  }
  if (
    ORDER_SENSITIVE_AGGREGATES.has(bare) && over === undefined && !Array.isArray(call.agg_order)
  ) {
    found.nondeterministic ??= `aggregate "${name}" without ORDER BY`;
  }
  switch (judge.judge(parts)) {
    case "deterministic":
      break;
    case "nondeterministic":
      found.nondeterministic ??= `calls function "${name}"`;
      break;
    case "unknown":
      if (judge.trustUnknown) found.nondeterministic ??= `calls function "${name}"`;
      else found.unknownFunction ??= name;
      break;
    case "nextval": {
      found.nondeterministic ??= `calls function "${name}"`;
      const sequence = sequenceArgument(call.args);
      if (sequence === undefined) {
        found.uncountable ??= "nextval() of a sequence named by an expression";
      } else if (!counted || aggregate) {
        found.uncountable ??= `nextval('${sequence}') where the number of calls is not known`;
      } else {
        found.nextvals.set(sequence, (found.nextvals.get(sequence) ?? 0) + 1);
      }
      break;
    }
  }
  return counted && !aggregate;
}

/** The sequence of `nextval('s')` or `nextval('s'::regclass)`, as written; else undefined. */
function sequenceArgument(args: unknown): string | undefined {
  if (!Array.isArray(args) || args.length !== 1) return undefined;
  let node: unknown = args[0];
  if (isObject(node) && isObject(node.TypeCast)) node = node.TypeCast.arg;
  if (!isObject(node) || !isObject(node.A_Const) || !isObject(node.A_Const.sval)) return undefined;
  const text = node.A_Const.sval.sval;
  return typeof text === "string" ? text : undefined;
}

/**
 * The string of a `{ String: { sval } }` node.
 * @param node a parse-tree node
 * @returns its string, or undefined when it is another node
 */
export function stringOf(node: unknown): string | undefined {
  if (!isObject(node) || !isObject(node.String)) return undefined;
  return typeof node.String.sval === "string" ? node.String.sval : undefined;
}
