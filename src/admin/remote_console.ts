/**
 * @module
 * The admin console as a worker serves it (`listen.workers` > 1): the client's socket is the
 * worker's, the commands run on the main thread, where the backend states, the health checks
 * and every worker's numbers are. The worker checks who may connect (the same rules as
 * {@link AdminConsole}), greets the client, and sends each Query's text to the main thread.
 */

import type { Config } from "../config/mod.ts";
import type { PgError } from "../protocol/mod.ts";
import type { AdminClient, AdminConsoleHook, ProxyStats } from "../session/context.ts";
import { type AdminSession, authorizeAdmin, consoleGreeting, serveConsole } from "./console.ts";
import type { AdminReply } from "./_reply.ts";

/** What a {@link RemoteAdminConsole} needs from its worker. */
export interface RemoteConsoleLink {
  /** The configuration in force in the worker (RELOAD updates it). */
  config(): Config;
  /** The worker's counters (`connectionsRefused`). */
  readonly stats: ProxyStats;
  /**
   * Asks the main thread for the original's server version, for the greeting.
   *
   * @returns the version, if a health check found it
   */
  serverVersion(): Promise<string | undefined>;
  /**
   * Runs one Query's commands on the main thread.
   *
   * @param sql the Query text
   * @param session who is asking
   * @returns the reply; its `after` tells the main thread the reply was sent
   */
  execute(sql: string, session: AdminSession): Promise<AdminReply>;
}

/** The console hook of a worker's sessions. */
export class RemoteAdminConsole implements AdminConsoleHook {
  readonly #link: RemoteConsoleLink;

  /**
   * Creates the hook.
   *
   * @param link the worker's way to the main thread
   */
  constructor(link: RemoteConsoleLink) {
    this.#link = link;
  }

  /** Database name that selects the console. */
  get database(): string {
    return this.#link.config().admin.database;
  }

  /**
   * Checks the loopback rule and the admin user list, as the main thread's console does.
   *
   * @param user user name from the StartupMessage
   * @param remote the client's socket address
   * @returns undefined when allowed, else FATAL 28000
   */
  authorize(user: string, remote: Deno.Addr): PgError | undefined {
    return authorizeAdmin(this.#link.config().admin, this.#link.stats, user, remote);
  }

  /**
   * Greets the client, then sends its commands to the main thread until it leaves.
   *
   * @param client the client's reader, writer, address and user
   * @returns when the client has left
   */
  async serve(client: AdminClient): Promise<void> {
    const greeting = consoleGreeting(await this.#link.serverVersion());
    await serveConsole(client, greeting, (sql, session) => this.#link.execute(sql, session));
  }
}
