/**
 * @module
 * The types of `usogres verify`: its options and progress, and the report a run returns (what
 * differs, table by table and copy by copy). Pure data, shared by the runner and the printer.
 */

import type { MemberState } from "../cluster/mod.ts";
import type { Column, KeyRange, KeyValue, TableName } from "./checksum.ts";

/** What to compare, as whom, and how. */
export interface VerifyOptions {
  /** Tables named on the command line; [] compares every user table. */
  readonly tables: readonly string[];
  /** Database to compare on every server. */
  readonly database: string;
  /** Role to connect as. */
  readonly user: string;
  /** Rows per chunk (the original's count). */
  readonly chunkRows: number;
  /** Waits before each re-check of a differing chunk (default 500 and 1000 ms: two re-checks). */
  readonly recheckDelaysMs?: readonly number[];
  /** Called after each chunk, for progress output. */
  readonly onProgress?: (progress: VerifyProgress) => void;
}

/** Where a run is. */
export interface VerifyProgress {
  /** The table being compared. */
  readonly table: TableName;
  /** Its position, from 1. */
  readonly tableIndex: number;
  /** How many tables there are. */
  readonly tableCount: number;
  /** Chunks of this table done. */
  readonly chunksDone: number;
  /** Rows of this table the original has in those chunks. */
  readonly rowsDone: number;
  /** The planner's estimate of the table's rows (0 when unknown). */
  readonly rowsEstimate: number;
}

/** A copy that was not compared, and why. */
export interface SkippedCopy {
  /** Copy name. */
  readonly name: string;
  /** Its state in the state file. */
  readonly state: MemberState;
}

/** One way a table differs on one copy. */
export type TableDifference =
  | { readonly kind: "missing"; readonly copy: string }
  | { readonly kind: "notATable"; readonly copy: string; readonly relkind: string }
  | { readonly kind: "onlyOnCopy"; readonly copy: string }
  | {
    readonly kind: "columns";
    readonly copy: string;
    readonly original: readonly Column[];
    readonly other: readonly Column[];
  }
  | {
    readonly kind: "rows";
    readonly copy: string;
    /** The chunk's key columns ([] when the whole table is one chunk). */
    readonly key: readonly string[];
    /** The chunk's ends. */
    readonly range: KeyRange;
    /** The original's first key in the chunk, if it has rows there. */
    readonly first: KeyValue | undefined;
    /** Rows of the chunk on the original. */
    readonly originalRows: number;
    /** Rows of the chunk on the copy. */
    readonly copyRows: number;
  };

/** The outcome for one table. */
export interface TableReport {
  /** The table. */
  readonly table: TableName;
  /** Rows per server that compared it (as of each chunk's last check). */
  readonly rows: ReadonlyMap<string, number>;
  /** Differences, in copy and key order; empty when identical. */
  readonly differences: readonly TableDifference[];
}

/** The outcome of a run. */
export interface VerifyReport {
  /** Database compared. */
  readonly database: string;
  /** Name of the original. */
  readonly original: string;
  /** Copies compared, in configuration order. */
  readonly compared: readonly string[];
  /** Copies skipped because they are not in sync. */
  readonly skipped: readonly SkippedCopy[];
  /** Tables, by schema and name. */
  readonly tables: readonly TableReport[];
}
