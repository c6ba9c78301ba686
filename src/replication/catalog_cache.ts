/**
 * @module
 * Table definitions (columns, types, defaults, sequences, primary keys) that row-based
 * replication needs, cached for the whole process. Keyed by database, the session's search_path
 * setting and the relation as the statement wrote it; cleared whenever DDL passes through usogres.
 */

import type { TableInfo } from "./determinism.ts";

/** Process-wide cache of table definitions. */
export class CatalogCache {
  readonly #tables = new Map<string, TableInfo | null>();
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that needed the catalog. */
  misses = 0;

  /**
   * Builds the key of one lookup.
   *
   * @param database database name
   * @param searchPath the session's last `SET search_path` text ("" for the default)
   * @param relation the relation as written
   * @returns the key
   */
  static key(database: string, searchPath: string, relation: string): string {
    return `${database}\u0000${searchPath}\u0000${relation}`;
  }

  /**
   * Looks a table up.
   *
   * @param key from {@link CatalogCache.key}
   * @returns the table, null when it does not exist, undefined when not cached
   */
  get(key: string): TableInfo | null | undefined {
    const t = this.#tables.get(key);
    if (t === undefined) this.misses++;
    else this.hits++;
    return t;
  }

  /**
   * Stores a lookup's result.
   *
   * @param key from {@link CatalogCache.key}
   * @param table the table, or null when it does not exist
   */
  set(key: string, table: TableInfo | null): void {
    if (this.#tables.size >= 10_000) this.#tables.clear();
    this.#tables.set(key, table);
  }

  /** Forgets everything (after DDL). */
  clear(): void {
    this.#tables.clear();
  }
}
