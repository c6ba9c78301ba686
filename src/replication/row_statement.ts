/**
 * @module
 * The statement a copy runs for a write replicated by rows, as a prepared statement of the copy
 * connection (issue 4, item 3). The literal form (`copyStatement`) is a new text for every row
 * the original wrote, which the copy parses and plans each time; here the same statement is built
 * with a typed parameter (`$n::type`) in place of each value, so its text depends only on the
 * plan's shape (table, columns, sequence advances, ON CONFLICT) and the number of rows. Each copy
 * connection parses that text once under a name of its own, and each later write of the same
 * shape is a Bind of the captured values and an Execute (PostgreSQL, "Extended Query" 55.2.3).
 *
 * A parameter's text goes through the type's input function exactly as the literal's text does,
 * with the same session settings (DateStyle, IntervalStyle, TimeZone, client_encoding), so both
 * forms store the same values.
 *
 * {@link RowStatements} records which statements one copy connection has. The statements live in
 * the server session: the connection's owner calls {@link RowStatements.forget} whenever that
 * session drops them (DISCARD ALL, DEALLOCATE ALL, the pool's reset), and a new connection starts
 * with none, so the first write of each shape on it carries the Parse.
 */

import { encodeBindWire, encodeExecute, encodeParse } from "../protocol/mod.ts";
import type { RowPlan } from "./batch.ts";
import { type CapturedRow, rawRow, rowTexts } from "./captured_row.ts";
import { buildCopy, type Template } from "./_determinism_sql.ts";
import type { CopyMessage } from "./mirror.ts";

/** A copies' statement with its values as parameters. */
export interface ParameterisedStatement {
  /** The SQL text, values written as `$n::type`. */
  readonly sql: string;
  /** The values in parameter order, text format, null for NULL. */
  readonly params: readonly (string | null)[];
}

/** The names of the row statements on copy connections start with this. */
export const ROW_STATEMENT_PREFIX = "usogres_row_";

/** Most rows a statement is parameterised for; beyond, copies get the literal form. */
export const MAX_PARAMETERISED_ROWS = 64;
/** Most parameters in one statement (the protocol allows 65,535). */
const MAX_PARAMETERS = 4096;
/** Most prepared row statements one copy connection keeps; later shapes use the literal form. */
const MAX_STATEMENTS = 256;

/** Parsed templates by their text (a handful of distinct ones per table). */
const templates = new Map<string, Template>();
/** Statement texts by table, then by shape and row count; cleared by a DDL's new TableInfo. */
const texts = new WeakMap<object, Map<string, string>>();
/** Most texts kept per table. */
const MAX_TEXTS_PER_TABLE = 1000;
const shapes = new WeakMap<RowPlan, string>();
/** Execute of the unnamed portal, no row limit (do not mutate). */
const EXECUTE = encodeExecute();

function templateOf(plan: RowPlan): Template {
  let template = templates.get(plan.template);
  if (template === undefined) {
    try {
      template = JSON.parse(plan.template) as Template;
    } catch {
      throw new RangeError("row-based plan has a malformed template");
    }
    if (templates.size >= 1000) templates.clear();
    templates.set(plan.template, template);
  }
  if (template.op !== plan.op) throw new RangeError("row-based plan's template is of another op");
  return template;
}

/**
 * What the statement's text depends on besides the table and the row count. A statement sent as
 * a simple Query is planned afresh for each text (its literals differ), so the cache is keyed by
 * shape, not by plan.
 */
function shapeOf(plan: RowPlan): string {
  let shape = shapes.get(plan);
  if (shape === undefined) {
    shape = JSON.stringify([plan.template, plan.addedColumns, plan.sequences]);
    shapes.set(plan, shape);
  }
  return shape;
}

/**
 * Statement texts by plan, then at `2 × rows + (returning ? 1 : 0)` (see {@link statementText};
 * at most 2 × ({@link MAX_PARAMETERISED_ROWS} + 1) slots, filled as row counts occur).
 */
const byPlan = new WeakMap<RowPlan, (string | undefined)[]>();

/**
 * The statement's text for `n` rows: cached per plan object (a prepared statement keeps its plan,
 * so each of its executions finds the text without building a key), then per table and shape (a
 * simple Query gets a new plan each time). The text depends on the rows only by their count.
 */
function statementText(
  plan: RowPlan,
  template: Template,
  n: number,
  returning: boolean,
  params: number,
): string {
  const slot = 2 * n + (returning ? 1 : 0);
  let mine = byPlan.get(plan);
  const cached = mine?.[slot];
  if (cached !== undefined) return cached;
  let byShape = texts.get(plan.table);
  if (byShape === undefined) {
    byShape = new Map();
    texts.set(plan.table, byShape);
  }
  const key = `${n}\0${returning}\0${shapeOf(plan)}`;
  let sql = byShape.get(key);
  if (sql === undefined) {
    let count = 0;
    const width = plan.addedColumns.length;
    const rows = Array.from({ length: n }, () => new Array<null>(width).fill(null));
    sql = buildCopy(plan, template, rows, {
      value: (_value, type) => `$${++count}::${type}`,
      returning,
    });
    if (count !== params) {
      throw new RangeError(`statement has ${count} parameters, expected ${params}`);
    }
    if (byShape.size >= MAX_TEXTS_PER_TABLE) byShape.clear();
    byShape.set(key, sql);
  }
  if (mine === undefined) {
    mine = [];
    byPlan.set(plan, mine);
  }
  mine[slot] = sql;
  return sql;
}

/** The template and the number of values each row binds, or undefined for the literal form. */
function checkRows(
  plan: RowPlan,
  rows: readonly CapturedRow[],
): { readonly template: Template; readonly perRow: number } | undefined {
  const width = plan.addedColumns.length;
  if (
    rows.length === 0 || rows.length > MAX_PARAMETERISED_ROWS ||
    rows.length * width > MAX_PARAMETERS
  ) {
    return undefined;
  }
  const template = templateOf(plan);
  for (let i = 0; i < rows.length; i++) {
    const length = rows[i]!.length;
    if (length !== width) {
      throw new RangeError(`row ${i + 1} has ${length} values, expected ${width}`);
    }
  }
  // Only a DELETE binds fewer values than the rows hold: the primary key's.
  return { template, perRow: template.op === "delete" ? template.key : width };
}

/**
 * The copies' statement for rows the original returned, with the values as parameters. It does
 * what `copyStatement` does (same rows written, same CommandComplete tag, same sequence advances).
 * The text is cached per plan and row count.
 *
 * @param plan a row-based plan
 * @param rows the added columns of each returned row (captured, or text with null for NULL)
 * @param returning whether the statement returns the rows it writes (see `buildCopy`)
 * @returns the statement, or undefined when there are no rows or too many for one statement
 * @throws RangeError when a row has the wrong number of values or the template is not the plan's
 */
export function parameterisedStatement(
  plan: RowPlan,
  rows: readonly CapturedRow[],
  returning = false,
): ParameterisedStatement | undefined {
  const checked = checkRows(plan, rows);
  if (checked === undefined) return undefined;
  const { template, perRow } = checked;
  const params: (string | null)[] = [];
  for (const row of rows) {
    const values = rowTexts(row);
    for (let j = 0; j < perRow; j++) params.push(values[j] ?? null);
  }
  return { sql: statementText(plan, template, rows.length, returning, params.length), params };
}

/** The prepared row statements of one copy connection. */
export class RowStatements {
  /** Statement name by SQL text. */
  readonly #names = new Map<string, string>();
  #next = 0;

  /** How many statements the connection has. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * The messages that run one execution of a row-based statement on this connection: Parse (the
   * first time this shape runs here), Bind of the captured values, Execute. The statement counts
   * as prepared from now on; the caller sends the messages or drops the connection.
   *
   * @param plan the row-based plan
   * @param rows the rows the original returned (added columns, text format)
   * @param source index of the original's entry the Execute mirrors (its tag is compared)
   * @param returning whether the statement returns the rows it writes
   * @returns the messages, or undefined when the literal form must be used instead
   * @throws RangeError when a row has the wrong number of values
   */
  messages(
    plan: RowPlan,
    rows: readonly CapturedRow[],
    source: number,
    returning = false,
  ): CopyMessage[] | undefined {
    const checked = checkRows(plan, rows);
    if (checked === undefined) return undefined;
    const { template, perRow } = checked;
    const count = rows.length * perRow;
    const sql = statementText(plan, template, rows.length, returning, count);
    let name = this.#names.get(sql);
    let parse: CopyMessage | undefined;
    if (name === undefined) {
      if (this.#names.size >= MAX_STATEMENTS) return undefined;
      name = `${ROW_STATEMENT_PREFIX}${++this.#next}`;
      this.#names.set(sql, name);
      parse = { kind: "Parse", bytes: encodeParse(name, sql), source: -1 };
    }
    // The captured bytes are the parameters' wire form already (text format).
    const chunks: Uint8Array[] = [];
    for (const row of rows) {
      const raw = rawRow(row);
      chunks.push(perRow === raw.length ? raw.bytes : raw.bytes.subarray(0, raw.span(perRow)));
    }
    const bind: CopyMessage = {
      kind: "Bind",
      bytes: encodeBindWire(name, count, chunks),
      source: -1,
    };
    const execute: CopyMessage = { kind: "Execute", bytes: EXECUTE, source };
    return parse === undefined ? [bind, execute] : [parse, bind, execute];
  }

  /** Forgets every statement: the server session no longer has them. */
  forget(): void {
    this.#names.clear();
  }
}
