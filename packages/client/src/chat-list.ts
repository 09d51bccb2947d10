/**
 * `ChatList`: the list of a user's chats as an app shows it, kept live: each chat's kind,
 * title or peer, last activity, the preview of its last message and its unread count.
 *
 * - `refresh()` loads `GET /v1/chats` (every page) and merges it: the server's `unread`
 *   counts up to its `lastN`, and the events this list has applied beyond that are added
 *   by the same rule, so a list loaded while events arrive counts each once. A direct
 *   chat's peer is learned into `client.users` (its name comes with the list).
 * - `apply(event)` (an event of the chat, live or replayed) moves `lastN`, `lastActivity`
 *   and `preview`, and raises `unread` by the server's own rule, `countsAsUnread` from
 *   `@natter/protocol` (messages from others; not a chat's creation, member events or my
 *   own messages), each event once. My own message clears it: sending reads the chat.
 * - `sent(sent, body)`: my send was acknowledged (before its event comes back).
 * - `read(chat, n)`: the user read the chat (sends a read mark once per new `n`);
 *   `readElsewhere(chat, readN)`: my read pointer moved on another device (a `receipt` for
 *   me); what it covers is no longer unread.
 * - `follow()` does all of that from the client's `event`, `sent` and `receipt` emitters
 *   and refreshes after each reconnect; an app that must hold events back (to show names
 *   first) calls `apply` itself instead.
 *
 * Emits `change` after every change; `items()` is sorted by last activity, newest first.
 */
import { type ChatEvent, countsAsUnread, previewOf } from "@natter/protocol";
import type { NatterClient } from "./client.ts";
import { Emitter } from "./emitter.ts";
import type { ChatSummary, SentMessage } from "./http.ts";

/** One chat of the list: the fields of `GET /v1/chats`, kept up to date. */
export type ChatItem = ChatSummary;

interface Tally {
  /** `unread` covers the events up to this n (the server's up to its `lastN`, then each applied one). */
  countedN: number;
  /** The highest n a read mark was sent for from here. */
  readSent: number;
  /** Events applied beyond the server's `lastN`, for the next merge (bounded). */
  recent: ChatEvent[];
  /** The n of the message `preview` shows, when it came from an event here (not from the server). */
  previewN?: number;
}

export interface ChatListOptions {
  /** Whether the user is looking at this chat now: its events are read at once instead of counted. */
  viewing?: (chatId: string) => boolean;
  /** Most chats `refresh()` loads (pages of 100). Default 2000. */
  maxChats?: number;
}

const RECENT_MAX = 500;

export class ChatList {
  readonly #client: NatterClient;
  readonly #items = new Map<string, ChatItem>();
  readonly #tally = new Map<string, Tally>();
  readonly #viewing: (chatId: string) => boolean;
  readonly #maxChats: number;
  readonly #emitter = new Emitter<{ change: []; error: [Error] }>();
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #changeQueued = false;

  constructor(client: NatterClient, opts: ChatListOptions = {}) {
    this.#client = client;
    this.#viewing = opts.viewing ?? (() => false);
    this.#maxChats = opts.maxChats ?? 2000;
  }

  /**
   * `list.on("change", () => render(list.items()))`; `list.on("error", (err) => …)` for a
   * refresh that failed by itself (`refreshSoon`, `follow`). Returns an unsubscribe function.
   */
  on(event: "change", listener: () => void): () => void;
  on(event: "error", listener: (err: Error) => void): () => void;
  on(event: "change" | "error", listener: (err: Error) => void): () => void {
    return this.#emitter.on(event, listener as () => void);
  }

  /** Every chat with some activity, newest first. */
  items(): ChatItem[] {
    return [...this.#items.values()]
      .filter((c) => c.lastActivity > 0)
      .sort((a, b) => b.lastActivity - a.lastActivity || (a.chatId < b.chatId ? -1 : 1));
  }

  get(chatId: string): ChatItem | undefined {
    return this.#items.get(chatId);
  }

  /** The chat's item, created empty if the list does not have it yet (the object stays the same one). */
  item(chatId: string): ChatItem {
    let c = this.#items.get(chatId);
    if (!c) {
      c = { chatId, kind: "group", lastN: 0, lastActivity: 0, readN: 0, unread: 0 };
      this.#items.set(chatId, c);
    }
    return c;
  }

  /** How to name a chat: a group's title; a direct chat's peer (`users.name`, or `@handle` with `{handle: true}`). */
  title(chatId: string, opts: { handle?: boolean } = {}): string {
    const c = this.#items.get(chatId);
    if (!c) return "Chat";
    if (c.kind === "group") return c.title ?? "Group";
    if (c.peer) return opts.handle ? this.#client.users.handle(c.peer) : this.#client.users.name(c.peer);
    return c.title ?? "Chat";
  }

  /** Loads `GET /v1/chats` (every page) and merges it into the list. */
  async refresh(): Promise<void> {
    const seen: ChatSummary[] = [];
    let cursor: string | undefined;
    do {
      const r = await this.#client.http.chats({ limit: 100, ...(cursor ? { cursor } : {}) });
      seen.push(...r.chats);
      cursor = r.next;
    } while (cursor && seen.length < this.#maxChats);
    const users = this.#client.users;
    for (const s of seen) {
      if (s.peer && s.peerHandle !== undefined && s.peerDisplayName !== undefined) {
        users.learn({ userId: s.peer, handle: s.peerHandle, displayName: s.peerDisplayName });
      }
    }
    // A gateway older than those fields: look the peers up (the list shows ids meanwhile).
    void users.ensure(seen.flatMap((s) => (s.peer && !users.get(s.peer) ? [s.peer] : [])));
    const me = this.#me();
    for (const s of seen) {
      const item = this.item(s.chatId);
      const t = this.#tallyOf(s.chatId);
      const beyond = t.recent.filter((e) => e.n > s.lastN);
      const loadedTop = Math.max(0, ...beyond.map((e) => e.n));
      const unread = this.#viewing(s.chatId) ? 0 : unreadAfter(beyond, me, s.unread);
      t.countedN = Math.max(t.countedN, s.lastN);
      t.recent = beyond;
      Object.assign(item, {
        ...s,
        unread,
        lastN: Math.max(s.lastN, item.lastN, loadedTop),
        lastActivity: Math.max(s.lastActivity, item.lastActivity),
        ...(loadedTop > s.lastN ? { preview: item.preview } : {}),
      });
      if (loadedTop <= s.lastN) {
        // The server's preview (none after its last message was deleted) is the truth.
        if (s.preview === undefined) delete item.preview;
        delete t.previewN;
      }
      if (s.title === undefined && item.kind === "direct") delete item.title;
      // Answered since the last refresh: no longer a request.
      if (s.request === undefined) delete item.request;
    }
    this.#changed();
  }

  /**
   * Drops a chat from the list: one that left it on the server (a declined request, a
   * request from someone I blocked, a group I left). A later event of it brings it back.
   */
  forget(chatId: string): void {
    if (!this.#items.delete(chatId)) return;
    this.#tally.delete(chatId);
    this.#changed();
  }

  /** A refresh in a moment (several triggers make one request). Errors go to the client's `error`. */
  refreshSoon(ms = 300): void {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => {
      this.refresh().catch((err: unknown) => {
        this.#emitter.emit("error", err instanceof Error ? err : new Error(String(err)));
      });
    }, ms);
  }

  /** An event of the chat: moves its last message and unread count. Returns whether it raised `unread`. */
  apply(e: ChatEvent): boolean {
    const me = this.#me();
    const s = this.item(e.chat);
    // No activity yet: neither listed by the server nor seen in an event (an app may have made the empty item).
    const isNew = s.lastActivity === 0;
    const t = this.#tallyOf(e.chat);
    if (e.kind === "chat.created") {
      s.kind = e.chatKind;
      if (e.title !== undefined) s.title = e.title;
      if (e.chatKind === "direct") {
        const peer = e.members.find((m) => m !== me);
        if (peer) s.peer = peer;
      }
    }
    if (e.n >= s.lastN) {
      s.lastN = e.n;
      s.lastActivity = Math.max(s.lastActivity, e.ts);
      const preview = previewOf(e);
      if (preview !== undefined) {
        s.preview = preview;
        // The message the preview shows: an edit's (of the newest message) is its target's,
        // so that message's delete drops it.
        t.previewN = e.kind === "message.edited" ? e.target : e.n;
      }
    }
    if (e.kind === "message.deleted") {
      // The server's rule: a deleted last message leaves no preview (not the one before it).
      if (t.previewN === e.target) {
        delete s.preview;
        delete t.previewN;
      } else if (t.previewN === undefined && s.preview !== undefined) {
        // The preview came from the server: which message it shows, the server knows.
        this.refreshSoon();
      }
    }
    if (e.n > t.countedN) {
      t.recent.push(e);
      if (t.recent.length > RECENT_MAX) t.recent.splice(0, t.recent.length - RECENT_MAX);
    }
    // Each event is counted once (the count covers up to `countedN`).
    const uncounted = e.n > t.countedN;
    if (uncounted) t.countedN = e.n;
    let raised = false;
    if (e.kind === "message.created" && e.from === me) {
      // Sending reads the chat up to the message (here or on another device).
      if (uncounted) s.unread = 0;
      s.readN = Math.max(s.readN, e.n);
    } else if (e.from !== me && e.n > t.readSent && e.n > s.readN) {
      if (this.#viewing(e.chat)) this.read(e.chat, e.n);
      else if (uncounted && me !== undefined && countsAsUnread(e, me)) {
        s.unread++;
        raised = true;
      }
    }
    // A chat new to this list, or one I left: the server has the rest (title, peer, counts).
    if (isNew || (e.kind === "member.removed" && e.user === me)) this.refreshSoon();
    this.#changed();
    return raised;
  }

  /** My send was acknowledged: the chat's last message is mine (its event may come later). */
  sent(sent: SentMessage, body: string): void {
    const s = this.item(sent.chat);
    // Replying accepts a message request (the server's rule): it is one no longer.
    delete s.request;
    if (sent.n < s.lastN) return;
    const me = this.#me() ?? "";
    const event: ChatEvent = { ...sent, kind: "message.created", from: me, body };
    s.lastN = sent.n;
    s.lastActivity = sent.ts;
    s.preview = previewOf(event) ?? s.preview;
    // A refresh before the event comes back: my message reads what came before it.
    const t = this.#tallyOf(sent.chat);
    t.previewN = sent.n;
    if (sent.n > t.countedN) t.recent.push(event);
    this.#changed();
  }

  /** The user read the chat up to `n` (default: its newest event): unread 0, and a read mark to the server. */
  read(chatId: string, n?: number): void {
    const s = this.item(chatId);
    const t = this.#tallyOf(chatId);
    const top = n ?? s.lastN;
    s.unread = 0;
    s.readN = Math.max(s.readN, top);
    if (top > t.readSent) {
      t.readSent = top;
      this.#client.read(chatId, top);
    }
    this.#changed();
  }

  /** My read pointer moved on another device: what it covers is no longer unread here. */
  readElsewhere(chatId: string, readN: number): void {
    const s = this.#items.get(chatId);
    if (!s || readN <= s.readN) return;
    s.readN = readN;
    if (readN >= this.#tallyOf(chatId).countedN) s.unread = 0;
    // Some counted events are beyond it: the server knows how many.
    else this.refreshSoon();
    this.#changed();
  }

  /**
   * Keeps the list live from the client: applies each event and acknowledged send, my
   * reads on other devices, and refreshes after every reconnect. Returns a function that
   * stops it.
   */
  follow(): () => void {
    const c = this.#client;
    const offs = [
      c.on("event", (e) => void this.apply(e)),
      c.on("sent", (sent) => {
        // The body is the event's; until it comes back the preview keeps what it had.
        const s = this.item(sent.chat);
        if (sent.n > s.lastN) {
          s.lastN = sent.n;
          s.lastActivity = sent.ts;
          this.#changed();
        }
      }),
      c.on("receipt", (r) => {
        if (r.user === this.#me()) this.readElsewhere(r.chat, r.readN);
      }),
      c.on("state", (state, prev) => {
        if (state === "open" && prev !== "open") this.refreshSoon(0);
      }),
    ];
    return () => {
      for (const off of offs) off();
      clearTimeout(this.#refreshTimer);
    };
  }

  /** Stops a pending refresh. */
  stop(): void {
    clearTimeout(this.#refreshTimer);
  }

  #me(): string | undefined {
    return this.#client.userId;
  }

  #tallyOf(chatId: string): Tally {
    let t = this.#tally.get(chatId);
    if (!t) {
      t = { countedN: 0, readSent: 0, recent: [] };
      this.#tally.set(chatId, t);
    }
    return t;
  }

  /** One `change` per turn of the event loop, however many changes it made. */
  #changed(): void {
    if (this.#changeQueued) return;
    this.#changeQueued = true;
    queueMicrotask(() => {
      this.#changeQueued = false;
      this.#emitter.emit("change");
    });
  }
}

/**
 * `unread` once the server's count (`serverUnread`, up to its `lastN`) meets the events
 * applied beyond it: plus each one that `countsAsUnread`, and from my own message on
 * only what came after it (sending reads the chat).
 */
function unreadAfter(beyond: ChatEvent[], me: string | undefined, serverUnread: number): number {
  let count = serverUnread;
  for (const e of [...beyond].sort((a, b) => a.n - b.n)) {
    if (e.kind === "message.created" && e.from === me) count = 0;
    else if (me !== undefined && countsAsUnread(e, me)) count++;
  }
  return count;
}
