/**
 * @module
 * Text of `usogres verify`'s output, as pure functions: the report on stdout (one line per
 * difference, row counts of differing tables, a summary line) and the progress line on stderr.
 * Names are printed the way PostgreSQL prints them: bare when they need no quotes, else quoted.
 */

import type { KeyValue, TableName } from "./checksum.ts";
import type { TableDifference, TableReport, VerifyProgress, VerifyReport } from "./types.ts";

/** Differing key ranges printed per table and copy; the rest are counted. */
export const MAX_RANGES_SHOWN = 20;

/**
 * Prints an identifier bare when it is a plain lower-case name, else double-quoted.
 *
 * @param name the identifier as stored
 * @returns the printable name
 */
export function displayIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/**
 * Prints a table as `schema.name`.
 *
 * @param t the table
 * @returns the printable name
 */
export function displayTable(t: TableName): string {
  return `${displayIdent(t.schema)}.${displayIdent(t.name)}`;
}

function keyNames(key: readonly string[]): string {
  return key.length === 1 ? displayIdent(key[0] ?? "") : `(${key.map(displayIdent).join(", ")})`;
}

function keyValue(value: KeyValue): string {
  return value.length === 1 ? (value[0] ?? "") : `(${value.join(", ")})`;
}

/**
 * Describes where the rows of a differing chunk are, by key: `id 1001..2000` (the original's
 * first key in the chunk to its last), `id >= 9001` (the last chunk, open at the top), `id > 9000`
 * (a chunk where only the copy has rows), or "" when the chunk is the whole table (no key, or
 * fewer rows than a chunk).
 *
 * @param d a row difference
 * @returns the key range text, or ""
 */
export function formatKeyRange(d: Extract<TableDifference, { kind: "rows" }>): string {
  const { after, upTo } = d.range;
  if (d.key.length === 0 || (after === undefined && upTo === undefined)) return "";
  const names = keyNames(d.key);
  if (d.first !== undefined) {
    return upTo !== undefined
      ? `${names} ${keyValue(d.first)}..${keyValue(upTo)}`
      : `${names} >= ${keyValue(d.first)}`;
  }
  return after !== undefined
    ? `${names} > ${keyValue(after)}`
    : `${names} <= ${keyValue(upTo ?? [])}`;
}

/**
 * One line describing a difference (without the table name).
 *
 * @param d the difference
 * @param original name of the original
 * @returns the text
 */
export function formatDifference(d: TableDifference, original: string): string {
  const copy = `copy "${d.copy}"`;
  switch (d.kind) {
    case "missing":
      return `missing on ${copy}`;
    case "notATable":
      return `not a table on ${copy} (relkind "${d.relkind}")`;
    case "onlyOnCopy":
      return `exists only on ${copy}, not on the original`;
    case "columns": {
      const cols = (c: TableDifference & { kind: "columns" }, which: "original" | "other") =>
        c[which].map((col) => `${displayIdent(col.name)} ${col.type}`).join(", ");
      return `columns differ on ${copy}: ${original} (${cols(d, "original")}), ${d.copy} (${
        cols(d, "other")
      })`;
    }
    case "rows": {
      const range = formatKeyRange(d);
      const where = range === "" ? "" : ` in ${range}`;
      const whole = d.key.length === 0 ? "; no primary key or unique not-null index" : "";
      return `rows differ${where} on ${copy} (rows: ${original} ${d.originalRows}, ${d.copy} ${d.copyRows}${whole})`;
    }
  }
}

function tableLines(t: TableReport, original: string): string[] {
  const name = displayTable(t.table);
  const lines: string[] = [];
  const shown = new Map<string, number>();
  const hidden = new Map<string, number>();
  for (const d of t.differences) {
    if (d.kind === "rows") {
      const n = shown.get(d.copy) ?? 0;
      if (n >= MAX_RANGES_SHOWN) {
        hidden.set(d.copy, (hidden.get(d.copy) ?? 0) + 1);
        continue;
      }
      shown.set(d.copy, n + 1);
    }
    lines.push(`${name}: ${formatDifference(d, original)}`);
  }
  for (const [copy, n] of hidden) {
    lines.push(`${name}: ... and ${n} more differing key ranges on copy "${copy}"`);
  }
  if (t.rows.size > 0) {
    const counts = [...t.rows].map(([server, n]) => `${server} ${n}`).join(", ");
    lines.push(`${name}: rows: ${counts}`);
  }
  return lines;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The whole report: which servers were compared and skipped, each difference, the row counts
 * of differing tables, and a summary line.
 *
 * @param r the report
 * @returns lines for stdout, without newlines
 */
export function formatReport(r: VerifyReport): string[] {
  const copies = r.compared.map((c) => `"${c}"`).join(", ");
  const lines = [
    `comparing database "${r.database}" on original "${r.original}" with ${
      r.compared.length === 0
        ? "no copy"
        : `${r.compared.length === 1 ? "copy" : "copies"} ${copies}`
    }`,
  ];
  for (const s of r.skipped) {
    const why = "reason" in s.state ? `: ${s.state.reason}` : "";
    const since = "since" in s.state ? ` since ${s.state.since}` : "";
    lines.push(`copy "${s.name}" skipped: ${s.state.kind}${since}${why}`);
  }
  const differing = r.tables.filter((t) => t.differences.length > 0);
  for (const t of differing) lines.push(...tableLines(t, r.original));
  const compared = r.tables.filter((t) => t.rows.size > 0).length;
  const skipped = r.skipped.length === 0
    ? ""
    : `, ${plural(r.skipped.length, "copy", "copies")} skipped`;
  const scope = `${plural(r.compared.length, "copy", "copies")} compared${skipped}`;
  if (r.compared.length === 0) {
    lines.push(`summary: nothing compared: no copy is in sync (${scope})`);
  } else if (differing.length === 0) {
    lines.push(`summary: ${plural(compared, "table", "tables")} identical (${scope})`);
  } else {
    lines.push(
      `summary: ${differing.length} of ${
        plural(r.tables.length, "table", "tables")
      } differ (${scope})`,
    );
  }
  return lines;
}

/**
 * The progress line: `table 3/12 public.accounts: 40 chunks, 4000000 of ~10000000 rows (40%)`.
 *
 * @param p where the run is
 * @returns one line, without a newline
 */
export function formatProgress(p: VerifyProgress): string {
  const head = `table ${p.tableIndex}/${p.tableCount} ${displayTable(p.table)}: ${
    plural(p.chunksDone, "chunk", "chunks")
  }, ${p.rowsDone}`;
  if (p.rowsEstimate <= 0) return `${head} rows`;
  const percent = Math.min(100, Math.floor((p.rowsDone / p.rowsEstimate) * 100));
  return `${head} of ~${p.rowsEstimate} rows (${percent}%)`;
}
