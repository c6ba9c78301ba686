/**
 * @module
 * The relay of one client session after startup: two loops over three kinds of socket.
 *
 * - Client -> backends: frames from the client are grouped into batches (DESIGN.md, "Terms"),
 *   classified, and forwarded to the original at once (one socket write per burst, straight from
 *   the reader's buffer). Messages that copies will need are retained from the first one that
 *   makes a batch a write.
 * - Original -> client: replies stream to the client as they arrive; a {@link ReplyTracker} per
 *   batch follows them. At the batch's ReadyForQuery, a batch routed to all backends runs on every
 *   in-sync copy (concurrently), the outcomes are compared, and only then is the ReadyForQuery
 *   released. After an error on the original, copies get only what succeeded, then are brought to
 *   the original's transaction status (src/replication/mirror.ts).
 *
 * COPY FROM STDIN is the one exception to original-first: data streams to the original and the
 * copies together, and only the final CopyDone waits for the original's verdict.
 */

import {
  BackendCode,
  decodeBackend,
  decodeBind,
  decodeClose,
  decodeExecute,
  decodeParse,
  decodeQuery,
  encodeCopyFail,
  encodeQuery,
  type Frame,
  type FrameReader,
  FrontendCode,
  ProtocolError,
  type TxStatus,
} from "../protocol/mod.ts";
import { type BackendConnection, BackendError, type SocketWriter } from "../backend/mod.ts";
import type { Membership } from "../cluster/mod.ts";
import {
  type Batch,
  type BatchOutcome,
  type Classification,
  type Classifier,
  compareOutcomes,
  type CopyMessage,
  copyMessages,
  type EntryKind,
  findUnsafe,
  mirrorFailedBatch,
  newBatch,
  PreparedStatements,
  reconcileStep,
  refusalSql,
  ReplyTracker,
  routeOf,
} from "../replication/mod.ts";
import { getLogger } from "../log/mod.ts";
import type { CopyLink } from "./copy_link.ts";
import type { SessionContext } from "./context.ts";

const log = getLogger("replication");
const COPY_DONE = new Uint8Array([0x63, 0, 0, 0, 4]);

/** What the relay needs from its session. */
export interface RelayOptions {
  /** Shared process state. */
  readonly ctx: SessionContext;
  /** Backend states. */
  readonly membership: Membership;
  /** Statement classifier. */
  readonly classifier: Classifier;
  /** The original's connection. */
  readonly original: BackendConnection;
  /** Links to the copies that were in sync when the session started. */
  readonly links: CopyLink[];
  /** Frames from the client. */
  readonly clientReader: FrameReader;
  /** Writes to the client. */
  readonly clientWriter: SocketWriter;
  /** Client address for logs. */
  readonly remote: string;
  /** Called with each ReadyForQuery status the client receives. */
  readonly onReady: (status: TxStatus) => void;
}

interface InFlight {
  readonly batch: Batch;
  readonly tracker: ReplyTracker;
}

/** The relay of one session; see the module note. */
export class Relay {
  readonly #o: RelayOptions;
  readonly #inflight: InFlight[] = [];
  readonly #prepared = new PreparedStatements();
  #links: CopyLink[];
  #open: InFlight | undefined;
  #copyBatch: Batch | undefined;
  #seq = 0;
  #terminated = false;
  /** Transaction status of the last ReadyForQuery the client got. */
  #txStatus: TxStatus = "idle";

  /**
   * Sets up the relay; call {@link clientToBackends} and {@link originalToClient} to run it.
   *
   * @param o the session's connections and shared state
   */
  constructor(o: RelayOptions) {
    this.#o = o;
    this.#links = o.links;
  }

  /** True when no batch is in flight: a graceful shutdown may close the session now. */
  get idle(): boolean {
    return this.#inflight.length === 0;
  }

  /** True after the client sent Terminate. */
  get terminated(): boolean {
    return this.#terminated;
  }

  /** Links to the copies still in sync (others are closed and dropped here). */
  #writeSet(): CopyLink[] {
    const m = this.#o.membership;
    if (this.#links.every((l) => m.isInSync(l.name))) return this.#links;
    for (const l of this.#links) if (!m.isInSync(l.name)) void l.close();
    this.#links = this.#links.filter((l) => m.isInSync(l.name));
    return this.#links;
  }

  /** Closes every copy connection (Terminate). */
  async closeLinks(): Promise<void> {
    await Promise.all(this.#links.map((l) => l.close()));
  }

  // ---- client -> backends -----------------------------------------------------------------

  /**
   * Reads the client until it leaves or sends Terminate.
   *
   * @returns when the client is done
   * @throws ProtocolError on a malformed client message; socket errors
   */
  async clientToBackends(): Promise<void> {
    const reader = this.#o.clientReader;
    const original = this.#o.original;
    const stats = this.#o.ctx.stats;
    for (;;) {
      let start: Uint8Array | undefined;
      let length = 0;
      let copyStart: Uint8Array | undefined;
      let copyLength = 0;
      let frame: Frame | undefined;
      while ((frame = reader.tryNext())) {
        const code = frame.code;
        if (code === FrontendCode.Terminate) {
          if (start) await original.write(start.subarray(0, length));
          this.#terminated = true;
          return;
        }
        const copyBatch = this.#copyBatch;
        if (copyBatch?.copyIn && isCopyMessage(code)) {
          if (code === FrontendCode.CopyData) {
            if (!copyStart) {
              copyStart = new Uint8Array(frame.bytes.buffer, frame.bytes.byteOffset);
              copyLength = 0;
            }
            copyLength += frame.bytes.length;
          } else {
            // CopyDone waits for the original's verdict; CopyFail goes to every copy now.
            if (copyStart) await this.#copyWrite(copyStart.subarray(0, copyLength));
            copyStart = undefined;
            if (code === FrontendCode.CopyFail) {
              copyBatch.copyFailed = true;
              await this.#copyWrite(frame.bytes);
            }
            copyBatch.copyIn = false;
          }
        } else {
          const link = !start && code === FrontendCode.Query
            ? this.#balancedTarget(frame)
            : undefined;
          if (link) {
            // A read outside any transaction, sent to a copy by weight: it runs there alone, and
            // its replies go straight to the client before the next message is looked at.
            await this.#readOnCopy(link, frame);
            continue;
          }
          const replacement = this.#route(frame);
          if (replacement) {
            // The original answers a refused statement with the refusal, in order.
            if (start) await original.write(start.subarray(0, length));
            start = undefined;
            await original.write(replacement);
            continue;
          }
        }
        if (!start) {
          start = new Uint8Array(frame.bytes.buffer, frame.bytes.byteOffset);
          length = 0;
        }
        length += frame.bytes.length;
      }
      if (copyStart) await this.#copyWrite(copyStart.subarray(0, copyLength));
      if (start) {
        stats.bytesFromClients += length;
        await original.write(start.subarray(0, length));
      }
      if (!(await reader.fill())) {
        if (reader.buffered > 0) throw new ProtocolError("incomplete message from client");
        return;
      }
    }
  }

  /**
   * The copy a simple-protocol read should run on, when load balancing picks one.
   *
   * @param frame a Query message
   * @returns the link, or undefined for the original
   */
  #balancedTarget(frame: Frame): CopyLink | undefined {
    const o = this.#o;
    if (!o.ctx.config.replication.loadBalance) return undefined;
    if (this.#inflight.length > 0 || this.#txStatus !== "idle") return undefined;
    const links = this.#writeSet();
    if (links.length === 0) return undefined;
    const c = this.#classify(decodeQuery(frame).sql);
    if (c.class !== "read" || c.statements.length === 0) return undefined;
    const weights = [o.ctx.config.original.weight, ...links.map((l) => this.#weightOf(l))];
    const total = weights.reduce((a, b) => a + b, 0);
    if (total <= 0) return undefined;
    let pick = Math.random() * total;
    for (let i = 0; i < weights.length; i++) {
      pick -= weights[i]!;
      if (pick < 0) return i === 0 ? undefined : links[i - 1];
    }
    return undefined;
  }

  #weightOf(link: CopyLink): number {
    return this.#o.ctx.config.copies.find((c) => c.name === link.name)?.weight ?? 1;
  }

  /** Runs one read Query on a copy and streams its replies to the client. */
  async #readOnCopy(link: CopyLink, frame: Frame): Promise<void> {
    const writer = this.#o.clientWriter;
    const reader = link.conn.reader;
    let sent = false;
    try {
      await link.write(frame.bytes);
      for (;;) {
        let start: Uint8Array | undefined;
        let length = 0;
        let f: Frame | undefined;
        let ready = false;
        while ((f = reader.tryNext())) {
          if (f.code === BackendCode.ReadyForQuery) ready = true;
          if (!start) {
            start = new Uint8Array(f.bytes.buffer, f.bytes.byteOffset);
            length = 0;
          }
          length += f.bytes.length;
          if (ready) break;
        }
        if (start) {
          sent = true;
          this.#o.ctx.stats.bytesToClients += length;
          await writer.write(start.subarray(0, length));
        }
        if (ready) {
          this.#o.onReady("idle");
          return;
        }
        if (!(await reader.fill())) throw new Error("connection closed");
      }
    } catch (e: unknown) {
      this.#copyFailed(link, `read failed: ${errorText(e)}`, undefined);
      if (sent) throw new BackendError(link.name, { kind: "closed" });
      // Nothing reached the client yet: run the read on the original instead.
      const replacement = this.#route(frame);
      await this.#o.original.write(replacement ?? frame.bytes);
    }
  }

  /** Sends COPY data to every copy in the write set; a copy that fails is marked stale. */
  async #copyWrite(bytes: Uint8Array): Promise<void> {
    await Promise.all(
      this.#writeSet().map(async (l) => {
        try {
          await l.write(bytes);
        } catch (e: unknown) {
          this.#copyFailed(l, `write failed during COPY: ${errorText(e)}`, this.#copyBatch);
        }
      }),
    );
  }

  /**
   * Adds one client message to the open batch (starting one if needed) and classifies it.
   *
   * @returns bytes to send to the original instead of the message, when it is refused
   */
  #route(frame: Frame): Uint8Array | undefined {
    let open = this.#open;
    if (!open) {
      const batch = newBatch(++this.#seq);
      open = { batch, tracker: new ReplyTracker(batch, false) };
      this.#open = open;
      this.#inflight.push(open);
    }
    const batch = open.batch;
    const code = frame.code;
    let kind: EntryKind;
    let route: "original" | "all" = "original";
    let statements: Classification["statements"] | undefined;
    let statement: string | undefined;
    let replacement: Uint8Array | undefined;
    switch (code) {
      case FrontendCode.Query: {
        kind = "Query";
        const sql = decodeQuery(frame).sql;
        const c = this.#classify(sql);
        route = routeOf(c.class);
        statements = c.statements;
        const unsafe = findUnsafe(c.statements);
        if (unsafe) {
          replacement = encodeQuery(refusalSql(unsafe));
          route = "original";
          statements = [];
          log.warning("refused for client {remote}: {message}; statement: {sql}", {
            remote: this.#o.remote,
            message: unsafe.message,
            sql,
          });
        }
        if (route === "all" && batch.label === "") batch.label = sql;
        break;
      }
      case FrontendCode.Parse: {
        kind = "Parse";
        const m = decodeParse(frame);
        route = routeOf(this.#classify(m.sql).class);
        statement = m.statement;
        this.#prepared.parsed(m.statement, route, frame.bytes.slice());
        if (route === "all" && batch.label === "") batch.label = m.sql;
        break;
      }
      case FrontendCode.Bind: {
        kind = "Bind";
        const m = decodeBind(frame);
        statement = m.statement;
        route = this.#prepared.bound(m.portal, m.statement);
        break;
      }
      case FrontendCode.Execute:
        kind = "Execute";
        route = this.#prepared.portal(decodeExecute(frame).portal);
        break;
      case FrontendCode.Describe:
        kind = "Describe";
        break;
      case FrontendCode.Close: {
        kind = "Close";
        const m = decodeClose(frame);
        this.#prepared.closed(m.kind, m.name);
        break;
      }
      case FrontendCode.Sync:
        kind = "Sync";
        break;
      case FrontendCode.Flush:
        kind = "Flush";
        break;
      case FrontendCode.FunctionCall:
        kind = "FunctionCall";
        route = "all"; // fast-path calls (large objects) may write
        if (batch.label === "") batch.label = "(function call)";
        break;
      default:
        throw new ProtocolError(
          `invalid frontend message type ${code} ("${String.fromCharCode(code)}")`,
        );
    }
    if (route === "all" && batch.route !== "all") {
      batch.route = "all";
      open.tracker.wantTags = true;
    }
    const bytes = batch.route === "all" ? frame.bytes.slice() : undefined;
    batch.entries.push(
      statement !== undefined
        ? { kind, bytes, statement }
        : statements
        ? { kind, bytes, statements }
        : { kind, bytes },
    );
    batch.kinds.push(kind);
    // A Query or FunctionCall ends a batch only when it is the batch's first message: inside an
    // extended batch PostgreSQL runs it, answers with ReadyForQuery, and after an earlier error
    // skips it like any other message until Sync (postgres.c, ignore_till_sync).
    const alone = batch.entries.length === 1 && (kind === "Query" || kind === "FunctionCall");
    if (kind === "Sync" || alone) {
      batch.closed = true;
      this.#open = undefined;
    }
    return replacement;
  }

  /** Classifies SQL, applying the session's SQL-level PREPARE/EXECUTE/DEALLOCATE. */
  #classify(
    sql: string,
  ): { class: Classification["class"]; statements: Classification["statements"] } {
    const c = this.#o.classifier.classify(sql);
    let cls = c.class;
    for (const s of c.statements) {
      if (s.prepare) this.#prepared.sqlPrepared(s.prepare.name, s.prepare.class);
      if (s.deallocate !== undefined) this.#prepared.sqlDeallocated(s.deallocate);
      if (s.execute !== undefined && c.statements.length === 1) {
        cls = this.#prepared.sqlExecuteClass(s.execute);
      }
    }
    return { class: cls, statements: c.statements };
  }

  // ---- original -> client -----------------------------------------------------------------

  /**
   * Streams the original's replies to the client, holding each replicated batch's
   * ReadyForQuery until the copies have run it.
   *
   * @returns when the original closes after a FATAL error it reported, or the session closes
   * @throws BackendError when the original's connection is lost without a FATAL error
   */
  async originalToClient(): Promise<void> {
    const original = this.#o.original;
    const reader = original.reader;
    const writer = this.#o.clientWriter;
    const stats = this.#o.ctx.stats;
    let fatalSeen = false;
    for (;;) {
      let start: Uint8Array | undefined;
      let length = 0;
      let frame: Frame | undefined;
      while ((frame = reader.tryNext())) {
        const head = this.#inflight[0];
        const code = frame.code;
        let ready = false;
        if (head) {
          ready = head.tracker.feed(frame);
          if (
            code === BackendCode.CopyInResponse && head.batch.route === "all" &&
            !head.batch.copyStarted
          ) {
            await this.#startCopy(head.batch);
          }
        }
        if (code === BackendCode.ErrorResponse) {
          const m = decodeBackend(frame);
          if (m.type === "ErrorResponse" && (m.severity === "FATAL" || m.severity === "PANIC")) {
            fatalSeen = true;
          }
        }
        if (ready && head) {
          this.#inflight.shift();
          const outcome = head.tracker.outcome();
          if (head.batch.route === "all" || this.#needsReconcile(outcome.status)) {
            // Everything before the ReadyForQuery reaches the client now; the ReadyForQuery
            // itself waits until the copies are done.
            if (start) {
              stats.bytesToClients += length;
              await writer.write(start.subarray(0, length));
              start = undefined;
            }
            await this.#runOnCopies(head.batch, outcome);
          }
          this.#txStatus = outcome.status;
          this.#o.onReady(outcome.status);
        }
        if (!start) {
          start = new Uint8Array(frame.bytes.buffer, frame.bytes.byteOffset);
          length = 0;
        }
        length += frame.bytes.length;
      }
      if (start) {
        stats.bytesToClients += length;
        await writer.write(start.subarray(0, length));
      }
      if (!(await reader.fill())) {
        if (fatalSeen || this.#terminated) return;
        throw new BackendError(original.target.name, { kind: "closed" });
      }
    }
  }

  #needsReconcile(status: TxStatus): boolean {
    return this.#links.some((l) => l.status !== status);
  }

  /** Starts a COPY FROM STDIN on every copy: they get the batch so far, then the data stream. */
  async #startCopy(batch: Batch): Promise<void> {
    batch.copyStarted = true;
    batch.copyEntries = batch.entries.length;
    const messages = copyMessages(batch.entries);
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    await Promise.all(
      this.#writeSet().map(async (l) => {
        try {
          // No timeout while the client streams data: the copy waits on the client, not stalls.
          await l.start(l.withStatements(messages, this.#prepared), 0);
        } catch (e: unknown) {
          this.#copyFailed(l, `could not start COPY: ${errorText(e)}`, batch);
        }
      }),
    );
    void timeout;
    this.#copyBatch = batch;
    batch.copyIn = true;
  }

  /** Runs a finished batch on the copies (or brings them to the original's status). */
  async #runOnCopies(batch: Batch, original: BatchOutcome): Promise<void> {
    const links = this.#writeSet();
    if (links.length === 0) return;
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    await Promise.all(links.map(async (link) => {
      try {
        await this.#runOnCopy(link, batch, original, timeout);
      } catch (e: unknown) {
        this.#copyFailed(link, errorText(e), batch);
      }
    }));
    if (this.#copyBatch === batch) this.#copyBatch = undefined;
  }

  async #runOnCopy(
    link: CopyLink,
    batch: Batch,
    original: BatchOutcome,
    timeout: number,
  ): Promise<void> {
    const membership = this.#o.membership;
    let messages: CopyMessage[] = [];
    let outcome: BatchOutcome | undefined;
    if (batch.copyStarted) {
      // The copy holds an open COPY: finish it the way the original finished.
      if (!batch.copyFailed) {
        const tail = original.error
          ? encodeCopyFail("the original server rejected this COPY")
          : COPY_DONE;
        await link.write(tail);
      }
      const rest = copyMessages(batch.entries.slice(batch.copyEntries));
      for (const m of rest) await link.write(m.bytes);
      messages = copyMessages(batch.entries.slice(0, batch.copyEntries));
      outcome = await link.finish();
      if (!original.error) {
        const diverged = compareOutcomes(original, outcome, messages);
        if (diverged) return this.#diverged(link, batch, diverged);
      }
    } else if (original.error) {
      if (batch.route === "all") {
        messages = mirrorFailedBatch(
          batch.entries,
          original.error.entryIndex,
          original.error.statementsDone,
        );
        if (messages.length > 0) {
          await link.run(link.withStatements(messages, this.#prepared), timeout);
        }
      }
    } else if (batch.route === "all") {
      messages = link.withStatements(copyMessages(batch.entries), this.#prepared);
      outcome = await link.run(messages, timeout);
      const diverged = compareOutcomes(original, outcome, messages);
      if (diverged) return this.#diverged(link, batch, diverged);
      if (batch.entries.some((e) => e.statements?.some(clearsPrepared))) link.forgetStatements();
    }
    // Bring the copy's transaction status to the original's (after errors, or reads that failed
    // inside a transaction on the original alone).
    for (let i = 0; i < 3; i++) {
      const step = reconcileStep(original.status, link.status);
      if (step === undefined) break;
      if (step === "diverged") {
        return this.#diverged(
          link,
          batch,
          `transaction status differs: original ${original.status}, copy ${link.status}`,
        );
      }
      await link.query(step.sql, timeout);
    }
    if (batch.route === "all") membership.get(link.name).writesApplied++;
  }

  #diverged(link: CopyLink, batch: Batch, reason: string): void {
    const m = this.#o.membership.get(link.name);
    m.divergences++;
    this.#o.ctx.stats.divergences++;
    log.error('divergence on copy "{copy}" for client {remote}: {reason}; statement: {sql}', {
      copy: link.name,
      remote: this.#o.remote,
      reason,
      sql: batch.label,
    });
    this.#o.membership.markStale(link.name, `diverged: ${reason}`);
    this.#dropLink(link);
  }

  #copyFailed(link: CopyLink, reason: string, batch: Batch | undefined): void {
    const m = this.#o.membership.get(link.name);
    m.writesFailed++;
    log.error('copy "{copy}" failed for client {remote}: {reason}; statement: {sql}', {
      copy: link.name,
      remote: this.#o.remote,
      reason,
      sql: batch?.label ?? "",
    });
    this.#o.membership.markStale(link.name, `failed: ${reason}`);
    this.#dropLink(link);
  }

  #dropLink(link: CopyLink): void {
    this.#links = this.#links.filter((l) => l !== link);
    link.conn.close();
  }
}

function isCopyMessage(code: number): boolean {
  return code === FrontendCode.CopyData || code === FrontendCode.CopyDone ||
    code === FrontendCode.CopyFail;
}

function clearsPrepared(s: { node: string; deallocate?: string | null }): boolean {
  return s.node === "DiscardStmt" || s.deallocate === null;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
