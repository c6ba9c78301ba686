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
    const out: CopyMessage[] = [];
    const parsedHere = new Set<string>();
    for (const m of messages) {
      if (m.kind === "Parse" && m.statement !== undefined) parsedHere.add(m.statement);
      if (m.kind === "Bind" && m.statement !== undefined && !parsedHere.has(m.statement)) {
        const s = prepared.statement(m.statement);
        if (s && this.#statements.get(m.statement) !== s.parse) {
          if (m.statement !== "" && this.#statements.has(m.statement)) {
            out.push({ kind: "Close", bytes: encodeClose("S", m.statement), source: -1 });
          }
          out.push({ kind: "Parse", bytes: s.parse, source: -1, statement: m.statement });
          this.#statements.set(m.statement, s.parse);
        }
        parsedHere.add(m.statement);
      }
    }
    for (const m of messages) {
      if (m.kind === "Parse" && m.statement !== undefined) {
        this.#statements.set(m.statement, m.bytes);
      }
    }
    return out.length === 0 ? [...messages] : [...out, ...messages];
  }

  /** Forgets every statement (after DISCARD ALL or DEALLOCATE ALL ran on the connection). */
  forget(): void {
    this.#statements.clear();
  }
}
