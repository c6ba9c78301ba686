/**
 * @module
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as libpq speaks it to PostgreSQL
 * (`src/interfaces/libpq/fe-auth-scram.c`): usogres proving its backend password. The user name
 * in client-first-message is empty by default, because PostgreSQL ignores it and uses the
 * StartupMessage's. The class performs no I/O: the backend layer carries the three messages in
 * SASLInitialResponse, SASLResponse, and out of AuthenticationSASLContinue / SASLFinal.
 */

import { AuthError, malformedScram, unexpectedStep } from "./errors.ts";
import {
  type Bytes,
  constantTimeEqual,
  decodeBase64,
  deriveKeys,
  encodeBase64,
  hi,
  hmac,
  isPrintableNonce,
  randomNonce,
  SCRAM_KEY_LEN,
  scramPasswordBytes,
  utf8,
  xor,
} from "./_scram_crypto.ts";
import { ScramReader } from "./_scram_message.ts";

/** TLS channel binding data (RFC 5929): the hash of the server's certificate. */
export interface ChannelBinding {
  /** The only type PostgreSQL supports. */
  readonly type: "tls-server-end-point";
  /** The certificate hash, computed by the TLS layer. */
  readonly data: Uint8Array;
}

/** The SASL mechanism names PostgreSQL offers in AuthenticationSASL. */
export type ScramMechanism = "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS";

/** Options for {@linkcode ScramClient}. */
export interface ScramClientOptions {
  /** The client nonce; random (18 bytes, base64, as libpq) unless a test pins it. */
  readonly nonce?: string;
  /** The `n=` user name; "" by default, as libpq sends (PostgreSQL ignores it). */
  readonly user?: string;
  /** Bind to the TLS channel: gs2 header `p=tls-server-end-point` (SCRAM-SHA-256-PLUS). */
  readonly channelBinding?: ChannelBinding;
  /**
   * Without `channelBinding`: tell the server the client could bind but believes the server
   * cannot (gs2 flag `y`), as libpq does over TLS when the server does not offer the PLUS
   * mechanism; this lets a server that does support it detect a downgrade.
   */
  readonly channelBindingSupported?: boolean;
}

/** Where a {@linkcode ScramClient} exchange stands. */
export type ScramClientStateKind = "initial" | "firstSent" | "finalSent" | "done" | "failed";

type ClientState =
  | { readonly kind: "initial" }
  | { readonly kind: "firstSent"; readonly clientFirstBare: string }
  | { readonly kind: "finalSent"; readonly serverKey: Bytes; readonly authMessage: string }
  | { readonly kind: "done" }
  | { readonly kind: "failed" };

/**
 * One SCRAM-SHA-256 exchange from the client side. Call, in order, {@linkcode clientFirstMessage},
 * {@linkcode handleServerFirst} and {@linkcode verifyServerFinal}; any other order, or any call
 * after a failure, throws an `AuthError` naming the state.
 *
 * @example
 * ```ts
 * import { ScramClient } from "./scram_client.ts";
 * const client = new ScramClient("secret");
 * const first = client.clientFirstMessage(); // "n,,n=,r=..." in SASLInitialResponse
 * console.assert(first.startsWith("n,,n=,r=") && client.kind === "firstSent");
 * ```
 */
export class ScramClient {
  readonly #password: string;
  readonly #nonce: string;
  readonly #user: string;
  readonly #gs2Header: string;
  readonly #cbindData: Uint8Array;
  #state: ClientState = { kind: "initial" };

  /**
   * Prepares an exchange; nothing is sent until {@linkcode clientFirstMessage}.
   *
   * @param password The backend password; SASLprep'd as libpq does, raw if that fails.
   * @param opts A pinned nonce, the `n=` user name, channel binding.
   * @throws {TypeError} If `opts.nonce` has characters RFC 5802 forbids (a comma, non-printable).
   */
  constructor(password: string, opts: ScramClientOptions = {}) {
    const nonce = opts.nonce ?? randomNonce();
    if (!isPrintableNonce(nonce)) throw new TypeError("invalid SCRAM nonce");
    this.#password = password;
    this.#nonce = nonce;
    this.#user = opts.user ?? "";
    if (opts.channelBinding !== undefined) {
      this.#gs2Header = `p=${opts.channelBinding.type},,`;
      this.#cbindData = opts.channelBinding.data;
    } else {
      this.#gs2Header = opts.channelBindingSupported === true ? "y,," : "n,,";
      this.#cbindData = new Uint8Array(0);
    }
  }

  /** The mechanism to name in SASLInitialResponse. */
  get mechanism(): ScramMechanism {
    return this.#gs2Header.startsWith("p=") ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  }

  /** The current state. */
  get kind(): ScramClientStateKind {
    return this.#state.kind;
  }

  /**
   * Builds client-first-message: gs2 header, then `n=<user>,r=<nonce>`.
   *
   * @returns The message for SASLInitialResponse.
   * @throws {AuthError} 08P01 if called in any state but "initial".
   */
  clientFirstMessage(): string {
    if (this.#state.kind !== "initial") {
      throw unexpectedStep("clientFirstMessage", this.#state.kind);
    }
    const clientFirstBare = `n=${saslName(this.#user)},r=${this.#nonce}`;
    this.#state = { kind: "firstSent", clientFirstBare };
    return this.#gs2Header + clientFirstBare;
  }

  /**
   * Checks server-first-message (`r=<nonce>,s=<salt>,i=<iterations>`) and computes the proof.
   *
   * @param serverFirst The data of AuthenticationSASLContinue.
   * @returns client-final-message `c=<binding>,r=<nonce>,p=<proof>` for SASLResponse.
   * @throws {AuthError} 08P01 if the message is malformed, the server nonce does not extend the
   *   client's, the salt is not base64 or the iteration count is not a positive integer; 08P01 if
   *   called in any state but "firstSent". The exchange is then "failed".
   */
  async handleServerFirst(serverFirst: string): Promise<string> {
    const state = this.#state;
    if (state.kind !== "firstSent") throw unexpectedStep("handleServerFirst", state.kind);
    try {
      const { nonce, salt, iterations } = parseServerFirst(serverFirst, this.#nonce);
      const cbindInput = new Uint8Array([...utf8(this.#gs2Header), ...this.#cbindData]);
      const withoutProof = `c=${encodeBase64(cbindInput)},r=${nonce}`;
      const authMessage = `${state.clientFirstBare},${serverFirst},${withoutProof}`;
      const salted = await hi(scramPasswordBytes(this.#password), salt, iterations);
      const keys = await deriveKeys(salted);
      const clientSignature = await hmac(keys.storedKey, authMessage);
      const proof = xor(keys.clientKey, clientSignature);
      this.#state = { kind: "finalSent", serverKey: keys.serverKey, authMessage };
      return `${withoutProof},p=${encodeBase64(proof)}`;
    } catch (e: unknown) {
      this.#state = { kind: "failed" };
      throw e;
    }
  }

  /**
   * Checks server-final-message: `v=<ServerSignature>` must match, compared in constant time.
   *
   * @param serverFinal The data of AuthenticationSASLFinal.
   * @throws {AuthError} 28P01 if the server reports an error (`e=`) or its signature is wrong (it
   *   does not know the password); 08P01 if the message is malformed or the call is out of order.
   *   The exchange is then "failed".
   */
  async verifyServerFinal(serverFinal: string): Promise<void> {
    const state = this.#state;
    if (state.kind !== "finalSent") throw unexpectedStep("verifyServerFinal", state.kind);
    try {
      const reader = new ScramReader(serverFinal, "server-final-message");
      if (reader.peek() === "e") {
        const error = reader.attr("e");
        throw new AuthError("28P01", `error received from server in SCRAM exchange: ${error}`);
      }
      const signature = decodeBase64(reader.attr("v"));
      if (signature === undefined || signature.length !== SCRAM_KEY_LEN) {
        throw malformedScram("Malformed server signature in server-final-message.");
      }
      reader.end();
      const expected = await hmac(state.serverKey, state.authMessage);
      if (!constantTimeEqual(signature, expected)) {
        throw new AuthError("28P01", "incorrect server signature");
      }
      this.#state = { kind: "done" };
    } catch (e: unknown) {
      this.#state = { kind: "failed" };
      throw e;
    }
  }
}

/** Escapes a user name for `n=` (RFC 5802 saslname): "=" as "=3D", "," as "=2C". */
function saslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

interface ServerFirst {
  readonly nonce: string;
  readonly salt: Bytes;
  readonly iterations: number;
}

/** Parses server-first-message as libpq's `read_server_first_message()`, strictly in order. */
function parseServerFirst(text: string, clientNonce: string): ServerFirst {
  const reader = new ScramReader(text, "server-first-message");
  const nonce = reader.attr("r");
  // RFC 5802: the server appends its own part; an unchanged nonce would let it replay ours.
  if (nonce.length <= clientNonce.length || !nonce.startsWith(clientNonce)) {
    throw malformedScram("The server nonce does not extend the client nonce.");
  }
  if (!isPrintableNonce(nonce)) throw malformedScram("The server nonce is not printable.");
  const salt = decodeBase64(reader.attr("s"));
  if (salt === undefined) throw malformedScram("The salt is not valid base64.");
  const count = reader.attr("i");
  const iterations = /^[0-9]{1,10}$/.test(count) ? Number(count) : 0;
  if (iterations < 1 || iterations > 0x7fffffff) {
    throw malformedScram(`Invalid iteration count "${count}".`);
  }
  reader.end();
  return { nonce, salt, iterations };
}
