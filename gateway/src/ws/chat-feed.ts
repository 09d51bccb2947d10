import { type ChatEvent, membershipOf, NatterError } from "@natter/protocol";
import type { Member } from "@natter/store";

/** How a delivered event reached the socket, for metrics: live from the inbox, a gap filled from the log, a replay for `sync`. */
export type DeliveryPath = "live" | "fill" | "replay";

/**
 * What every feed of a gateway shares: one object for the gateway, not closures per socket
 * (a gateway holds tens of thousands of idle sockets).
 */
export interface ChatFeedDeps {
  /** Contiguous events `afterN < n <= toN` (ascending, at most `limit`): `readChatEvents`. */
  readRange(chatId: string, afterN: number, toN: number | undefined, limit: number): Promise<ChatEvent[]>;
  getMember(chatId: string, userId: string): Promise<Member | undefined>;
  /** The chat's newest n (the stream's head, else the store's): a cursor never passes it. */
  headN(chatId: string): Promise<number>;
  /** Dropped as a duplicate (n at or below what the socket already has). */
  duplicate(): void;
  maxPending: number;
  page: number;
}

/** The socket a feed writes to (the `Connection`). */
export interface FeedSocket {
  /** Writes an `event` frame; false once the socket is gone (the feed stops). */
  deliver(event: ChatEvent, path: DeliveryPath): boolean;
  /** Resolves true when the socket's send buffer is low enough to write a page more; false if it closed. */
  drained(): Promise<boolean>;
  synced(chatId: string, n: number, ref: string | undefined): void;
  syncFailed(chatId: string, err: NatterError, ref: string | undefined): void;
  /** Too many live events held: the socket must close as a slow consumer. */
  overflow(): void;
  /** A gap could not be filled, or the log could not be read: the socket must close. */
  failed(err: unknown): void;
}

interface SyncRequest {
  n: number;
  ref: string | undefined;
}

/** One chat as one socket sees it. */
interface Cursor {
  chatId: string;
  /** False until the socket first learns the chat (a sync, or the first live event). */
  known: boolean;
  /** The last n delivered (or skipped as not-a-member) on this socket. */
  last: number;
  /** The first n of the contiguous run delivered on this socket. */
  start: number;
  /** Whether the user is a member as of `last`; events while not a member are skipped. */
  member: boolean;
  /** Live events waiting (made at the first; most idle sockets never hold one). */
  pending: ChatEvent[] | undefined;
  /** `sync` requests waiting (made at the first; dropped once answered). */
  syncs: SyncRequest[] | undefined;
  running: boolean;
}

const FILL_RETRIES = 5;
/** Chats of one socket that read the log at once (a `sync` may name 1,000 chats). */
const CONCURRENT_READS = 8;

/**
 * The per-socket ordering of chat events: per chat it keeps the last `n` delivered, so
 * a duplicate (n ≤ last) is dropped and a gap (n > last + 1) is filled from the log
 * before the event is delivered. A client never sees an event twice or out of order.
 *
 * Each chat has one pump, so a chat's replay, gap fills and live events never interleave:
 * live events that arrive while the chat replays (`sync`) or fills a gap wait in
 * `pending`, and are then delivered with the same duplicate and gap rules, so the seam
 * between replay and live has no gap and no duplicate.
 *
 * Live events are held until `release()` (or the first `sync`): the connection releases
 * them right after `ready` unless the client resumes, in which case its cursors' replay
 * comes first (an event arriving between `ready` and the client's `sync` would otherwise
 * start the chat's cursor ahead of the client, and the replay behind it would come out of
 * order). No timer decides it: the client says at connect time whether it resumes.
 *
 * G3: events between a user's removal and re-addition are skipped (the user's membership
 * is folded along the events delivered: `member.removed` of the user stops delivery,
 * `member.added` of the user resumes it), and a sync starts no earlier than the user's
 * current membership (`joinedN`) and, for a removed user, ends at the removal.
 */
export class ChatFeed {
  readonly #userId: string;
  readonly #socket: FeedSocket;
  readonly #deps: ChatFeedDeps;
  /** The socket's chats: the first one in a field, a Map only from the second on (an idle socket holds one). */
  #one: Cursor | undefined;
  #more: Map<string, Cursor> | undefined;
  #held = true;
  #pending = 0;
  #stopped = false;
  #reading = 0;
  /** Chats waiting for a read slot; from the first wait. */
  #readQueue: (() => void)[] | undefined;

  constructor(userId: string, socket: FeedSocket, deps: ChatFeedDeps) {
    this.#userId = userId;
    this.#socket = socket;
    this.#deps = deps;
  }

  /** A live event from the user's inbox. */
  live(event: ChatEvent): void {
    if (this.#stopped) return;
    const c = this.#cursor(event.chat);
    if (c.known && event.n <= c.last && !c.running) {
      this.#deps.duplicate();
      return;
    }
    if (this.#pending >= this.#deps.maxPending) {
      this.#stopped = true;
      this.#socket.overflow();
      return;
    }
    (c.pending ??= []).push(event);
    this.#pending++;
    if (c.known || (c.syncs?.length ?? 0) > 0 || !this.#held) this.#pump(c);
  }

  /** A `sync` frame: replay each chat after the client's cursor, then `synced`. Also ends the hold. */
  sync(cursors: Record<string, number>, ref: string | undefined): void {
    if (this.#stopped) return;
    for (const [chatId, n] of Object.entries(cursors)) {
      const c = this.#cursor(chatId);
      (c.syncs ??= []).push({ n, ref });
      this.#pump(c);
    }
    this.release();
  }

  /** Ends the hold: held chats start at their first live event. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    for (const c of this.#cursors()) if ((c.pending?.length ?? 0) > 0) this.#pump(c);
  }

  stop(): void {
    this.#stopped = true;
    this.#one = undefined;
    this.#more = undefined;
    this.#pending = 0;
  }

  /** Chats this socket tracks (for tests and metrics). */
  get chats(): number {
    return this.#more ? this.#more.size : this.#one ? 1 : 0;
  }

  #cursors(): Iterable<Cursor> {
    return this.#more ? this.#more.values() : this.#one ? [this.#one] : [];
  }

  #cursor(chatId: string): Cursor {
    if (this.#one?.chatId === chatId) return this.#one;
    let c = this.#more?.get(chatId);
    if (!c) {
      c = {
        chatId,
        known: false,
        last: 0,
        start: 1,
        member: true,
        pending: undefined,
        syncs: undefined,
        running: false,
      };
      if (!this.#one) this.#one = c;
      else (this.#more ??= new Map([[this.#one.chatId, this.#one]])).set(chatId, c);
    }
    return c;
  }

  #pump(c: Cursor): void {
    if (c.running || this.#stopped) return;
    c.running = true;
    this.#run(c).then(
      () => {
        c.running = false;
        // A sync or event may have come in after the loop's last check.
        if (
          !this.#stopped &&
          ((c.syncs?.length ?? 0) > 0 || ((c.pending?.length ?? 0) > 0 && (c.known || !this.#held)))
        ) {
          this.#pump(c);
        }
      },
      (err: unknown) => {
        c.running = false;
        if (this.#stopped) return;
        this.#stopped = true;
        this.#socket.failed(err);
      },
    );
  }

  async #run(c: Cursor): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      const sync = c.syncs?.shift();
      if (sync) {
        if (c.syncs!.length === 0) c.syncs = undefined;
        await this.#reads(() => this.#replay(c, sync));
        continue;
      }
      const pending = c.pending;
      if (!pending || pending.length === 0 || (!c.known && this.#held)) return;
      pending.sort((a, b) => a.n - b.n);
      const e = pending.shift()!;
      if (pending.length === 0) c.pending = undefined;
      this.#pending--;
      if (!c.known) {
        // First live event of a chat the client did not sync: the cursor starts here.
        c.known = true;
        c.last = e.n - 1;
        c.start = e.n;
        c.member = true;
      }
      if (e.n <= c.last) {
        this.#deps.duplicate();
        continue;
      }
      if (e.n > c.last + 1) await this.#reads(() => this.#fill(c, e.n - 1));
      if (this.#stopped) return;
      this.#apply(c, e, "live");
    }
  }

  /** Runs `work` when fewer than CONCURRENT_READS chats of this socket are reading the log. */
  async #reads<T>(work: () => Promise<T>): Promise<T> {
    if (this.#reading >= CONCURRENT_READS) await new Promise<void>((r) => (this.#readQueue ??= []).push(r));
    this.#reading++;
    try {
      return await work();
    } finally {
      this.#reading--;
      this.#readQueue?.shift()?.();
    }
  }

  /** Delivers `last+1 .. toN` from the log; retries briefly when the log is behind the inbox. */
  async #fill(c: Cursor, toN: number): Promise<void> {
    for (let attempt = 0; c.last < toN;) {
      if (!(await this.#socket.drained())) return;
      const page = await this.#deps.readRange(c.chatId, c.last, toN, this.#deps.page);
      if (this.#stopped) return;
      let progressed = false;
      for (const e of page) {
        if (e.n !== c.last + 1) break;
        this.#apply(c, e, "fill");
        progressed = true;
      }
      if (progressed) continue;
      if (++attempt > FILL_RETRIES) {
        throw new NatterError("unavailable", `events ${c.last + 1}..${toN} of ${c.chatId} could not be read`);
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }

  async #replay(c: Cursor, req: SyncRequest): Promise<void> {
    const member = await this.#deps.getMember(c.chatId, this.#userId);
    if (this.#stopped) return;
    if (!member) {
      // Never a member: the same answer whether the chat exists or not (`ChatAccess`).
      this.#socket.syncFailed(c.chatId, new NatterError("not_found", "no such chat"), req.ref);
      return;
    }
    // Never before the current membership began; for a removed member, never after the removal.
    const toN = member.active ? undefined : member.changedN;
    let from = Math.max(req.n, member.joinedN - 1);
    if (toN !== undefined) from = Math.min(from, toN);
    if (c.known && from < c.last && from >= c.start - 1) {
      // The events after the client's cursor were already sent on this socket: only what follows them.
      from = c.last;
    } else {
      c.start = from + 1;
    }
    c.known = true;
    c.last = from;
    c.member = member.active || from < member.changedN;

    if (toN === undefined) {
      // The head first (one batched read for the chats of many sockets, `ChatHeads`): a
      // cursor at the head, what most reconnecting clients hold, is answered without
      // reading the log. A cursor past the head is answered as at the head, so the live
      // events after the head are not taken for duplicates and dropped.
      const head = await this.#deps.headN(c.chatId);
      if (this.#stopped) return;
      if (head <= c.last) {
        if (head < c.last) {
          c.last = head;
          c.start = Math.min(c.start, head + 1);
        }
        this.#socket.synced(c.chatId, c.last, req.ref);
        return;
      }
    }
    while (toN === undefined || c.last < toN) {
      if (!(await this.#socket.drained())) return;
      const page = await this.#deps.readRange(c.chatId, c.last, toN, this.#deps.page);
      if (this.#stopped) return;
      let applied = 0;
      for (const e of page) {
        if (e.n !== c.last + 1) break;
        this.#apply(c, e, "replay");
        applied++;
      }
      if (applied < this.#deps.page) break;
    }
    this.#socket.synced(c.chatId, c.last, req.ref);
  }

  /** Event `last + 1`: delivered while the user is a member, skipped otherwise; `last` moves on either way. */
  #apply(c: Cursor, e: ChatEvent, path: DeliveryPath): void {
    const mine = membershipOf(e, this.#userId);
    if (!c.member) {
      if (mine !== true) {
        c.last = e.n;
        return;
      }
      c.member = true;
    }
    if (!this.#socket.deliver(e, path)) {
      this.#stopped = true;
      return;
    }
    c.last = e.n;
    if (mine === false) c.member = false;
  }
}
