/**
 * @module
 * TOML configuration files (`usogresrc.toml`): parsed by smol-toml, then walked section by
 * section into entries. smol-toml reports no positions for values, so a light line scan of the
 * source finds where each key was written (best effort: it follows `[table]`, `[[array]]` and
 * dotted keys, and skips multi-line strings).
 */

import { parse, TomlError } from "smol-toml";
import { fileEntry, fileWhere, type ParsedFile, unknownKeyError } from "./_entry.ts";
import { allKeyCandidates, BACKEND_SETTINGS, LEGACY_KEYS, SECTIONS } from "./_settings.ts";
import { type Candidate, suggest } from "./_suggest.ts";
import { ConfigError } from "./errors.ts";

/** A parsed TOML document, or where and why parsing failed. */
export type TomlParse =
  | { readonly ok: true; readonly doc: Record<string, unknown> }
  | { readonly ok: false; readonly line: number; readonly column: number; readonly reason: string };

/**
 * Parses TOML text.
 * @param text the file's contents
 * @returns the document, or the syntax error's position and reason
 * @throws what smol-toml throws other than a `TomlError` (a bug)
 */
export function parseToml(text: string): TomlParse {
  try {
    return { ok: true, doc: parse(text) };
  } catch (e: unknown) {
    if (!(e instanceof TomlError)) throw e;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code excerpt>".
    const reason = e.message.split("\n")[0]!.replace(/^Invalid TOML document:\s*/, "");
    return { ok: false, line: e.line, column: e.column, reason: reason.toLowerCase() };
  }
}

/** True for a TOML table (smol-toml gives null-prototype objects), false for values and dates. */
function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Removes quotes and spaces around the parts of a dotted TOML key. */
function normaliseKey(key: string): string {
  return key.split(".").map((p) => p.trim().replace(/^["']|["']$/g, "")).join(".");
}

/**
 * Finds the line of every table header and key in a TOML text.
 * @param text the file's contents
 * @returns 1-based line per dotted path (`listen`, `listen.port`, `copy.1.host`)
 */
export function scanKeyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  let prefix = "";
  let inMultiline: string | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    if (inMultiline !== undefined) {
      if (raw.includes(inMultiline)) inMultiline = undefined;
      return;
    }
    const line = raw.trim();
    let m = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(line);
    if (m) {
      const name = normaliseKey(m[1]!);
      const n = arrayCounts.get(name) ?? 0;
      arrayCounts.set(name, n + 1);
      prefix = `${name}.${n}`;
      if (!lines.has(prefix)) lines.set(prefix, lineNo);
      return;
    }
    m = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (m) {
      prefix = normaliseKey(m[1]!);
      if (!lines.has(prefix)) lines.set(prefix, lineNo);
      return;
    }
    m =
      /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$/
        .exec(line);
    if (!m) return;
    const path = (prefix ? `${prefix}.` : "") + normaliseKey(m[1]!);
    if (!lines.has(path)) lines.set(path, lineNo);
    const rest = m[2]!;
    for (const delim of ['"""', "'''"]) {
      const at = rest.indexOf(delim);
      if (at >= 0 && rest.indexOf(delim, at + 3) < 0) inMultiline = delim;
    }
  });
  return lines;
}

/** Line of a path, or of its closest enclosing table or key (an inline table's values). */
function lineOf(lines: Map<string, number>, path: string): number | undefined {
  for (let p = path; p !== ""; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
    const line = lines.get(p);
    if (line !== undefined) return line;
  }
  return undefined;
}

const SECTION_CANDIDATES: Candidate[] = [...Object.keys(SECTIONS), "copy", "hba"].map((s) => ({
  match: s,
  display: `[${s === "copy" || s === "hba" ? `[${s}]]` : `${s}]`}`,
}));

/**
 * Walks a parsed TOML document into entries: legacy keys at the top level, the plain sections,
 * and `[[copy]]` tables; everything else is reported with a suggestion.
 * @param doc the parsed document
 * @param text its source, for line numbers
 * @param file its path, for messages and provenance
 * @returns the entries and the problems found
 */
export function readToml(doc: Record<string, unknown>, text: string, file: string): ParsedFile {
  const lines = scanKeyLines(text);
  const result: ParsedFile = { entries: [], errors: [], copyLines: [] };
  const unknown = (path: string, candidates: readonly Candidate[]): void => {
    const line = lineOf(lines, path);
    const leaf = path.slice(path.lastIndexOf(".") + 1);
    const hint = suggest(path, candidates) ?? suggest(leaf, candidates);
    result.errors.push(unknownKeyError(fileWhere(file, line), file, line, path, hint));
  };
  const notTable = (path: string, value: unknown, hint: string): void => {
    const line = lineOf(lines, path);
    result.errors.push(
      new ConfigError({
        where: fileWhere(file, line),
        file,
        line,
        key: path,
        message: `"${path}" must be a table, got ${value === undefined ? "nothing" : "a value"}`,
        expected: "a table",
        actual: Array.isArray(value) ? "an array" : "a value",
        hint,
      }),
    );
  };
  const add = (path: string, written: string, value: unknown): void => {
    result.entries.push(fileEntry(file, lineOf(lines, written), path, written, value, false));
  };

  for (const [key, value] of Object.entries(doc)) {
    const legacy = LEGACY_KEYS[key];
    const settings = SECTIONS[key];
    if (legacy !== undefined) {
      add(legacy, key, value);
    } else if (settings !== undefined) {
      if (!isTable(value)) {
        notTable(key, value, `Write the settings of "${key}" under a [${key}] header.`);
        continue;
      }
      const candidates = Object.keys(settings).map((l) => ({ match: l, display: `${key}.${l}` }));
      for (const [leaf, v] of Object.entries(value)) {
        if (settings[leaf] !== undefined) add(`${key}.${leaf}`, `${key}.${leaf}`, v);
        else unknown(`${key}.${leaf}`, candidates);
      }
    } else if (key === "copy") {
      readCopies(value, lines, file, result, unknown, notTable);
    } else if (key === "hba") {
      readRules(value, lines, file, result, notTable);
    } else if (isTable(value)) {
      const line = lineOf(lines, key);
      const hint = suggest(key, SECTION_CANDIDATES);
      result.errors.push(
        new ConfigError({
          where: fileWhere(file, line),
          file,
          line,
          key,
          message: `unknown section "[${key}]"` + (hint ? `; did you mean "${hint}"?` : ""),
          expected: "one of " + SECTION_CANDIDATES.map((c) => c.display).join(", "),
          actual: `"[${key}]"`,
        }),
      );
    } else {
      unknown(key, allKeyCandidates());
    }
  }
  return result;
}

/** Reads the `[[hba]]` array of tables: one entry per rule, checked as a whole. */
function readRules(
  value: unknown,
  lines: Map<string, number>,
  file: string,
  result: ParsedFile,
  notTable: (path: string, value: unknown, hint: string) => void,
): void {
  if (!Array.isArray(value)) {
    notTable("hba", value, "Write each access rule as its own [[hba]] table (two brackets).");
    return;
  }
  value.forEach((rule: unknown, i) => {
    const path = `hba.${i}`;
    result.entries.push(fileEntry(file, lineOf(lines, path), path, path, rule, false));
  });
}

/** Reads the `[[copy]]` array of tables. */
function readCopies(
  value: unknown,
  lines: Map<string, number>,
  file: string,
  result: ParsedFile,
  unknown: (path: string, candidates: readonly Candidate[]) => void,
  notTable: (path: string, value: unknown, hint: string) => void,
): void {
  const hint = "Write each copy server as its own [[copy]] table (two brackets).";
  if (!Array.isArray(value)) {
    notTable("copy", value, hint);
    return;
  }
  value.forEach((table: unknown, i) => {
    const candidates = Object.keys(BACKEND_SETTINGS).map((l) => ({
      match: l,
      display: `copy.${i}.${l}`,
    }));
    result.copyLines.push(lineOf(lines, `copy.${i}`));
    if (!isTable(table)) {
      notTable(`copy.${i}`, table, hint);
      return;
    }
    for (const [leaf, v] of Object.entries(table)) {
      const path = `copy.${i}.${leaf}`;
      if (BACKEND_SETTINGS[leaf] !== undefined) {
        result.entries.push(fileEntry(file, lineOf(lines, path), path, path, v, false));
      } else unknown(path, candidates);
    }
  });
}
