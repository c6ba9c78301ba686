/**
 * @module
 * Unit tests of the HTTP handler (`handleHttp` in `src/admin/http.ts`), without a socket:
 * `/metrics` with its content type, `/healthz`, `/readyz` before and after the original's first
 * good health check and while shutting down, 404 and 405.
 */

import assert from "node:assert/strict";
import { handleHttp, METRICS_CONTENT_TYPE } from "../../../src/admin/mod.ts";
import { healthRecord, testAdmin } from "./_context.ts";

const get = (path: string, method = "GET") => new Request(`http://localhost${path}`, { method });

Deno.test("http: /metrics is the text format with its content type", async () => {
  const r = handleHttp(testAdmin(), get("/metrics"));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), METRICS_CONTENT_TYPE);
  const text = await r.text();
  assert.ok(text.includes('usogres_backend_state{backend="copy",state="in_sync"} 1\n'));
});

Deno.test("http: /healthz is 200 while the process runs", async () => {
  const r = handleHttp(testAdmin(), get("/healthz"));
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "ok\n");
});

Deno.test("http: /readyz is 503 until the original passed a health check, then 200", async () => {
  const ctx = testAdmin();
  const before = handleHttp(ctx, get("/readyz"));
  assert.equal(before.status, 503);
  assert.match(await before.text(), /original server does not answer/);
  ctx.healthRecords.set("original", healthRecord("original"));
  assert.equal(handleHttp(ctx, get("/readyz")).status, 200);
  ctx.healthRecords.set("original", healthRecord("original", { failures: 2 }));
  assert.equal(handleHttp(ctx, get("/readyz")).status, 503);
});

Deno.test("http: /readyz is 503 once the listener stopped accepting", () => {
  const ctx = testAdmin();
  ctx.healthRecords.set("original", healthRecord("original"));
  const stopping = { ...ctx, accepting: () => false };
  assert.equal(handleHttp(stopping, get("/readyz")).status, 503);
});

Deno.test("http: unknown paths are 404 and other methods 405", () => {
  const ctx = testAdmin();
  assert.equal(handleHttp(ctx, get("/")).status, 404);
  const post = handleHttp(ctx, get("/metrics", "POST"));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.equal(handleHttp(ctx, get("/healthz", "HEAD")).status, 200);
});
