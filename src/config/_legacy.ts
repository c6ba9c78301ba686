/**
 * @module
 * The seed's rc format (Usogres 0.8.1's `usogresrc`): `key = value` lines, `#` comments and blank
 * lines; values quoted with `"..."` or `'...'`, or a bare word such as `~/.usogres-log` (which is
 * why TOML cannot read it). Values stay text here; numbers are recognised when checked.
 */

import { fileEntry, fileWhere, type ParsedFile, unknownKeyError } from "./_entry.ts";
import { allKeyCandidates, isArrayKind, resolveKey } from "./_settings.ts";
import { suggest } from "./_suggest.ts";
import { ConfigError } from "./errors.ts";

const KEY_LINE = /^([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/;

/**
 * Tells whether a text that TOML rejected is meant as a legacy file: no `[section]` header and
 * at least one `key = value` line. A legacy file with a malformed line is still read by the
 * legacy reader, so that the error names that line instead of TOML's first complaint.
 * @param text the file's contents
 * @returns true when the legacy reader should read it
 */
export function looksLegacy(text: string): boolean {
  let keyLines = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) return false;
    if (KEY_LINE.test(line)) keyLines++;
  }
  return keyLines > 0;
}

/** Reads the value part of a line: the value, or why it is malformed. */
function readValue(rest: string): { value: string } | { problem: string } {
  let value: string;
  let after: string;
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    let i = 1;
    value = "";
    for (; i < rest.length && rest[i] !== quote; i++) {
      const c = rest[i]!;
      // Double-quoted values take \" and \\ as TOML does; single-quoted ones are literal.
      if (quote === '"' && c === "\\" && i + 1 < rest.length) value += rest[++i];
      else value += c;
    }
    if (i >= rest.length) return { problem: `unterminated quoted value` };
    after = rest.slice(i + 1);
  } else {
    const m = /^(\S+)(.*)$/.exec(rest);
    if (!m || rest.startsWith("#")) return { problem: "missing value" };
    value = m[1]!;
    // A "#" inside a bare word is part of it (a password may hold one); a comment needs a space.
    after = m[2]!;
  }
  if (!/^\s*(#.*)?$/.test(after)) {
    return { problem: `unexpected text after the value: "${after.trim()}"` };
  }
  return { value };
}

/**
 * Reads a legacy rc file.
 * @param text the file's contents
 * @param file its path, for messages and provenance
 * @returns every value found, and every malformed line or unknown key (with its line)
 */
export function readLegacy(text: string, file: string): ParsedFile {
  const result: ParsedFile = { entries: [], errors: [], copyLines: [] };
  const candidates = allKeyCandidates();
  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = fileWhere(file, lineNo);
    const m = KEY_LINE.exec(line);
    if (!m) {
      result.errors.push(
        new ConfigError({
          where,
          file,
          line: lineNo,
          message: `malformed line: expected "key = value", got "${line}"`,
          expected: "key = value",
          actual: `"${line}"`,
        }),
      );
      return;
    }
    const key = m[1]!;
    // Arrays have no syntax here (a bare word may hold "[" or ","): say so before the value's
    // brackets are reported as malformed text.
    if (isArrayKind(resolveKey(key)?.setting.kind ?? { type: "string" })) {
      result.errors.push(
        new ConfigError({
          where,
          file,
          line: lineNo,
          key,
          message: `"${key}" takes an array, which the legacy rc format cannot hold`,
          expected: "a TOML configuration file",
          actual: "a legacy rc file",
          hint: "Write the configuration as TOML (see usogresrc.toml) to set it.",
        }),
      );
      return;
    }
    const read = readValue(m[2]!);
    if ("problem" in read) {
      result.errors.push(
        new ConfigError({
          where,
          file,
          line: lineNo,
          key,
          message: `malformed value for "${key}": ${read.problem}`,
          expected: "a quoted string, a word or a number",
          actual: `"${m[2]!}"`,
        }),
      );
      return;
    }
    const resolved = resolveKey(key);
    if (!resolved || key.startsWith("copy.")) {
      const hint = suggest(key, candidates);
      result.errors.push(unknownKeyError(where, file, lineNo, key, hint));
      return;
    }
    result.entries.push(fileEntry(file, lineNo, resolved.path, key, read.value, true));
  });
  return result;
}
