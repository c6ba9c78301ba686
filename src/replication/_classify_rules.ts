/**
 * @module
 * The per-statement rules of the classifier: given one node of libpg-query's JSON parse tree
 * (PostgreSQL's raw grammar output, `src/include/nodes/parsenodes.h`), decide where it may run.
 * Reads are the exception and must be proven: anything not recognised is a write.
 */

import type { StatementClass, TransactionAction } from "./classify.ts";
import {
  ALWAYS_WRITE_FUNCTIONS,
  ORIGINAL_ONLY_FUNCTIONS,
  READ_ONLY_FUNCTIONS,
} from "./read_only_functions.ts";

/** A JSON object of the parse tree. */
export type JsonObject = { readonly [key: string]: unknown };

/**
 * Tells whether a parse-tree value is a JSON object (not an array, not null).
 * @param value any value of the parse tree
 * @returns true for a plain object
 */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What the rules decide about one statement, before its text is attached. */
export interface Verdict {
  /** Where the statement may run. */
  class: StatementClass;
  /** For transaction statements: what they do. */
  transaction?: TransactionAction;
  /** For PREPARE: the name and the class of the prepared statement. */
  prepare?: { readonly name: string; readonly class: StatementClass };
  /** For EXECUTE (and EXPLAIN ANALYZE EXECUTE): the prepared statement's name. */
  execute?: string;
  /** For DEALLOCATE: the name, or null for ALL. */
  deallocate?: string | null;
  /** Why the statement is more than a read. */
  reason?: string;
  /** True when the statement creates a temporary object. */
  temporary?: boolean;
}

/** How one function call routes. */
export type FunctionClass = "read" | "write" | "originalOnly";

/** Which functions are read-only: the built-in lists adjusted by the configured ones. */
export class FunctionPolicy {
  readonly #readOnly: ReadonlySet<string>;
  readonly #write: ReadonlySet<string>;

  /**
   * Builds the policy from the configured lists.
   * @param readOnly extra read-only functions, bare (`f`, any schema) or qualified (`s.f`)
   * @param write functions that are writes even when built-in read-only, bare or qualified
   * @returns the policy
   */
  constructor(readOnly: readonly string[] = [], write: readonly string[] = []) {
    this.#readOnly = new Set(readOnly.map(normaliseName));
    this.#write = new Set(write.map(normaliseName));
  }

  /**
   * Classifies a call by its name parts as the parser gives them (`["pg_catalog", "nextval"]`).
   * A bare or `pg_catalog` name may match the built-in lists; another schema matches only a
   * configured `schema.name` entry or a configured bare name.
   * @param parts the name parts (catalog and schema optional)
   * @returns where a statement calling it may run
   */
  judge(parts: readonly string[]): FunctionClass {
    const name = parts[parts.length - 1] ?? "";
    const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
    const builtin = schema === undefined || schema === "pg_catalog";
    const qualified = builtin ? name : `${schema}.${name}`;
    if (this.#write.has(name) || this.#write.has(qualified)) return "write";
    if (builtin && ALWAYS_WRITE_FUNCTIONS.has(name)) return "write";
    if (builtin && ORIGINAL_ONLY_FUNCTIONS.has(name)) return "originalOnly";
    if (this.#readOnly.has(name) || this.#readOnly.has(qualified)) return "read";
    if (builtin && READ_ONLY_FUNCTIONS.has(name)) return "read";
    return "write";
  }
}

/** Lower-cases a configured name and drops a `pg_catalog.` prefix, which is the default schema. */
function normaliseName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.startsWith("pg_catalog.") ? lower.slice("pg_catalog.".length) : lower;
}

/** The first node (in text order) of each kind that makes a query more than a read. */
interface Findings {
  modifying: boolean;
  locking: string | undefined;
  write: { name: string; location: number } | undefined;
  originalOnly: { name: string; location: number } | undefined;
}

const MODIFYING_NODES = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

const LOCKING_WORDS: Readonly<Record<string, string>> = {
  LCS_FORKEYSHARE: "FOR KEY SHARE",
  LCS_FORSHARE: "FOR SHARE",
  LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
  LCS_FORUPDATE: "FOR UPDATE",
};

/**
 * Walks a whole subtree (subqueries, CTEs, function arguments, LATERAL, every expression) with an
 * explicit stack, so a deeply nested expression cannot overflow the call stack.
 */
function scan(root: unknown, policy: FunctionPolicy): Findings {
  const found: Findings = {
    modifying: false,
    locking: undefined,
    write: undefined,
    originalOnly: undefined,
  };
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === "object" && item !== null) stack.push(item);
      continue;
    }
    if (!isObject(value)) continue;
    for (const key in value) {
      const child = value[key];
      if (typeof child !== "object" || child === null) continue;
      if (key === "FuncCall") noteCall(child, policy, found);
      else if (key === "lockingClause") noteLocking(child, found);
      else if (MODIFYING_NODES.has(key)) found.modifying = true;
      stack.push(child);
    }
  }
  return found;
}

function noteCall(call: unknown, policy: FunctionPolicy, found: Findings): void {
  if (!isObject(call) || !Array.isArray(call.funcname)) return;
  const parts: string[] = [];
  for (const part of call.funcname) {
    const sval = isObject(part) && isObject(part.String) ? part.String.sval : undefined;
    parts.push(typeof sval === "string" ? sval : "");
  }
  const verdict = policy.judge(parts);
  if (verdict === "read") return;
  const location = typeof call.location === "number" ? call.location : 0;
  const slot = verdict === "write" ? "write" : "originalOnly";
  const previous = found[slot];
  if (previous === undefined || location < previous.location) {
    found[slot] = { name: parts.join("."), location };
  }
}

function noteLocking(clause: unknown, found: Findings): void {
  if (!Array.isArray(clause)) return;
  for (const item of clause) {
    const strength = isObject(item) && isObject(item.LockingClause)
      ? item.LockingClause.strength
      : undefined;
    found.locking ??= (typeof strength === "string" ? LOCKING_WORDS[strength] : undefined) ??
      "FOR UPDATE";
  }
}

/** `relpersistence` 't' marks a temporary relation (pg_class.h, RELPERSISTENCE_TEMP). */
function isTemp(rangeVar: unknown): boolean {
  return isObject(rangeVar) && rangeVar.relpersistence === "t";
}

/** A SELECT (or VALUES, TABLE): read unless something in its tree makes it more. */
function classifySelect(body: JsonObject, policy: FunctionPolicy): Verdict {
  const found = scan(body, policy);
  if (isObject(body.intoClause)) {
    const into: Verdict = { class: "write", reason: "SELECT INTO" };
    if (isTemp(body.intoClause.rel)) into.temporary = true;
    return into;
  }
  if (found.modifying) return { class: "write", reason: "data-modifying WITH" };
  if (found.locking !== undefined) return { class: "write", reason: found.locking };
  if (found.write) return { class: "write", reason: `calls function "${found.write.name}"` };
  if (found.originalOnly) {
    return { class: "originalOnly", reason: `calls function "${found.originalOnly.name}"` };
  }
  return { class: "read" };
}

/**
 * Splits a `{ NodeType: body }` wrapper of the parse tree into its type and body.
 * @param node a wrapper such as `{ SelectStmt: { ... } }`
 * @returns the type (`"unknown"` when `node` is not a wrapper) and the body (`{}` when absent)
 */
export function unwrap(node: unknown): { type: string; body: JsonObject } {
  if (isObject(node)) {
    for (const type in node) {
      const body = node[type];
      return { type, body: isObject(body) ? body : {} };
    }
  }
  return { type: "unknown", body: {} };
}

/** `EXPLAIN (ANALYZE)` runs the statement; option values follow defGetBoolean (define.c). */
function explainAnalyzes(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  let analyze = false;
  for (const option of options) {
    const def = isObject(option) && isObject(option.DefElem) ? option.DefElem : undefined;
    if (def?.defname !== "analyze") continue;
    const { type, body } = unwrap(def.arg);
    if (type === "Integer") analyze = body.ival !== undefined && body.ival !== 0;
    else if (type === "Boolean") analyze = body.boolval === true;
    else if (type === "String" && typeof body.sval === "string") analyze = !isFalse(body.sval);
    else analyze = true; // no argument: EXPLAIN ANALYZE
  }
  return analyze;
}

/** The false spellings of parse_bool (bool.c): prefixes of false and no, of off from 2 chars, 0. */
function isFalse(word: string): boolean {
  const w = word.trim().toLowerCase();
  if (w === "" || w === "o") return false;
  return "false".startsWith(w) || "no".startsWith(w) || "off".startsWith(w) || w === "0";
}

const TRANSACTION_ACTIONS: Readonly<Record<string, TransactionAction>> = {
  TRANS_STMT_BEGIN: "begin",
  TRANS_STMT_START: "begin",
  TRANS_STMT_COMMIT: "commit",
  TRANS_STMT_ROLLBACK: "rollback",
  TRANS_STMT_SAVEPOINT: "savepoint",
  TRANS_STMT_RELEASE: "release",
  TRANS_STMT_ROLLBACK_TO: "rollbackTo",
  TRANS_STMT_PREPARE: "prepare",
  TRANS_STMT_COMMIT_PREPARED: "commitPrepared",
  TRANS_STMT_ROLLBACK_PREPARED: "rollbackPrepared",
};

const SESSION_NODES = new Set(["VariableSetStmt", "DiscardStmt", "ConstraintsSetStmt"]);
const ORIGINAL_ONLY_NODES = new Set(["ListenStmt", "UnlistenStmt", "FetchStmt", "ClosePortalStmt"]);

/**
 * Classifies one statement node of the parse tree.
 * @param type the node type, e.g. `SelectStmt`
 * @param body the node's fields
 * @param policy which functions are read-only
 * @returns the verdict; unknown node types are writes
 */
export function classifyNode(type: string, body: JsonObject, policy: FunctionPolicy): Verdict {
  if (type === "SelectStmt") return classifySelect(body, policy);
  if (type === "VariableShowStmt") return { class: "read" };
  if (SESSION_NODES.has(type)) return { class: "session" };
  if (ORIGINAL_ONLY_NODES.has(type)) return { class: "originalOnly" };
  switch (type) {
    case "InsertStmt":
    case "MergeStmt":
      return { class: "write" };
    case "UpdateStmt":
    case "DeleteStmt":
      // The cursor lives on the original only: the session must not send this to the copies.
      return isObject(body.whereClause) && isObject(body.whereClause.CurrentOfExpr)
        ? { class: "write", reason: "WHERE CURRENT OF" }
        : { class: "write" };
    case "TransactionStmt": {
      const action = typeof body.kind === "string" ? TRANSACTION_ACTIONS[body.kind] : undefined;
      return action === undefined
        ? { class: "write" }
        : { class: "transaction", transaction: action };
    }
    case "CopyStmt":
      if (body.is_from === true) return { class: "write" };
      return body.query === undefined ? { class: "read" } : classifyInner(body.query, policy);
    case "ExplainStmt":
      return explainAnalyzes(body.options) ? classifyInner(body.query, policy) : { class: "read" };
    case "PrepareStmt": {
      const inner = unwrap(body.query);
      const name = typeof body.name === "string" ? body.name : "";
      return {
        class: "session",
        prepare: { name, class: classifyNode(inner.type, inner.body, policy).class },
      };
    }
    case "ExecuteStmt":
      return { class: "write", execute: typeof body.name === "string" ? body.name : "" };
    case "DeallocateStmt":
      return { class: "session", deallocate: typeof body.name === "string" ? body.name : null };
    case "DeclareCursorStmt": {
      // Cursors live on the original; a reason tells the session when fetching would write there.
      const inner = classifyInner(body.query, policy);
      return inner.reason === undefined
        ? { class: "originalOnly" }
        : { class: "originalOnly", reason: inner.reason };
    }
    case "CreateStmt":
      return withTemp(isTemp(body.relation));
    case "CreateTableAsStmt":
      return withTemp(isObject(body.into) && isTemp(body.into.rel));
    case "ViewStmt":
      return withTemp(isTemp(body.view));
    case "CreateSeqStmt":
      return withTemp(isTemp(body.sequence));
    default:
      return { class: "write" };
  }
}

function withTemp(temporary: boolean): Verdict {
  return temporary ? { class: "write", temporary: true } : { class: "write" };
}

/**
 * The statement inside COPY (query) TO and EXPLAIN ANALYZE: a write or original-only inner
 * statement makes the outer one so; anything else reads.
 */
function classifyInner(node: unknown, policy: FunctionPolicy): Verdict {
  const inner = unwrap(node);
  const verdict = classifyNode(inner.type, inner.body, policy);
  if (verdict.class !== "write" && verdict.class !== "originalOnly") return { class: "read" };
  const outer: Verdict = { class: verdict.class };
  if (verdict.reason !== undefined) outer.reason = verdict.reason;
  if (verdict.execute !== undefined) outer.execute = verdict.execute;
  return outer;
}
