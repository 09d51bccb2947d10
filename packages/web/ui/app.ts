/**
 * The signed-in app: the chat list (unread badges, presence dots, typing), the
 * conversation (history paged in as you scroll up, live events from the SDK in `n` order,
 * sends with pending / sent / delivered / read marks, typing indicator), dialogs to create
 * chats and manage members, and a banner with the connection state. All network work is
 * the SDK's (`@natter/client`); this file only keeps view state and the DOM in step.
 */
import type { ChatEvent, ChatSummary, ChatView, ClientState, HistoryPager, NatterClient } from "@natter/client";
import { countsAsUnread, previewOf } from "@natter/protocol";
import { errorText, formatTime, formatWhen, h, setChildren } from "./dom.ts";
import { membersDialog, newChatDialog } from "./dialogs.ts";
import type { Directory } from "./session.ts";

interface Pending {
  id: string;
  body: string;
  ts: number;
  /** Why it failed (then a Retry button shows). */
  failed?: string;
}

interface ChatState {
  id: string;
  summary: ChatSummary;
  /** Loaded events by n: history pages and live delivery. */
  events: Map<number, ChatEvent>;
  /** My sends not yet acknowledged, by client message id, in send order. */
  pending: Map<string, Pending>;
  pager?: HistoryPager;
  loadingOlder: boolean;
  filling: boolean;
  /** Other members' receipts. */
  receipts: Map<string, { deliveredN: number; readN: number }>;
  /** user → when their typing indicator lapses. */
  typing: Map<string, number>;
  members?: ChatView["members"];
  readSent: number;
  /**
   * `summary.unread` covers the events up to this n: the server's count up to the list's
   * `lastN`, then each live event once. A live event at or below it is already counted.
   */
  countedN: number;
}

export type MarkStatus = "pending" | "sent" | "delivered" | "read" | "failed";

const MARKS: Record<MarkStatus, { glyph: string; label: string }> = {
  pending: { glyph: "○", label: "Sending" },
  sent: { glyph: "✓", label: "Sent" },
  delivered: { glyph: "✓✓", label: "Delivered" },
  read: { glyph: "✓✓", label: "Read" },
  failed: { glyph: "!", label: "Not sent" },
};

const TYPING_MS = 5000;
/** How long a live event that names an unknown user waits for the lookup of their name. */
const NAME_WAIT_MS = 2000;
const BANNER: Partial<Record<ClientState, string>> = {
  idle: "Connecting…",
  connecting: "Connecting…",
  reconnecting: "Connection lost. Reconnecting… Messages you send now go out when it is back.",
  closed: "Disconnected.",
};

export class ChatApp {
  readonly client: NatterClient;
  readonly me: string;
  readonly dir: Directory;
  readonly #root: HTMLElement;
  readonly #banner: HTMLElement;
  readonly #onLogout: (message?: string) => void;
  readonly #chats = new Map<string, ChatState>();
  readonly #presence = new Map<string, { online: boolean; lastSeen: number }>();
  #presenceSupported = true;
  #active: string | undefined;
  #watched = "";
  #dirty = { list: false, conv: false };
  #renderQueued = false;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #typingTimer: ReturnType<typeof setInterval> | undefined;
  #wasOffline = false;
  readonly #off: (() => void)[] = [];
  /** Live events not applied yet: the first one waits while the users it names are looked up. */
  readonly #inbox: ChatEvent[] = [];
  #draining = false;
  /** User lookups by id, kept (a failed one is not repeated for every event). */
  readonly #lookups = new Map<string, Promise<void>>();

  // Elements.
  readonly #appEl: HTMLElement;
  readonly #listEl: HTMLUListElement;
  readonly #listEmpty: HTMLElement;
  readonly #convEl: HTMLElement;
  readonly #convEmpty: HTMLElement;
  readonly #convMain: HTMLElement;
  readonly #titleEl: HTMLElement;
  readonly #subEl: HTMLElement;
  readonly #membersBtn: HTMLButtonElement;
  readonly #scroller: HTMLElement;
  readonly #olderBtn: HTMLButtonElement;
  readonly #msgList: HTMLOListElement;
  readonly #typingEl: HTMLElement;
  readonly #input: HTMLTextAreaElement;
  readonly #meEl: HTMLElement;
  readonly #listItems = new Map<string, HTMLLIElement>();
  readonly #msgItems = new Map<string, HTMLLIElement>();
  #anchorOlder: { height: number; top: number } | undefined;
  #stickBottom = true;

  constructor(opts: {
    root: HTMLElement;
    banner: HTMLElement;
    client: NatterClient;
    me: string;
    directory: Directory;
    onLogout: (message?: string) => void;
  }) {
    this.client = opts.client;
    this.me = opts.me;
    this.dir = opts.directory;
    this.#root = opts.root;
    this.#banner = opts.banner;
    this.#onLogout = opts.onLogout;

    this.#meEl = h("span", { class: "me", id: "me" }, this.dir.name(this.me));
    this.#listEl = h("ul", { class: "chat-list", id: "chat-list", "aria-label": "Chats" });
    this.#listEmpty = h("p", { class: "empty" }, "No chats yet. Start one with “New chat”.");
    this.#titleEl = h("h2", { id: "conv-title", class: "conv-title" });
    this.#subEl = h("p", { id: "conv-sub", class: "conv-sub", "aria-live": "polite" });
    this.#membersBtn = h("button", { type: "button", class: "ghost", onclick: () => this.#openMembers() }, "Members");
    this.#olderBtn = h(
      "button",
      {
        type: "button",
        class: "older ghost",
        onclick: () => this.#activeChat() && this.#loadOlder(this.#activeChat()!),
      },
      "Load earlier messages",
    );
    this.#msgList = h("ol", { class: "message-list", id: "message-list" });
    this.#scroller = h(
      "div",
      { class: "messages", id: "messages", role: "log", "aria-label": "Messages", tabindex: 0 },
      this.#olderBtn,
      this.#msgList,
    );
    this.#scroller.addEventListener("scroll", () => this.#onScroll(), { passive: true });
    this.#typingEl = h("p", { class: "typing", id: "typing", "aria-live": "polite" });
    this.#input = h("textarea", {
      id: "composer-input",
      rows: 1,
      maxlength: 4096,
      placeholder: "Message",
      autocomplete: "off",
      enterkeyhint: "send",
    });
    this.#input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#submit();
      }
    });
    this.#input.addEventListener("input", () => {
      this.#autosize();
      if (this.#active && this.#input.value.trim() !== "") this.client.typing(this.#active);
    });
    const composer = h(
      "form",
      {
        class: "composer",
        id: "composer",
        onsubmit: (e: Event) => {
          e.preventDefault();
          this.#submit();
        },
      },
      h("label", { for: "composer-input", class: "visually-hidden" }, "Message"),
      this.#input,
      h("button", { type: "submit", class: "primary", id: "send" }, "Send"),
    );
    this.#convMain = h(
      "div",
      { class: "conv-main", hidden: true },
      h(
        "header",
        { class: "bar conv-bar" },
        h(
          "button",
          { type: "button", class: "back ghost", "aria-label": "Back to chats", onclick: () => this.#back() },
          "←",
        ),
        h("div", { class: "conv-heading" }, this.#titleEl, this.#subEl),
        this.#membersBtn,
      ),
      this.#scroller,
      this.#typingEl,
      composer,
    );
    this.#convEmpty = h("div", { class: "conv-empty" }, h("p", {}, "Choose a chat, or start a new one."));
    this.#convEl = h(
      "section",
      { class: "conversation", id: "conversation", "aria-label": "Conversation" },
      this.#convEmpty,
      this.#convMain,
    );
    this.#appEl = h(
      "div",
      { class: "app", "data-view": "list" },
      h(
        "aside",
        { class: "sidebar", "aria-label": "Chat list" },
        h(
          "header",
          { class: "bar" },
          h("div", { class: "who" }, h("h1", { class: "brand" }, "Natter"), this.#meEl),
          h("button", { type: "button", class: "primary", id: "new-chat", onclick: () => this.#newChat() }, "New chat"),
          h("button", { type: "button", class: "ghost", id: "logout", onclick: () => void this.logout() }, "Log out"),
        ),
        this.#listEl,
        this.#listEmpty,
      ),
      this.#convEl,
    );
    setChildren(this.#root, this.#appEl);
  }

  /** Wires the SDK, connects and loads the chat list. */
  start(): void {
    const c = this.client;
    this.#off.push(
      c.on("state", (s) => this.#onState(s)),
      c.on("event", (e) => this.#onEvent(e)),
      c.on("receipt", (r) => {
        const chat = this.#chats.get(r.chat);
        if (!chat) return;
        if (r.user === this.me) {
          this.#readElsewhere(chat, r.readN);
          return;
        }
        const had = chat.receipts.get(r.user) ?? { deliveredN: 0, readN: 0 };
        chat.receipts.set(r.user, {
          deliveredN: Math.max(had.deliveredN, r.deliveredN),
          readN: Math.max(had.readN, r.readN),
        });
        if (r.chat === this.#active) this.#invalidate("conv");
      }),
      c.on("typing", ({ chat, user }) => {
        if (user === this.me) return;
        const s = this.#chats.get(chat);
        if (!s) return;
        s.typing.set(user, Date.now() + TYPING_MS);
        this.#invalidate("list", "conv");
      }),
      c.on("presence", (p) => {
        this.#presence.set(p.user, { online: p.online, lastSeen: p.lastSeen });
        this.#invalidate("list", "conv");
      }),
      c.on("error", (err) => {
        const code = (err as { code?: string }).code;
        if (code === "unsupported" && this.#presenceSupported) {
          // An older gateway without presence: no dots, nothing else changes.
          this.#presenceSupported = false;
          this.#appEl.classList.add("no-presence");
        }
        console.warn("natter:", err);
      }),
      c.on("unauthorized", () => this.#onLogout("Your session ended. Log in again.")),
    );
    this.#typingTimer = setInterval(() => this.#expireTyping(), 1000);
    const onVisible = () => {
      if (document.visibilityState === "visible") this.#markRead(this.#activeChat());
    };
    document.addEventListener("visibilitychange", onVisible);
    this.#off.push(() => document.removeEventListener("visibilitychange", onVisible));
    const onOnline = () => this.#onState(this.client.state);
    window.addEventListener("online", onOnline);
    window.addEventListener("offline", onOnline);
    this.#off.push(() => {
      window.removeEventListener("online", onOnline);
      window.removeEventListener("offline", onOnline);
    });
    this.#onState(c.state);
    c.connect().catch((err) => console.warn("natter: connect", err));
    void c.http.me().then(
      (u) => {
        this.dir.learn(u);
        this.#meEl.textContent = u.displayName;
        this.#meEl.title = `@${u.handle}`;
      },
      () => {},
    );
    void this.refreshChats();
  }

  stop(): void {
    for (const off of this.#off.splice(0)) off();
    clearInterval(this.#typingTimer);
    clearTimeout(this.#refreshTimer);
    this.client.close();
  }

  async logout(): Promise<void> {
    await this.client.http.logout().catch(() => {});
    this.#onLogout();
  }

  // ---------------------------------------------------------------- chats

  /** Loads the chat list (every page) and merges it: unread counts and previews from the server. */
  async refreshChats(): Promise<void> {
    let cursor: string | undefined;
    const seen: ChatSummary[] = [];
    try {
      for (let page = 0; page < 20; page++) {
        const r = await this.client.http.chats({ limit: 100, ...(cursor ? { cursor } : {}) });
        seen.push(...r.chats);
        if (!r.next) break;
        cursor = r.next;
      }
    } catch (err) {
      console.warn("natter: chat list", err);
      return;
    }
    for (const s of seen) {
      // The list names each direct chat's peer: the first render shows names, not ids.
      if (s.peer && s.peerHandle !== undefined && s.peerDisplayName !== undefined) {
        this.dir.learn({ userId: s.peer, handle: s.peerHandle, displayName: s.peerDisplayName });
      }
    }
    // A gateway older than those fields: look the peers up.
    void this.#learnUsers(seen.flatMap((s) => (s.peer && !this.dir.get(s.peer) ? [s.peer] : [])));
    for (const s of seen) {
      const chat = this.#chat(s.chatId);
      const loadedTop = Math.max(0, ...chat.events.keys());
      // The server counted up to its lastN; live events already here beyond it are added.
      const unread =
        s.chatId === this.#active && document.visibilityState === "visible"
          ? 0
          : unreadAfter(chat.events.values(), s.lastN, this.me, s.unread);
      chat.countedN = Math.max(chat.countedN, s.lastN);
      chat.summary = {
        ...s,
        unread,
        lastN: Math.max(s.lastN, chat.summary.lastN, loadedTop),
        lastActivity: Math.max(s.lastActivity, chat.summary.lastActivity),
        ...(loadedTop > s.lastN ? { preview: chat.summary.preview } : {}),
      };
      // Follow every listed chat from where the list says it is, so a sync after a
      // dropped connection replays what was missed even in chats with no live event yet.
      this.client.track(s.chatId, s.lastN);
    }
    this.#updateWatch();
    this.#invalidate("list", "conv");
  }

  #scheduleRefresh(): void {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => void this.refreshChats(), 300);
  }

  #chat(id: string): ChatState {
    let c = this.#chats.get(id);
    if (!c) {
      c = {
        id,
        summary: { chatId: id, kind: "group", lastN: 0, lastActivity: 0, readN: 0, unread: 0 },
        events: new Map(),
        pending: new Map(),
        loadingOlder: false,
        filling: false,
        receipts: new Map(),
        typing: new Map(),
        readSent: 0,
        countedN: 0,
      };
      this.#chats.set(id, c);
    }
    return c;
  }

  #activeChat(): ChatState | undefined {
    return this.#active === undefined ? undefined : this.#chats.get(this.#active);
  }

  title(c: ChatState): string {
    if (c.summary.kind === "group") return c.summary.title ?? "Group";
    if (c.summary.peer) return this.dir.name(c.summary.peer);
    return c.summary.title ?? "Chat";
  }

  /** Presence is watched for direct peers and the members of the open group. */
  #updateWatch(): void {
    if (!this.#presenceSupported) return;
    const users = new Set<string>();
    for (const c of this.#chats.values()) if (c.summary.kind === "direct" && c.summary.peer) users.add(c.summary.peer);
    for (const m of this.#activeChat()?.members ?? []) if (m.userId !== this.me) users.add(m.userId);
    const list = [...users].sort().slice(0, 200);
    const key = list.join(",");
    if (key === this.#watched) return;
    this.#watched = key;
    this.client.watch(list);
  }

  // ---------------------------------------------------------------- events in

  #onEvent(e: ChatEvent): void {
    this.#inbox.push(e);
    void this.#drain();
  }

  /**
   * Applies live events in order. One that names a user this browser does not know (a new
   * peer, a new member) first waits for their name, up to `NAME_WAIT_MS`, so it is named from
   * its first render; with every name known this runs synchronously.
   */
  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#inbox.length > 0) {
        const unknown = usersIn(this.#inbox[0]!).filter((u) => u !== this.me && !this.dir.get(u));
        if (unknown.length > 0) await this.#learnUsers(unknown, NAME_WAIT_MS);
        this.#apply(this.#inbox.shift()!);
      }
    } finally {
      this.#draining = false;
    }
  }

  #apply(e: ChatEvent): void {
    const isNew = !this.#chats.has(e.chat);
    const c = this.#chat(e.chat);
    c.events.set(e.n, e);
    const s = c.summary;
    if (e.kind === "chat.created") {
      s.kind = e.chatKind;
      if (e.title !== undefined) s.title = e.title;
      if (e.chatKind === "direct") {
        const peer = e.members.find((m) => m !== this.me);
        if (peer) s.peer = peer;
      }
    }
    if (e.n >= s.lastN) {
      s.lastN = e.n;
      s.lastActivity = Math.max(s.lastActivity, e.ts);
      s.preview = previewOf(e) ?? s.preview;
    }
    if (e.kind === "message.created" && e.from === this.me) c.pending.delete(e.id);
    c.typing.delete(e.from);
    // Each event is counted once (the list's count covers up to `countedN`), by the rule the
    // server's `unread` uses (`countsAsUnread`).
    const uncounted = e.n > c.countedN;
    if (uncounted) c.countedN = e.n;
    if (e.kind === "message.created" && e.from === this.me) {
      // Sending reads the chat up to the message (here or on another device).
      if (uncounted) s.unread = 0;
      s.readN = Math.max(s.readN, e.n);
    } else if (e.from !== this.me && e.n > c.readSent && e.n > s.readN) {
      if (this.#isVisible(c)) this.#markRead(c);
      else if (uncounted && countsAsUnread(e, this.me)) s.unread++;
    }
    if (e.kind === "member.added" || e.kind === "member.removed") {
      if (e.kind === "member.removed" && e.user === this.me) this.#scheduleRefresh();
      else if (e.chat === this.#active) void this.#loadMembers(c);
    }
    if (isNew) this.#scheduleRefresh();
    if (e.chat === this.#active) this.#fillHoles(c);
    this.#invalidate("list", e.chat === this.#active ? "conv" : "list");
  }

  /** My read pointer moved on another device: what it covers is no longer unread here. */
  #readElsewhere(c: ChatState, readN: number): void {
    const s = c.summary;
    if (readN <= s.readN) return;
    s.readN = readN;
    if (readN >= c.countedN) s.unread = 0;
    // Some counted events are beyond it: the server knows how many.
    else this.#scheduleRefresh();
    this.#invalidate("list");
  }

  #isVisible(c: ChatState): boolean {
    return c.id === this.#active && document.visibilityState === "visible" && !this.#convMain.hidden;
  }

  #markRead(c: ChatState | undefined): void {
    if (!c || !this.#isVisible(c)) return;
    const top = Math.max(c.summary.lastN, 0, ...c.events.keys());
    c.summary.unread = 0;
    c.summary.readN = Math.max(c.summary.readN, top);
    if (top > c.readSent) {
      c.readSent = top;
      this.client.read(c.id, top);
    }
    this.#invalidate("list");
  }

  #expireTyping(): void {
    const now = Date.now();
    let changed = false;
    for (const c of this.#chats.values()) {
      for (const [user, until] of c.typing) {
        if (until <= now) {
          c.typing.delete(user);
          changed = true;
        }
      }
    }
    if (changed) this.#invalidate("list", "conv");
  }

  #onState(state: ClientState): void {
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    let text = BANNER[state];
    if (state === "unauthorized") text = "Your session ended.";
    if (offline && state !== "open") text = "You are offline. Messages you send now go out when the network is back.";
    const b = this.#banner;
    b.dataset.state = state;
    if (state === "open") {
      if (this.#wasOffline) {
        b.textContent = "Connected again.";
        b.hidden = false;
        b.dataset.state = "back";
        setTimeout(() => {
          if (this.client.state === "open") b.hidden = true;
        }, 2500);
        // Counts and previews may have moved while we were away.
        void this.refreshChats();
        const active = this.#activeChat();
        if (active) void this.#loadReceipts(active);
      } else {
        b.hidden = true;
      }
      this.#wasOffline = false;
      return;
    }
    if (state === "reconnecting" || state === "closed") this.#wasOffline = true;
    b.textContent = text ?? state;
    b.hidden = false;
  }

  // ---------------------------------------------------------------- conversation

  async open(chatId: string): Promise<void> {
    const c = this.#chat(chatId);
    if (this.#active !== chatId) {
      this.#active = chatId;
      this.#msgList.replaceChildren();
      this.#msgItems.clear();
      this.#stickBottom = true;
      this.#input.value = "";
      this.#autosize();
    }
    this.#appEl.dataset.view = "chat";
    this.#convEmpty.hidden = true;
    this.#convMain.hidden = false;
    this.#invalidate("list", "conv");
    this.#render();
    this.#input.focus();
    this.#markRead(c);
    const first = !c.pager;
    c.pager ??= this.client.history(chatId, { pageSize: 50 });
    await Promise.all([first ? this.#loadOlder(c) : undefined, this.#loadReceipts(c), this.#loadMembers(c)]);
    this.#markRead(c);
  }

  #back(): void {
    const chatId = this.#active;
    this.#active = undefined;
    this.#appEl.dataset.view = "list";
    this.#convMain.hidden = true;
    this.#convEmpty.hidden = false;
    this.#invalidate("list");
    this.#render();
    if (chatId) this.#listItems.get(chatId)?.querySelector("button")?.focus();
  }

  async #loadReceipts(c: ChatState): Promise<void> {
    try {
      const r = await this.client.http.receipts(c.id);
      for (const m of r.members) {
        if (m.userId === this.me) continue;
        const had = c.receipts.get(m.userId) ?? { deliveredN: 0, readN: 0 };
        c.receipts.set(m.userId, {
          deliveredN: Math.max(had.deliveredN, m.deliveredN),
          readN: Math.max(had.readN, m.readN),
        });
      }
      if (c.id === this.#active) this.#invalidate("conv");
    } catch (err) {
      console.warn("natter: receipts", err);
    }
  }

  async #loadMembers(c: ChatState): Promise<void> {
    try {
      const v = await this.client.http.chat(c.id);
      c.members = v.members;
      let learned = false;
      for (const m of v.members) {
        if (m.handle === undefined || m.displayName === undefined) continue;
        const had = this.dir.get(m.userId);
        if (had?.handle === m.handle && had.displayName === m.displayName) continue;
        this.dir.learn({ userId: m.userId, handle: m.handle, displayName: m.displayName });
        learned = true;
      }
      if (learned) this.#namesChanged();
      // Members who left keep no receipts; new ones start at zero.
      for (const user of [...c.receipts.keys()]) if (!v.members.some((m) => m.userId === user)) c.receipts.delete(user);
      for (const m of v.members) {
        if (m.userId !== this.me && !c.receipts.has(m.userId)) c.receipts.set(m.userId, { deliveredN: 0, readN: 0 });
      }
      if (c.id === this.#active) this.#invalidate("conv");
      this.#updateWatch();
    } catch (err) {
      console.warn("natter: members", err);
    }
  }

  async #loadOlder(c: ChatState): Promise<void> {
    const pager = c.pager;
    if (!pager || c.loadingOlder || !pager.hasMore) return;
    c.loadingOlder = true;
    this.#invalidate("conv");
    try {
      const events = await pager.older();
      await this.#learnUsers(this.#unknownIn(events), NAME_WAIT_MS);
      if (c.id === this.#active && c.events.size > 0) {
        this.#anchorOlder = { height: this.#scroller.scrollHeight, top: this.#scroller.scrollTop };
      }
      for (const e of events) if (!c.events.has(e.n)) c.events.set(e.n, e);
      const top = events.at(-1);
      if (top && top.n > c.summary.lastN) c.summary.lastN = top.n;
    } catch (err) {
      console.warn("natter: history", err);
    } finally {
      c.loadingOlder = false;
    }
    this.#invalidate("conv");
    this.#render();
    this.#fillHoles(c);
    // Keep loading while the page is not tall enough to scroll.
    if (c.id === this.#active && pager.hasMore && this.#scroller.scrollHeight <= this.#scroller.clientHeight + 40) {
      await this.#loadOlder(c);
    }
  }

  /** Loaded history and live events should meet; if a range in between is missing, fetch it. */
  #fillHoles(c: ChatState): void {
    if (c.filling || c.events.size === 0 || !c.pager) return;
    const ns = [...c.events.keys()].sort((a, b) => a - b);
    let missingAfter: number | undefined;
    for (let i = 1; i < ns.length; i++) {
      if (ns[i]! !== ns[i - 1]! + 1) {
        missingAfter = ns[i - 1]!;
        break;
      }
    }
    if (missingAfter === undefined) return;
    c.filling = true;
    void this.client.http
      .messages(c.id, { after: missingAfter, limit: 100 })
      .then(async (page) => {
        await this.#learnUsers(this.#unknownIn(page.events), NAME_WAIT_MS);
        for (const e of page.events) if (!c.events.has(e.n)) c.events.set(e.n, e);
        c.filling = false;
        if (page.events.length > 0) this.#fillHoles(c);
        this.#invalidate("conv");
      })
      .catch(() => {
        c.filling = false;
      });
  }

  #onScroll(): void {
    const el = this.#scroller;
    this.#stickBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    const c = this.#activeChat();
    if (c && el.scrollTop < 200) void this.#loadOlder(c);
  }

  #submit(): void {
    const c = this.#activeChat();
    const body = this.#input.value.trim();
    if (!c || body === "") return;
    this.#input.value = "";
    this.#autosize();
    const p: Pending = { id: newId(), body, ts: Date.now() };
    c.pending.set(p.id, p);
    this.#stickBottom = true;
    this.#invalidate("conv");
    this.#send(c, p);
  }

  #send(c: ChatState, p: Pending): void {
    delete p.failed;
    this.client.send(c.id, p.body, { id: p.id }).then(
      (sent) => {
        if (!c.pending.delete(p.id)) return;
        const event: ChatEvent = {
          chat: c.id,
          seq: sent.seq,
          n: sent.n,
          ts: sent.ts,
          kind: "message.created",
          from: this.me,
          id: sent.id,
          body: p.body,
        };
        if (!c.events.has(sent.n)) c.events.set(sent.n, event);
        if (sent.n >= c.summary.lastN) {
          c.summary.lastN = sent.n;
          c.summary.lastActivity = sent.ts;
          c.summary.preview = previewOf(event) ?? c.summary.preview;
        }
        this.#invalidate("list", "conv");
      },
      (err: unknown) => {
        if (!c.pending.has(p.id)) return;
        p.failed = errorText(err);
        this.#invalidate("conv");
      },
    );
  }

  #autosize(): void {
    const el = this.#input;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }

  // ---------------------------------------------------------------- dialogs

  #newChat(): void {
    newChatDialog(this, (chatId) => {
      void this.refreshChats().then(() => this.open(chatId));
    });
  }

  #openMembers(): void {
    const c = this.#activeChat();
    if (!c) return;
    membersDialog(this, c.id, c.summary.kind, () => void this.#loadMembers(c));
  }

  /** The users named in these events whom this browser does not know yet. */
  #unknownIn(events: Iterable<ChatEvent>): string[] {
    const ids = new Set<string>();
    for (const e of events) for (const u of usersIn(e)) if (u !== this.me && !this.dir.get(u)) ids.add(u);
    return [...ids];
  }

  /**
   * Looks users up by id (`GET /v1/users/:userId`), each once per session. Resolves when all
   * are known, or after `waitMs`; a name that arrives later still replaces the short id.
   */
  #learnUsers(userIds: string[], waitMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (userIds.length === 0) return Promise.resolve();
    const all = Promise.all([...new Set(userIds)].slice(0, 200).map((u) => this.#lookup(u))).then(() => {});
    if (waitMs === Number.POSITIVE_INFINITY) return all;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    return Promise.race([all, late]).finally(() => clearTimeout(timer));
  }

  #lookup(userId: string): Promise<void> {
    let p = this.#lookups.get(userId);
    if (!p) {
      p = this.client.http.user(userId).then(
        (u) => {
          this.dir.learn(u);
          this.#namesChanged();
        },
        (err: unknown) => console.warn("natter: user lookup", err),
      );
      this.#lookups.set(userId, p);
    }
    return p;
  }

  /** New names: rebuild what shows names (messages of others and system lines; mine show none). */
  #namesChanged(): void {
    for (const [key, li] of this.#msgItems) if (!li.classList.contains("mine")) this.#msgItems.delete(key);
    this.#invalidate("list", "conv");
  }

  // ---------------------------------------------------------------- rendering

  #invalidate(...what: ("list" | "conv")[]): void {
    for (const w of what) this.#dirty[w] = true;
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    // A microtask, not requestAnimationFrame: background tabs still keep up.
    queueMicrotask(() => this.#render());
  }

  #render(): void {
    this.#renderQueued = false;
    if (this.#dirty.list) {
      this.#dirty.list = false;
      this.#renderList();
    }
    if (this.#dirty.conv) {
      this.#dirty.conv = false;
      this.#renderConversation();
    }
  }

  #renderList(): void {
    const chats = [...this.#chats.values()]
      .filter((c) => c.summary.lastActivity > 0 || c.events.size > 0)
      .sort((a, b) => b.summary.lastActivity - a.summary.lastActivity || (a.id < b.id ? -1 : 1));
    this.#listEmpty.hidden = chats.length > 0;
    const items: HTMLLIElement[] = [];
    const keep = new Set<string>();
    for (const c of chats) {
      keep.add(c.id);
      let li = this.#listItems.get(c.id);
      if (!li) {
        li = h(
          "li",
          { "data-chat": c.id },
          h("button", { type: "button", class: "chat-item", onclick: () => void this.open(c.id) }),
        );
        this.#listItems.set(c.id, li);
      }
      this.#fillListItem(li.firstElementChild as HTMLButtonElement, c);
      items.push(li);
    }
    for (const [id, li] of this.#listItems) {
      if (!keep.has(id)) {
        li.remove();
        this.#listItems.delete(id);
      }
    }
    reconcile(this.#listEl, items);
  }

  #fillListItem(btn: HTMLButtonElement, c: ChatState): void {
    const s = c.summary;
    const title = this.title(c);
    const typing = [...c.typing.keys()];
    const presence = s.kind === "direct" && s.peer ? this.#presence.get(s.peer) : undefined;
    const unread = s.unread > 999 ? "999+" : String(s.unread);
    btn.setAttribute("aria-current", c.id === this.#active ? "true" : "false");
    btn.setAttribute(
      "aria-label",
      `${title}${presence?.online ? ", online" : ""}${s.unread > 0 ? `, ${unread} unread` : ""}`,
    );
    setChildren(
      btn,
      h(
        "span",
        { class: "avatar", "aria-hidden": "true" },
        initials(title),
        presence ? h("span", { class: `dot ${presence.online ? "online" : "offline"}` }) : null,
      ),
      h(
        "span",
        { class: "chat-main" },
        h("span", { class: "chat-title" }, title),
        h(
          "span",
          { class: `chat-preview${typing.length ? " is-typing" : ""}` },
          typing.length ? "typing…" : (s.preview ?? (s.kind === "group" ? "Group created" : "")),
        ),
      ),
      h(
        "span",
        { class: "chat-meta" },
        s.lastActivity
          ? h("time", { datetime: new Date(s.lastActivity).toISOString() }, formatWhen(s.lastActivity))
          : null,
        s.unread > 0 ? h("span", { class: "badge", "aria-hidden": "true" }, unread) : null,
      ),
    );
  }

  #renderConversation(): void {
    const c = this.#activeChat();
    if (!c) return;
    const s = c.summary;
    this.#titleEl.textContent = this.title(c);
    this.#subEl.textContent = this.#subtitle(c);
    this.#membersBtn.hidden = s.kind !== "group";
    this.#olderBtn.hidden = !c.pager?.hasMore;
    this.#olderBtn.disabled = c.loadingOlder;
    this.#olderBtn.textContent = c.loadingOlder ? "Loading…" : "Load earlier messages";

    const typing = [...c.typing.keys()].map((u) => this.dir.name(u));
    this.#typingEl.textContent =
      typing.length === 0
        ? ""
        : typing.length === 1
          ? `${typing[0]} is typing…`
          : `${typing.slice(0, -1).join(", ")} and ${typing.at(-1)} are typing…`;

    const el = this.#scroller;
    const atBottom = this.#stickBottom || el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    const items: HTMLLIElement[] = [];
    const keep = new Set<string>();
    const ns = [...c.events.keys()].sort((a, b) => a - b);
    for (const n of ns) {
      const e = c.events.get(n)!;
      const key = `n${n}`;
      keep.add(key);
      let li = this.#msgItems.get(key);
      if (!li) {
        li = this.#eventItem(c, e);
        this.#msgItems.set(key, li);
      }
      if (e.kind === "message.created" && e.from === this.me) setMark(li, this.#status(c, n));
      items.push(li);
    }
    for (const p of c.pending.values()) {
      const key = `p${p.id}`;
      keep.add(key);
      let li = this.#msgItems.get(key);
      if (!li) {
        li = this.#messageItem(c, { from: this.me, body: p.body, ts: p.ts, id: p.id });
        this.#msgItems.set(key, li);
      }
      setMark(li, p.failed ? "failed" : "pending", p.failed, () => this.#send(c, p));
      items.push(li);
    }
    for (const [key, li] of this.#msgItems) {
      if (!keep.has(key)) {
        li.remove();
        this.#msgItems.delete(key);
      }
    }
    reconcile(this.#msgList, items);
    if (this.#anchorOlder) {
      // Older messages went in above: keep what was on screen where it was.
      el.scrollTop = this.#anchorOlder.top + (el.scrollHeight - this.#anchorOlder.height);
      this.#anchorOlder = undefined;
    } else if (atBottom) {
      el.scrollTop = el.scrollHeight;
    }
  }

  #subtitle(c: ChatState): string {
    const s = c.summary;
    if (s.kind === "group") {
      const n = c.members?.length;
      return n ? `${n} member${n === 1 ? "" : "s"}` : "Group";
    }
    if (!s.peer || !this.#presenceSupported) return "";
    if (c.typing.has(s.peer)) return "typing…";
    const p = this.#presence.get(s.peer);
    if (!p) return "";
    if (p.online) return "online";
    return p.lastSeen ? `last seen ${formatWhen(p.lastSeen)}` : "offline";
  }

  /** Read when every other member read it, delivered when every other member's device got it. */
  #status(c: ChatState, n: number): MarkStatus {
    const others = [...c.receipts.values()];
    if (others.length === 0) return "sent";
    if (others.every((r) => r.readN >= n)) return "read";
    if (others.every((r) => r.deliveredN >= n)) return "delivered";
    return "sent";
  }

  #eventItem(c: ChatState, e: ChatEvent): HTMLLIElement {
    switch (e.kind) {
      case "message.created":
        return this.#messageItem(c, e);
      case "chat.created":
        return sysItem(
          e,
          `${this.#who(e.from)} created ${e.chatKind === "group" ? `“${e.title ?? "the group"}”` : "the chat"}`,
        );
      case "member.added":
        return sysItem(
          e,
          e.user === e.from ? `${this.#who(e.user)} joined` : `${this.#who(e.from)} added ${this.#who(e.user, true)}`,
        );
      case "member.removed":
        return sysItem(
          e,
          e.user === e.from ? `${this.#who(e.user)} left` : `${this.#who(e.from)} removed ${this.#who(e.user, true)}`,
        );
      default:
        return sysItem(e as ChatEvent, (e as ChatEvent).kind);
    }
  }

  #who(userId: string, object = false): string {
    if (userId === this.me) return object ? "you" : "You";
    return this.dir.name(userId);
  }

  #messageItem(c: ChatState, m: { from: string; body: string; ts: number; id: string; n?: number }): HTMLLIElement {
    const mine = m.from === this.me;
    const showSender = !mine && c.summary.kind === "group";
    return h(
      "li",
      {
        class: `msg ${mine ? "mine" : "theirs"}`,
        "data-from": m.from,
        "data-id": m.id,
        ...(m.n === undefined ? {} : { "data-n": m.n }),
      },
      h(
        "div",
        { class: "bubble" },
        showSender
          ? h("span", { class: "sender" }, this.dir.name(m.from))
          : h("span", { class: "visually-hidden" }, mine ? "You:" : `${this.dir.name(m.from)}:`),
        h("p", { class: "body" }, m.body),
        h(
          "span",
          { class: "meta" },
          h("time", { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)),
          mine ? h("span", { class: "mark" }) : null,
        ),
      ),
    );
  }
}

/**
 * The users an event shows by name: its author, the member added or removed, a new direct
 * chat's peer (its title). A new group's members are named when it is opened (`GET
 * /v1/chats/:id` carries their names), not looked up one by one here.
 */
function usersIn(e: ChatEvent): string[] {
  switch (e.kind) {
    case "chat.created":
      return e.chatKind === "direct" ? [e.from, ...e.members] : [e.from];
    case "member.added":
    case "member.removed":
      return [e.from, e.user];
    default:
      return [e.from];
  }
}

/**
 * `unread` once the server's count (`serverUnread`, up to its `lastN`) meets the events
 * already delivered beyond that: plus each one that `countsAsUnread`, and from my own
 * message on only what came after it (sending reads the chat).
 */
function unreadAfter(events: Iterable<ChatEvent>, lastN: number, me: string, serverUnread: number): number {
  let count = serverUnread;
  for (const e of [...events].filter((x) => x.n > lastN).sort((a, b) => a.n - b.n)) {
    if (e.kind === "message.created" && e.from === me) count = 0;
    else if (countsAsUnread(e, me)) count++;
  }
  return count;
}

function sysItem(e: ChatEvent, text: string): HTMLLIElement {
  return h("li", { class: "sys", "data-n": e.n }, h("span", {}, text));
}

function setMark(li: HTMLLIElement, status: MarkStatus, why?: string, retry?: () => void): void {
  if (li.dataset.status === status) return;
  li.dataset.status = status;
  const mark = li.querySelector(".mark");
  if (!mark) return;
  const { glyph, label } = MARKS[status];
  mark.className = `mark mark-${status}`;
  mark.setAttribute("role", "img");
  mark.setAttribute("aria-label", label);
  mark.setAttribute("title", why ? `${label}: ${why}` : label);
  setChildren(
    mark,
    glyph,
    status === "failed" && retry ? h("button", { type: "button", class: "retry link", onclick: retry }, "Retry") : null,
  );
}

/** Puts `items` into `parent` in this order, moving only what is out of place. */
function reconcile(parent: HTMLElement, items: HTMLElement[]): void {
  let cursor = parent.firstElementChild;
  for (const item of items) {
    if (item === cursor) {
      cursor = cursor.nextElementSibling;
      continue;
    }
    parent.insertBefore(item, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
}

function initials(title: string): string {
  const words = title
    .replace(/^user /, "")
    .trim()
    .split(/\s+/);
  return ((words[0]?.[0] ?? "?") + (words[1]?.[0] ?? "")).toUpperCase();
}

function newId(): string {
  return crypto.randomUUID();
}
