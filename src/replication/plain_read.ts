/**
 * @module
 * Recognises, on the bytes of a simple-protocol Query message and without decoding its text, the
 * plain SELECT that read-heavy traffic is made of (`SELECT abalance FROM pgbench_accounts WHERE
 * aid = 41273;`). It accepts exactly the SELECTs `_classify_quick.ts` classifies as reads, minus
 * any text with a byte outside ASCII: one statement, no parentheses (so no function call or
 * subquery), no quote, dollar sign, backslash or comment, at most a trailing semicolon, and none
 * of the words that make a SELECT more than a read (`INTO`, `FOR`, `WITH`, `LOCK`, `NEXTVAL`,
 * `SETVAL`). The relay answers such a read through its light path: no classification, no batch.
 */

/** Byte length of the longest text looked at; longer ones take the classifier's way. */
const MAX_TEXT = 2000;

/** The lower-case letters of `select`, the verb a plain read starts with. */
const SELECT = [0x73, 0x65, 0x6c, 0x65, 0x63, 0x74];

/** Words (lower case) that make a SELECT more than a read; see `_classify_quick.ts`. */
const RISKY_WORDS: readonly (readonly number[])[] = [
  "into",
  "for",
  "with",
  "lock",
  "nextval",
  "setval",
]
  .map((w) => [...w].map((c) => c.charCodeAt(0)));

/** Whether a byte is a JavaScript regular-expression word character: `[A-Za-z0-9_]`. */
function isWordByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x5f;
}

/** Whether a byte is white space as `String.prototype.trim` sees it in ASCII. */
function isSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

/** Whether `bytes[start, end)` spells `word` (lower case), ignoring ASCII case. */
function wordIs(bytes: Uint8Array, start: number, end: number, word: readonly number[]): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((bytes[start + i]! | 0x20) !== word[i]) return false;
  }
  return true;
}

/** Whether the word `bytes[start, end)` is one of {@link RISKY_WORDS}. */
function isRisky(bytes: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (length < 3 || length > 7) return false;
  for (const word of RISKY_WORDS) {
    if (wordIs(bytes, start, end, word)) return true;
  }
  return false;
}

/**
 * Whether a Query message holds one plain SELECT that only reads (see the module notes).
 *
 * @param message a complete Query message: type byte, length, text, terminating zero byte
 * @returns true when it certainly is one; false sends it the classifier's way
 */
export function isPlainSelect(message: Uint8Array): boolean {
  const end = message.length - 1; // the terminating zero byte
  let i = 5;
  if (end - i > MAX_TEXT) return false;
  while (i < end && isSpace(message[i]!)) i++;
  if (!wordIs(message, i, Math.min(i + 6, end), SELECT)) return false;
  i += 6;
  if (i < end && isWordByte(message[i]!)) return false; // `selection`, `select_x`
  let wordStart = -1;
  for (; i < end; i++) {
    const b = message[i]!;
    if (isWordByte(b)) {
      if (wordStart < 0) wordStart = i;
      continue;
    }
    if (wordStart >= 0) {
      if (isRisky(message, wordStart, i)) return false;
      wordStart = -1;
    }
    if (b >= 0x80) return false;
    switch (b) {
      case 0x28: // (
      case 0x29: // )
      case 0x27: // '
      case 0x22: // "
      case 0x24: // $
      case 0x5c: // \
      case 0x00: // a zero byte inside the text: PostgreSQL would stop there
        return false;
      case 0x2d: // -- starts a comment
        if (message[i + 1] === 0x2d) return false;
        break;
      case 0x2f: // /* starts a comment
        if (message[i + 1] === 0x2a) return false;
        break;
      case 0x3b: // ; ends the statement: only white space may follow
        for (let j = i + 1; j < end; j++) {
          if (!isSpace(message[j]!)) return false;
        }
        return true;
    }
  }
  return wordStart < 0 || !isRisky(message, wordStart, end);
}
