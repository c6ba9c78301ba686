/**
 * @module
 * The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL runs it
 * (`src/backend/libpq/auth-scram.c`), for usogres authenticating its own clients later, and the
 * stored verifier format of `pg_authid.rolpassword` (`scram_build_secret()` in
 * `src/common/scram-common.c`, `parse_scram_secret()`). No I/O: the session layer carries the
 * messages in SASLInitialResponse / SASLResponse and AuthenticationSASLContinue / SASLFinal.
 */

import { AuthError, malformedScram, unexpectedStep } from "./errors.ts";
import {
  constantTimeEqual,
  decodeBase64,
  deriveKeys,
  encodeBase64,
  hi,
  hmac,
  isPrintableNonce,
  randomNonce,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_DEFAULT_SALT_LEN,
  SCRAM_KEY_LEN,
  scramPasswordBytes,
  sha256,
  utf8,
  xor,
} from "./_scram_crypto.ts";
import { ScramReader } from "./_scram_message.ts";
import type { ChannelBinding, ScramMechanism } from "./scram_client.ts";

/** A parsed SCRAM-SHA-256 verifier: what the server keeps instead of the password. */
export interface ScramVerifier {
  /** PBKDF2 iteration count. */
  readonly iterations: number;
  /** The salt. */
  readonly salt: Uint8Array;
  /** H(ClientKey): checks the client's proof. */
  readonly storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"): signs the server-final-message. */
  readonly serverKey: Uint8Array;
}

const VERIFIER = /^SCRAM-SHA-256\$([0-9]{1,10}):([^$:]*)\$([^$:]+):([^$:]+)$/;

/**
 * Parses PostgreSQL's stored form `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
 * (base64 for the last three), as `parse_scram_secret()` does.
 *
 * @param text The stored verifier.
 * @returns The parts, or `undefined` if `text` is not a valid SCRAM-SHA-256 verifier (such as an
 *   MD5 verifier or a plain password).
 */
export function parseScramVerifier(text: string): ScramVerifier | undefined {
  const m = VERIFIER.exec(text);
  if (m === null) return undefined;
  const iterations = Number(m[1]);
  const salt = decodeBase64(m[2]!);
  const storedKey = decodeBase64(m[3]!);
  const serverKey = decodeBase64(m[4]!);
  if (iterations < 1 || iterations > 0x7fffffff || salt === undefined) return undefined;
  if (storedKey?.length !== SCRAM_KEY_LEN || serverKey?.length !== SCRAM_KEY_LEN) return undefined;
  return { iterations, salt, storedKey, serverKey };
}

/**
 * Formats a verifier in PostgreSQL's stored form.
 *
 * @param verifier The parts.
 * @returns `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
 */
export function formatScramVerifier(verifier: ScramVerifier): string {
  const { iterations, salt, storedKey, serverKey } = verifier;
  return `SCRAM-SHA-256$${iterations}:${encodeBase64(salt)}$${encodeBase64(storedKey)}:${
    encodeBase64(serverKey)
  }`;
}

/** Options for {@linkcode makeScramVerifier}. */
export interface MakeScramVerifierOptions {
  /** The salt; 16 random bytes by default, as PostgreSQL. */
  readonly salt?: Uint8Array;
  /** PBKDF2 iterations; 4096 by default, as PostgreSQL's `scram_iterations`. */
  readonly iterations?: number;
}

/**
 * Computes the verifier PostgreSQL would store for a password (`pg_be_scram_build_secret()`):
 * the password is SASLprep'd, or used raw when that fails.
 *
 * @example
 * ```ts
 * import { makeScramVerifier } from "./scram_server.ts";
 * const v = await makeScramVerifier("secret");
 * console.assert(v.startsWith("SCRAM-SHA-256$4096:"));
 * ```
 *
 * @param password The cleartext password.
 * @param opts Salt and iteration count.
 * @returns The stored form, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
 * @throws {RangeError} If `iterations` is not a positive 32-bit integer.
 */
export async function makeScramVerifier(
  password: string,
  opts: MakeScramVerifierOptions = {},
): Promise<string> {
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) {
    throw new RangeError(`invalid SCRAM iteration count ${iterations}`);
  }
  const salt = new Uint8Array(
    opts.salt ?? crypto.getRandomValues(new Uint8Array(SCRAM_DEFAULT_SALT_LEN)),
  );
  const keys = await deriveKeys(await hi(scramPasswordBytes(password), salt, iterations));
  return formatScramVerifier({ iterations, salt, ...keys });
}

/** Options for {@linkcode ScramServer}. */
export interface ScramServerOptions {
  /** The server's part of the nonce; random (18 bytes, base64) unless a test pins it. */
  readonly nonce?: string;
  /** The mechanism the client chose in SASLInitialResponse; "SCRAM-SHA-256" by default. */
  readonly mechanism?: ScramMechanism;
  /**
   * The channel binding the server expects, present exactly when the connection uses TLS (when
   * PostgreSQL would offer SCRAM-SHA-256-PLUS). Required for the PLUS mechanism.
   */
  readonly channelBinding?: ChannelBinding;
  /**
   * Salt to show when there is no verifier (unknown role, or an MD5 password): PostgreSQL runs
   * a doomed exchange with a salt derived from the role name, so probing does not reveal which
   * roles exist. Random by default.
   */
  readonly mockSalt?: Uint8Array;
}

/** Where a {@linkcode ScramServer} exchange stands. */
export type ScramServerStateKind = "initial" | "firstSent" | "done" | "failed";

type ServerState =
  | { readonly kind: "initial" }
  | {
    readonly kind: "firstSent";
    readonly gs2Header: string;
    readonly clientFirstBare: string;
    readonly serverFirst: string;
    readonly nonce: string;
  }
  | { readonly kind: "done" }
  | { readonly kind: "failed" };

/**
 * One SCRAM-SHA-256 exchange from the server side: {@linkcode handleClientFirst}, then
 * {@linkcode handleClientFinal}. Any other order, or any call after a failure, throws an
 * `AuthError` naming the state.
 *
 * @example
 * ```ts
 * import { makeScramVerifier, parseScramVerifier, ScramServer } from "./scram_server.ts";
 * const verifier = parseScramVerifier(await makeScramVerifier("secret"));
 * const server = new ScramServer(verifier);
 * const first = server.handleClientFirst("n,,n=,r=abcdef");
 * console.assert(first.startsWith("r=abcdef") && server.kind === "firstSent");
 * ```
 */
export class ScramServer {
  readonly #verifier: ScramVerifier;
  readonly #doomed: boolean;
  readonly #serverNonce: string;
  readonly #mechanism: ScramMechanism;
  readonly #channelBinding: ChannelBinding | undefined;
  #state: ServerState = { kind: "initial" };

  /**
   * Prepares an exchange for one role.
   *
   * @param verifier The role's verifier, or `undefined` to run a doomed exchange that always
   *   ends in 28P01 (unknown role, no SCRAM verifier), as PostgreSQL does.
   * @param opts Pinned nonce, chosen mechanism, expected channel binding, mock salt.
   * @throws {TypeError} If `opts.nonce` is not a valid nonce, or the mechanism is
   *   SCRAM-SHA-256-PLUS without `opts.channelBinding`.
   */
  constructor(verifier: ScramVerifier | undefined, opts: ScramServerOptions = {}) {
    const nonce = opts.nonce ?? randomNonce();
    if (!isPrintableNonce(nonce)) throw new TypeError("invalid SCRAM nonce");
    this.#mechanism = opts.mechanism ?? "SCRAM-SHA-256";
    if (this.#mechanism === "SCRAM-SHA-256-PLUS" && opts.channelBinding === undefined) {
      throw new TypeError("SCRAM-SHA-256-PLUS requires channel binding data");
    }
    this.#serverNonce = nonce;
    this.#channelBinding = opts.channelBinding;
    this.#doomed = verifier === undefined;
    this.#verifier = verifier ?? {
      iterations: SCRAM_DEFAULT_ITERATIONS,
      salt: opts.mockSalt ?? crypto.getRandomValues(new Uint8Array(SCRAM_DEFAULT_SALT_LEN)),
      storedKey: crypto.getRandomValues(new Uint8Array(SCRAM_KEY_LEN)),
      serverKey: crypto.getRandomValues(new Uint8Array(SCRAM_KEY_LEN)),
    };
  }

  /** The current state. */
  get kind(): ScramServerStateKind {
    return this.#state.kind;
  }

  /**
   * Checks client-first-message and answers with server-first-message.
   *
   * @param clientFirst The data of SASLInitialResponse.
   * @returns server-first-message `r=<nonce>,s=<salt>,i=<iterations>`.
   * @throws {AuthError} 08P01 if the message is malformed or its channel-binding flag contradicts
   *   the mechanism or the server's support; 0A000 for an authorization identity or a mandatory
   *   extension; 08P01 if called in any state but "initial". The exchange is then "failed".
   */
  handleClientFirst(clientFirst: string): string {
    if (this.#state.kind !== "initial") throw unexpectedStep("handleClientFirst", this.#state.kind);
    try {
      const reader = new ScramReader(clientFirst, "client-first-message");
      this.#readCbindFlag(reader);
      if (reader.peek() === "a") {
        throw new AuthError("0A000", "client uses authorization identity, but it is not supported");
      }
      reader.expect(",", `Unexpected attribute "${reader.peek()}" in client-first-message.`);
      const gs2Header = clientFirst.slice(0, reader.position);
      const clientFirstBare = clientFirst.slice(reader.position);
      if (reader.peek() === "m") {
        throw new AuthError("0A000", "client requires an unsupported SCRAM extension");
      }
      reader.attr("n"); // ignored: PostgreSQL authenticates the StartupMessage's user
      const clientNonce = reader.attr("r");
      if (!isPrintableNonce(clientNonce)) {
        throw new AuthError("08P01", "non-printable characters in SCRAM nonce");
      }
      while (!reader.atEnd) reader.anyAttr(); // optional extensions are ignored
      const nonce = clientNonce + this.#serverNonce;
      const { salt, iterations } = this.#verifier;
      const serverFirst = `r=${nonce},s=${encodeBase64(salt)},i=${iterations}`;
      this.#state = { kind: "firstSent", gs2Header, clientFirstBare, serverFirst, nonce };
      return serverFirst;
    } catch (e: unknown) {
      this.#state = { kind: "failed" };
      throw e;
    }
  }

  /**
   * Checks client-final-message and its proof (in constant time) and answers with
   * server-final-message.
   *
   * @param clientFinal The data of SASLResponse.
   * @returns server-final-message `v=<ServerSignature>` for AuthenticationSASLFinal.
   * @throws {AuthError} 28P01 if the proof is wrong (or the exchange is doomed); 08P01 if the
   *   message is malformed, the nonce differs or the channel binding does not match, or if called
   *   in any state but "firstSent". The exchange is then "failed".
   */
  async handleClientFinal(clientFinal: string): Promise<string> {
    const state = this.#state;
    if (state.kind !== "firstSent") throw unexpectedStep("handleClientFinal", state.kind);
    try {
      const reader = new ScramReader(clientFinal, "client-final-message");
      this.#checkBinding(reader.attr("c"), state.gs2Header);
      if (reader.attr("r") !== state.nonce) throw malformedScram("Nonce does not match.");
      let proofAt = reader.position;
      let attr = reader.anyAttr();
      while (attr.name !== "p") {
        proofAt = reader.position;
        attr = reader.anyAttr();
      }
      reader.end();
      const proof = decodeBase64(attr.value);
      if (proof === undefined || proof.length !== SCRAM_KEY_LEN) {
        throw malformedScram("Malformed proof in client-final-message.");
      }
      const withoutProof = clientFinal.slice(0, proofAt - 1);
      const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
      const storedKey = new Uint8Array(this.#verifier.storedKey);
      const clientSignature = await hmac(storedKey, authMessage);
      const clientKey = xor(proof, clientSignature);
      const valid = constantTimeEqual(await sha256(clientKey), storedKey);
      if (!valid || this.#doomed) throw new AuthError("28P01", "password authentication failed");
      const signature = await hmac(new Uint8Array(this.#verifier.serverKey), authMessage);
      this.#state = { kind: "done" };
      return `v=${encodeBase64(signature)}`;
    } catch (e: unknown) {
      this.#state = { kind: "failed" };
      throw e;
    }
  }

  /** Reads the gs2 channel-binding flag and checks it as `read_client_first_message()` does. */
  #readCbindFlag(reader: ScramReader): void {
    const plus = this.#mechanism === "SCRAM-SHA-256-PLUS";
    const flag = reader.peek();
    switch (flag) {
      case "n":
      case "y":
        if (plus) {
          throw malformedScram(
            "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include " +
              "channel binding data.",
          );
        }
        if (flag === "y" && this.#channelBinding !== undefined) {
          throw new AuthError("08P01", "SCRAM channel binding negotiation error", {
            detail: "The client supports SCRAM channel binding but thinks the server does not. " +
              "However, this server does support channel binding.",
          });
        }
        reader.expect(flag, "Unexpected channel-binding flag.");
        reader.expect(",", "Comma expected after the channel-binding flag.");
        return;
      case "p": {
        if (!plus) {
          throw malformedScram(
            "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message " +
              "includes channel binding data.",
          );
        }
        const type = reader.attr("p");
        if (type !== this.#channelBinding?.type) {
          throw new AuthError("08P01", `unsupported SCRAM channel-binding type "${type}"`);
        }
        return;
      }
      default:
        throw malformedScram(`Unexpected channel-binding flag "${flag}".`);
    }
  }

  /** Checks `c=`: base64 of the gs2 header, plus the binding data under "p". */
  #checkBinding(value: string, gs2Header: string): void {
    const got = decodeBase64(value);
    if (!gs2Header.startsWith("p=")) {
      if (got === undefined || !constantTimeEqual(got, utf8(gs2Header))) {
        throw new AuthError(
          "08P01",
          "unexpected SCRAM channel-binding attribute in client-final-message",
        );
      }
      return;
    }
    const data = this.#channelBinding?.data ?? new Uint8Array(0);
    const expected = new Uint8Array([...utf8(gs2Header), ...data]);
    if (got === undefined || !constantTimeEqual(got, expected)) {
      throw new AuthError("08P01", "SCRAM channel binding check failed");
    }
  }
}
