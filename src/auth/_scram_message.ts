/**
 * @module
 * A reader for SCRAM messages: comma-separated `x=value` attributes (RFC 5802 section 5.1), read
 * in order, the way `read_attr_value()` and `read_any_attr()` do in PostgreSQL's
 * `src/backend/libpq/auth-scram.c` and `src/interfaces/libpq/fe-auth-scram.c`. Every failure is
 * an `AuthError` 08P01. Private to `src/auth/`.
 */

import { malformedScram } from "./errors.ts";

/** A cursor over one SCRAM message. */
export class ScramReader {
  readonly #text: string;
  readonly #what: string;
  #pos = 0;

  /**
   * Starts reading a message.
   *
   * @param text The message.
   * @param what Its name, for error details (such as "server-first-message").
   */
  constructor(text: string, what: string) {
    this.#text = text;
    this.#what = what;
  }

  /** Offset of the next unread character. */
  get position(): number {
    return this.#pos;
  }

  /** Whether the whole message has been read. */
  get atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  /** The next unread character, or "" at the end. */
  peek(): string {
    return this.#text.charAt(this.#pos);
  }

  /**
   * Reads `<name>=<value>` and the comma after it, if any.
   *
   * @param name The one-letter attribute expected here.
   * @returns The value, up to the next comma or the end.
   * @throws {AuthError} 08P01 if the next attribute is not `name`.
   */
  attr(name: string): string {
    const found = this.#text.slice(this.#pos, this.#pos + 2);
    if (found !== `${name}=`) {
      throw malformedScram(
        `Expected attribute "${name}" but found "${this.#rest()}" in ${this.#what}.`,
      );
    }
    this.#pos += 2;
    return this.#value();
  }

  /**
   * Reads any `<letter>=<value>` attribute and the comma after it, if any.
   *
   * @returns The attribute's letter and value.
   * @throws {AuthError} 08P01 if the next text is not an attribute.
   */
  anyAttr(): { name: string; value: string } {
    const name = this.peek();
    if (!/^[A-Za-z]$/.test(name) || this.#text.charAt(this.#pos + 1) !== "=") {
      throw malformedScram(
        `Attribute expected, but found invalid character "${name}" in ${this.#what}.`,
      );
    }
    this.#pos += 2;
    return { name, value: this.#value() };
  }

  /**
   * Consumes one expected character.
   *
   * @param char The character.
   * @param detail The DETAIL sentence if it is missing.
   * @throws {AuthError} 08P01 if the next character differs.
   */
  expect(char: string, detail: string): void {
    if (this.peek() !== char) throw malformedScram(detail);
    this.#pos++;
  }

  /**
   * Fails unless the whole message has been read.
   *
   * @throws {AuthError} 08P01 on trailing text.
   */
  end(): void {
    if (!this.atEnd) throw malformedScram(`Garbage found at the end of ${this.#what}.`);
  }

  #value(): string {
    const comma = this.#text.indexOf(",", this.#pos);
    const stop = comma < 0 ? this.#text.length : comma;
    const value = this.#text.slice(this.#pos, stop);
    this.#pos = comma < 0 ? stop : stop + 1;
    // A comma with nothing after it would otherwise read as a clean end of message.
    if (comma >= 0 && this.atEnd) {
      throw malformedScram(`Unexpected end of ${this.#what} after a comma.`);
    }
    return value;
  }

  #rest(): string {
    return this.#text.slice(this.#pos, this.#pos + 16);
  }
}
