/**
 * @module
 * `usogres passwd ROLE`: reads a password (twice from a terminal, without echo; or the first line
 * of standard input) and prints the SCRAM-SHA-256 verifier PostgreSQL would store for it, for
 * `[auth.users]`. The password itself is never printed nor logged.
 */

import { makeScramVerifier } from "./auth/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where {@link passwdCommand} reads and writes (injectable for tests). */
export interface PasswdIo {
  /** Standard input. */
  readonly stdin: ReadableStream<Uint8Array> & {
    isTerminal(): boolean;
    setRaw?: (on: boolean) => void;
  };
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
}

/**
 * Runs `usogres passwd ROLE`.
 *
 * @param role the role name the verifier is for (it is only echoed in the hint)
 * @param io standard streams (default the process's)
 * @returns the exit code: 0 printed, 2 no or mismatched password
 */
export async function passwdCommand(role: string, io: PasswdIo = processIo()): Promise<number> {
  let password: string | undefined;
  if (io.stdin.isTerminal()) {
    const first = await readHidden(io, `Password for "${role}": `);
    const again = await readHidden(io, "Again: ");
    if (first !== again) {
      io.err("usogres: passwords do not match");
      return 2;
    }
    password = first;
  } else {
    password = await firstLine(io.stdin);
  }
  if (password === undefined || password === "") {
    io.err("usogres: no password given");
    return 2;
  }
  const verifier = await makeScramVerifier(password);
  io.out(verifier);
  if (io.stdin.isTerminal()) io.err(`Put it under [auth.users] as: ${role} = "${verifier}"`);
  return 0;
}

function processIo(): PasswdIo {
  return {
    stdin: Object.assign(Deno.stdin.readable, {
      isTerminal: () => Deno.stdin.isTerminal(),
      setRaw: (on: boolean) => Deno.stdin.setRaw(on),
    }),
    out: (text) => Deno.stdout.writeSync(encoder.encode(`${text}\n`)),
    err: (text) => Deno.stderr.writeSync(encoder.encode(`${text}\n`)),
  };
}

/** The first line of a stream, without its line ending; undefined when the stream is empty. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string | undefined> {
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  if (text === "") return undefined;
  return text.split("\n")[0]!.replace(/\r$/, "");
}

/** Reads one line from a terminal with echo off (raw mode), ending at Enter. */
async function readHidden(io: PasswdIo, promptText: string): Promise<string> {
  Deno.stderr.writeSync(encoder.encode(promptText));
  io.stdin.setRaw?.(true);
  const reader = io.stdin.getReader();
  let line = "";
  try {
    outer: for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ch of decoder.decode(value)) {
        if (ch === "\r" || ch === "\n") break outer;
        if (ch === "\u0003") throw new Deno.errors.Interrupted("interrupted");
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else line += ch;
      }
    }
  } finally {
    reader.releaseLock();
    io.stdin.setRaw?.(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return line;
}
