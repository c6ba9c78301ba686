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
  COPY_DONE,
  decodeBackend,
  decodeBind,
  decodeClose,
  decodeDataRow,
  decodeDescribe,
  decodeExecute,
  decodeParse,
  decodeQuery,
  encodeBind,
  encodeCopyFail,
  encodeParse,
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
  type BatchEntry,
  type BatchOutcome,
  type CapturedRows,
  type Classification,
  type Classifier,
  compareOutcomes,
  type CopyMessage,
  copyMessages,
  type EntryKind,
  findUnsafe,
  isPlainSelect,
  mirrorFailedBatch,
  newBatch,
  PreparedStatements,
  reconcileStep,
  type Refusal,
  refusalSql,
  ReplyTracker,
  routeOf,
  type RowPlan,
  type RowStatements,
  transformReply,
  type Verdict,
} from "../replication/mod.ts";
import { errorText, getLogger } from "../log/mod.ts";
import { CopyLink } from "./copy_link.ts";
import type { Journal, JournalStep } from "./journal.ts";
import { JournalLink } from "./journal_link.ts";
import { ReplyBuffer } from "./reply_buffer.ts";
import {
  cannotWrap,
  clearsPrepared,
  endsWithCommit,
  isCommit,
  isCopyMessage,
  releasesLocks,
  replacementIsRefusal,
  SETS_SEQUENCE,
} from "./statement_rules.ts";
import { type Planned, rebindForRows, WritePlanner } from "./write_planner.ts";
import type { SessionContext } from "./context.ts";
import type { RecoveringSession } from "./journal.ts";

const log = getLogger("replication");
const utf8 = new TextDecoder();
/**
 * Batches a session may have running behind on its copies; the next one waits for them, so a
 * copy slower than the original bounds the backlog (and its memory) instead of growing it.
 */
const MAX_BEHIND = 32;

/**
 * A batch running behind that the original answered within this many milliseconds is held on
 * the copies until the session's next write or COMMIT (see #runBehind).
 */
const HOLD_BEHIND_MS = 1;

const COMMIT_QUERY = encodeQuery("COMMIT");

/** Results of a wrapped write up to this size wait for its ReadyForQuery (copied once). */
const HOLD_LIMIT = 16 * 1024;

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
  /** Database of the session (part of the catalog cache key). */
  readonly database: string;
  /** Role of the session's backend connections. */
  readonly user: string;
  /** Startup parameters passed to backends. */
  readonly parameters: ReadonlyMap<string, string>;
  /** Session id, unique in the process. */
  readonly id: number;
  /** Opens a connection to a copy for this session (a copy that joined after recovery). */
  readonly connectCopy: (name: string) => Promise<BackendConnection>;
  /** Opens a second connection to the original (catalog reads inside an open batch). */
  readonly connectOriginal: () => Promise<BackendConnection>;
  /** Called with each ReadyForQuery status the client receives. */
  readonly onReady: (status: TxStatus) => void;
}

interface InFlight {
  readonly batch: Batch;
  readonly tracker: ReplyTracker;
}

/**
 * The in-flight entry of every read sent through the light path (see Relay's #lightRead): no
 * batch of its own, the original's replies go straight through until its ReadyForQuery. Shared
 * by every session (an idle client should cost little memory): nothing ever changes it.
 */
const LIGHT_ENTRY: InFlight = (() => {
  const batch = newBatch(0);
  batch.closed = true;
  return Object.freeze({ batch: Object.freeze(batch), tracker: new ReplyTracker(batch, false) });
})();

/** The relay of one session; see the module note. */
export class Relay implements RecoveringSession {
  readonly #o: RelayOptions;
  readonly #inflight: InFlight[] = [];
  readonly #prepared = new PreparedStatements();
  #links: CopyLink[];
  #open: InFlight | undefined;
  #copyBatch: Batch | undefined;
  #seq = 0;
  #terminated = false;
  /** The copy running a balanced read, while one runs. */
  #balancedRead: CopyLink | undefined;
  /** Transaction status of the last ReadyForQuery the client got. */
  #txStatus: TxStatus = "idle";
  /** Set by {@link detach}: the original's reader stops once nothing is in flight. */
  #detaching = false;
  /** Plans writes for row-based replication. */
  readonly #planner: WritePlanner;
  /** Membership version this session's links reflect. */
  #membershipVersion: number;
  /** Recorder for the journal of a recovering copy, while one is armed. */
  #journal: JournalLink | undefined;
  /** Session-state statements (SET ...) replayed on a copy connection that joins later. */
  readonly #sessionState: JournalStep[] = [];
  #hasTemporary = false;
  /** Set while the client side must wait for a wrapped write to commit. */
  #blockOn: Promise<void> | undefined;
  readonly #idleWaiters: { resolve: () => void; except: InFlight | undefined }[] = [];

  /**
   * Sets up the relay; call {@link clientToBackends} and {@link originalToClient} to run it.
   *
   * @param o the session's connections and shared state
   */
  constructor(o: RelayOptions) {
    this.#o = o;
    this.#links = o.links;
    this.#membershipVersion = o.membership.version;
    this.#planner = new WritePlanner({
      ctx: o.ctx,
      database: o.database,
      user: o.user,
      parameters: o.parameters,
      connectOriginal: () => o.connectOriginal(),
      internalQuery: (sql) => this.#internalQuery(sql),
      inOpenBatch: () => this.#open !== undefined && this.#open.batch.entries.length > 0,
      hasTemporary: () => this.#hasTemporary,
      txFailed: () => this.#txStatus === "failed",
    });
    o.ctx.recovery.add(this);
  }

  /** True when no batch is in flight: a graceful shutdown may close the session now. */
  get idle(): boolean {
    return this.#inflight.length === 0;
  }

  /** True while the connections are being reset for the cache. */
  get detaching(): boolean {
    return this.#detaching;
  }

  /** True after the client sent Terminate. */
  get terminated(): boolean {
    return this.#terminated;
  }

  /**
   * Whether any copy is configured. Without one (pass-through) nothing can diverge, so writes
   * are neither planned for row-based replication nor refused as non-deterministic; copies are
   * added only by a restart, so this never changes under a running session.
   */
  get #replicates(): boolean {
    return this.#o.ctx.config.copies.length > 0;
  }

  /** Links to the copies still in sync (others are closed and dropped here). */
  #writeSet(): CopyLink[] {
    const m = this.#o.membership;
    if (this.#links.every((l) => m.isInSync(l.name))) return this.#links;
    for (const l of this.#links) if (!m.isInSync(l.name)) void l.close();
    this.#links = this.#links.filter((l) => m.isInSync(l.name));
    return this.#links;
  }

  /**
   * Opens links to copies that became in sync since this session started (a recovered copy):
   * the session's state is set on the new connection first, and an open transaction is replayed
   * into it, so the copy takes this session's next write exactly as the others do.
   */
  async #refreshLinks(): Promise<void> {
    const membership = this.#o.membership;
    this.#membershipVersion = membership.version;
    const linked = new Set(this.#links.map((l) => l.name));
    for (const c of this.#o.ctx.config.copies) {
      if (!membership.isInSync(c.name) || linked.has(c.name)) continue;
      const open = this.#txStatus !== "idle";
      if (this.#hasTemporary || (open && !this.#journal)) {
        membership.markStale(
          c.name,
          `a session (client ${this.#o.remote}) could not join it: ${
            this.#hasTemporary
              ? "it holds temporary objects"
              : "its open transaction was not journaled"
          }`,
        );
        continue;
      }
      let link: CopyLink | undefined;
      try {
        link = new CopyLink(await this.#o.connectCopy(c.name));
        const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
        for (const step of this.#sessionState) await runStep(link, step, timeout);
        if (open) {
          await link.query("BEGIN", timeout);
          for (const step of this.#journal!.openSteps) await runStep(link, step, timeout);
        }
        if (link.status !== this.#txStatus) {
          throw new Error("transaction status differs after replay");
        }
        this.#links.push(link);
        log.info('client {remote} joined copy "{copy}"', { remote: this.#o.remote, copy: c.name });
      } catch (e: unknown) {
        link?.conn.close();
        membership.markStale(c.name, `a session could not join it: ${errorText(e)}`);
      }
    }
  }

  /**
   * Resets the session's server connections for the next client (the client left cleanly):
   * `DISCARD ALL` on the original (after which the original's reader stops) and on every copy.
   *
   * @returns the copy links, reset; undefined when the connections cannot be reused
   */
  async detach(): Promise<CopyLink[] | undefined> {
    if (
      this.#inflight.length > 0 || this.#txStatus !== "idle" || this.#journal ||
      this.#copyBatch || this.#detaching
    ) {
      return undefined;
    }
    this.#detaching = true;
    await this.#caughtUp();
    // The original and every copy reset at once: one round trip, not two. A copy this session
    // never wrote to (it only read) is as the last reset left it, and needs none.
    const links = this.#writeSet();
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    const [rows, ...reset] = await Promise.all([
      this.#internalQuery("DISCARD ALL"),
      ...links.map((l) =>
        l.written
          ? l.query("DISCARD ALL", timeout).then(
            (o) => o.error === undefined && o.status === "idle",
            () => false,
          )
          : true
      ),
    ]);
    if (rows === undefined || !reset.every(Boolean)) return undefined;
    for (const l of links) if (l.written) l.wasReset();
    return links;
  }

  /**
   * Marks a batch that passed the write gate as finished. A session whose transaction is still
   * open keeps one entry until it ends: its later batches pass the gate at once (`enterNow`),
   * because they may hold row locks other sessions' writes wait on; a PAUSE or a recovery waits
   * for such transactions to end instead of deadlocking on them.
   *
   * @param batch the batch
   * @param status the session's transaction status after it, when known
   */
  #leaveGate(batch: Batch, status?: TxStatus): void {
    if (batch.gated) {
      batch.gated = false;
      if (status !== undefined && status !== "idle" && !this.#unitEntry && !batch.alone) {
        this.#unitEntry = true;
      } else this.#o.ctx.writeGate.leave();
      if (batch.alone) {
        batch.alone = false;
        this.#o.ctx.writeGate.resume();
      }
    }
    if (status === "idle" && this.#unitEntry) {
      this.#unitEntry = false;
      this.#o.ctx.writeGate.leave();
    }
  }
  /** True while this session's open transaction holds one gate entry. */
  #unitEntry = false;
  /** Batches taken off `#inflight` whose copies and status are still being settled. */
  #settling = 0;
  /** Batches queued to run on the copies behind the client (see #runBehind). */
  #behind = 0;
  #behindTail: Promise<void> = Promise.resolve();

  /** Releases the write gate for batches that will never finish (the session is closing). */
  releaseGate(): void {
    for (const { batch } of this.#inflight) this.#leaveGate(batch);
    this.#leaveGate(newBatch(0), "idle");
  }

  /** Closes every copy connection (Terminate), and the catalog connection. */
  async closeLinks(): Promise<void> {
    // Batches running behind finish first (bounded by copy_timeout): a client that leaves in a
    // transaction is not a copy failure.
    await this.#caughtUp();
    this.#planner.close();
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
        } else if (isCopyMessage(code)) {
          // COPY data outside a COPY on the copies (a COPY only the original runs, or a stray
          // CopyFail after the COPY ended, which postgres.js sends): the original alone gets it,
          // and ignores what does not belong to a COPY, as PostgreSQL does.
        } else {
          // The light path: a read that needs no batch (see #lightRead, #lightBatch).
          const light = code === FrontendCode.Query
            ? (this.#lightRead(frame) ? 0 : -1)
            : code === FrontendCode.Bind
            ? this.#lightBatch(frame, reader.peek())
            : -1;
          if (light >= 0) {
            if (!start) {
              start = new Uint8Array(frame.bytes.buffer, frame.bytes.byteOffset);
              length = 0;
            }
            length += frame.bytes.length;
            for (let i = 0; i < light; i++) length += reader.tryNext()!.bytes.length;
            continue;
          }
          const link = !start && code === FrontendCode.Query
            ? this.#balancedTarget(frame)
            : undefined;
          if (link) {
            // A read outside any transaction, sent to a copy by weight: it runs there alone, and
            // its replies go straight to the client before the next message is looked at.
            await this.#readOnCopy(link, frame);
            continue;
          }
          const flush = async () => {
            // Writes what is pending before anything usogres itself sends to the original.
            if (start) await original.write(start.subarray(0, length));
            start = undefined;
          };
          const replacement = await this.#route(frame, flush);
          if (replacement) {
            // The original gets usogres's version of this message (a refusal, or a statement
            // rewritten to return the rows copies need), in order.
            await flush();
            await original.write(replacement);
          } else {
            if (!start) {
              start = new Uint8Array(frame.bytes.buffer, frame.bytes.byteOffset);
              length = 0;
            }
            length += frame.bytes.length;
          }
          if (this.#blockOn) {
            await flush();
            await this.#blockOn;
            this.#blockOn = undefined;
          }
          continue;
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
   * Takes the light path for a plain SELECT (see `plain_read.ts`) sent while nothing else is in
   * flight, no transaction is open and the copies are in step: it can only read, and it ends
   * outside a transaction whatever happens, so it needs no classification, no batch and no reply
   * tracking. The original's replies go to the client as they come (#originalToClientLoop).
   * With load balancing on and a copy to balance to, reads take the balanced way instead.
   *
   * @param frame a Query message
   * @returns true when it was taken: the caller forwards the message to the original
   */
  #lightRead(frame: Frame): boolean {
    if (
      !this.#lightAllowed() ||
      (this.#o.ctx.config.replication.loadBalance && this.#writeSet().length > 0) ||
      !isPlainSelect(frame.bytes)
    ) {
      return false;
    }
    this.#inflight.push(LIGHT_ENTRY);
    return true;
  }

  /**
   * The light path's extended-protocol side: a Bind of a prepared statement that runs on the
   * original alone (a read), and everything after it up to its Sync, all already received, as
   * drivers send a prepared statement's execution (`Bind, Describe portal, Execute, Sync`). Such
   * a batch only reads, and its Sync ends the implicit transaction. Accepted after the Bind: more
   * Binds of such statements, Describe and Execute of portals bound in the batch, Flush, and the
   * Sync. Anything else (a Parse, a Close, a Describe of a statement) takes the usual way.
   *
   * @param bind the Bind message
   * @param following the bytes received after it (`FrameReader.peek`)
   * @returns how many of the following messages belong to the batch (its Sync included), for the
   *   caller to forward with the Bind; -1 for the usual way
   */
  #lightBatch(bind: Frame, following: Uint8Array<ArrayBuffer>): number {
    if (!this.#lightAllowed()) return -1;
    const bound: Array<readonly [portal: string, statement: string]> = [];
    const bindsRead = (f: Frame): boolean => {
      const m = decodeBind(f);
      const s = this.#prepared.statement(m.statement);
      if (s === undefined || s.route !== "original" || s.refused || s.rowPlan) return false;
      bound.push([m.portal, m.statement]);
      return true;
    };
    const isBound = (portal: string) => bound.some(([p]) => p === portal);
    if (!bindsRead(bind)) return -1;
    let at = 0;
    let count = 0;
    while (following.length - at >= 5) {
      const total = 1 + ((following[at + 1]! << 24) | (following[at + 2]! << 16) |
        (following[at + 3]! << 8) | following[at + 4]!);
      if (total < 5 || at + total > following.length) return -1;
      const f: Frame = { code: following[at]!, bytes: following.subarray(at, at + total) };
      at += total;
      count++;
      switch (f.code) {
        case FrontendCode.Bind:
          if (!bindsRead(f)) return -1;
          break;
        case FrontendCode.Execute:
          if (!isBound(decodeExecute(f).portal)) return -1;
          break;
        case FrontendCode.Describe: {
          const m = decodeDescribe(f);
          if (m.kind !== "P" || !isBound(m.name)) return -1;
          break;
        }
        case FrontendCode.Flush:
          break;
        case FrontendCode.Sync:
          for (const [portal, statement] of bound) this.#prepared.bound(portal, statement);
          this.#inflight.push(LIGHT_ENTRY);
          return count;
        default:
          return -1;
      }
    }
    return -1;
  }

  /**
   * Whether the light path may be taken now: nothing in flight or being settled, no transaction
   * open, and the copies (and a recovery's journal) in step with the original, idle.
   */
  #lightAllowed(): boolean {
    return this.#inflight.length === 0 && this.#open === undefined && this.#txStatus === "idle" &&
      this.#settling === 0 && this.#blockOn === undefined && !this.#needsReconcile("idle");
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
    this.#balancedRead = link;
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
          this.#balancedRead = undefined;
          this.#o.onReady("idle");
          return;
        }
        if (!(await reader.fill())) throw new Error("connection closed");
      }
    } catch (e: unknown) {
      this.#balancedRead = undefined;
      this.#copyFailed(link, `read failed: ${errorText(e)}`, undefined);
      if (sent) throw new BackendError(link.name, { kind: "closed" });
      // Nothing reached the client yet: run the read on the original instead.
      const replacement = await this.#route(frame, () => Promise.resolve());
      await this.#o.original.write(replacement ?? frame.bytes);
    }
  }

  /**
   * The copy running a balanced read for this session right now, if any (a cancel goes there).
   *
   * @returns the copy's connection, or undefined
   */
  balancedReadConnection(): BackendConnection | undefined {
    return this.#balancedRead?.conn;
  }

  /** Sends COPY data to every copy in the write set; a copy that fails is marked stale. */
  async #copyWrite(bytes: Uint8Array): Promise<void> {
    this.#journal?.streamData(bytes);
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
   * @param frame the client's message
   * @param flush writes what is pending to the original (called before usogres's own queries)
   * @returns bytes to send to the original instead of the message (a refusal, or a statement
   *   rewritten for row-based replication), or undefined to forward it unchanged
   */
  async #route(frame: Frame, flush: () => Promise<void>): Promise<Uint8Array | undefined> {
    const code = frame.code;
    let kind: EntryKind;
    let route: "original" | "all" = "original";
    let statements: Classification["statements"] | undefined;
    let statement: string | undefined;
    let replacement: Uint8Array | undefined;
    let rowPlans: (RowPlan | undefined)[] | undefined;
    let rowPlan: RowPlan | undefined;
    let label = "";
    let classified: Classification | undefined;
    let retained: Uint8Array | undefined;
    let executePortal = "";
    let splitCopyBytes: Uint8Array | undefined;
    let boundParse: Uint8Array | undefined;
    switch (code) {
      case FrontendCode.Query: {
        kind = "Query";
        const sql = decodeQuery(frame).sql;
        const c = this.#classify(sql);
        classified = c;
        route = routeOf(c.class);
        statements = c.statements;
        label = sql;
        const unsafe = findUnsafe(c.statements);
        const planned = unsafe || route !== "all" || !this.#replicates
          ? undefined
          : await this.#planner.plan(c.statements, flush);
        const refusal = unsafe ?? this.#unsafePolicy(planned, sql);
        if (refusal) {
          replacement = encodeQuery(refusalSql(refusal));
          route = "original";
          statements = [];
          this.#logRefusal(refusal, sql);
        } else if (planned?.plans.some((p) => p !== undefined)) {
          rowPlans = planned.plans;
          const texts = c.statements.map((st, j) => rowPlans![j]?.originalSql ?? st.text);
          replacement = encodeQuery(texts.join(";\n"));
        }
        if (
          !refusal && route === "all" && endsWithCommit(c.statements) && this.#writeSet().length > 0
        ) {
          // `BEGIN; ...; COMMIT` in one string: the COMMIT is held back, so the copies can
          // commit first (see #commitCopiesFirst); usogres sends it to the original itself.
          const n = c.statements.length - 1;
          statements = c.statements.slice(0, n);
          if (rowPlans) rowPlans = rowPlans.slice(0, n);
          const texts = statements.map((st, j) => rowPlans?.[j]?.originalSql ?? st.text);
          replacement = encodeQuery(texts.join(";\n"));
          splitCopyBytes = encodeQuery(statements.map((st) => st.text).join(";\n"));
        }
        break;
      }
      case FrontendCode.Parse: {
        kind = "Parse";
        const m = decodeParse(frame);
        const c = this.#classify(m.sql);
        classified = c;
        route = routeOf(c.class);
        statement = m.statement;
        label = m.sql;
        const cursorRefusal = findUnsafe(c.statements);
        const planned = route === "all" && !cursorRefusal && this.#replicates
          ? await this.#planner.plan(c.statements, flush)
          : undefined;
        const refusal = cursorRefusal ?? this.#unsafePolicy(planned, m.sql);
        if (refusal) {
          // The refusal raises at Execute; Binds of this statement lose their parameters.
          replacement = encodeParse(m.statement, refusalSql(refusal));
          route = "original";
          this.#logRefusal(refusal, m.sql);
          retained = frame.bytes.slice();
          this.#prepared.parsed(m.statement, route, retained, { refused: true });
        } else {
          rowPlan = planned?.plans[0];
          if (rowPlan) replacement = encodeParse(m.statement, rowPlan.originalSql, m.paramTypes);
          const commit = c.statements.length === 1 && isCommit(c.statements[0]!);
          // A later batch that starts with a Bind of it is wrapped like one that parses it.
          const wrapable = c.hasWrite && !c.statements.some(cannotWrap);
          this.#prepared.parsed(
            m.statement,
            route,
            retained = frame.bytes.slice(),
            rowPlan ? { rowPlan, commit, wrapable } : { commit, wrapable },
          );
        }
        break;
      }
      case FrontendCode.Bind: {
        kind = "Bind";
        const m = decodeBind(frame);
        statement = m.statement;
        route = this.#prepared.bound(m.portal, m.statement);
        const s = this.#prepared.statement(m.statement);
        boundParse = s?.parse;
        if (s?.refused) {
          replacement = encodeBind({ portal: m.portal, statement: m.statement });
        } else if (s?.rowPlan) {
          rowPlan = s.rowPlan;
          replacement = rebindForRows(frame, rowPlan);
        }
        break;
      }
      case FrontendCode.Execute: {
        kind = "Execute";
        const portal = decodeExecute(frame).portal;
        executePortal = portal;
        route = this.#prepared.portal(portal);
        rowPlan = this.#prepared.portalPlan(portal);
        break;
      }
      case FrontendCode.Describe: {
        kind = "Describe";
        const m = decodeDescribe(frame);
        rowPlan = m.kind === "S"
          ? this.#prepared.statement(m.name)?.rowPlan
          : this.#prepared.portalPlan(m.name);
        break;
      }
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
        label = "(function call)";
        break;
      default:
        throw new ProtocolError(
          `invalid frontend message type ${code} ("${String.fromCharCode(code)}")`,
        );
    }

    // Lock order (DESIGN.md, "Order"): a statement reaches a copy only while the original still
    // holds its locks. So nothing that releases locks may overtake a write still running on the
    // copies, and a write outside a transaction runs inside one on the original until the copies
    // have applied it.
    const stmts = classified?.statements ?? [];
    // The write gate (PAUSE, recovery): a batch waits there before its first write goes out.
    const gated = route === "all" && this.#open?.batch.route !== "all";
    // setval() sets a sequence absolutely while copies advance theirs by counts: it must not
    // overtake another session's nextval on its way to the copies, so it runs alone.
    const runAlone = gated && stmts.some((st) => SETS_SEQUENCE.test(st.text));
    if (gated) {
      const gate = this.#o.ctx.writeGate;
      if (gate.paused || runAlone) await flush();
      if (runAlone) await gate.enterAlone();
      else if (this.#unitEntry || this.#inflight.some((f) => f.batch.gated)) gate.enterNow();
      else await gate.enter();
      if (this.#o.membership.version !== this.#membershipVersion) {
        await flush();
        await this.#caughtUp();
        await this.#refreshLinks();
      }
    }
    const commits = (stmts.length === 1 && isCommit(stmts[0]!)) ||
      (kind === "Execute" && this.#prepared.portalCommits(executePortal));
    const releases = commits || stmts.some(releasesLocks);
    if (releases) {
      await flush();
      await this.#waitIdle();
    }
    // An explicit COMMIT commits on the copies first: once the original shows the transaction's
    // rows to other sessions, every copy must show them too (a session that saw them on the
    // original and then writes must find them on the copies). A copy that committed what the
    // original then fails to commit is marked stale after the original's answer.
    let copiesCommitted = false;
    if (
      commits && this.#txStatus === "inTransaction" && this.#writeSet().length > 0 &&
      this.#open?.batch.route !== "all" // earlier writes of this batch have not reached copies
    ) {
      // Pipelined behind the batches still running behind, and waits for all of them.
      await this.#commitCopiesFirst();
      copiesCommitted = true;
    } else if (releases) {
      await this.#caughtUp();
    }
    let wrap = false;
    const boundWrite = kind === "Bind" && this.#prepared.statement(statement ?? "")?.wrapable;
    if (
      !this.#open && route === "all" && (classified?.hasWrite || boundWrite) &&
      !replacementIsRefusal(rowPlan, rowPlans, replacement) &&
      !stmts.some(cannotWrap) && this.#writeSet().length > 0
    ) {
      await flush();
      await this.#waitIdle();
      wrap = this.#txStatus === "idle";
      if (wrap) void this.#internalQuery("BEGIN");
    }

    let open = this.#open;
    if (!open) {
      const batch = newBatch(++this.#seq);
      open = { batch, tracker: new ReplyTracker(batch, false) };
      this.#open = open;
      this.#inflight.push(open);
      if (wrap || splitCopyBytes) batch.wrapped = Promise.withResolvers<void>();
      if (splitCopyBytes) batch.splitCommit = true;
    }
    const batch = open.batch;
    if (route === "all" && batch.route !== "all") {
      batch.route = "all";
      open.tracker.wantTags = true;
      open.tracker.wantHashes = this.#o.ctx.config.replication.returningHash;
    }
    if (gated) {
      batch.gated = true;
      batch.startedAt = performance.now();
      if (runAlone) batch.alone = true;
    }
    if (copiesCommitted) batch.copiesCommitted = true;
    if (route === "all" && batch.label === "") batch.label = label;
    if (rowPlan || rowPlans) batch.rowBased = true;
    // One retained copy per Parse: its identity is how copy links know which version they have.
    const bytes = batch.route === "all"
      ? (splitCopyBytes ?? retained ?? frame.bytes.slice())
      : undefined;
    const entry: BatchEntry = { kind, bytes };
    batch.entries.push({
      ...entry,
      ...(statement !== undefined ? { statement } : {}),
      ...(boundParse !== undefined ? { parse: boundParse } : {}),
      ...(statements ? { statements } : {}),
      ...(rowPlans ? { rowPlans } : {}),
      ...(rowPlan ? { rowPlan } : {}),
    });
    batch.kinds.push(kind);
    // A Query or FunctionCall ends a batch only when it is the batch's first message: inside an
    // extended batch PostgreSQL runs it, answers with ReadyForQuery, and after an earlier error
    // skips it like any other message until Sync (postgres.c, ignore_till_sync).
    const alone = batch.entries.length === 1 && (kind === "Query" || kind === "FunctionCall");
    if (kind === "Sync" || alone) {
      batch.closed = true;
      this.#open = undefined;
      // A wrapped write is not pipelined: its COMMIT must come right after it on the original.
      if (batch.wrapped) this.#blockOn = batch.wrapped.promise;
    }
    return replacement;
  }

  /** Runs COMMIT on every copy before the original gets it; a copy that fails is stale. */
  async #commitCopiesFirst(): Promise<void> {
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    const commit: CopyMessage[] = [{ kind: "Query", bytes: COMMIT_QUERY, source: -1 }];
    // Pipelined behind the batches still running behind, so each copy commits as soon as it
    // has run them, without a round trip in between. A copy that failed one of them is dropped
    // already (its COMMIT, which then rolls back, is not looked at).
    const links = this.#writeSet();
    const outcomes = links.map((link) =>
      link.pipeline(commit, timeout).then(
        (o) =>
          o.error || o.status !== "idle"
            ? `COMMIT failed on the copy before the original: ${o.error?.code ?? ""} ${
              o.error?.message ?? o.status
            }`
            : undefined,
        (e: unknown) => `COMMIT failed on the copy: ${errorText(e)}`,
      )
    );
    await this.#caughtUp();
    const failures = await Promise.all(outcomes);
    links.forEach((link, i) => {
      const failure = failures[i];
      if (failure !== undefined && this.#links.includes(link)) {
        this.#copyFailed(link, failure, undefined);
      }
    });
  }

  /** Resolves when no batch is in flight (every earlier batch finished, copies included). */
  #waitIdle(): Promise<void> {
    // The batch still being built cannot finish before its own messages are sent: not waited for.
    const except = this.#open;
    if (this.#idleFor(except)) return Promise.resolve();
    const w = Promise.withResolvers<void>();
    this.#idleWaiters.push({ resolve: w.resolve, except });
    return w.promise;
  }

  #idleFor(except: InFlight | undefined): boolean {
    // A batch being settled (its copies running, its status not yet taken) is still in flight:
    // a wrap decision made meanwhile would read the status from before it.
    if (this.#settling > 0) return false;
    const n = this.#inflight.length;
    return n === 0 || (n === 1 && this.#inflight[0] === except);
  }

  #notifyIdle(): void {
    if (this.#idleWaiters.length === 0) return;
    const keep: { resolve: () => void; except: InFlight | undefined }[] = [];
    for (const w of this.#idleWaiters) {
      if (this.#idleFor(w.except)) w.resolve();
      else keep.push(w);
    }
    this.#idleWaiters.length = 0;
    this.#idleWaiters.push(...keep);
  }

  /**
   * Applies the policy for a statement that cannot be made deterministic.
   *
   * @returns the refusal to send instead, or undefined (also when the copies were marked stale)
   */
  #unsafePolicy(planned: Planned | undefined, sql: string): Refusal | undefined {
    const unsafe = planned?.unsafe;
    if (!unsafe) return undefined;
    if (unsafe.policy === "refuse") {
      return {
        message: "statement cannot be replicated deterministically",
        detail: `${capitalize(unsafe.reason)}, so the copies could store different values.`,
        hint: unsafe.reason.includes("SQL PREPARE")
          ? "Prepare it with the extended query protocol instead, which usogres replicates by rows."
          : 'Compute the value in the client, or set replication.unknown_functions = "mark_stale" to run it on the original alone.',
      };
    }
    for (const l of this.#writeSet()) {
      this.#o.membership.markStale(
        l.name,
        `unsafe statement ran on the original: ${unsafe.reason}`,
      );
      log.error('copy "{copy}" marked stale: {reason}; statement: {sql}', {
        copy: l.name,
        reason: unsafe.reason,
        sql,
      });
      this.#dropLink(l);
    }
    return undefined;
  }

  #logRefusal(r: Refusal, sql: string): void {
    log.warning("refused for client {remote}: {message}; statement: {sql}", {
      remote: this.#o.remote,
      message: r.message,
      sql,
    });
  }

  /**
   * Runs a query of usogres's own on the original, in order with the client's batches; its
   * replies never reach the client.
   *
   * @returns the rows as text, or undefined when it failed
   */
  #internalQuery(
    sql: string,
    finishes?: PromiseWithResolvers<void>,
    showComplete = false,
  ): Promise<CapturedRows | undefined> {
    const batch = newBatch(++this.#seq);
    const done = Promise.withResolvers<CapturedRows | undefined>();
    batch.internal = finishes
      ? { rows: [], failed: false, resolve: done.resolve, finishes, showComplete }
      : { rows: [], failed: false, resolve: done.resolve };
    batch.entries.push({ kind: "Query", bytes: undefined });
    batch.kinds.push("Query");
    batch.closed = true;
    this.#inflight.push({ batch, tracker: new ReplyTracker(batch, false) });
    return this.#o.original.write(encodeQuery(sql)).then(() => done.promise);
  }

  /** Classifies SQL, applying the session's SQL-level PREPARE/EXECUTE/DEALLOCATE. */
  #classify(sql: string): Classification {
    const c = this.#o.classifier.classify(sql);
    let cls = c.class;
    for (const s of c.statements) {
      if (s.prepare) this.#prepared.sqlPrepared(s.prepare.name, s.prepare.class);
      if (s.deallocate !== undefined) this.#prepared.sqlDeallocated(s.deallocate);
      if (s.execute !== undefined && c.statements.length === 1) {
        cls = this.#prepared.sqlExecuteClass(s.execute);
      }
    }
    if (cls === c.class) return c;
    return { ...c, class: cls, hasWrite: c.hasWrite || cls === "write" };
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
    try {
      await this.#originalToClientLoop();
    } finally {
      // The original's reader ended: nothing in flight will ever be answered. Settle it all, so
      // the client side stops waiting and the session can end (gate entries, waits, slots).
      for (const f of this.#inflight.splice(0)) {
        this.#leaveGate(f.batch);
        f.batch.wrapped?.resolve();
        f.batch.internal?.resolve(undefined);
        f.batch.internal?.finishes?.resolve();
      }
      this.#notifyIdle();
    }
  }

  async #originalToClientLoop(): Promise<void> {
    const original = this.#o.original;
    const reader = original.reader;
    const writer = this.#o.clientWriter;
    const stats = this.#o.ctx.stats;
    // Everything owed to the client from one read leaves in one write (see ReplyBuffer).
    const out = new ReplyBuffer();
    // Called once what precedes them has been written (a wrapped write's ReadyForQuery).
    const afterWrite: (() => void)[] = [];
    const flush = async () => {
      const bytes = out.take();
      if (bytes !== undefined) {
        stats.bytesToClients += bytes.length;
        await writer.write(bytes);
      }
      for (const f of afterWrite.splice(0)) f();
    };
    // A wrapped write's results wait for the ReadyForQuery of usogres's COMMIT, a later read.
    let holding = false;
    let fatalSeen = false;
    let readyStatus: TxStatus | undefined;
    for (;;) {
      let frame: Frame | undefined;
      while ((frame = reader.tryNext())) {
        const head = this.#inflight[0];
        const code = frame.code;
        if (code === BackendCode.ErrorResponse) {
          const m = decodeBackend(frame);
          if (m.type === "ErrorResponse" && (m.severity === "FATAL" || m.severity === "PANIC")) {
            fatalSeen = true;
          }
        }
        if (head === LIGHT_ENTRY) {
          // A plain read (#lightRead): everything goes to the client; its ReadyForQuery ends it.
          if (code === BackendCode.ReadyForQuery) {
            this.#inflight.shift();
            const m = decodeBackend(frame);
            const status = m.type === "ReadyForQuery" ? m.status : "idle";
            this.#txStatus = status;
            readyStatus = status;
          }
          out.add(frame.bytes);
          continue;
        }
        if (head?.batch.internal) {
          // usogres's own query: its replies stay here, except asynchronous messages.
          const reply = this.#internalReply(head, frame);
          if (reply) {
            out.add(frame.bytes);
            if (typeof reply === "function") {
              holding = false;
              afterWrite.push(reply);
            }
          }
          continue;
        }
        let verdict: Verdict | undefined;
        if (head?.batch.rowBased) {
          const pos = head.tracker.position();
          const entry = pos ? head.batch.entries[pos.index] : undefined;
          if (entry) verdict = transformReply(entry, pos!.statementsDone, frame);
        }
        const ready = head ? head.tracker.feed(frame) : false;
        if (
          head && code === BackendCode.CopyInResponse && head.batch.route === "all" &&
          !head.batch.copyStarted
        ) {
          await this.#startCopy(head.batch);
        }
        if (verdict && verdict.kind !== "forward") {
          if (verdict.kind === "replace") out.add(verdict.bytes);
          continue;
        }
        // What came before a held ReadyForQuery stays in `out` while the copies run: it leaves
        // with the ReadyForQuery (the client can do nothing with a statement's results before
        // it anyway), and the frames stay valid because the reader is not filled meanwhile.
        if (ready && head && head.batch.splitCommit) {
          this.#inflight.shift();
          this.#settling++;
          const outcome = head.tracker.outcome();
          const batch = head.batch;
          await this.#caughtUp();
          await this.#runOnCopies(batch, outcome);
          if (outcome.status === "inTransaction" && !outcome.error) {
            await this.#commitCopiesFirst();
            this.#journal?.messages(
              [{ kind: "Query", bytes: encodeQuery("COMMIT"), source: -1 }],
              this.#prepared,
            );
            this.#journal?.endBatch("idle");
            holding = true;
            void this.#internalQuery("COMMIT", batch.wrapped, true).then((rows) => {
              this.#leaveGate(batch, "idle");
              if (rows === undefined) {
                for (const l of this.#writeSet()) {
                  this.#diverged(l, batch, "the copy committed, then the original's COMMIT failed");
                }
              }
            });
            this.#settling--;
            continue;
          }
          // The string failed before its COMMIT: the client gets this ReadyForQuery, as from
          // PostgreSQL (the transaction is aborted, the COMMIT never ran).
          batch.wrapped?.resolve();
          this.#leaveGate(batch, outcome.status);
          this.#txStatus = outcome.status;
          this.#settling--;
          readyStatus = outcome.status;
        } else if (ready && head && head.batch.wrapped) {
          // A write usogres put inside a transaction: copies apply it, then the original commits
          // (or rolls back after an error), and the client gets that ReadyForQuery instead.
          this.#inflight.shift();
          this.#settling++;
          const outcome = head.tracker.outcome();
          await this.#caughtUp();
          await this.#runOnCopies(head.batch, { ...outcome, status: "idle" });
          const finish = outcome.status === "inTransaction" ? "COMMIT" : "ROLLBACK";
          const batch = head.batch;
          holding = true;
          void this.#internalQuery(finish, batch.wrapped).then(() =>
            this.#leaveGate(batch, "idle")
          );
          this.#settling--;
          continue;
        }
        if (ready && head) {
          this.#inflight.shift();
          this.#settling++;
          const outcome = head.tracker.outcome();
          if (this.#defers(head.batch, outcome)) {
            this.#runBehind(head.batch, outcome);
          } else if (head.batch.route === "all" || this.#needsReconcile(outcome.status)) {
            // The ReadyForQuery waits until the copies are done.
            await this.#caughtUp();
            await this.#runOnCopies(head.batch, outcome);
          }
          this.#leaveGate(head.batch, outcome.status);
          this.#txStatus = outcome.status;
          this.#settling--;
          // The session learns of it only once the ReadyForQuery is written (below): a graceful
          // shutdown sends 57P01 next, and it must not overtake the result.
          readyStatus = outcome.status;
        }
        out.add(frame.bytes);
      }
      // Small results of a wrapped write wait for its ReadyForQuery; large ones go now.
      if (holding && out.size <= HOLD_LIMIT) out.hold();
      else await flush();
      if (readyStatus !== undefined) {
        this.#o.onReady(readyStatus);
        readyStatus = undefined;
      }
      this.#notifyIdle();
      // Handing the connection to the pool: stop here, without a read pending on the socket.
      if (this.#detaching && this.#inflight.length === 0) return;
      if (!(await reader.fill())) {
        await flush().catch(() => {});
        if (fatalSeen || this.#terminated) return;
        throw new BackendError(original.target.name, { kind: "closed" });
      }
    }
  }

  /**
   * Handles one reply to an internal query.
   *
   * @returns false to keep the reply, true to forward it to the client, or a function to call
   *   once it is written (the ReadyForQuery that ends a wrapped write)
   */
  #internalReply(head: InFlight, frame: Frame): boolean | (() => void) {
    const internal = head.batch.internal!;
    const finishing = internal.finishes !== undefined;
    switch (frame.code) {
      case BackendCode.NoticeResponse:
      case BackendCode.NotificationResponse:
      case BackendCode.ParameterStatus:
        // The reset for the connection cache runs after the client left: its ParameterStatus
        // messages (DISCARD ALL after a SET ROLE reports is_superuser again) go nowhere.
        return !this.#detaching;
      case BackendCode.DataRow:
        internal.rows.push(decodeDataRow(frame).map((v) => (v === null ? null : utf8.decode(v))));
        return false;
      case BackendCode.ErrorResponse:
        internal.failed = true;
        // A COMMIT that fails (a deferred constraint) is the client's error to see.
        return finishing;
      case BackendCode.CommandComplete:
        // The COMMIT of a `BEGIN; ...; COMMIT` string answers for the client's own COMMIT.
        return internal.showComplete === true;
      case BackendCode.ReadyForQuery: {
        this.#inflight.shift();
        internal.resolve(internal.failed ? undefined : internal.rows);
        if (!finishing) return false;
        const m = decodeBackend(frame);
        const status = m.type === "ReadyForQuery" ? m.status : "idle";
        this.#txStatus = status;
        return () => {
          this.#o.onReady(status);
          internal.finishes!.resolve();
          this.#notifyIdle();
        };
      }
      default:
        return false;
    }
  }

  /**
   * Whether a finished batch may run on the copies behind the client: it wrote inside a
   * transaction that stays open, so nothing it did is visible to another session until the
   * COMMIT, which waits for it (see docs/replication.md, "Running behind in a transaction").
   */
  #defers(batch: Batch, outcome: BatchOutcome): boolean {
    return outcome.status === "inTransaction" && outcome.error === undefined &&
      batch.route === "all" && !batch.copyStarted && !batch.copiesCommitted && !batch.alone &&
      batch.wrapped === undefined && this.#links.length > 0 && this.#behind < MAX_BEHIND;
  }

  /**
   * Sends a batch to the copies without waiting for them; the client gets its ReadyForQuery
   * now. Each copy link pipelines such batches, so a copy runs them back to back.
   */
  #runBehind(batch: Batch, outcome: BatchOutcome): void {
    batch.behind = true;
    this.#noteSession(batch, outcome);
    const membership = this.#o.membership;
    for (const c of this.#o.ctx.config.copies) {
      if (!membership.isInSync(c.name)) membership.get(c.name).writesSkipped++;
    }
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    // A batch the original ran quickly waits on each copy for the session's next write or its
    // COMMIT, and goes out with it: one write to the copy and one wake-up of its backend for
    // several statements. A slow one goes at once, so its run on the copies overlaps what the
    // client does next.
    const hold = beginsOnly(batch) ||
      (batch.startedAt !== undefined && performance.now() - batch.startedAt < HOLD_BEHIND_MS);
    const runs = this.#writeSet().map((link) =>
      this.#runOnCopyBehind(link, batch, outcome, timeout, hold)
    );
    // The journal gets it now, in order: batches that do not run behind wait for these first.
    this.#record(batch, outcome);
    this.#behind++;
    this.#behindTail = Promise.all([this.#behindTail, ...runs]).then(() => {
      this.#behind--;
    });
  }

  async #runOnCopyBehind(
    link: CopyLink,
    batch: Batch,
    original: BatchOutcome,
    timeout: number,
    hold: boolean,
  ): Promise<void> {
    try {
      const hashing = this.#o.ctx.config.replication.returningHash;
      const sent = link.withStatements(
        copyMessages(batch.entries, this.#rowStatementsFor(link, batch), hashing),
        this.#prepared,
      );
      const o = await link.pipeline(sent, timeout, hashing, hold);
      if (!this.#links.includes(link)) return; // dropped meanwhile (a batch before failed)
      const diverged = compareOutcomes(original, o, sent, hashing ? batch.entries : undefined) ??
        (o.status === original.status
          ? undefined
          : `transaction status differs: original ${original.status}, copy ${o.status}`);
      if (diverged) return this.#diverged(link, batch, diverged);
      if (batch.entries.some((e) => e.statements?.some(clearsPrepared))) link.forgetStatements();
      this.#o.membership.get(link.name).writesApplied++;
    } catch (e: unknown) {
      if (this.#links.includes(link)) this.#copyFailed(link, errorText(e), batch);
    }
  }

  /** Resolves when every batch queued by {@link #runBehind} has run on the copies. */
  #caughtUp(): Promise<void> {
    if (this.#behind === 0) return Promise.resolve();
    // A held BEGIN goes out now (a failed write fails its batch through the closed socket).
    for (const link of this.#links) link.flush().catch(() => {});
    return this.#behindTail;
  }

  #needsReconcile(status: TxStatus): boolean {
    // Batches still running behind leave every copy (and the journal) in a transaction.
    if (this.#behind > 0) return status !== "inTransaction";
    return this.#links.some((l) => l.status !== status) ||
      (this.#journal !== undefined && this.#journal.status !== status);
  }

  /** Starts a COPY FROM STDIN on every copy: they get the batch so far, then the data stream. */
  async #startCopy(batch: Batch): Promise<void> {
    await this.#caughtUp();
    batch.copyStarted = true;
    batch.copyEntries = batch.entries.length;
    const messages = copyMessages(batch.entries);
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
    this.#journal?.beginStream(messages, this.#prepared);
    this.#copyBatch = batch;
    batch.copyIn = true;
  }

  /** Runs a finished batch on the copies (or brings them to the original's status). */
  async #runOnCopies(batch: Batch, original: BatchOutcome): Promise<void> {
    const links = this.#writeSet();
    const timeout = this.#o.ctx.config.replication.copyTimeoutMs;
    if (batch.route === "all") {
      const membership = this.#o.membership;
      for (const c of this.#o.ctx.config.copies) {
        if (!membership.isInSync(c.name)) membership.get(c.name).writesSkipped++;
      }
    }
    if (links.length > 0) {
      await Promise.all(links.map(async (link) => {
        try {
          await this.#runOnCopy(link, batch, original, timeout);
        } catch (e: unknown) {
          this.#copyFailed(link, errorText(e), batch);
        }
      }));
    }
    if (this.#copyBatch === batch) this.#copyBatch = undefined;
    this.#record(batch, original);
    if (batch.route === "all" && batch.startedAt !== undefined) {
      this.#o.ctx.fanoutLatency.observe((performance.now() - batch.startedAt) / 1000);
    }
  }

  /** Records a finished batch for the journal of a recovering copy, as a copy would run it. */
  #record(batch: Batch, original: BatchOutcome): void {
    if (!batch.behind) this.#noteSession(batch, original);
    const jl = this.#journal;
    if (!jl) return;
    if (batch.copyStarted) {
      const tail = batch.copyFailed
        ? undefined
        : original.error
        ? encodeCopyFail("the original server rejected this COPY")
        : COPY_DONE;
      jl.endStream(tail, copyMessages(batch.entries.slice(batch.copyEntries)));
    } else if (original.error) {
      if (batch.route === "all") {
        jl.messages(
          mirrorFailedBatch(
            batch.entries,
            original.error.entryIndex,
            original.error.statementsDone,
          ),
          this.#prepared,
        );
      }
    } else if (batch.route === "all") {
      jl.messages(copyMessages(batch.entries), this.#prepared);
    }
    if (jl.status !== original.status || original.error) jl.reconcile(original.status);
    jl.endBatch(original.status);
    if (jl.journal.closed && jl.status === "idle") this.#journal = undefined;
  }

  /** Follows what a finished batch did to the session (SET, temporary objects). */
  #noteSession(batch: Batch, original: BatchOutcome): void {
    if (original.error || batch.route !== "all") return;
    const session = batch.entries.every((e) =>
      e.kind !== "Query" || (e.statements ?? []).every((st) => st.class === "session")
    );
    if (session && batch.entries.some((e) => e.kind === "Query")) {
      // SET and friends: replayed first on a connection that joins this session later.
      for (const m of copyMessages(batch.entries)) {
        this.#sessionState.push({ kind: "messages", kinds: [m.kind], bytes: m.bytes });
      }
      if (this.#sessionState.length > 200) this.#sessionState.splice(0, 100);
    }
    if (batch.entries.some((e) => e.statements?.some((st) => st.temporary))) {
      this.#hasTemporary = true;
    }
  }

  // ---- recovery (RecoveringSession) ---------------------------------------------------------

  /** Session id (for the journal). */
  get id(): number {
    return this.#o.id;
  }

  /**
   * Whether a unit that began before the journal was armed is still open.
   *
   * @returns true while such a unit is open
   */
  unitFromBeforeArm(): boolean {
    return this.#journal?.fromBeforeArm ?? false;
  }

  /**
   * Whether the session created temporary objects (a new copy connection could not have them).
   *
   * @returns true when it did
   */
  hasTemporaryObjects(): boolean {
    return this.#hasTemporary;
  }

  /**
   * Starts recording this session's units into an armed journal.
   *
   * @param journal the journal
   */
  arm(journal: Journal): void {
    this.#journal = new JournalLink(journal, this.#o.id, this.#txStatus, this.#inflight.length > 0);
    journal.register(this.#o.id, {
      user: this.#o.user,
      database: this.#o.database,
      parameters: this.#o.parameters,
      state: [...this.#sessionState],
    });
  }

  /** Leaves the recovery state and closes the catalog connection (the session ends). */
  dispose(): void {
    this.#o.ctx.recovery.remove(this);
    this.#planner.close();
  }

  /**
   * The link's prepared row statements for a batch's writes replicated by rows; undefined (the
   * literal form) when the batch has none or drops prepared statements (DISCARD ALL, DEALLOCATE
   * ALL): one prepared earlier might be gone before its Bind. Such a batch makes the link forget
   * its row statements now, before later batches (pipelined behind it) are built.
   */
  #rowStatementsFor(link: CopyLink, batch: Batch): RowStatements | undefined {
    if (batch.entries.some((e) => e.statements?.some(clearsPrepared))) {
      link.rowStatements.forget();
      return undefined;
    }
    return batch.rowBased ? link.rowStatements : undefined;
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
    if (batch.copiesCommitted) {
      // The copy committed before the original was asked to (see #commitCopiesFirst).
      if (original.error) {
        return this.#diverged(
          link,
          batch,
          `the copy committed, then the original's COMMIT failed: ${original.error.code} ${original.error.message}`,
        );
      }
      link.status = "idle";
      membership.get(link.name).writesApplied++;
      return;
    }
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
      const clears = batch.entries.some((e) => e.statements?.some(clearsPrepared));
      const rows = this.#rowStatementsFor(link, batch);
      const hashing = this.#o.ctx.config.replication.returningHash;
      messages = link.withStatements(copyMessages(batch.entries, rows, hashing), this.#prepared);
      outcome = await link.run(messages, timeout, hashing);
      const diverged = compareOutcomes(
        original,
        outcome,
        messages,
        hashing ? batch.entries : undefined,
      );
      if (diverged) return this.#diverged(link, batch, diverged);
      if (clears) link.forgetStatements();
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
    m.lastDivergenceAt = Date.now();
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

/**
 * Whether a batch is a lone `BEGIN` (one simple Query of one statement): a copy has nothing to do
 * for it before the statements that follow, so it may wait to go out with them.
 */
function beginsOnly(batch: Batch): boolean {
  const entries = batch.entries;
  if (entries.length !== 1 || entries[0]!.kind !== "Query") return false;
  const statements = entries[0]!.statements;
  return statements?.length === 1 && statements[0]!.transaction === "begin";
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Runs one journal step on a copy link. */
async function runStep(link: CopyLink, step: JournalStep, timeout: number): Promise<void> {
  if (step.kind === "messages") {
    await link.runRaw(step.kinds, step.bytes, timeout);
    return;
  }
  for (let i = 0; i < 3; i++) {
    const next = reconcileStep(step.status, link.status);
    if (next === undefined) return;
    if (next === "diverged") throw new Error(`cannot reach status ${step.status}`);
    await link.query(next.sql, timeout);
  }
}
