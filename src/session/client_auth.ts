/**
 * @module
 * One client's authentication exchange as a state machine with no I/O: the request usogres
 * sends first (AuthenticationSASL, AuthenticationMD5Password, or nothing for trust and cert), then
 * one {@link AuthExchange.step} per 'p' message, each answered with the next request until the
 * exchange is done or fails. Follows PostgreSQL's `ClientAuthentication()`, `CheckSASLAuth()`
 * (`auth-sasl.c`, SCRAM in `auth-scram.c`), `CheckMD5Auth()` (`crypt.c`) and `CheckCertAuth()`
 * (`auth.c`), including their behaviour for unknown roles: a SCRAM exchange with a mock salt and
 * an md5 challenge that can only fail, so probing does not reveal which roles exist.
 *
 * Over TLS, SCRAM-SHA-256-PLUS is offered first with `tls-server-end-point` channel binding
 * (RFC 5929), so a client with `channel_binding=require` knows no proxy in between (other than
 * usogres itself) saw its exchange.
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import {
  AuthError,
  type ChannelBinding,
  md5SaltedVerifier,
  parseScramVerifier,
  ScramServer,
} from "../auth/mod.ts";
import {
  decodePassword,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  encodeAuthenticationMD5Password,
  encodeAuthenticationSASL,
  encodeAuthenticationSASLContinue,
  encodeAuthenticationSASLFinal,
  type Frame,
  FrontendCode,
  PgError,
  ProtocolError,
  saslText,
} from "../protocol/mod.ts";
import type { AuthMethod } from "../config/mod.ts";

/** SASL mechanism names, as PostgreSQL offers them. */
const SCRAM = "SCRAM-SHA-256";
const SCRAM_PLUS = "SCRAM-SHA-256-PLUS";
const encoder = new TextEncoder();

/** What the exchange knows about the client. */
export interface AuthSubject {
  /** Role name from the StartupMessage. */
  readonly user: string;
  /** The method the access rules chose. */
  readonly method: Exclude<AuthMethod, "reject">;
  /**
   * The role's stored verifier (`SCRAM-SHA-256$...` or `md5...`), or undefined when the role is
   * unknown; only SCRAM and md5 read it.
   */
  readonly verifier: string | undefined;
  /** `tls-server-end-point` data when the connection is TLS, else undefined (no PLUS offered). */
  readonly endPoint: Uint8Array | undefined;
  /** The client certificate's CN when one was sent and verified (for `cert`). */
  readonly certCommonName: string | undefined;
  /** Why there is no usable client certificate, for the log. */
  readonly certProblem: string | undefined;
  /** Secret for mock salts of unknown roles (one per process). */
  readonly mockSecret: Uint8Array;
}

/** Where an exchange stands; `kind` is the only source of truth. */
export type AuthState =
  | { readonly kind: "initial" }
  | { readonly kind: "saslStarted" }
  | { readonly kind: "saslContinued"; readonly scram: ScramServer }
  | { readonly kind: "md5Sent"; readonly salt: Uint8Array }
  | { readonly kind: "done" }
  | { readonly kind: "failed" };

/** The result of one step: bytes to send, and whether the client is now authenticated. */
export interface AuthStep {
  /** Messages to write to the client (possibly empty). */
  readonly send: Uint8Array<ArrayBuffer>;
  /** True once the client is authenticated: write `send`, then AuthenticationOk. */
  readonly done: boolean;
}

/**
 * One client's authentication: call {@link start} once, then {@link step} with each message the
 * client sends until `done`. Every failure is a `PgError` worded as PostgreSQL words it:
 * 28P01 for a wrong password, 28000 for a certificate problem, 08P01 for a malformed exchange.
 */
export class AuthExchange {
  /** Current state. */
  state: AuthState = { kind: "initial" };
  readonly #subject: AuthSubject;
  #md5ViaScram = false;

  /**
   * Prepares the exchange.
   *
   * @param subject who, which method, and what usogres knows to check them against
   */
  constructor(subject: AuthSubject) {
    this.#subject = subject;
  }

  /**
   * Begins: the request to send, or `done` when the method needs no message from the client.
   *
   * @returns the first step
   * @throws PgError 28000 for `cert` without a valid certificate matching the role
   */
  start(): AuthStep {
    if (this.state.kind !== "initial") throw this.#unexpected("start");
    const s = this.#subject;
    switch (s.method) {
      case "trust":
        return this.#finish(new Uint8Array(0));
      case "cert":
        return this.#finish(new Uint8Array(0), this.#checkCertificate());
      case "md5": {
        // PostgreSQL's md5 method runs SCRAM when the stored password is a SCRAM verifier.
        if (s.verifier === undefined || !s.verifier.startsWith("SCRAM-SHA-256$")) {
          const salt = crypto.getRandomValues(new Uint8Array(4));
          this.state = { kind: "md5Sent", salt };
          return { send: encodeAuthenticationMD5Password(salt), done: false };
        }
        this.#md5ViaScram = true;
        return this.#startSasl();
      }
      case "scram-sha-256":
        return this.#startSasl();
    }
  }

  #startSasl(): AuthStep {
    this.state = { kind: "saslStarted" };
    const mechanisms = this.#subject.endPoint === undefined ? [SCRAM] : [SCRAM_PLUS, SCRAM];
    return { send: encodeAuthenticationSASL(mechanisms), done: false };
  }

  /**
   * Handles one message from the client.
   *
   * @param frame the message (any type: anything but 'p' is refused)
   * @returns what to send, and whether authentication is complete
   * @throws PgError 28P01 (wrong password or unknown role), 08P01 (malformed or out-of-order
   *   message), 0A000 (a SCRAM feature PostgreSQL does not support either)
   */
  async step(frame: Frame): Promise<AuthStep> {
    const state = this.state;
    try {
      if (frame.code !== FrontendCode.PasswordMessage) {
        throw new ProtocolError(`expected password response, got message type ${frame.code}`);
      }
      switch (state.kind) {
        case "saslStarted":
          return this.#saslInitial(frame);
        case "saslContinued":
          return await this.#saslFinal(state.scram, frame);
        case "md5Sent":
          return this.#md5Response(state.salt, frame);
        case "initial":
        case "done":
        case "failed":
          throw this.#unexpected("step");
      }
    } catch (e: unknown) {
      this.state = { kind: "failed" };
      throw this.#toPgError(e);
    }
  }

  #saslInitial(frame: Frame): AuthStep {
    const s = this.#subject;
    const initial = decodeSASLInitialResponse(frame);
    const offered = s.endPoint === undefined ? [SCRAM] : [SCRAM_PLUS, SCRAM];
    if (!offered.includes(initial.mechanism)) {
      throw new ProtocolError("client selected an invalid SASL authentication mechanism");
    }
    if (initial.data === null) throw new ProtocolError("malformed SCRAM message");
    const verifier = s.verifier === undefined ? undefined : parseScramVerifier(s.verifier);
    const binding: ChannelBinding | undefined = s.endPoint === undefined
      ? undefined
      : { type: "tls-server-end-point", data: s.endPoint };
    const scram = new ScramServer(verifier, {
      mechanism: initial.mechanism === SCRAM_PLUS ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256",
      ...(binding === undefined ? {} : { channelBinding: binding }),
      mockSalt: this.#mockSalt(),
    });
    const serverFirst = scram.handleClientFirst(saslText(initial.data));
    this.state = { kind: "saslContinued", scram };
    return { send: encodeAuthenticationSASLContinue(encoder.encode(serverFirst)), done: false };
  }

  async #saslFinal(scram: ScramServer, frame: Frame): Promise<AuthStep> {
    const response = decodeSASLResponse(frame);
    const serverFinal = await scram.handleClientFinal(saslText(response.data));
    return this.#finish(encodeAuthenticationSASLFinal(encoder.encode(serverFinal)));
  }

  #md5Response(salt: Uint8Array, frame: Frame): AuthStep {
    const sent = decodePassword(frame);
    const stored = this.#subject.verifier;
    if (stored === undefined || !/^md5[0-9a-f]{32}$/.test(stored)) {
      throw PgError.invalidPassword(this.#subject.user);
    }
    const expected = encoder.encode(md5SaltedVerifier(stored, salt));
    const got = encoder.encode(sent);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw PgError.invalidPassword(this.#subject.user);
    }
    return this.#finish(new Uint8Array(0));
  }

  /** `CheckCertAuth()`: a verified certificate whose CN is the role name. */
  #checkCertificate(): PgError | undefined {
    const s = this.#subject;
    if (s.certCommonName === undefined) {
      return new PgError("FATAL", "28000", "connection requires a valid client certificate", {
        detail: `${sentence(s.certProblem ?? "no client certificate was sent")}.`,
      });
    }
    if (s.certCommonName !== s.user) {
      return new PgError(
        "FATAL",
        "28000",
        `certificate authentication failed for user "${s.user}"`,
      );
    }
    return undefined;
  }

  #finish(send: Uint8Array<ArrayBuffer>, error?: PgError): AuthStep {
    if (error !== undefined) {
      this.state = { kind: "failed" };
      throw error;
    }
    this.state = { kind: "done" };
    return { send, done: true };
  }

  /** The same salt for the same unknown role every time, as `scram_mock_salt()`. */
  #mockSalt(): Uint8Array {
    const mac = createHmac("sha256", this.#subject.mockSecret).update(this.#subject.user).digest();
    return new Uint8Array(mac.subarray(0, 16));
  }

  #unexpected(step: string): ProtocolError {
    return new ProtocolError(
      `unexpected authentication step "${step}" in state "${this.state.kind}"`,
    );
  }

  #toPgError(e: unknown): PgError {
    if (e instanceof PgError) return e;
    if (e instanceof AuthError) {
      if (e.code === "28P01") return PgError.invalidPassword(this.#subject.user);
      const detail = e.detail === undefined ? {} : { detail: e.detail };
      return new PgError("FATAL", e.code, e.message, detail);
    }
    throw e;
  }

  /** Whether md5 was asked for but SCRAM runs, because the role has a SCRAM verifier. */
  get md5ViaScram(): boolean {
    return this.#md5ViaScram;
  }
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
