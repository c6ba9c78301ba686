/**
 * @module
 * The SQL text of row-based replication: quoting of identifiers and literals (PostgreSQL's
 * `quote_ident`/`quote_literal` rules, "Lexical Structure" 4.1.1-4.1.2), the catalog query, and the
 * deterministic statements the copies run, built from the rows the original returned.
 */

import type { ColumnInfo, TableInfo } from "./determinism.ts";

export { quoteIdent, quoteLiteral } from "./sql_quote.ts";
import { quoteIdent, quoteLiteral } from "./sql_quote.ts";

/**
 * A typed literal: the text form cast to the column's type, or a typed NULL.
 * @param value the value in text format, null for NULL
 * @param type the type as `format_type` prints it
 * @returns `'text'::type` or `NULL::type`
 */
export function typedLiteral(value: string | null, type: string): string {
  return value === null ? `NULL::${type}` : `${quoteLiteral(value)}::${type}`;
}

/** One to three dot-separated names, each quoted or a plain identifier (scan.l's ident). */
const QUALIFIED_NAME =
  /^(?:"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)){0,2}$/;

/**
 * The catalog query for one relation (see `catalogQuery` in `determinism.ts`). A domain's
 * default counts as the column's when the column has none, as it does in PostgreSQL.
 * @param relationAsWritten the relation as the statement names it
 * @returns the SQL text
 */
export function catalogSql(relationAsWritten: string): string {
  // to_regclass raises "invalid name syntax" for a malformed name: such a name matches nothing.
  const oid = QUALIFIED_NAME.test(relationAsWritten.trim())
    ? `pg_catalog.to_regclass(${quoteLiteral(relationAsWritten)})`
    : "NULL::pg_catalog.regclass";
  return `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
  a.attgenerated::text AS attgenerated, a.attidentity::text AS attidentity,
  coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), ty.typdefault) AS "default",
  pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, c.relname), a.attname)
    AS sequence,
  coalesce(a.attnum = ANY (i.indkey), false) AS is_pk, n.nspname, c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.oid = ${oid}
ORDER BY a.attnum`;
}

/** What copyStatement needs beyond the plan's public fields; serialised as the plan's template. */
export type Template =
  | {
    readonly op: "insert";
    /** ON CONFLICT: absent, or DO UPDATE of these columns keyed by the primary key. */
    readonly conflict?: { readonly key: readonly string[]; readonly set: readonly string[] };
  }
  | { readonly op: "update"; readonly only: boolean; readonly key: number }
  | { readonly op: "delete"; readonly only: boolean; readonly key: number };

/** One sequence to advance on the copies: a fixed number of calls plus some per returned row. */
export interface SequenceUse {
  readonly name: string;
  readonly perRow: number;
  readonly fixed: number;
}

/** The parts of a row-based plan that copyStatement reads. */
export interface CopyInput {
  readonly addedColumns: readonly string[];
  readonly table: TableInfo;
  readonly sequences: readonly SequenceUse[];
}

/**
 * Writes one value into the copies' statement: a typed literal ({@link typedLiteral}), or a typed
 * parameter (`$n::type`) whose value goes to a Bind. Called for the values of each row in order.
 */
export type ValueWriter = (value: string | null, type: string) => string;

/** Options of {@link buildCopy}. */
export interface BuildOptions {
  /** How each value is written (default: a typed literal). */
  readonly value?: ValueWriter;
  /**
   * Add `RETURNING` of the added columns (in their order) when there are rows, so the copy gives
   * back the rows it wrote, to compare with the original's (`replication.returning_hash`).
   */
  readonly returning?: boolean;
}

/**
 * Builds the copies' statement (see `copyStatement` in `determinism.ts`).
 * @param plan the row-based plan's columns, table and sequences
 * @param template the parsed template
 * @param rows the added columns of each returned row, text format
 * @param opts how values are written, and whether the statement returns its rows
 * @returns the SQL text
 * @throws RangeError when a row has the wrong number of values
 */
export function buildCopy(
  plan: CopyInput,
  template: Template,
  rows: readonly (readonly (string | null)[])[],
  opts: BuildOptions = {},
): string {
  const sql = buildStatement(plan, template, rows, opts.value ?? typedLiteral);
  if (opts.returning !== true || rows.length === 0) return sql;
  // The UPDATE joins a VALUES list with the same column names: name the table's.
  const qualifier = template.op === "update" ? "t." : "";
  return `${sql}\nRETURNING ${plan.addedColumns.map((c) => qualifier + quoteIdent(c)).join(", ")}`;
}

function buildStatement(
  plan: CopyInput,
  template: Template,
  rows: readonly (readonly (string | null)[])[],
  value: ValueWriter,
): string {
  const types = plan.addedColumns.map((name) => columnOf(plan.table, name).type);
  for (const [i, row] of rows.entries()) {
    if (row.length !== types.length) {
      throw new RangeError(`row ${i + 1} has ${row.length} values, expected ${types.length}`);
    }
  }
  const advance = sequenceAdvance(plan.sequences, rows.length);
  const values = () =>
    rows.map((row) => `(${row.map((v, j) => value(v, types[j] ?? "text")).join(", ")})`)
      .join(",\n");
  const relation = plan.table.relation;
  const cols = plan.addedColumns.map(quoteIdent);
  switch (template.op) {
    case "insert": {
      const head = `INSERT INTO ${relation} (${cols.join(", ")}) OVERRIDING SYSTEM VALUE`;
      if (rows.length === 0) {
        // A FROM-less SELECT's WHERE is a one-time filter: the advance runs once, no row results.
        const first = types[0] ?? "text";
        const where = advance === undefined ? "false" : `NOT (${advance})`;
        return `INSERT INTO ${relation} (${cols[0]}) OVERRIDING SYSTEM VALUE ` +
          `SELECT NULL::${first} WHERE ${where}`;
      }
      const once = rows.length === 1 ? advanceOnce(plan.sequences) : undefined;
      let body: string;
      if (advance === undefined) {
        body = `${head}\nVALUES ${values()}`;
      } else if (once !== undefined) {
        // One row: a FROM-less SELECT, whose WHERE is a one-time filter (each nextval runs
        // once), is cheaper to plan and run than the generate_series subquery.
        const row = (rows[0] ?? []).map((v, j) => value(v, types[j] ?? "text"));
        body = `${head}\nSELECT ${row.join(", ")}\nWHERE ${once}`;
      } else {
        body = `${head}\nSELECT * FROM (VALUES ${values()}) AS v (${cols.join(", ")})\n` +
          `WHERE ${advance}`;
      }
      if (template.conflict === undefined) return body;
      const key = template.conflict.key.map(quoteIdent).join(", ");
      const set = template.conflict.set.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
      return `${body}\nON CONFLICT (${key}) DO UPDATE SET ${set.join(", ")}`;
    }
    case "update": {
      const only = template.only ? "ONLY " : "";
      const key = cols.slice(0, template.key);
      const set = cols.slice(template.key);
      if (rows.length === 0) {
        return `UPDATE ${only}${relation} SET ${set[0]} = ${set[0]} WHERE false`;
      }
      const assignments = set.map((c) => `${c} = v.${c}`).join(", ");
      const match = key.map((c) => `t.${c} = v.${c}`).join(" AND ");
      return `UPDATE ${only}${relation} AS t SET ${assignments}\n` +
        `FROM (VALUES ${values()}) AS v (${cols.join(", ")})\n` +
        `WHERE ${match}${advance === undefined ? "" : ` AND ${advance}`}`;
    }
    case "delete": {
      const only = template.only ? "ONLY " : "";
      if (rows.length === 0) return `DELETE FROM ${only}${relation} WHERE false`;
      const key = cols.slice(0, template.key);
      const list = rows.map((row) => {
        const literals = row.slice(0, template.key).map((v, j) => value(v, types[j] ?? ""));
        return key.length === 1 ? literals[0] : `(${literals.join(", ")})`;
      });
      const target = key.length === 1 ? key[0] : `(${key.join(", ")})`;
      return `DELETE FROM ${only}${relation} WHERE ${target} IN (${list.join(", ")})` +
        (advance === undefined ? "" : ` AND ${advance}`);
    }
  }
}

/**
 * The condition that advances each sequence as many times as the original did: an uncorrelated
 * scalar subquery, which PostgreSQL runs once as an InitPlan, calling nextval once per row of
 * generate_series; true when every count matches.
 */
function sequenceAdvance(sequences: readonly SequenceUse[], rows: number): string | undefined {
  const parts: string[] = [];
  for (const sequence of sequences) {
    const calls = sequence.fixed + sequence.perRow * rows;
    if (calls <= 0) continue;
    parts.push(
      `(SELECT count(pg_catalog.nextval(${quoteLiteral(sequence.name)})) ` +
        `FROM pg_catalog.generate_series(1, ${calls})) = ${calls}`,
    );
  }
  return parts.length === 0 ? undefined : parts.join(" AND ");
}

/**
 * The condition that calls nextval once on each sequence, for a statement that produces exactly
 * one row; undefined when a sequence needs another number of calls (or is listed twice).
 */
function advanceOnce(sequences: readonly SequenceUse[]): string | undefined {
  const parts: string[] = [];
  for (const sequence of sequences) {
    const calls = sequence.fixed + sequence.perRow;
    if (calls <= 0) continue;
    if (calls > 1 || sequences.filter((s) => s.name === sequence.name).length > 1) return undefined;
    parts.push(`pg_catalog.nextval(${quoteLiteral(sequence.name)}) IS NOT NULL`);
  }
  return parts.length === 0 ? undefined : parts.join(" AND ");
}

/**
 * Finds a column of a table by name.
 * @param table the table
 * @param name the column's name
 * @returns the column
 * @throws RangeError when the table has no such column
 */
export function columnOf(table: TableInfo, name: string): ColumnInfo {
  const column = table.columns.find((c) => c.name === name);
  if (column === undefined) {
    throw new RangeError(`column "${name}" of relation ${table.relation} does not exist`);
  }
  return column;
}
