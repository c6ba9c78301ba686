/**
 * @module
 * SASLprep (RFC 4013, a stringprep profile of RFC 3454) for SCRAM passwords, following
 * PostgreSQL's `pg_saslprep()` in `src/common/saslprep.c`. Both PostgreSQL sides call it and, when
 * it fails, use the password's raw bytes instead; {@linkcode saslPrep} returns `undefined` in that
 * case so callers can do the same.
 *
 * What is implemented exactly as PostgreSQL does it:
 * - a pure-ASCII password is returned unchanged (even with control characters);
 * - a string that is not valid UTF-16 (a lone surrogate, which cannot become valid UTF-8) fails;
 * - mapping: C.1.2 non-ASCII spaces become U+0020, B.1 "commonly mapped to nothing" is removed;
 *   a password that maps to "" fails;
 * - the prohibited-output tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9 and the
 *   bidi table D.1 (RandALCat), checked, like PostgreSQL, on the mapped string before NFKC;
 * - normalization with NFKC (`String.prototype.normalize`).
 *
 * The subset: table A.1 (unassigned in Unicode 3.2) is approximated by the current Unicode
 * `\p{Cn}`, so a character assigned after Unicode 3.2 is accepted here but rejected by
 * PostgreSQL; table D.2 (LCat) is approximated by `\p{L}` outside the right-to-left scripts. The
 * two can disagree only for such characters, and only matter if NFKC changes the password.
 */

/** Inclusive code point ranges, flattened as [first, last, first, last, ...]. */
type Ranges = readonly number[];

/** Parses "00A0 2000-200B ..." (hex code points and inclusive ranges) into {@linkcode Ranges}. */
function ranges(table: string): Ranges {
  return table.split(" ").flatMap((item) => {
    const [first = "", last = first] = item.split("-");
    return [parseInt(first, 16), parseInt(last, 16)];
  });
}

/** C.1.2: mapped to U+0020. */
const NON_ASCII_SPACE = ranges(
  "00A0 1680 2000-200B 202F 205F 3000",
);

/** B.1: removed. */
const MAPPED_TO_NOTHING = ranges(
  "00AD 034F 1806 180B-180D 200B-200D 2060 FE00-FE0F FEFF",
);

/** C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9, merged. */
const PROHIBITED = ranges(
  "0000-001F 007F-00A0 0340-0341 06DD 070F 1680 180E 2000-200F 2028-202F 205F-2063 206A-206F " +
    "2FF0-2FFB 3000 D800-F8FF FDD0-FDEF FEFF FFF9-FFFF 1D173-1D17A " +
    "1FFFE-1FFFF 2FFFE-2FFFF 3FFFE-3FFFF 4FFFE-4FFFF 5FFFE-5FFFF 6FFFE-6FFFF 7FFFE-7FFFF " +
    "8FFFE-8FFFF 9FFFE-9FFFF AFFFE-AFFFF BFFFE-BFFFF CFFFE-CFFFF DFFFE-DFFFF EFFFE-EFFFF " +
    "E0001 E0020-E007F F0000-10FFFF",
);

/** D.1: bidi categories R and AL. */
const RAND_AL_CAT = ranges(
  "05BE 05C0 05C3 05D0-05EA 05F0-05F4 061B 061F 0621-063A 0640-064A 066D-066F 0671-06D5 06DD " +
    "06E5-06E6 06FA-06FE 0700-070D 0710 0712-072C 0780-07A5 07B1 200F FB1D FB1F-FB28 FB2A-FB36 " +
    "FB38-FB3C FB3E FB40-FB41 FB43-FB44 FB46-FBB1 FBD3-FD3D FD50-FD8F FD92-FDC7 FDF0-FDFC " +
    "FE70-FE74 FE76-FEFC",
);

/** A.1 approximated: unassigned in the running Unicode version. */
const UNASSIGNED = /^\p{Cn}$/u;
/** D.2 approximated: letters, less the right-to-left scripts. */
const LETTER = /^\p{L}$/u;
const RTL_SCRIPT = /^[\p{sc=Hebrew}\p{sc=Arabic}\p{sc=Syriac}\p{sc=Thaana}\p{sc=Nko}]$/u;

function inRanges(code: number, ranges: Ranges): boolean {
  for (let i = 0; i + 1 < ranges.length; i += 2) {
    if (code >= ranges[i]! && code <= ranges[i + 1]!) return true;
  }
  return false;
}

function isRandALCat(code: number): boolean {
  return inRanges(code, RAND_AL_CAT);
}

function isLCat(code: number): boolean {
  const char = String.fromCodePoint(code);
  return LETTER.test(char) && !RTL_SCRIPT.test(char) && !isRandALCat(code);
}

/**
 * Prepares a password with SASLprep, as PostgreSQL's `pg_saslprep()` does.
 *
 * @example
 * ```ts
 * import { saslPrep } from "./saslprep.ts";
 * console.assert(saslPrep("I\u00ADX") === "IX"); // soft hyphen mapped to nothing
 * console.assert(saslPrep("\u2168") === "IX"); // NFKC
 * console.assert(saslPrep("a\u0007\u00e9") === undefined); // prohibited: use the raw password
 * ```
 *
 * @param password The password as given.
 * @returns The prepared password, or `undefined` when SASLprep fails and the caller must use the
 *   raw password (PostgreSQL's SASLPREP_PROHIBITED and SASLPREP_INVALID_UTF8).
 */
export function saslPrep(password: string): string | undefined {
  if (/^[\p{ASCII}]*$/u.test(password)) return password;
  if (!password.isWellFormed()) return undefined;

  const mapped: number[] = [];
  for (const char of password) {
    const code = char.codePointAt(0)!;
    if (inRanges(code, NON_ASCII_SPACE)) mapped.push(0x20);
    else if (!inRanges(code, MAPPED_TO_NOTHING)) mapped.push(code);
  }
  if (mapped.length === 0) return undefined;

  // PostgreSQL checks the mapped string, not the normalized one; mirror it so both sides agree.
  for (const code of mapped) {
    if (inRanges(code, PROHIBITED) || UNASSIGNED.test(String.fromCodePoint(code))) {
      return undefined;
    }
  }
  if (mapped.some(isRandALCat)) {
    if (mapped.some(isLCat)) return undefined;
    if (!isRandALCat(mapped[0]!) || !isRandALCat(mapped[mapped.length - 1]!)) return undefined;
  }
  return String.fromCodePoint(...mapped).normalize("NFKC");
}
