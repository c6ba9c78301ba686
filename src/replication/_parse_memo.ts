/**
 * @module
 * The parser's last few trees, shared by the classifier and the planner. A write that misses the
 * text caches (pgbench's INSERT, whose literals change every time) is classified and then planned
 * (once without its table, once with it): each used to parse the same text anew. Trees are plain
 * JSON that nobody changes, so one tree may serve every reader of the same text.
 */

import { parseSync } from "libpg-query";

/** How many trees are kept: enough for the statements of one query string in flight. */
const SIZE = 16;
/** Longest text kept: a long text is unlikely to come again right away. */
const MAX_TEXT = 65_536;
// Two generations, as the Classifier's cache (deleting a Map's first entry leaves a hole).
let young = new Map<string, unknown>();
let old = new Map<string, unknown>();

/**
 * Parses SQL with libpg-query, or returns the tree of the same text parsed a moment ago. The
 * caller must not change the tree.
 * @param sql the text
 * @returns the parse tree (`{ version, stmts }`)
 * @throws the parser's error (`SqlError`) when the text does not parse; Error when the parser's
 *   WASM module is not loaded
 */
export function parseMemo(sql: string): unknown {
  const known = young.get(sql) ?? old.get(sql);
  if (known !== undefined) return known;
  const tree: unknown = parseSync(sql);
  remember(sql, tree);
  return tree;
}

/**
 * Records the tree of `sql` for a text that parses to the same tree: the single statement of a
 * text that is that statement followed by a semicolon (parsed without it, its node locations are
 * the same, and only `stmt_len`, which then covers the same statement, could differ).
 * @param statement the statement's own text, a prefix of the parsed text
 * @param tree the tree parsed from `statement + ";"`
 */
export function rememberStatement(statement: string, tree: unknown): void {
  remember(statement, tree);
}

function remember(sql: string, tree: unknown): void {
  if (sql.length > MAX_TEXT) return;
  if (young.size >= SIZE / 2) {
    old = young;
    young = new Map();
  }
  young.set(sql, tree);
}
