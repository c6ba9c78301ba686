import assert from "node:assert/strict";
import {
  BackendCode,
  backendMaxLength,
  DEFAULT_MAX_MESSAGE_SIZE,
  FrontendCode,
  frontendMaxLength,
  isStartupCode,
  MAX_AUTH_MESSAGE,
  MAX_BACKEND_SHORT_MESSAGE,
  MAX_SMALL_MESSAGE,
  SSL_REQUEST_CODE,
} from "../../../src/protocol/mod.ts";

const char = (c: number): string => String.fromCharCode(c);

Deno.test("FrontendCode: uses the letters of protocol.h", () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(FrontendCode).map(([k, v]) => [k, char(v)])),
    {
      Query: "Q",
      Parse: "P",
      Bind: "B",
      Execute: "E",
      Sync: "S",
      Flush: "H",
      Describe: "D",
      Close: "C",
      Terminate: "X",
      CopyData: "d",
      CopyDone: "c",
      CopyFail: "f",
      FunctionCall: "F",
      PasswordMessage: "p",
    },
  );
});

Deno.test("BackendCode: uses the letters of protocol.h", () => {
  const letters = Object.values(BackendCode).map(char).join("");
  assert.equal(letters, "RK23CGHWdcDIEVvnNAtS1sZT");
});

Deno.test("frontendMaxLength: follows SocketBackend's caps", () => {
  const max = frontendMaxLength();
  for (const c of "QPBdF") assert.equal(max(c.charCodeAt(0)), DEFAULT_MAX_MESSAGE_SIZE);
  assert.equal(max(0x70), MAX_AUTH_MESSAGE);
  for (const c of "SHDCXcfE") assert.equal(max(c.charCodeAt(0)), MAX_SMALL_MESSAGE);
  assert.equal(max(0x00), MAX_SMALL_MESSAGE);
  assert.equal(frontendMaxLength(1 << 20)(0x51), 1 << 20);
});

Deno.test("backendMaxLength: allows long messages only for variable-size types", () => {
  const max = backendMaxLength(1 << 24);
  for (const c of "TDdVENASRvt") assert.equal(max(c.charCodeAt(0)), 1 << 24, c);
  for (const c of "Z123nsIKc") assert.equal(max(c.charCodeAt(0)), MAX_SMALL_MESSAGE, c);
  for (const c of "CGHW") assert.equal(max(c.charCodeAt(0)), MAX_BACKEND_SHORT_MESSAGE, c);
});

Deno.test("isStartupCode: tells request codes from type bytes", () => {
  assert.equal(isStartupCode(SSL_REQUEST_CODE), true);
  assert.equal(isStartupCode(196608), true);
  assert.equal(isStartupCode(0x51), false);
});
