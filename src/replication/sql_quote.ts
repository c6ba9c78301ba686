/**
 * @module
 * Quoting of SQL identifiers and string literals for the statements usogres writes itself (copy
 * statements of row-based replication, catalog and checksum queries, recovery's setval), as
 * PostgreSQL's `quote_ident()` (always quoted) and `quote_literal()` do.
 */

/**
 * Quotes an identifier, always, doubling embedded double quotes.
 *
 * @param name the identifier as stored
 * @returns the quoted identifier
 * @throws {TypeError} when the name contains NUL
 */
export function quoteIdent(name: string): string {
  if (name.includes("\0")) throw new TypeError("identifier contains a NUL character");
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes a string literal as `quote_literal()` does: quotes doubled, and an `E''` literal with
 * doubled backslashes when there are any, so the result means the same whatever
 * `standard_conforming_strings` is.
 *
 * @param value the text
 * @returns the literal
 * @throws {TypeError} when the text contains NUL
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new TypeError("string literal contains a NUL character");
  const body = value.replaceAll("'", "''");
  return value.includes("\\") ? `E'${body.replaceAll("\\", "\\\\")}'` : `'${body}'`;
}
