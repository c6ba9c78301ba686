/**
 * @module
 * Prepared statements and portals of one session, as routing needs them: the route of each named
 * statement (from its Parse), the retained Parse message (so a copy that lacks the statement gets
 * it just before a write batch uses it), the unnamed statement, portals, and SQL-level PREPARE.
 * Statements are parsed on the original as they arrive; copies get them lazily, so read-only
 * prepared statements never cost the copies anything.
 */

import type { BatchRoute, RowPlan } from "./batch.ts";
import type { StatementClass } from "./classify.ts";

/** A statement created by Parse. */
export interface PreparedStatement {
  /** Where executing it goes. */
  readonly route: BatchRoute;
  /** The Parse message, retained; identity tells whether a copy has this exact version. */
  readonly parse: Uint8Array;
  /** Set when the statement is replicated by rows (its Parse was rewritten for the original). */
  readonly rowPlan?: RowPlan;
  /** Set when usogres refused the statement (the original got a refusal in its place). */
  readonly refused?: boolean;
  /** Set when the statement is a COMMIT (copies commit before the original). */
  readonly commit?: boolean;
  /** Set when it writes and may run inside a transaction usogres opens (lock order). */
  readonly wrapable?: boolean;
}

/**
 * The route a statement class needs.
 *
 * @param c the statement class
 * @returns "all" for writes, session and transaction statements, else "original"
 */
export function routeOf(c: StatementClass): BatchRoute {
  return c === "read" || c === "originalOnly" ? "original" : "all";
}

/** What a copy-side connection needs of the session's statements: each one by name. */
export interface StatementLookup {
  /**
   * A prepared statement by name.
   *
   * @param name statement name
   * @returns the statement, or undefined when unknown
   */
  statement(name: string): PreparedStatement | undefined;
}

/** One session's prepared statements and portals. */
export class PreparedStatements {
  readonly #statements = new Map<string, PreparedStatement>();
  readonly #portals = new Map<
    string,
    { route: BatchRoute; rowPlan: RowPlan | undefined; commit: boolean }
  >();
  readonly #sqlPrepared = new Map<string, StatementClass>();

  /**
   * Records a Parse.
   *
   * @param name statement name ("" = unnamed)
   * @param route route of its SQL
   * @param parse the retained Parse message
   * @param extra the row plan, or the refusal mark
   */
  parsed(
    name: string,
    route: BatchRoute,
    parse: Uint8Array,
    extra: {
      readonly rowPlan?: RowPlan;
      readonly refused?: boolean;
      readonly commit?: boolean;
      readonly wrapable?: boolean;
    } = {},
  ): void {
    this.#statements.set(name, { route, parse, ...extra });
  }

  /**
   * Looks up a statement.
   *
   * @param name statement name
   * @returns the statement, or undefined (the original will report the error)
   */
  statement(name: string): PreparedStatement | undefined {
    return this.#statements.get(name);
  }

  /**
   * Records a Bind and returns the route of executing the portal.
   *
   * @param portal portal name
   * @param statement statement name
   * @returns route of the statement ("all" when unknown: unknown means unsafe)
   */
  bound(portal: string, statement: string): BatchRoute {
    const s = this.#statements.get(statement);
    const route = s?.route ?? "all";
    this.#portals.set(portal, { route, rowPlan: s?.rowPlan, commit: s?.commit ?? false });
    return route;
  }

  /**
   * Route of executing a portal.
   *
   * @param portal portal name
   * @returns its route ("all" when unknown)
   */
  portal(portal: string): BatchRoute {
    return this.#portals.get(portal)?.route ?? "all";
  }

  /**
   * Whether executing a portal commits the transaction (its statement is a COMMIT).
   *
   * @param portal portal name
   * @returns true for a COMMIT portal
   */
  portalCommits(portal: string): boolean {
    return this.#portals.get(portal)?.commit ?? false;
  }

  /**
   * The row plan of a portal's statement.
   *
   * @param portal portal name
   * @returns the plan, or undefined when it is replicated as text
   */
  portalPlan(portal: string): RowPlan | undefined {
    return this.#portals.get(portal)?.rowPlan;
  }

  /**
   * Records a Close of a statement or portal.
   *
   * @param kind 'S' or 'P'
   * @param name the name
   */
  closed(kind: "S" | "P", name: string): void {
    if (kind === "S") this.#statements.delete(name);
    else this.#portals.delete(name);
  }

  /**
   * Records SQL `PREPARE name AS ...`.
   *
   * @param name statement name as the parser gives it (unquoted names already folded to lower
   *   case; quoted names keep their case, so `foo` and `"Foo"` are two statements)
   * @param c class of its body
   */
  sqlPrepared(name: string, c: StatementClass): void {
    this.#sqlPrepared.set(name, c);
  }

  /**
   * Class of SQL `EXECUTE name`.
   *
   * @param name statement name
   * @returns the class of its PREPARE, or "write" when unknown
   */
  sqlExecuteClass(name: string): StatementClass {
    return this.#sqlPrepared.get(name) ?? "write";
  }

  /**
   * Records SQL `DEALLOCATE` (null = ALL) or `DISCARD ALL`.
   *
   * @param name statement name, or null for all
   */
  sqlDeallocated(name: string | null): void {
    if (name === null) this.#sqlPrepared.clear();
    else this.#sqlPrepared.delete(name);
  }
}
