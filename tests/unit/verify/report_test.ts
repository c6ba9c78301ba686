/**
 * @module
 * Unit tests of `src/verify/report.ts`: how differing key ranges, table differences, skipped
 * copies and the summary line are printed, and the progress line.
 */

import assert from "node:assert/strict";
import {
  displayTable,
  formatKeyRange,
  formatProgress,
  formatReport,
} from "../../../src/verify/report.ts";
import type { TableDifference, VerifyReport } from "../../../src/verify/types.ts";

type RowsDifference = Extract<TableDifference, { kind: "rows" }>;

function rows(init: Partial<RowsDifference>): RowsDifference {
  return {
    kind: "rows",
    copy: "copy",
    key: ["id"],
    range: { after: undefined, upTo: undefined },
    first: undefined,
    originalRows: 1,
    copyRows: 1,
    ...init,
  };
}

Deno.test("displayTable: bare plain names, quoted others", () => {
  assert.equal(displayTable({ schema: "public", name: "accounts" }), "public.accounts");
  assert.equal(displayTable({ schema: "Sales", name: 'a "b"' }), '"Sales"."a ""b"""');
});

Deno.test("formatKeyRange: the original's first key up to the chunk's last", () => {
  const d = rows({ range: { after: ["1000"], upTo: ["2000"] }, first: ["1001"] });
  assert.equal(formatKeyRange(d), "id 1001..2000");
});

Deno.test("formatKeyRange: open at the top for the last chunk", () => {
  assert.equal(
    formatKeyRange(rows({ range: { after: ["9000"], upTo: undefined }, first: ["9001"] })),
    "id >= 9001",
  );
});

Deno.test("formatKeyRange: after the last key when only the copy has rows there", () => {
  assert.equal(formatKeyRange(rows({ range: { after: ["9000"], upTo: undefined } })), "id > 9000");
});

Deno.test("formatKeyRange: multi-column keys print as rows", () => {
  const d = rows({
    key: ["region", "Id"],
    range: { after: undefined, upTo: ["eu", "7"] },
    first: ["asia", "1"],
  });
  assert.equal(formatKeyRange(d), '(region, "Id") (asia, 1)..(eu, 7)');
});

Deno.test("formatKeyRange: empty when the chunk is the whole table", () => {
  assert.equal(formatKeyRange(rows({ first: ["1"] })), "");
  assert.equal(formatKeyRange(rows({ key: [] })), "");
});

function report(differences: TableDifference[]): VerifyReport {
  return {
    database: "app",
    original: "original",
    compared: ["copy"],
    skipped: [{ name: "copy2", state: { kind: "stale", reason: "copy failed", since: "T0" } }],
    tables: [
      {
        table: { schema: "public", name: "accounts" },
        rows: new Map([["original", 5000], ["copy", 4999]]),
        differences,
      },
      {
        table: { schema: "public", name: "other" },
        rows: new Map([["original", 1]]),
        differences: [],
      },
    ],
  };
}

Deno.test("formatReport: names the table, the key range, the counts and the skipped copy", () => {
  const lines = formatReport(report([
    rows({
      range: { after: ["1000"], upTo: ["2000"] },
      first: ["1001"],
      copyRows: 999,
      originalRows: 1000,
    }),
  ]));
  assert.deepEqual(lines, [
    'comparing database "app" on original "original" with copy "copy"',
    'copy "copy2" skipped: stale since T0: copy failed',
    'public.accounts: rows differ in id 1001..2000 on copy "copy" (rows: original 1000, copy 999)',
    "public.accounts: rows: original 5000, copy 4999",
    "summary: 1 of 2 tables differ (1 copy compared, 1 copy skipped)",
  ]);
});

Deno.test("formatReport: structural differences", () => {
  const lines = formatReport(report([
    { kind: "missing", copy: "copy" },
    { kind: "onlyOnCopy", copy: "copy" },
    { kind: "notATable", copy: "copy", relkind: "v" },
    {
      kind: "columns",
      copy: "copy",
      original: [{ name: "id", type: "integer" }],
      other: [{ name: "id", type: "bigint" }],
    },
  ]));
  assert.ok(lines.includes('public.accounts: missing on copy "copy"'), lines.join("\n"));
  assert.ok(lines.includes('public.accounts: exists only on copy "copy", not on the original'));
  assert.ok(lines.includes('public.accounts: not a table on copy "copy" (relkind "v")'));
  assert.ok(
    lines.includes(
      'public.accounts: columns differ on copy "copy": original (id integer), copy (id bigint)',
    ),
  );
});

Deno.test("formatReport: caps the ranges printed per copy", () => {
  const many = Array.from(
    { length: 25 },
    (_, i) =>
      rows({
        range: { after: [String(i * 10)], upTo: [String(i * 10 + 10)] },
        first: [String(i * 10 + 1)],
      }),
  );
  const lines = formatReport(report(many));
  assert.equal(lines.filter((l) => l.includes("rows differ")).length, 20);
  assert.ok(lines.includes('public.accounts: ... and 5 more differing key ranges on copy "copy"'));
});

Deno.test("formatReport: identical, and nothing to compare", () => {
  const same = formatReport(report([]));
  assert.equal(same.at(-1), "summary: 2 tables identical (1 copy compared, 1 copy skipped)");
  const none = formatReport({ ...report([]), compared: [], tables: [] });
  assert.equal(none[0], 'comparing database "app" on original "original" with no copy');
  assert.equal(
    none.at(-1),
    "summary: nothing compared: no copy is in sync (0 copies compared, 1 copy skipped)",
  );
});

Deno.test("formatProgress: chunks, rows and a percentage when the size is estimated", () => {
  const p = {
    table: { schema: "public", name: "accounts" },
    tableIndex: 3,
    tableCount: 12,
    chunksDone: 40,
    rowsDone: 4_000_000,
    rowsEstimate: 10_000_000,
  };
  assert.equal(
    formatProgress(p),
    "table 3/12 public.accounts: 40 chunks, 4000000 of ~10000000 rows (40%)",
  );
  assert.equal(
    formatProgress({ ...p, rowsEstimate: 0 }),
    "table 3/12 public.accounts: 40 chunks, 4000000 rows",
  );
});
