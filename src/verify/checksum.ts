/**
 * @module
 * The SQL `usogres verify` runs, as pure builders: listing and resolving tables, reading their
 * columns and key, walking key boundaries on the original, and the per-chunk checksum every
 * server computes itself. Nothing here touches a socket.
 *
 * Every name is double-quoted ({@link quoteIdent}, as `format('%I')` would quote it but always)
 * and every value is a string literal ({@link quoteLiteral}, as `quote_literal()` builds it).
 * Key values travel as text: each is the text output of the original, given back to a server as
 * an untyped literal, which PostgreSQL coerces to the key column's own type.
 *
 * The checksum of a chunk is `count(*)` plus `md5(string_agg(md5(ROW(cols)::text), '' ORDER BY
 * key))`: exact (one changed byte changes it), independent of physical row order (it is ordered
 * by the key the chunk is a range of, so the sort is the index order), and computed on the
 * server, so no row crosses the network. An order-independent sum of 32-bit `hashtext()` values
 * would skip the sort but collides far more often, and cancels out swapped values between rows.
 */

/** A table, by schema and name as stored in the catalog (unquoted). */
export interface TableName {
  /** Schema (`pg_namespace.nspname`). */
  readonly schema: string;
  /** Table (`pg_class.relname`). */
  readonly name: string;
}

/** One column, as `pg_attribute` and `format_type()` describe it. */
export interface Column {
  /** Column name. */
  readonly name: string;
  /** Type with modifiers, e.g. `character varying(20)`. */
  readonly type: string;
}

/** A key value: one text value per key column, in key order. */
export type KeyValue = readonly string[];

/**
 * A chunk of a table: the rows whose key is after `after` and up to `upTo` (inclusive). An
 * undefined end is open, so the first and last chunks also catch rows only a copy has.
 */
export interface KeyRange {
  /** Exclusive lower end, or undefined for none. */
  readonly after: KeyValue | undefined;
  /** Inclusive upper end, or undefined for none. */
  readonly upTo: KeyValue | undefined;
}

export { quoteIdent, quoteLiteral } from "../replication/mod.ts";
import { quoteIdent, quoteLiteral } from "../replication/mod.ts";

/**
 * The schema-qualified, quoted name of a table.
 *
 * @param t the table
 * @returns `"schema"."name"`
 */
export function qualifiedName(t: TableName): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/** Schemas that never hold user tables: the catalogs, TOAST and temporary schemas (`pg_*`). */
const USER_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

/**
 * Lists every user table whose rows are stored: ordinary tables and leaf partitions (relkind
 * `r`). Partitioned parents hold no rows of their own, so comparing their leaves covers them.
 *
 * @returns a query returning (schema, name), ordered
 */
export function listTablesSql(): string {
  return "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c " +
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
    `WHERE c.relkind = 'r' AND ${USER_SCHEMAS} ORDER BY 1, 2`;
}

/**
 * Resolves a table name as the user typed it (`--table`), through the server's `search_path`
 * like any query would: the table itself when it is an ordinary table, else the leaf tables of
 * the partitioned table. No rows when no relation has that name.
 *
 * @param name the name, optionally schema-qualified and quoted (`sales."Q1"`)
 * @returns a query returning (schema, name, relkind): the named relation itself, then for a
 *   partitioned table its leaf partitions; relkind `r` rows are the tables to compare, and no
 *   rows means no relation has that name
 */
export function resolveTableSql(name: string): string {
  const rel = `pg_catalog.to_regclass(${quoteLiteral(name)})`;
  return "SELECT n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c " +
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
    `WHERE c.oid = ${rel} OR (c.relkind = 'r' AND c.oid IN ` +
    `(SELECT relid FROM pg_catalog.pg_partition_tree(${rel}) WHERE isleaf)) ORDER BY 1, 2`;
}

function relationOid(t: TableName): string {
  return "(SELECT c.oid FROM pg_catalog.pg_class c " +
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
    `WHERE n.nspname = ${quoteLiteral(t.schema)} AND c.relname = ${quoteLiteral(t.name)})`;
}

/**
 * Describes a table's columns: one row per live column in order, (relkind, name, type). A table
 * with no columns gives one row with null name and type; no rows means no such relation.
 *
 * @param t the table
 * @returns the query
 */
export function columnsSql(t: TableName): string {
  return "SELECT c.relkind, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) " +
    "FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_attribute a " +
    "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped " +
    `WHERE c.oid = ${relationOid(t)} ORDER BY a.attnum`;
}

/**
 * Finds the columns chunks are ranges of: the primary key, else the unique index with the fewest
 * columns that is valid, not partial, has no expressions and covers only NOT NULL columns (so
 * it identifies each row, as a key must). INCLUDE columns are not part of it.
 *
 * @param t the table
 * @returns a query returning the key's column names in index order; no rows when there is none
 */
export function keyColumnsSql(t: TableName): string {
  return "SELECT a.attname FROM (SELECT i.indkey, i.indnkeyatts FROM pg_catalog.pg_index i " +
    `WHERE i.indrelid = ${relationOid(t)} AND i.indisunique AND i.indisvalid ` +
    "AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT EXISTS (SELECT 1 FROM " +
    "pg_catalog.pg_attribute na WHERE na.attrelid = i.indrelid " +
    "AND na.attnum = ANY (i.indkey::int2[]) AND NOT na.attnotnull) " +
    "ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) best " +
    "CROSS JOIN LATERAL unnest(best.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) " +
    `JOIN pg_catalog.pg_attribute a ON a.attrelid = ${relationOid(t)} AND a.attnum = k.attnum ` +
    "WHERE k.ord <= best.indnkeyatts ORDER BY k.ord";
}

/**
 * The planner's row estimate of a table, for progress only.
 *
 * @param t the table
 * @returns a query returning one row with the estimate (0 when never analyzed)
 */
export function estimateRowsSql(t: TableName): string {
  return `SELECT greatest(c.reltuples, 0)::bigint FROM pg_catalog.pg_class c WHERE c.oid = ${
    relationOid(t)
  }`;
}

function keyList(key: readonly string[]): string {
  return key.map(quoteIdent).join(", ");
}

/** `k` for one column, `(k1, k2)` for several: a row comparison compares them in order. */
function keyTuple(key: readonly string[]): string {
  return key.length === 1 ? quoteIdent(key[0] ?? "") : `(${keyList(key)})`;
}

function valueTuple(value: KeyValue): string {
  return value.length === 1
    ? quoteLiteral(value[0] ?? "")
    : `(${value.map(quoteLiteral).join(", ")})`;
}

/**
 * The WHERE condition selecting a chunk's rows (`TRUE` for a range open at both ends).
 *
 * @param key the key columns, in order
 * @param range the chunk's ends
 * @returns the condition
 * @throws {RangeError} when an end has a different number of values than the key has columns
 */
export function rangeCondition(key: readonly string[], range: KeyRange): string {
  const parts: string[] = [];
  for (const [value, op] of [[range.after, ">"], [range.upTo, "<="]] as const) {
    if (value === undefined) continue;
    if (value.length !== key.length) {
      throw new RangeError(`key has ${key.length} columns but the bound has ${value.length}`);
    }
    parts.push(`${keyTuple(key)} ${op} ${valueTuple(value)}`);
  }
  return parts.length === 0 ? "TRUE" : parts.join(" AND ");
}

/**
 * Finds the next chunk on the original with a keyset walk: its first key and its last key,
 * `rows` keys on. Both are index probes, so walking a table costs one pass over its key index.
 * A missing `last` row means the rest of the table fits in this chunk.
 *
 * @param t the table
 * @param key the key columns
 * @param after the previous chunk's last key, or undefined for the first chunk
 * @param rows rows per chunk (at least 1)
 * @returns a query returning rows (`first` | `last`, key values...)
 * @throws {RangeError} when `rows` is not a positive integer
 */
export function chunkBoundsSql(
  t: TableName,
  key: readonly string[],
  after: KeyValue | undefined,
  rows: number,
): string {
  if (!Number.isSafeInteger(rows) || rows < 1) {
    throw new RangeError(`rows per chunk must be a positive integer, got ${rows}`);
  }
  const where = rangeCondition(key, { after, upTo: undefined });
  const base = `${keyList(key)} FROM ONLY ${qualifiedName(t)} WHERE ${where} ORDER BY ${
    keyList(key)
  } LIMIT 1`;
  return `(SELECT 'first', ${base}) UNION ALL (SELECT 'last', ${base} OFFSET ${rows - 1})`;
}

/**
 * The checksum of one chunk, computed on the server: `(count, md5)` where md5 is null for no
 * rows. With a key, rows are hashed in key order within the range; without one (`key` empty)
 * the whole table is one chunk, its row hashes sorted bytewise (`COLLATE "C"`), which needs no
 * sortable column types and is the same on every server whatever its collation.
 *
 * `FROM ONLY`: rows of inheritance children are their own tables' business.
 *
 * @param t the table
 * @param columns every column, in order (the row's text is `ROW(columns)::text`)
 * @param key the key columns, or [] for none
 * @param range the chunk's ends (ignored without a key)
 * @returns the query
 */
export function chunkChecksumSql(
  t: TableName,
  columns: readonly Column[],
  key: readonly string[],
  range: KeyRange,
): string {
  const row = `pg_catalog.md5(ROW(${columns.map((c) => quoteIdent(c.name)).join(", ")})::text)`;
  if (key.length === 0) {
    return `SELECT count(*), pg_catalog.md5(string_agg(h, '' ORDER BY h COLLATE "C")) ` +
      `FROM (SELECT ${row} AS h FROM ONLY ${qualifiedName(t)}) r`;
  }
  return `SELECT count(*), pg_catalog.md5(string_agg(${row}, '' ORDER BY ${keyList(key)})) ` +
    `FROM ONLY ${qualifiedName(t)} WHERE ${rangeCondition(key, range)}`;
}

/** Starts the read-only snapshot a table is compared in, and takes it at once (`SELECT 1`). */
export const BEGIN_SNAPSHOT_SQL = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1";

/**
 * Session settings that make every server print the same value as the same text, so row text
 * compares across servers (sent as startup parameters).
 */
export const CANONICAL_SETTINGS: ReadonlyMap<string, string> = new Map([
  ["client_encoding", "UTF8"],
  ["DateStyle", "ISO, YMD"],
  ["IntervalStyle", "postgres"],
  ["TimeZone", "UTC"],
  ["extra_float_digits", "3"],
  ["bytea_output", "hex"],
  ["lc_monetary", "C"],
  ["standard_conforming_strings", "on"],
]);
