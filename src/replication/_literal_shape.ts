/**
 * @module
 * The shape of a statement whose text differs from call to call only in its numeric literals
 * (pgbench's `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 41273,
 * -4010, CURRENT_TIMESTAMP)`): the text with every number replaced by `$`. Such statements
 * cannot all be cached by their exact text, and parsing each one costs far more than the rest of
 * its trip through the proxy; their classification depends on the shape alone (what a statement
 * is never depends on the value of a number in it), so it is cached by shape.
 *
 * A shape is given only to texts where a number cannot hide inside something else: no quote,
 * dollar sign, backslash or comment, and nothing outside ASCII (so a `$` in the shape is always
 * a replaced number); and never to an EXPLAIN, whose options take numbers as booleans.
 */

/** Anything that could hold a digit that is not a numeric literal, or a `$` of its own. */
const NOT_SHAPED = /['"$\\]|--|\/\*|[\u0080-\uffff]/;
/**
 * Statements whose meaning does depend on a number: `EXPLAIN (ANALYZE 0)` only plans the
 * statement, `EXPLAIN (ANALYZE 1)` runs it (an option's number is a boolean, define.c).
 */
const NUMBER_MATTERS = /\bexplain\b/i;

/**
 * A numeric literal (`5`, `-` is an operator, `1.5`, `1.`, `2e-3`) standing on its own: not part
 * of an identifier (`t1`, `x2y`) or of a longer token.
 */
const NUMBER = /(?<![\w.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?![\w.])/g;

/**
 * The text with its numeric literals replaced by `$`.
 *
 * @param sql the query text
 * @returns the shape, or undefined when the text has no number or may hide one (see the module
 *   notes)
 */
export function literalShape(sql: string): string | undefined {
  if (NOT_SHAPED.test(sql) || NUMBER_MATTERS.test(sql)) return undefined;
  NUMBER.lastIndex = 0;
  if (!NUMBER.test(sql)) return undefined;
  NUMBER.lastIndex = 0;
  return sql.replace(NUMBER, "$$");
}
