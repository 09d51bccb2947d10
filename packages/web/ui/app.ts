/**
 * The signed-in app: the chat list (unread badges, presence dots, typing), the
 * conversation (history paged in as you scroll up, live events from the SDK in `n` order,
 * sends with pending / sent / delivered / read marks, typing indicator), dialogs to create
 * chats and manage members, and a banner with the connection state. All network work is
 * the SDK's (`@natter/client`); this file only keeps view state and the DOM in step.
 */
import {
  type Attachment,
  type ChatEvent,
  ChatList,
  type ChatMessage,
  ChatMessages,
  type ChatSummary,
  type ChatView,
  type ClientState,
  type HistoryPager,
  type NatterClient,
  type Users,
} from "@natter/client";
import { erasedMessage } from "@natter/protocol";
import { errorText, formatTime, formatWhen, h, setChildren } from "./dom.ts";
import { membersDialog, newChatDialog } from "./dialogs.ts";
import { PushControls } from "./push.ts";

interface Pending {
  id: string;
  body: string;
  ts: number;
  /** Files uploaded for it (sent by id). */
  attachments?: Attachment[];
  /** The `n` of the message it replies to. */
  replyTo?: number;
  /** Why it failed (then a Retry button shows). */
  failed?: string;
}

interface ChatState {
  id: string;
  /** The chat-list model's item (the same object, kept up to date by `ChatList`). */
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
/** Most history pages a click on a quote loads to reach the message it quotes. */
const JUMP_PAGES = 10;
/** The reactions offered by a message's React button (any emoji may come from elsewhere). */
const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

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
  /** Names by user id: the SDK's users cache (kept in `localStorage`, see main.ts). */
  readonly dir: Users;
  /** The SDK's chat-list model: last message, unread by `countsAsUnread`, reads. */
  readonly list: ChatList;
  readonly #root: HTMLElement;
  readonly #banner: HTMLElement;
  /** "Replying to …" above the composer, while a reply is being written. */
  readonly #replyBar: HTMLElement;
  /** Files being uploaded (with progress) and uploaded, waiting for the next send. */
  readonly #uploadsEl: HTMLElement;
  readonly #attachInput: HTMLInputElement;
  /** Uploaded files the next send of that chat carries. */
  #staged: { chat: string; files: Attachment[] } | undefined;
  /** Blob URLs of images shown, by attachment id (fetched once with the token; an <img> cannot send it). */
  readonly #imageUrls = new Map<string, Promise<string>>();
  /** The message the next send replies to (in the active chat). */
  #replyTo: { chat: string; n: number } | undefined;
  /**
   * The message whose reaction picker is open: kept here, not only in the DOM, because the
   * message list is re-rendered on any event (a receipt, a reaction) and would close it.
   */
  #pickerOpen: { chat: string; n: number } | undefined;
  readonly #onLogout: (message?: string) => void;
  readonly #chats = new Map<string, ChatState>();
  readonly #presence = new Map<string, { online: boolean; lastSeen: number }>();
  #presenceSupported = true;
  #active: string | undefined;
  #watched = "";
  #dirty = { list: false, conv: false };
  #renderQueued = false;
  #typingTimer: ReturnType<typeof setInterval> | undefined;
  #wasOffline = false;
  readonly #off: (() => void)[] = [];
  /** Live events not applied yet: the first one waits while the users it names are looked up. */
  readonly #inbox: ChatEvent[] = [];
  #draining = false;

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
  /** Notifications on/off, per-chat mute, opening a clicked notification's chat (push.ts). */
  readonly #push: PushControls;
  readonly #scroller: HTMLElement;
  readonly #olderBtn: HTMLButtonElement;
  readonly #msgList: HTMLOListElement;
  readonly #typingEl: HTMLElement;
  readonly #input: HTMLTextAreaElement;
  readonly #meEl: HTMLElement;
  readonly #listItems = new Map<string, HTMLLIElement>();
  /** Headings of the list's two sections, shown while there are message requests. */
  readonly #requestsHeading: HTMLLIElement;
  readonly #chatsHeading: HTMLLIElement;
  /**
   * Chats that left my list here (a request I declined, or one from someone I blocked):
   * their late events (my own removal from a declined group) do not bring them back, until
   * I open one myself.
   */
  readonly #gone = new Set<string>();
  readonly #msgItems = new Map<string, HTMLLIElement>();
  #anchorOlder: { height: number; top: number } | undefined;
  #stickBottom = true;

  constructor(opts: {
    root: HTMLElement;
    banner: HTMLElement;
    client: NatterClient;
    me: string;
    onLogout: (message?: string) => void;
  }) {
    this.client = opts.client;
    this.me = opts.me;
    this.dir = opts.client.users;
    this.list = new ChatList(opts.client, {
      viewing: (chatId) => {
        const c = this.#chats.get(chatId);
        return c !== undefined && this.#isVisible(c);
      },
    });
    this.#root = opts.root;
    this.#banner = opts.banner;
    this.#onLogout = opts.onLogout;

    this.#meEl = h("span", { class: "me", id: "me" }, this.dir.name(this.me));
    this.#listEl = h("ul", { class: "chat-list", id: "chat-list", "aria-label": "Chats" });
    this.#listEmpty = h("p", { class: "empty" }, "No chats yet. Start one with “New chat”.");
    this.#requestsHeading = h("li", { class: "list-heading", id: "requests-heading" }, "Requests");
    this.#chatsHeading = h("li", { class: "list-heading" }, "Chats");
    this.#titleEl = h("h2", { id: "conv-title", class: "conv-title" });
    this.#subEl = h("p", { id: "conv-sub", class: "conv-sub", "aria-live": "polite" });
    this.#membersBtn = h("button", { type: "button", class: "ghost", onclick: () => this.#openMembers() }, "Members");
    this.#push = new PushControls(this.client, this.me);
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
    this.#replyBar = h("div", { class: "reply-bar", id: "reply-bar", hidden: true });
    this.#uploadsEl = h("ul", { class: "uploads", id: "uploads", "aria-live": "polite", hidden: true });
    this.#attachInput = h("input", {
      type: "file",
      id: "attach-input",
      class: "visually-hidden",
      multiple: true,
      onchange: () => {
        const files = [...(this.#attachInput.files ?? [])];
        this.#attachInput.value = "";
        for (const f of files) void this.#upload(f);
      },
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
      this.#attachInput,
      h("label", { for: "attach-input", class: "attach ghost", id: "attach", title: "Attach files or images" }, "📎"),
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
        this.#push.muteBtn,
        this.#membersBtn,
      ),
      this.#scroller,
      this.#typingEl,
      this.#replyBar,
      this.#uploadsEl,
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
        this.#push.switchEl,
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
    this.#push.start((chat) => void this.open(chat));
    this.#off.push(
      c.on("state", (s) => this.#onState(s)),
      c.on("event", (e) => this.#onEvent(e)),
      c.on("receipt", (r) => {
        const chat = this.#chats.get(r.chat);
        if (!chat) return;
        if (r.user === this.me) {
          this.list.readElsewhere(r.chat, r.readN);
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
      this.list.on("change", () => {
        for (const s of this.list.items()) this.#chat(s.chatId);
        this.#updateWatch();
        this.#invalidate("list", "conv");
      }),
      this.list.on("error", (err) => console.warn("natter: chat list", err)),
      // A name learned (a lookup, a chat's members): what shows names is drawn again.
      this.dir.on("change", () => this.#namesChanged()),
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
    this.#push.stop();
    for (const off of this.#off.splice(0)) off();
    clearInterval(this.#typingTimer);
    this.list.stop();
    this.client.close();
  }

  async logout(): Promise<void> {
    await this.client.http.logout().catch(() => {});
    this.#push.forget();
    this.#onLogout();
  }

  // ---------------------------------------------------------------- chats

  /**
   * Loads the chat list (every page) into the SDK's `ChatList`, which merges the server's
   * unread counts with the events already applied. Every listed chat is followed from its
   * head by the SDK itself (`discoverChats: "from-head"`, main.ts).
   */
  async refreshChats(): Promise<void> {
    try {
      await this.list.refresh();
    } catch (err) {
      console.warn("natter: chat list", err);
    }
  }

  #chat(id: string): ChatState {
    let c = this.#chats.get(id);
    if (!c) {
      c = {
        id,
        summary: this.list.item(id),
        events: new Map(),
        pending: new Map(),
        loadingOlder: false,
        filling: false,
        receipts: new Map(),
        typing: new Map(),
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
    if (this.#gone.has(e.chat)) return;
    const c = this.#chat(e.chat);
    c.events.set(e.n, e);
    if (e.kind === "message.created" && e.from === this.me) c.pending.delete(e.id);
    c.typing.delete(e.from);
    // Last message and unread, by the server's rule (`countsAsUnread`), each event once; an
    // event of the chat being looked at is read at once instead (`viewing`).
    this.list.apply(e);
    if ((e.kind === "member.added" || e.kind === "member.removed") && e.chat === this.#active) {
      if (!(e.kind === "member.removed" && e.user === this.me)) void this.#loadMembers(c);
    }
    if (e.chat === this.#active) this.#fillHoles(c);
    this.#invalidate("list", e.chat === this.#active ? "conv" : "list");
  }

  #isVisible(c: ChatState): boolean {
    return c.id === this.#active && document.visibilityState === "visible" && !this.#convMain.hidden;
  }

  #markRead(c: ChatState | undefined): void {
    if (!c || !this.#isVisible(c)) return;
    this.list.read(c.id, Math.max(c.summary.lastN, 0, ...c.events.keys()));
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
    this.#gone.delete(chatId);
    this.#push.showChat(chatId);
    const c = this.#chat(chatId);
    if (this.#active !== chatId) {
      this.#active = chatId;
      this.#msgList.replaceChildren();
      this.#msgItems.clear();
      this.#stickBottom = true;
      this.#input.value = "";
      this.#autosize();
      this.#setReply(undefined);
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
      this.dir.learnMembers(v);
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
    const files = this.#staged?.chat === c?.id ? (this.#staged?.files ?? []) : [];
    if (!c || (body === "" && files.length === 0)) return;
    this.#staged = undefined;
    this.#drawUploads();
    this.#input.value = "";
    this.#autosize();
    const replyTo = this.#replyTo?.chat === c.id ? this.#replyTo.n : undefined;
    this.#setReply(undefined);
    const p: Pending = {
      id: newId(),
      body,
      ts: Date.now(),
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(files.length ? { attachments: files } : {}),
    };
    c.pending.set(p.id, p);
    this.#stickBottom = true;
    this.#invalidate("conv");
    this.#send(c, p);
  }

  #send(c: ChatState, p: Pending): void {
    delete p.failed;
    const opts = {
      id: p.id,
      ...(p.replyTo === undefined ? {} : { replyTo: p.replyTo }),
      ...(p.attachments ? { attachments: p.attachments.map((a) => a.attachmentId) } : {}),
    };
    this.client.send(c.id, p.body, opts).then(
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
          ...(p.replyTo === undefined ? {} : { replyTo: p.replyTo }),
          ...(p.attachments ? { attachments: p.attachments } : {}),
        };
        if (!c.events.has(sent.n)) c.events.set(sent.n, event);
        this.list.sent(sent, p.body);
        this.#invalidate("list", "conv");
      },
      (err: unknown) => {
        if (!c.pending.has(p.id)) return;
        p.failed = errorText(err);
        this.#invalidate("conv");
      },
    );
  }

  // ---------------------------------------------------------------- attachments

  /** Uploads one file into the active chat, its progress shown over the composer; staged for the next send. */
  async #upload(file: File): Promise<void> {
    const c = this.#activeChat();
    if (!c) return;
    const bar = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
    const item = h("li", { class: "upload uploading", "data-name": file.name }, h("span", {}, file.name), bar);
    this.#uploadsEl.append(item);
    this.#uploadsEl.hidden = false;
    try {
      const a = await this.client.http.uploadAttachment(c.id, file, {
        name: file.name,
        ...(file.type ? { contentType: file.type } : {}),
        onProgress: (sent, total) => {
          if (total) bar.value = Math.round((100 * sent) / total);
        },
      });
      if (this.#staged?.chat !== c.id) this.#staged = { chat: c.id, files: [] };
      this.#staged.files.push(a);
      item.remove();
    } catch (err) {
      item.classList.replace("uploading", "failed");
      setChildren(item, h("span", {}, `${file.name}: ${errorText(err)}`), this.#dismiss(item));
    } finally {
      this.#drawUploads();
    }
  }

  /** The staged files of the active chat as chips (× takes one out), and uploads in progress. */
  #drawUploads(): void {
    const c = this.#activeChat();
    for (const chip of this.#uploadsEl.querySelectorAll(".staged")) chip.remove();
    const files = this.#staged?.chat === c?.id ? (this.#staged?.files ?? []) : [];
    for (const a of files) {
      const chip = h(
        "li",
        { class: "upload staged", "data-attachment": a.attachmentId },
        h("span", {}, `📎 ${a.name}`),
      );
      chip.append(
        h(
          "button",
          {
            type: "button",
            class: "ghost",
            "aria-label": `Remove ${a.name}`,
            onclick: () => {
              if (this.#staged) this.#staged.files = this.#staged.files.filter((f) => f !== a);
              this.#drawUploads();
            },
          },
          "×",
        ),
      );
      this.#uploadsEl.append(chip);
    }
    this.#uploadsEl.hidden = this.#uploadsEl.childElementCount === 0;
  }

  #dismiss(item: HTMLElement): HTMLButtonElement {
    return h(
      "button",
      {
        type: "button",
        class: "ghost",
        "aria-label": "Dismiss",
        onclick: () => {
          item.remove();
          this.#drawUploads();
        },
      },
      "×",
    );
  }

  /** A message's files: images shown inline (their size reserved), anything else a download link. */
  #attachmentsView(files: readonly Attachment[] | undefined): HTMLElement | null {
    if (!files?.length) return null;
    return h(
      "div",
      { class: "attachments" },
      ...files.map((a) => {
        if (a.width !== undefined && a.height !== undefined && a.contentType.startsWith("image/")) {
          const img = h("img", {
            class: "att-image",
            alt: a.name,
            width: Math.min(a.width, 320),
            height: Math.round((a.height * Math.min(a.width, 320)) / a.width),
            "data-attachment": a.attachmentId,
          });
          void this.#imageUrl(a.attachmentId).then(
            (url) => (img.src = url),
            () => img.classList.add("broken"),
          );
          return img;
        }
        return h(
          "button",
          {
            type: "button",
            class: "att-file",
            "data-attachment": a.attachmentId,
            title: `Download ${a.name}`,
            onclick: () => void this.#download(a),
          },
          `📎 ${a.name} (${formatSize(a.size)})`,
        );
      }),
    );
  }

  #imageUrl(attachmentId: string): Promise<string> {
    let url = this.#imageUrls.get(attachmentId);
    if (!url) {
      url = this.client.http
        .attachmentResponse(attachmentId)
        .then(async (res) => URL.createObjectURL(await res.blob()));
      // A failure is not kept: the next drawing asks again.
      url.catch(() => this.#imageUrls.delete(attachmentId));
      this.#imageUrls.set(attachmentId, url);
    }
    return url;
  }

  /** Saves a file: fetched with the token, then handed to the browser as a download with its name. */
  async #download(a: Attachment): Promise<void> {
    try {
      const res = await this.client.http.attachmentResponse(a.attachmentId);
      const url = URL.createObjectURL(await res.blob());
      const link = h("a", { href: url, download: a.name });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      const b = this.#banner;
      b.textContent = `${a.name}: ${errorText(err)}`;
      b.dataset.state = "error";
      b.hidden = false;
      setTimeout(() => (b.hidden = true), 4000);
    }
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

  /** Looks users up by id, each once per session (`client.users`); resolves when all are known or after `waitMs`. */
  #learnUsers(userIds: string[], waitMs?: number): Promise<void> {
    return this.dir.ensure(userIds.slice(0, 200), waitMs === undefined ? {} : { waitMs });
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
    const listed = [...this.#chats.values()]
      .filter((c) => !this.#gone.has(c.id) && (c.summary.lastActivity > 0 || c.events.size > 0))
      .sort((a, b) => b.summary.lastActivity - a.summary.lastActivity || (a.id < b.id ? -1 : 1));
    this.#listEmpty.hidden = listed.length > 0;
    // Message requests first, in a section of their own: someone I have not accepted yet.
    const requests = listed.filter((c) => c.summary.request);
    const chats = [...requests, ...listed.filter((c) => !c.summary.request)];
    const items: HTMLLIElement[] = [];
    const keep = new Set<string>();
    if (requests.length > 0) items.push(this.#requestsHeading);
    for (const c of chats) {
      if (requests.length > 0 && c === chats[requests.length]) items.push(this.#chatsHeading);
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
      this.#fillRequestActions(li, c);
      items.push(li);
    }
    dropUnkept(this.#listItems, keep);
    reconcile(this.#listEl, items);
  }

  /** A request's item carries its answers (accept, decline, block); an accepted chat's none. */
  #fillRequestActions(li: HTMLLIElement, c: ChatState): void {
    const request = c.summary.request;
    const actions = li.querySelector<HTMLElement>(".request-actions");
    if (!request) {
      li.removeAttribute("data-request");
      actions?.remove();
      return;
    }
    li.dataset.request = request.from;
    if (actions) return;
    const act = (label: string, action: "accept" | "decline" | "block", cls: string) =>
      h(
        "button",
        {
          type: "button",
          class: cls,
          "data-action": action,
          "aria-label": `${label} ${this.title(c)}`,
          onclick: () => void this.#answer(c.id, action),
        },
        label,
      );
    li.append(
      h(
        "div",
        { class: "request-actions" },
        h("span", { class: "request-note" }, "wants to chat · they see nothing of you until you accept"),
        act("Accept", "accept", "primary"),
        act("Decline", "decline", "ghost"),
        act("Block", "block", "ghost danger"),
      ),
    );
  }

  /**
   * Answers a message request: accept (the list refreshes: no longer a request), decline
   * (the chat leaves the list), or block its sender (every request of theirs leaves it).
   */
  async #answer(chatId: string, action: "accept" | "decline" | "block"): Promise<void> {
    const request = this.#chats.get(chatId)?.summary.request;
    if (!request) return;
    const http = this.client.http;
    try {
      if (action === "accept") {
        await http.acceptChat(chatId);
        await this.list.refresh();
        return;
      }
      if (action === "decline") await http.declineChat(chatId);
      else await http.block(request.from);
      const gone =
        action === "decline"
          ? [chatId]
          : [...this.#chats.values()].filter((c) => c.summary.request?.from === request.from).map((c) => c.id);
      for (const id of gone) {
        this.#gone.add(id);
        this.list.forget(id);
        this.#chats.delete(id);
        if (this.#active === id) this.#back();
      }
      this.#invalidate("list");
    } catch (err) {
      console.warn("natter: answering a request", err);
      const b = this.#banner;
      b.textContent = errorText(err);
      b.dataset.state = "error";
      b.hidden = false;
      setTimeout(() => (b.hidden = true), 4000);
    }
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
    // Deletes are not shown as lines of their own: their messages show "message deleted".
    const deletedBy = new Map<number, number>();
    for (const e of c.events.values()) if (e.kind === "message.deleted") deletedBy.set(e.target, e.n);
    const admin = c.summary.kind === "group" && c.members?.some((m) => m.userId === this.me && m.role === "admin");
    // Edits and reactions are folded into their messages (`ChatMessages`), not lines of their own.
    const folded = new ChatMessages();
    for (const e of c.events.values()) folded.apply(e);
    for (const n of ns) {
      let e = c.events.get(n)!;
      if (e.kind === "message.deleted" || e.kind === "message.edited") continue;
      if (e.kind === "reaction.added" || e.kind === "reaction.removed") continue;
      const by = deletedBy.get(n);
      if (e.kind === "message.created" && !e.deleted && by !== undefined) {
        e = erasedMessage(e, by);
        c.events.set(n, e);
      }
      // A message that becomes deleted, or deletable by me as an admin, is drawn again.
      const deleted = e.kind === "message.created" && e.deleted === true;
      const shown = e.kind === "message.created" && !deleted ? folded.get(n) : undefined;
      const quoted = shown?.replyTo === undefined ? undefined : folded.get(shown.replyTo);
      // An edit, a reaction or a change of the quoted message draws the message again.
      const state = shown
        ? `:${shown.edited?.n ?? 0}:${JSON.stringify(shown.reactions ?? [])}:${quoted?.deleted ? "d" : (quoted?.edited?.n ?? (quoted ? 1 : 0))}`
        : "";
      const key = `n${n}${deleted ? "d" : admin ? "a" : ""}${state}`;
      keep.add(key);
      let li = this.#msgItems.get(key);
      if (!li) {
        li = shown ? this.#messageItem(c, shown, admin === true, quoted) : this.#eventItem(c, e, admin === true);
        this.#msgItems.set(key, li);
      }
      if (e.kind === "message.created" && !e.deleted && e.from === this.me) setMark(li, this.#status(c, n));
      items.push(li);
    }
    for (const p of c.pending.values()) {
      const key = `p${p.id}`;
      keep.add(key);
      let li = this.#msgItems.get(key);
      if (!li) {
        li = this.#messageItem(c, {
          from: this.me,
          body: p.body,
          ts: p.ts,
          id: p.id,
          ...(p.attachments ? { attachments: p.attachments } : {}),
        });
        if (p.replyTo !== undefined) li.classList.add("reply");
        this.#msgItems.set(key, li);
      }
      setMark(li, p.failed ? "failed" : "pending", p.failed, () => this.#send(c, p));
      items.push(li);
    }
    dropUnkept(this.#msgItems, keep);
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

  #eventItem(c: ChatState, e: ChatEvent, admin = false): HTMLLIElement {
    switch (e.kind) {
      case "message.created":
        if (e.deleted) return this.#deletedItem(c, e);
        return this.#messageItem(c, { ...e, body: e.body ?? "" }, admin);
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

  /** A deleted message, where it was: who wrote it and when, its body gone. */
  #deletedItem(c: ChatState, m: { from: string; ts: number; id: string; n: number }): HTMLLIElement {
    const mine = m.from === this.me;
    return h(
      "li",
      { class: `msg ${mine ? "mine" : "theirs"} deleted`, "data-from": m.from, "data-id": m.id, "data-n": m.n },
      h(
        "div",
        { class: "bubble" },
        !mine && c.summary.kind === "group" ? h("span", { class: "sender" }, this.dir.name(m.from)) : null,
        h("p", { class: "body deleted" }, "message deleted"),
        h("span", { class: "meta" }, h("time", { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts))),
      ),
    );
  }

  /** Deletes message `n` for everyone, after a confirmation; a refusal shows in the banner. */
  async #delete(c: ChatState, n: number): Promise<void> {
    if (!confirm("Delete this message for everyone?")) return;
    try {
      await this.client.http.deleteMessage(c.id, n);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A refused action (a delete, an edit, a reaction): its reason in the banner for a while. */
  #fail(err: unknown): void {
    const b = this.#banner;
    b.textContent = errorText(err);
    b.dataset.state = "error";
    b.hidden = false;
    setTimeout(() => (b.hidden = true), 4000);
  }

  /** Starts (or, with undefined, cancels) a reply to message `n` of the active chat. */
  #setReply(target: { chat: string; n: number; from: string; body: string } | undefined): void {
    this.#replyTo = target && { chat: target.chat, n: target.n };
    const bar = this.#replyBar;
    bar.hidden = target === undefined;
    if (!target) return setChildren(bar);
    setChildren(bar, [
      h(
        "span",
        { class: "reply-to" },
        "Replying to ",
        h("strong", {}, this.#who(target.from)),
        ": ",
        h("span", { class: "quote-body" }, target.body),
      ),
      h(
        "button",
        {
          type: "button",
          class: "ghost cancel-reply",
          "aria-label": "Cancel reply",
          onclick: () => this.#setReply(undefined),
        },
        "✕",
      ),
    ]);
    this.#input.focus();
  }

  /**
   * Scrolls to message `n` and flashes it; when it is older than what is loaded, earlier
   * pages are loaded first (at most `JUMP_PAGES`, so a quote of an ancient message does not
   * pull the whole chat in).
   */
  async #jump(c: ChatState, n: number): Promise<void> {
    const find = () => this.#msgList.querySelector<HTMLElement>(`li[data-n="${n}"]`);
    for (let i = 0; i < JUMP_PAGES && !find() && c.pager?.hasMore && c.id === this.#active; i++) {
      await this.#loadOlder(c);
      this.#render();
    }
    const li = find();
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    li.classList.add("flash");
    setTimeout(() => li.classList.remove("flash"), 1500);
  }

  /** Edits my message `n` (its new body asked for); a refusal shows in the banner. */
  async #edit(c: ChatState, n: number, current: string): Promise<void> {
    const body = prompt("Edit message", current);
    if (body === null || body.trim() === "" || body === current) return;
    try {
      await this.client.edit(c.id, n, body);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Adds my `emoji` to message `n`, or takes it back when it is there. */
  async #toggleReaction(c: ChatState, n: number, emoji: string, mine: boolean): Promise<void> {
    try {
      if (mine) await this.client.unreact(c.id, n, emoji);
      else await this.client.react(c.id, n, emoji);
    } catch (err) {
      this.#fail(err);
    }
  }

  #messageItem(
    c: ChatState,
    m: Pick<ChatMessage, "from" | "ts" | "id" | "replyTo" | "edited" | "reactions" | "attachments"> & {
      body?: string;
      n?: number;
    },
    admin = false,
    quoted?: ChatMessage,
  ): HTMLLIElement {
    const mine = m.from === this.me;
    const showSender = !mine && c.summary.kind === "group";
    const n = m.n;
    const body = m.body ?? "";
    // Mine, or anyone's in a group I am an admin of; not while it is still pending (no n yet).
    const deletable = n !== undefined && (mine || admin);
    const replyTo = m.replyTo;
    const quote =
      replyTo === undefined
        ? null
        : h(
            "button",
            {
              type: "button",
              class: "quote",
              title: "Show the message replied to",
              "data-reply-to": replyTo,
              onclick: () => void this.#jump(c, replyTo),
            },
            h("span", { class: "quote-from" }, quoted ? this.#who(quoted.from) : "Earlier message"),
            h(
              "span",
              { class: `quote-body${quoted?.deleted ? " deleted" : ""}` },
              quoted ? (quoted.deleted ? "message deleted" : (quoted.body ?? "")) : `#${replyTo}`,
            ),
          );
    const reactions =
      n === undefined || !m.reactions?.length
        ? null
        : h(
            "div",
            { class: "reactions" },
            ...m.reactions.map((r) => {
              const reacted = r.users.includes(this.me);
              return h(
                "button",
                {
                  type: "button",
                  class: `reaction${reacted ? " mine" : ""}`,
                  "data-emoji": r.emoji,
                  "aria-pressed": reacted ? "true" : "false",
                  title: r.users.map((u) => this.#who(u)).join(", "),
                  onclick: () => void this.#toggleReaction(c, n, r.emoji, reacted),
                },
                `${r.emoji} ${r.users.length}`,
              );
            }),
          );
    const picker =
      n === undefined
        ? null
        : h(
            "div",
            { class: "picker", hidden: !(this.#pickerOpen?.chat === c.id && this.#pickerOpen.n === n) },
            ...QUICK_REACTIONS.map((emoji) =>
              h(
                "button",
                {
                  type: "button",
                  class: "pick",
                  "data-emoji": emoji,
                  "aria-label": `React ${emoji}`,
                  onclick: (ev: Event) => {
                    (ev.currentTarget as HTMLElement).parentElement!.hidden = true;
                    this.#pickerOpen = undefined;
                    const reacted = m.reactions?.some((r) => r.emoji === emoji && r.users.includes(this.me)) ?? false;
                    void this.#toggleReaction(c, n, emoji, reacted);
                  },
                },
                emoji,
              ),
            ),
          );
    const action = (cls: string, label: string, text: string, onclick: () => void) =>
      h("button", { type: "button", class: `action ${cls}`, "aria-label": label, title: label, onclick }, text);
    return h(
      "li",
      {
        class: `msg ${mine ? "mine" : "theirs"}${replyTo === undefined ? "" : " reply"}`,
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
        quote,
        this.#attachmentsView(m.attachments),
        body === "" && m.attachments?.length ? null : h("p", { class: "body" }, body),
        picker,
        h(
          "span",
          { class: "meta" },
          m.edited ? h("span", { class: "edited", title: `edited ${formatTime(m.edited.ts)}` }, "edited") : null,
          h("time", { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)),
          n === undefined
            ? null
            : action("reply-btn", "Reply", "Reply", () => this.#setReply({ chat: c.id, n, from: m.from, body })),
          n === undefined
            ? null
            : action("react-btn", "React", "React", () => {
                if (!picker) return;
                picker.hidden = !picker.hidden;
                this.#pickerOpen = picker.hidden ? undefined : { chat: c.id, n };
              }),
          n !== undefined && mine ? action("edit", "Edit message", "Edit", () => void this.#edit(c, n, body)) : null,
          deletable
            ? h(
                "button",
                {
                  type: "button",
                  class: "delete",
                  "aria-label": "Delete message",
                  title: "Delete for everyone",
                  onclick: () => void this.#delete(c, n),
                },
                "Delete",
              )
            : null,
          mine ? h("span", { class: "mark" }) : null,
        ),
        reactions,
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

/** Removes and forgets the cached items whose key is not in `keep`. */
function dropUnkept(cache: Map<string, HTMLElement>, keep: ReadonlySet<string>): void {
  for (const [key, item] of cache) {
    if (!keep.has(key)) {
      item.remove();
      cache.delete(key);
    }
  }
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

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function newId(): string {
  return crypto.randomUUID();
}
