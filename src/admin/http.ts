/**
 * @module
 * The HTTP listener on `admin.metrics_listen` (loopback by default): `/metrics` (Prometheus text
 * format), `/healthz` (200 while the process runs) and `/readyz` (200 when the original answers
 * health checks and the listener accepts clients, else 503), as Kubernetes probes expect them.
 * Anything else is 404; methods other than GET and HEAD are 405.
 */

import { parseAddress } from "../config/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { AdminContext } from "./context.ts";
import { METRICS_CONTENT_TYPE, metricsSnapshot, renderMetrics } from "./metrics.ts";

const log = getLogger("admin");

/**
 * Answers one HTTP request; pure apart from reading the proxy's state.
 *
 * @param ctx the running proxy
 * @param request the request
 * @returns the response
 */
export function handleHttp(ctx: AdminContext, request: Request): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "method not allowed\n", { allow: "GET, HEAD" });
  }
  switch (new URL(request.url).pathname) {
    case "/metrics":
      return new Response(renderMetrics(metricsSnapshot(ctx)), {
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    case "/healthz":
      return text(200, "ok\n");
    case "/readyz": {
      if (!ctx.accepting()) return text(503, "not ready: shutting down\n");
      if (!ctx.health.originalReady()) {
        return text(503, "not ready: the original server does not answer health checks\n");
      }
      return text(200, "ready\n");
    }
    default:
      return text(404, "not found\n");
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** The running HTTP listener. */
export class MetricsServer implements AsyncDisposable {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
  }

  /**
   * Binds `address` and starts serving.
   *
   * @param address `host:port` (`[v6]:port` for IPv6), as `admin.metrics_listen` holds it
   * @param ctx the running proxy
   * @returns the running listener
   * @throws TypeError for an address that is not `host:port`
   * @throws Deno.errors.AddrInUse (or another bind error) when it cannot be bound
   */
  static start(address: string, ctx: AdminContext): MetricsServer {
    const parsed = parseAddress(address);
    if (parsed === undefined) throw new TypeError(`invalid metrics address "${address}"`);
    const server = Deno.serve({
      hostname: parsed.host,
      port: parsed.port,
      onListen: () => {},
      onError: (e: unknown) => {
        log.error("metrics request failed: {error}", {
          error: e instanceof Error ? (e.stack ?? e.message) : String(e),
        });
        return text(500, "internal error\n");
      },
    }, async (request) => {
      await ctx.refresh?.();
      return handleHttp(ctx, request);
    });
    log.info("metrics on http://{address}/metrics", { address });
    return new MetricsServer(server);
  }

  /** The bound port (useful when the address asked for port 0, in tests). */
  get port(): number {
    return this.#server.addr.port;
  }

  /**
   * Stops accepting and waits for requests in flight.
   *
   * @returns when the listener is closed
   */
  async stop(): Promise<void> {
    await this.#server.shutdown();
  }

  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
