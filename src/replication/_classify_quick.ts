/**
 * @module
 * A lexical shortcut for the statements that dominate OLTP traffic and vary only in their
 * literals, so the exact-text cache misses on every one (pgbench's TPC-B in the simple protocol:
 * `UPDATE pgbench_accounts SET abalance = abalance + -4010 WHERE aid = 41273`). A statement is
 * recognised only when it has no parentheses (so no function call, subquery, VALUES or column
 * list), no quotes or dollar signs (no literal that could hide anything), no comment, at most a
 * trailing semicolon, and none of the words that would change its class or make it compute a
 * value on the server. Everything else goes to PostgreSQL's parser, as before.
 */

import type { Classification, StatementInfo, TransactionAction } from "./classify.ts";

/** Characters and sequences that send a statement to the parser. */
const UNSAFE_CHARS = /[()'"$\\]|--|\/\*|;\s*\S/;
/** Words that make a SELECT more than a read. */
const SELECT_RISK = /\b(into|for|with|nextval|setval|lock)\b/i;
/** Words that make an UPDATE or DELETE computed on the server, or its rows order-dependent. */
const WRITE_RISK =
  /\b(with|current|current_\w+|localtime|localtimestamp|now|today|tomorrow|yesterday|returning|default|limit|offset|tablesample|ctid|xmin|xmax|cmin|cmax|oid|tableoid|only)\b/i;

/** The first word of a statement. */
const VERB = /^(\w+)\b/;

const TRANSACTIONS: Readonly<Record<string, TransactionAction>> = {
  begin: "begin",
  "start transaction": "begin",
  commit: "commit",
  end: "commit",
  rollback: "rollback",
  abort: "rollback",
};

/**
 * Classifies a statement without the parser when that is certainly right.
 *
 * @param sql the query text
 * @returns the classification, or undefined when the parser must decide
 */
export function quickClassify(sql: string): Classification | undefined {
  if (sql.length > 2000 || UNSAFE_CHARS.test(sql)) return undefined;
  let text = sql.trim();
  if (text.endsWith(";")) text = text.slice(0, -1).trimEnd();
  const m = VERB.exec(text);
  if (!m) return undefined;
  const verb = m[1]!.toLowerCase();
  // Only short texts can be a transaction statement (the longest is `start transaction`); the
  // lower-casing and blank-folding this takes is skipped for the statements that carry data.
  const tx = text.length <= 40 ? TRANSACTIONS[text.toLowerCase().replace(/\s+/g, " ")] : undefined;
  if (tx !== undefined) {
    return one({ class: "transaction", node: "TransactionStmt", text, transaction: tx }, false);
  }
  switch (verb) {
    case "select":
      if (SELECT_RISK.test(text)) return undefined;
      return one({ class: "read", node: "SelectStmt", text }, false);
    case "update":
      // UPDATE ... FROM picks an arbitrary row of the joined table when several match.
      if (WRITE_RISK.test(text) || /\bfrom\b/i.test(text)) return undefined;
      return one({ class: "write", node: "UpdateStmt", text, deterministic: true }, true);
    case "delete":
      if (WRITE_RISK.test(text)) return undefined;
      return one({ class: "write", node: "DeleteStmt", text, deterministic: true }, true);
    default:
      return undefined;
  }
}

function one(st: StatementInfo, hasWrite: boolean): Classification {
  return Object.freeze({
    class: st.class,
    statements: Object.freeze([Object.freeze(st)]),
    hasWrite,
  });
}
