import {
  applyMembership,
  type ChatEvent,
  erasedEdit,
  foldDeletes,
  isUnavailable,
  membershipEffect,
  type MessageEditedEvent,
  NatterError,
} from "@natter/protocol";
import type { Member, Store } from "@natter/store";
import { CHAT_STREAM, chatStreamAt } from "@natter/subjects";
import type { JetStreamManager } from "@nats-io/jetstream";
import {
  type ChatHeadRef,
  type ChatPageQuery,
  type ChatRangeQuery,
  readChatEvents,
  readChatHead,
  readChatPage,
} from "./chat-range.ts";
import { chatEventAt, lastChatEvents } from "./chat-stream.ts";

/** Events read at a time while looking for a deleted message's edits. */
const EDIT_SCAN_PAGE = 1000;
/** Most events replayed from the stream to bring a stored member list up to a head. */
const MAX_MEMBERSHIP_REPLAY = 10_000;

/**
 * The chat log as every reader sees it: one module over its two copies.
 *
 * Who writes what. The chat stream (`CHATS`, subject `chat.<chatId>.msg`) is the log
 * itself: only the gateways' sequencer appends to it, and its sequence is the order. The
 * store is written behind it: the `history` consumer appends every event and projects it
 * onto the read models (chats, members, heads); a gateway also projects the membership
 * events it publishes itself, at once, so the next request it serves sees the change
 * (projections are guarded by `n`, so the second projection changes nothing). The store
 * therefore lags the stream by the history consumer's batch, and the stream forgets what
 * is older than its max age.
 *
 * So a reader never asks one of them alone: the head is the stream's last event (the
 * store's when the stream no longer holds any), a range is the store's contiguous run
 * then the stream's tail beyond it, and the members as of a head are the store's member
 * list brought up to that head with the stream's newer membership events.
 *
 * Deleted messages (`message.deleted`) come back erased (`deleted: true`, no body) from
 * every read here: the store's erased row wins over the stream's copy (`readChatEvents`),
 * and a delete in the same read erases its target in it (`foldDeletes`); their edits come
 * back erased too, wherever the deleted message is (`#erased`).
 */
export class ChatLog {
  readonly #jsm: JetStreamManager;
  readonly #store: Store;
  readonly #site: string | undefined;

  /**
   * `site`: this process's edge site (`NATTER_SITE`); each chat is then read from the stream
   * that holds it here (`chatStreamAt`: `CHATS` for chats homed here, the copy stream for
   * chats homed elsewhere). Unset: every chat from `CHATS`, as without sites.
   */
  constructor(jsm: JetStreamManager, store: Store, site?: string) {
    this.#jsm = jsm;
    this.#store = store;
    this.#site = site;
  }

  /** The stream holding the chat here; `CHATS` (which then holds none of it) for a chat of another site. */
  #streamOf(chatId: string): string {
    return chatStreamAt(this.#site, chatId) ?? CHAT_STREAM;
  }

  /**
   * Whether the chat stream can take events now: its info answers (JetStream is up and the
   * stream has a leader; a replicated stream that lost its quorum has none) within
   * `timeoutMs`. What a gateway's readiness reports.
   */
  async writable(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const info = this.#jsm.streams.info(CHAT_STREAM).then(
      (i) => i.cluster === undefined || Boolean(i.cluster.leader),
      () => false,
    );
    try {
      return await Promise.race([info, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The chat's newest event: `n` and its stream `seq` (0 when the stream no longer holds it). */
  head(chatId: string): Promise<ChatHeadRef> {
    return readChatHead(this.#jsm, this.#store, chatId, this.#streamOf(chatId));
  }

  /** The newest event of each chat still in the stream (chats with none there are absent). */
  async lastEvents(chatIds: readonly string[]): Promise<Map<string, ChatEvent>> {
    if (this.#site === undefined) return lastChatEvents(this.#jsm, chatIds);
    const byStream = new Map<string, string[]>();
    for (const id of chatIds) {
      const s = this.#streamOf(id);
      byStream.set(s, [...(byStream.get(s) ?? []), id]);
    }
    const maps = await Promise.all([...byStream].map(([s, ids]) => lastChatEvents(this.#jsm, ids, s)));
    return new Map(maps.flatMap((m) => [...m]));
  }

  /** Contiguous events `afterN < n <= toN`, ascending, at most `limit` (`readChatEvents`). */
  async range(chatId: string, q: ChatRangeQuery): Promise<ChatEvent[]> {
    return this.#erased(chatId, await readChatEvents(this.#jsm, this.#store, chatId, q, this.#streamOf(chatId)));
  }

  /** One page of history for a reader (`readChatPage`). */
  async page(chatId: string, q: ChatPageQuery): Promise<{ events: ChatEvent[]; hasMore: boolean }> {
    const page = await readChatPage(this.#jsm, this.#store, chatId, q, this.#streamOf(chatId));
    return { events: await this.#erased(chatId, page.events), hasMore: page.hasMore };
  }

  /**
   * A read's events with what deletes erased erased: the deletes and erased messages of the
   * run itself (`foldDeletes`), and the edits of a deleted message outside the run (one
   * read of each such message: edits are rare). So no read returns an edit's body once
   * its message is deleted, before or after the history consumer erased the edit's copies.
   */
  async #erased(chatId: string, events: ChatEvent[]): Promise<ChatEvent[]> {
    const folded = foldDeletes(events);
    const held = new Set(folded.map((e) => e.n));
    const outside = new Set<number>();
    for (const e of folded) if (e.kind === "message.edited" && !e.deleted && !held.has(e.target)) outside.add(e.target);
    if (outside.size === 0) return folded;
    const deleted = new Set<number>();
    for (const target of outside) {
      const [m] = await readChatEvents(
        this.#jsm,
        this.#store,
        chatId,
        { afterN: target - 1, toN: target, limit: 1 },
        this.#streamOf(chatId),
      );
      if (m?.kind === "message.created" && m.n === target && m.deleted) deleted.add(target);
    }
    if (deleted.size === 0) return folded;
    return folded.map((e) => (e.kind === "message.edited" && !e.deleted && deleted.has(e.target) ? erasedEdit(e) : e));
  }

  /**
   * The edits (`message.edited`) of message `target` up to event `toN`, ascending: what a
   * delete of it erases with it (no edit body outlives its message). Reads the events
   * between the two in pages; a delete usually follows its message closely.
   */
  async editsOf(chatId: string, target: number, toN: number): Promise<MessageEditedEvent[]> {
    const edits: MessageEditedEvent[] = [];
    for (let after = target; after < toN;) {
      const page = await readChatEvents(
        this.#jsm,
        this.#store,
        chatId,
        { afterN: after, toN, limit: EDIT_SCAN_PAGE },
        this.#streamOf(chatId),
      );
      for (const e of page) if (e.kind === "message.edited" && e.target === target) edits.push(e);
      const last = page.at(-1);
      if (!last) break;
      after = last.n;
    }
    return edits;
  }

  /** The event at a sequence of `CHATS` (the chats homed here), if the stream still holds it. */
  eventAt(seq: number): Promise<ChatEvent | undefined> {
    return chatEventAt(this.#jsm, seq);
  }

  /**
   * `userId`'s membership row in the chat (active or not; undefined if never a member): the
   * store's, or, when the store cannot be read, folded from the stream's copy of the log
   * (which holds it from `n = 1` unless the chat is older than the stream's max age), so
   * members keep reading and sending through a store outage.
   */
  async member(chatId: string, userId: string): Promise<Member | undefined> {
    try {
      return await this.#store.getMember(chatId, userId);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      const log = await this.range(chatId, { afterN: 0, limit: MAX_MEMBERSHIP_REPLAY });
      if (log.length === 0) return undefined;
      // The stream's copy has holes where deleted messages were erased, which only the store
      // fills: a log that stops short of the head could miss a later removal.
      if (log[0]!.n !== 1 || log.at(-1)!.n !== (await this.head(chatId)).n) {
        throw new NatterError(
          "unavailable",
          "the store did not answer and the stream no longer holds the chat's start; retry",
          { cause: err },
        );
      }
      let row: Member | undefined;
      for (const e of log) {
        for (const c of membershipEffect(e)) {
          if (c.user !== userId) continue;
          row = c.member
            ? { chatId, userId, role: c.role, joinedN: e.n, active: true, changedN: e.n }
            : { chatId, userId, role: row?.role ?? c.role, joinedN: row?.joinedN ?? e.n, active: false, changedN: e.n };
        }
      }
      return row;
    }
  }

  /**
   * The chat's active members right after event `headN`, exact in log order: the store's
   * member list (read after its head, so at least as new) brought up to `headN` with the
   * events the store has not projected yet. Member rows are each last set by some event,
   * so replaying events the store already holds changes nothing. Throws `unavailable`
   * when the store is too far behind, or the events cannot be read right now.
   */
  async membersAt(chatId: string, headN: number): Promise<Set<string>> {
    let stored: { lastN: number } | undefined;
    let ids: Set<string>;
    try {
      stored = await this.#store.getChatHead(chatId);
      ids = new Set((await this.#store.listMembers(chatId)).map((m) => m.userId));
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      // The store cannot be read: fold the chat's whole log from the stream, which holds
      // it from `n = 1` unless the chat is older than the stream's max age.
      stored = undefined;
      ids = new Set();
      const first = (await this.range(chatId, { afterN: 0, toN: 1, limit: 1 }))[0];
      if (first?.n !== 1) {
        throw new NatterError(
          "unavailable",
          "the store did not answer and the stream no longer holds the chat's start; retry",
          { cause: err },
        );
      }
    }
    const from = stored?.lastN ?? 0;
    if (headN <= from) return ids;
    const missing = headN - from;
    if (missing > MAX_MEMBERSHIP_REPLAY) {
      throw new NatterError("unavailable", "the chat's history is catching up; retry with the same id");
    }
    const events = await this.range(chatId, { afterN: from, toN: headN, limit: missing });
    if (events.length !== missing) {
      throw new NatterError("unavailable", "the chat's latest events cannot be read right now; retry with the same id");
    }
    for (const e of events) applyMembership(ids, e);
    return ids;
  }
}
