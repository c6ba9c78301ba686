/**
 * @module
 * Which prepared statements one copy-side connection has (a copy link, or the journal that a
 * recovering copy will replay), so that a batch binding a statement the connection lacks gets that
 * statement's Parse first. Statements are known by the identity of their retained Parse message:
 * a statement re-parsed under the same name is a different statement.
 */

import { encodeClose } from "../protocol/mod.ts";
import type { CopyMessage, StatementLookup } from "../replication/mod.ts";

/** Prepared statements of one copy-side connection. */
export class StatementSync {
  readonly #statements = new Map<string, Uint8Array>();

  /**
   * Adds the Parse messages the connection lacks for the statements the batch binds.
   *
   * @param messages the batch for this connection
   * @param prepared the session's statements
   * @returns the messages to send, injected ones first (source -1)
   */
  withStatements(messages: readonly CopyMessage[], prepared: StatementLookup): CopyMessage[] {
    const front: CopyMessage[] = [];
    const out: CopyMessage[] = [];
    const parsedHere = new Set<string>();
    for (const m of messages) {
      if (m.kind === "Bind" && m.statement !== undefined && !parsedHere.has(m.statement)) {
        // The version the Bind bound on the original, else the session's current one.
        const parse = m.parse ?? prepared.statement(m.statement)?.parse;
        if (parse && this.#statements.get(m.statement) !== parse) {
          if (m.statement !== "" && this.#statements.has(m.statement)) {
            front.push(closeStatement(m.statement));
          }
          front.push({ kind: "Parse", bytes: parse, source: -1, statement: m.statement });
          this.#statements.set(m.statement, parse);
        }
        parsedHere.add(m.statement);
      }
      if (m.kind === "Parse" && m.statement !== undefined) {
        // A name the connection still has (the client's Close of it went to the original
        // alone, in a batch that did not write): closed first, or the Parse would fail there.
        if (m.statement !== "" && this.#statements.has(m.statement)) {
          out.push(closeStatement(m.statement));
        }
        this.#statements.set(m.statement, m.bytes);
        parsedHere.add(m.statement);
      }
      out.push(m);
    }
    return front.length === 0 ? out : [...front, ...out];
  }

  /** Forgets every statement (after DISCARD ALL or DEALLOCATE ALL ran on the connection). */
  forget(): void {
    this.#statements.clear();
  }
}

/** A Close of a named statement, added by usogres (source -1); closing a missing one is no error. */
function closeStatement(name: string): CopyMessage {
  return { kind: "Close", bytes: encodeClose("S", name), source: -1 };
}
