/**
 * @module
 * The admin console's grammar: one pure function from a Query's text to the commands it holds.
 * Keywords are case-insensitive; a backend name is an identifier, folded to lower case unless
 * double-quoted, as PostgreSQL folds names; statements are separated by semicolons, and a
 * trailing one is optional. Errors are `PgError`s: 42601 syntax_error, worded as PostgreSQL's
 * parser words them (`syntax error at or near "x"`, `syntax error at end of input`).
 */

import { PgError } from "../protocol/mod.ts";

/** One admin console command. */
export type AdminCommand =
  | {
    readonly kind: "show";
    readonly what: "backends" | "clients" | "stats" | "config" | "version" | "recovery";
  }
  | { readonly kind: "pause" | "resume" | "reload" | "shutdown" }
  | { readonly kind: "detach" | "recover" | "promote"; readonly backend: string }
  | { readonly kind: "attach"; readonly backend: string; readonly force: boolean };

/** The commands, for the HINT of a syntax error and for documentation. */
export const COMMAND_SUMMARY =
  "Commands are SHOW BACKENDS, SHOW CLIENTS, SHOW STATS, SHOW CONFIG, SHOW VERSION, PAUSE, " +
  "RESUME, DETACH name, ATTACH name [FORCE], RECOVER name, PROMOTE name, RELOAD and SHUTDOWN.";

const SHOW_TARGETS = ["backends", "clients", "stats", "config", "version", "recovery"] as const;

/**
 * A token: `text` as written, `value` folded (or unquoted). A `symbol` (any other character)
 * is kept as a token, so the syntax error points at the first token out of place.
 */
interface Token {
  readonly text: string;
  readonly value: string;
  readonly kind: "word" | "quoted" | "symbol";
}

/** What {@link parseCommands} returns. */
export type ParseResult =
  | { readonly ok: true; readonly commands: readonly AdminCommand[] }
  | { readonly ok: false; readonly error: PgError };

/**
 * Parses a simple Query's text into admin commands.
 *
 * @param sql the Query text
 * @returns the commands in order ([] for an empty query), or the first syntax error
 * @example
 * ```ts
 * const r = parseCommands("show backends; ATTACH \"copy\" force;");
 * // r.ok && r.commands: [{ kind: "show", what: "backends" },
 * //   { kind: "attach", backend: "copy", force: true }]
 * ```
 */
export function parseCommands(sql: string): ParseResult {
  const commands: AdminCommand[] = [];
  const statements = splitStatements(sql);
  if (!statements.ok) return statements;
  for (const tokens of statements.statements) {
    const parsed = parseOne(tokens);
    if (parsed instanceof PgError) return { ok: false, error: parsed };
    commands.push(parsed);
  }
  return { ok: true, commands };
}

/** Tokenizes the text and splits it at semicolons; empty statements are dropped. */
function splitStatements(
  sql: string,
): { ok: true; statements: Token[][] } | { ok: false; error: PgError } {
  const statements: Token[][] = [];
  let current: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === ";") {
      if (current.length > 0) statements.push(current);
      current = [];
      i++;
    } else if (c === '"') {
      let value = "";
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) {
          return {
            ok: false,
            error: syntaxError(`unterminated quoted identifier at or near "${sql.slice(i)}"`),
          };
        }
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') {
            value += '"';
            j += 2;
            continue;
          }
          break;
        }
        value += sql[j];
        j++;
      }
      if (value === "") {
        return {
          ok: false,
          error: syntaxError('zero-length delimited identifier at or near """"'),
        };
      }
      current.push({ text: sql.slice(i, j + 1), value, kind: "quoted" });
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i));
      const text = m ? m[0] : c;
      current.push({ text, value: text.toLowerCase(), kind: m ? "word" : "symbol" });
      i += text.length;
    }
  }
  if (current.length > 0) statements.push(current);
  return { ok: true, statements };
}

/** Parses one statement's tokens. */
function parseOne(tokens: readonly Token[]): AdminCommand | PgError {
  const [verb, ...args] = tokens;
  const keyword = (t: Token | undefined): string | undefined =>
    t?.kind === "word" ? t.value : undefined;
  switch (keyword(verb)) {
    case "show": {
      const target = keyword(args[0]);
      const what = SHOW_TARGETS.find((w) => w === target);
      if (what === undefined) {
        return syntaxAt(args[0], "SHOW takes BACKENDS, CLIENTS, STATS, CONFIG or VERSION.");
      }
      return args.length > 1 ? syntaxAt(args[1]) : { kind: "show", what };
    }
    case "pause":
    case "resume":
    case "reload":
    case "shutdown": {
      const kind = keyword(verb) as "pause" | "resume" | "reload" | "shutdown";
      return args.length > 0 ? syntaxAt(args[0]) : { kind };
    }
    case "detach":
    case "recover":
    case "promote": {
      const kind = keyword(verb) as "detach" | "recover" | "promote";
      const name = args[0];
      if (name === undefined || name.kind === "symbol") {
        const verb = kind.toUpperCase();
        return syntaxAt(name, `${verb} takes a server name, as in ${verb} copy.`);
      }
      return args.length > 1 ? syntaxAt(args[1]) : { kind, backend: name.value };
    }
    case "attach": {
      const name = args[0];
      if (name === undefined || name.kind === "symbol") {
        return syntaxAt(name, "ATTACH takes a server name, as in ATTACH copy.");
      }
      const force = args.length > 1 && keyword(args[1]) === "force";
      if (args.length > 1 && !force) return syntaxAt(args[1]);
      if (args.length > 2) return syntaxAt(args[2]);
      return { kind: "attach", backend: name.value, force };
    }
    default:
      return syntaxAt(verb, COMMAND_SUMMARY);
  }
}

function syntaxError(message: string, hint?: string): PgError {
  return new PgError("ERROR", "42601", message, hint === undefined ? {} : { hint });
}

/** `syntax error at or near "x"`, or `at end of input` when the token is missing. */
function syntaxAt(token: Token | undefined, hint?: string): PgError {
  const where = token === undefined ? "at end of input" : `at or near "${token.text}"`;
  return syntaxError(`syntax error ${where}`, hint);
}
