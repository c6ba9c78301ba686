/**
 * @module
 * Catalog entries shared by the determinism unit tests, as `parseCatalogRows` would build them
 * from a PostgreSQL 15 catalog, and a helper that plans a statement the way the session does:
 * once without the catalog, and again with the table a `needsCatalog` plan asks for.
 */

import type {
  ColumnInfo,
  DeterminismOptions,
  DmlPlan,
  TableInfo,
} from "../../../src/replication/determinism.ts";
import { planStatement } from "../../../src/replication/determinism.ts";

/** A column with the defaults of a plain nullable column without DEFAULT. */
export function col(name: string, type: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return {
    name,
    type,
    generated: false,
    identity: "",
    defaultExpr: null,
    sequence: null,
    primaryKey: false,
    ...extra,
  };
}

/** `t`: serial key, text, int DEFAULT 0, timestamptz DEFAULT now(), a generated column. */
export const T: TableInfo = {
  relation: '"public"."t"',
  columns: [
    col("id", "integer", {
      defaultExpr: "nextval('t_id_seq'::regclass)",
      sequence: "public.t_id_seq",
      primaryKey: true,
    }),
    col("x", "text"),
    col("n", "integer", { defaultExpr: "0" }),
    col("at", "timestamp with time zone", { defaultExpr: "now()" }),
    col("g", "integer", { generated: true, defaultExpr: "(n * 2)" }),
  ],
};

/** `d`: only deterministic defaults. */
export const D: TableInfo = {
  relation: '"public"."d"',
  columns: [
    col("a", "integer", { primaryKey: true }),
    col("b", "text", { defaultExpr: "'x'::text" }),
    col("c", "integer"),
  ],
};

/** `i`: an identity key (GENERATED ALWAYS) and a value. */
export const I: TableInfo = {
  relation: '"public"."i"',
  columns: [
    col("id", "bigint", { identity: "a", sequence: "public.i_id_seq", primaryKey: true }),
    col("v", "text"),
    col("w", "integer", { identity: "d", sequence: "public.i_w_seq" }),
  ],
};

/** `nopk`: no primary key, a now() default. */
export const NOPK: TableInfo = {
  relation: '"public"."nopk"',
  columns: [col("a", "integer"), col("at", "timestamp with time zone", { defaultExpr: "now()" })],
};

/** `uf`: a default calling a user-defined function. */
export const UF: TableInfo = {
  relation: '"public"."uf"',
  columns: [
    col("id", "integer", { primaryKey: true }),
    col("k", "text", { defaultExpr: "app.make_key()" }),
  ],
};

/** `s."Mixed"`: a two-column key, quoted names, a uuid default. */
export const MIXED: TableInfo = {
  relation: '"s"."Mixed"',
  columns: [
    col("Region", "text", { primaryKey: true }),
    col("no", "integer", { primaryKey: true }),
    col('say "hi"', "text"),
    col("u", "uuid", { defaultExpr: "gen_random_uuid()" }),
  ],
};

/** The tables by the relation key a `needsCatalog` plan names. */
export const TABLES: Readonly<Record<string, TableInfo>> = {
  '"t"': T,
  '"public"."t"': T,
  '"s"."t"': T,
  '"d"': D,
  '"i"': I,
  '"nopk"': NOPK,
  '"uf"': UF,
  '"s"."Mixed"': MIXED,
};

/**
 * Plans as the session does: without the catalog, then with the table asked for.
 * @param sql one statement
 * @param opts the options
 * @returns the final plan
 * @throws Error when a plan asks for a table the fixtures do not have
 */
export function plan(sql: string, opts: DeterminismOptions = {}): DmlPlan {
  const first = planStatement(sql, undefined, opts);
  if (first.kind !== "needsCatalog") return first;
  const table = TABLES[first.relation];
  if (table === undefined) throw new Error(`no fixture for ${first.relation}`);
  return planStatement(sql, table, opts);
}

/**
 * Plans and asserts the plan is row-based.
 * @param sql one statement
 * @param opts the options
 * @returns the row-based plan
 * @throws Error when it is not row-based
 */
export function rowBased(
  sql: string,
  opts: DeterminismOptions = {},
): Extract<DmlPlan, { kind: "rowBased" }> {
  const p = plan(sql, opts);
  if (p.kind !== "rowBased") throw new Error(`expected rowBased for ${sql}: ${JSON.stringify(p)}`);
  return p;
}
