/**
 * @module
 * The statement classifier: decides where a SQL string may run (one backend, every backend, or
 * the original only), using PostgreSQL's own grammar through libpg-query (the raw parser of
 * `src/backend/parser/gram.y`, compiled to WASM). Results are cached by exact text, because
 * applications send the same few statements again and again and a cache hit is one Map lookup.
 * DESIGN.md, "Replication semantics", gives the rules; `_classify_rules.ts` implements them.
 *
 * @example
 * ```ts
 * import { Classifier, initClassifier } from "./classify.ts";
 * await initClassifier();
 * const classifier = new Classifier({ readOnlyFunctions: ["myschema.score"] });
 * classifier.classify("SELECT nextval('s')").class; // "write"
 * ```
 */

import { quickClassify } from "./_classify_quick.ts";
import { literalShape } from "./_literal_shape.ts";
import { loadModule } from "libpg-query";
import { parseMemo, rememberStatement } from "./_parse_memo.ts";
import { classifyNode, FunctionPolicy, isObject, unwrap, type Verdict } from "./_classify_rules.ts";

/** Where one statement may run. */
export type StatementClass =
  /** Needs one backend: SELECT without unsafe functions, SHOW, EXPLAIN, COPY ... TO, VALUES, TABLE. */
  | "read"
  /** Changes data: goes to the original, then every in-sync copy. */
  | "write"
  /** Changes only session state (SET, RESET, DISCARD, PREPARE, DEALLOCATE): every backend. */
  | "session"
  /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, ...: every backend. */
  | "transaction"
  /** LISTEN/UNLISTEN, DECLARE/FETCH/MOVE/CLOSE cursor: the original only (sticky). */
  | "originalOnly";

/** What a transaction statement does. */
export type TransactionAction =
  | "begin"
  | "commit"
  | "rollback"
  | "savepoint"
  | "release"
  | "rollbackTo"
  | "prepare"
  | "commitPrepared"
  | "rollbackPrepared";

/** One statement of a classified string. */
export interface StatementInfo {
  /** Where this statement may run. */
  readonly class: StatementClass;
  /** The parse node type, e.g. `SelectStmt`, `InsertStmt`, `VariableSetStmt`. */
  readonly node: string;
  /** This statement's own text, trimmed. */
  readonly text: string;
  /** For `transaction` statements: what they do. */
  readonly transaction?: TransactionAction;
  /** SQL `PREPARE name AS stmt`: the name and the class of `stmt`. */
  readonly prepare?: { readonly name: string; readonly class: StatementClass };
  /** SQL `EXECUTE name`: the session resolves the class from its PREPARE (unknown: write). */
  readonly execute?: string;
  /** SQL `DEALLOCATE name`; null for `DEALLOCATE ALL`. */
  readonly deallocate?: string | null;
  /** Why a SELECT (or a cursor's query, or WHERE CURRENT OF) is more than a read. */
  readonly reason?: string;
  /** True when the statement creates a temporary object; absent when not known. */
  readonly temporary?: boolean;
  /**
   * True when the statement was recognised without the parser (no parentheses, quotes or
   * risky words: see `_classify_quick.ts`) and cannot compute a value on the server: the
   * determinism planner need not look at it.
   */
  readonly deterministic?: boolean;
}

/** The classification of a whole SQL string, which is routed as one unit. */
export interface Classification {
  /** The combined class: write > transaction > session > originalOnly > read. */
  readonly class: StatementClass;
  /** Each statement in order; empty for an empty string, only comments, or a parse error. */
  readonly statements: readonly StatementInfo[];
  /** The parser's message when the text does not parse; the class is then `write`. */
  readonly parseError?: string;
  /** True when any statement is a write (the transaction has then written). */
  readonly hasWrite: boolean;
}

/** Options of {@link Classifier}. */
export interface ClassifierOptions {
  /** Extra read-only functions, lower-case, bare (any schema) or schema-qualified (`s.f`). */
  readonly readOnlyFunctions?: readonly string[];
  /** Functions that are writes even if built-in read-only, bare or schema-qualified. */
  readonly writeFunctions?: readonly string[];
  /** Most classifications kept (default 10,000); 0 disables the cache. */
  readonly cacheSize?: number;
  /**
   * Longest text (in UTF-16 code units) that is cached (default 65,536): a multi-megabyte INSERT
   * of literals is unlikely to come again and would only hold memory.
   */
  readonly maxCachedTextLength?: number;
}

let loading: Promise<void> | undefined;
let loaded = false;

/**
 * Loads the parser's WASM module. Idempotent: every call after the first returns the same promise.
 * @returns a promise that resolves once {@link Classifier.classify} may be called
 * @throws Error when the WASM module cannot be loaded (a later call tries again)
 */
export function initClassifier(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      loaded = true;
    },
    (e: unknown) => {
      loading = undefined;
      throw e;
    },
  );
  return loading;
}

/** Precedence of the combined class: any of write, transaction, session means every backend. */
const RANK: Readonly<Record<StatementClass, number>> = {
  read: 0,
  originalOnly: 1,
  session: 2,
  transaction: 3,
  write: 4,
};

const EMPTY: Classification = Object.freeze({
  class: "read",
  statements: Object.freeze([]),
  hasWrite: false,
});

/** A bounded cache of classifications by exact SQL text, with hit and miss counters. */
export class Classifier {
  /** Cache hits and misses since construction. */
  readonly stats: { hits: number; misses: number; shapeHits: number } = {
    hits: 0,
    misses: 0,
    shapeHits: 0,
  };
  // Two generations instead of one Map evicted oldest-first: deleting a Map's first entry leaves
  // a hole V8 skips on every later `keys().next()`, which cost 10 % of a proxy's CPU on pgbench
  // -S. When the young generation is full it becomes the old one, and the old one is dropped.
  #young = new Map<string, Classification>();
  #old = new Map<string, Classification>();
  /** Single statements by literal shape; cleared when it holds half the cache size. */
  readonly #shapes = new Map<string, ShapedClassification>();
  readonly #policy: FunctionPolicy;
  readonly #cacheSize: number;
  readonly #maxTextLength: number;

  /**
   * Creates a classifier with its own cache and function lists.
   * @param opts function lists and cache bounds
   * @throws RangeError when `cacheSize` or `maxCachedTextLength` is not a non-negative integer
   */
  constructor(opts: ClassifierOptions = {}) {
    this.#cacheSize = checkCount("cacheSize", opts.cacheSize ?? 10_000);
    this.#maxTextLength = checkCount("maxCachedTextLength", opts.maxCachedTextLength ?? 65_536);
    this.#policy = new FunctionPolicy(opts.readOnlyFunctions, opts.writeFunctions);
  }

  /**
   * Classifies a SQL string (one simple Query, or one Parse). The result is frozen and shared by
   * every caller that passes the same text.
   * @param sql the query text, possibly several statements
   * @returns the classification; a text that does not parse is a write with `parseError`
   * @throws Error when {@link initClassifier} has not completed
   */
  classify(sql: string): Classification {
    const cached = this.#young.get(sql) ?? this.#old.get(sql);
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    if (!loaded) throw new Error("classifier not initialised: await initClassifier() first");
    // Statements the lexical shortcut recognises vary in their literals (pgbench's
    // `... WHERE aid = 41273`): recomputing is cheaper than filling the cache with them.
    const quick = quickClassify(sql);
    if (quick) return quick;
    // Statements that vary only in their numbers are cached by shape (`_literal_shape.ts`).
    const shape = this.#cacheSize > 0 && sql.length <= this.#maxTextLength
      ? literalShape(sql)
      : undefined;
    if (shape !== undefined) {
      const shaped = this.#shapes.get(shape);
      if (shaped !== undefined) {
        this.stats.shapeHits++;
        return shaped.for(sql);
      }
    }
    const result = classifyText(sql, this.#policy);
    if (shape !== undefined) {
      const shaped = ShapedClassification.of(sql, result);
      if (shaped !== undefined) {
        if (this.#shapes.size >= Math.ceil(this.#cacheSize / 2)) this.#shapes.clear();
        this.#shapes.set(shape, shaped);
        return result;
      }
    }
    if (this.#cacheSize > 0 && sql.length <= this.#maxTextLength) {
      if (this.#young.size >= Math.ceil(this.#cacheSize / 2)) {
        this.#old = this.#young;
        this.#young = new Map();
      }
      this.#young.set(sql, result);
    }
    return result;
  }
}

/** What may stand around a lone statement's text in its string: white space, a semicolon. */
const SURROUNDS = /^[\s;]*$/;

/**
 * The classification of one statement, for every text of its literal shape: the same verdict,
 * with the statement's own text cut out of each new string where it stood in the first one
 * (only white space and a semicolon, which hold no number, surround it).
 */
class ShapedClassification {
  readonly #result: Classification;
  readonly #lead: number;
  readonly #trail: number;

  private constructor(result: Classification, lead: number, trail: number) {
    this.#result = result;
    this.#lead = lead;
    this.#trail = trail;
  }

  /**
   * Wraps a classification for reuse by shape: only a single statement that parsed.
   *
   * @param sql the text it was computed for
   * @param result its classification
   * @returns the reusable form, or undefined when the result does not qualify
   */
  static of(sql: string, result: Classification): ShapedClassification | undefined {
    if (result.parseError !== undefined || result.statements.length !== 1) return undefined;
    const text = result.statements[0]!.text;
    const lead = sql.indexOf(text);
    if (lead < 0 || !SURROUNDS.test(sql.slice(0, lead))) return undefined;
    if (!SURROUNDS.test(sql.slice(lead + text.length))) return undefined;
    return new ShapedClassification(result, lead, sql.length - lead - text.length);
  }

  /**
   * The classification of another text of the same shape.
   *
   * @param sql the text
   * @returns the verdict with this text's statement
   */
  for(sql: string): Classification {
    const r = this.#result;
    const text = sql.slice(this.#lead, sql.length - this.#trail);
    return Object.freeze({
      ...r,
      statements: Object.freeze([Object.freeze({ ...r.statements[0]!, text })]),
    });
  }
}

function checkCount(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`classifier option "${key}" must be a non-negative integer: ${value}`);
  }
  return value;
}

/** PostgreSQL's whitespace (scan.l `space`); JavaScript's trim() knows more characters. */
const PG_BLANK = /^[ \t\n\r\f\v]*$/;

function classifyText(sql: string, policy: FunctionPolicy): Classification {
  if (!loaded) throw new Error("classifier not initialised: await initClassifier() first");
  // libpg-query refuses any text that JavaScript's trim() empties, but the server answers a
  // blank query with EmptyQueryResponse and rejects other Unicode spaces as a syntax error.
  let text = sql;
  if (sql.trim() === "") {
    if (PG_BLANK.test(sql)) return EMPTY;
    text = `${sql};`;
  }
  // The parser reads a C string: text after a NUL would be invisible to it. The wire protocol
  // cannot carry one in a query, so this is a caller's bug, and a write is the safe answer.
  if (text.includes("\0")) return parseFailure("query text contains a NUL character");
  let tree: unknown;
  try {
    tree = parseMemo(text);
  } catch (e: unknown) {
    return parseFailure(e instanceof Error ? e.message : String(e));
  }
  const raws = isObject(tree) && Array.isArray(tree.stmts) ? tree.stmts : [];
  if (raws.length === 0) return EMPTY;
  const slicer = textSlicer(sql);
  const statements: StatementInfo[] = [];
  let combined: StatementClass = "read";
  let hasWrite = false;
  for (const raw of raws) {
    const rawStmt = isObject(raw) ? raw : {};
    const { type, body } = unwrap(rawStmt.stmt);
    const verdict = classifyNode(type, body, policy);
    const start = typeof rawStmt.stmt_location === "number" ? rawStmt.stmt_location : 0;
    const length = typeof rawStmt.stmt_len === "number" ? rawStmt.stmt_len : 0;
    statements.push(info(verdict, type, slicer(start, length)));
    if (RANK[verdict.class] > RANK[combined]) combined = verdict.class;
    hasWrite ||= verdict.class === "write";
  }
  // The planner parses a write's statement text again (classify.ts slices it out of `sql`):
  // `INSERT ...;` holds the tree `INSERT ...` has, which the planner can reuse.
  const only = statements.length === 1 ? statements[0]!.text : undefined;
  if (only !== undefined && hasWrite && sql === `${only};`) rememberStatement(only, tree);
  return Object.freeze({
    class: combined,
    statements: Object.freeze(statements),
    hasWrite,
  });
}

/** A text that does not parse goes to every backend, and each returns the same error. */
function parseFailure(message: string): Classification {
  return Object.freeze({
    class: "write",
    statements: Object.freeze([]),
    parseError: message,
    hasWrite: false,
  });
}

function info(verdict: Verdict, node: string, text: string): StatementInfo {
  const { class: cls, prepare, ...rest } = verdict;
  // class, node and text first: they read best in logs and test failures.
  return Object.freeze({
    class: cls,
    node,
    text,
    ...rest,
    ...(prepare === undefined ? {} : { prepare: Object.freeze({ ...prepare }) }),
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Cuts statements out of the text by the parser's offsets, which count UTF-8 bytes; for ASCII
 * text bytes and UTF-16 code units coincide and the string is cut directly.
 */
function textSlicer(sql: string): (start: number, length: number) => string {
  if (!NON_ASCII.test(sql)) {
    return (start, length) => sql.slice(start, length > 0 ? start + length : undefined).trim();
  }
  const bytes = encoder.encode(sql);
  return (start, length) =>
    decoder.decode(bytes.subarray(start, length > 0 ? start + length : bytes.length)).trim();
}
