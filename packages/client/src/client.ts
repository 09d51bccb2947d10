/**
 * `NatterClient`: one device's real-time connection to Natter. It authenticates with an
 * `auth` frame (browsers cannot set headers on a WebSocket), syncs its cursors on every
 * (re)connect, delivers each chat's events in `n` order (see `ordering.ts`), resends
 * unacknowledged sends with the same `id`, and reconnects with full-jitter backoff.
 * Browser-safe: only the global `WebSocket`, `fetch`, timers and `crypto.randomUUID`.
 */
import {
  CLOSE_CODES,
  type ChatEvent,
  type ClientFrame,
  type ErrorCode,
  type ErrorFrame,
  isClientMsgId,
  MAX_FRAME_BYTES,
  MAX_SYNC_CHATS,
  NatterError,
  RESUME_PARAM,
  type ServerFrame,
  shouldReconnect,
} from "@natter/protocol";
import { BACKOFF_DEFAULTS, type BackoffOptions, fullJitter } from "./backoff.ts";
import { type CursorStore, MemoryCursorStore } from "./cursor-store.ts";
import { Emitter } from "./emitter.ts";
import { HistoryPager } from "./history.ts";
import { NatterHttp, type SentMessage, type Session } from "./http.ts";
import { ChatOrdering } from "./ordering.ts";
import { type CursorMoves, Processing } from "./processing.ts";
import { tokenClaims } from "./token.ts";
import { Users } from "./users.ts";
import type { StorageLike } from "./cursor-store.ts";

/**
 * - `idle`: not started. `connecting`: opening a socket and authenticating.
 * - `open`: `ready` received; sends flow. `reconnecting`: waiting out a backoff delay.
 * - `closed`: `close()` was called, or the server closed with a do-not-retry code (1000, 1008).
 * - `unauthorized`: the token was refused (4001); log in again and call `setToken()` + `connect()`.
 */
export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed" | "unauthorized";

export interface ReceiptInfo {
  chat: string;
  user: string;
  deliveredN: number;
  readN: number;
}
export interface TypingInfo {
  chat: string;
  user: string;
}
export interface PresenceInfo {
  user: string;
  online: boolean;
  lastSeen: number;
}

/** What `client.on(...)` offers, with each listener's arguments. */
export interface ClientEvents {
  [key: string]: unknown[];
  /**
   * A chat event, in n order per chat. A listener may return a promise: the chat's cursor
   * moves, and its next event comes, once it resolves (`cursorMoves`, `processing.ts`).
   * At least once: after a crash an event not yet processed comes again.
   */
  event: [ChatEvent];
  /** A send of this client was acknowledged (also the resolution of `send()`). */
  sent: [SentMessage];
  /**
   * The gateway finished replaying a chat (after a connect or `track`/`rewind`): every event
   * up to `n`, its head when the replay ended, has been sent; live events follow. The events
   * themselves may still be in the app's handlers.
   */
  synced: [{ chat: string; n: number }];
  receipt: [ReceiptInfo];
  typing: [TypingInfo];
  presence: [PresenceInfo];
  /** The connection state changed: `(state, previous)`. */
  state: [ClientState, ClientState];
  /** Something went wrong that no call returns: an `error` frame, a gap that cannot be filled yet, a listener that threw. */
  error: [Error];
  /** The server refused the token (close 4001). The client stops reconnecting. */
  unauthorized: [];
}

export interface ClientOptions {
  /** Gateway base URLs (`http://host:8080`). The socket goes to `<url>/v1/ws`; each reconnect moves to the next URL. */
  servers: string | string[];
  /** An access token (from `login`/`signup`). */
  token: string;
  /** Where cursors are kept. Default: a new `MemoryCursorStore`. */
  cursors?: CursorStore;
  /**
   * What moves a chat's stored cursor: `"after-handler"` (default) when every `event`
   * listener has returned or its promise resolved, one event of a chat at a time;
   * `"on-done"` only when the app calls `done(event)`. See `processing.ts`.
   */
  cursorMoves?: CursorMoves;
  /**
   * On every connect, the chats of `GET /v1/chats` that have no cursor yet (created, or
   * joined, while this client was away): `"from-start"` (default) delivers them from their
   * first event, or from the user's joining; `"from-head"` follows them from their newest
   * event on (a UI that shows history with the pager); `false` does not look. The same rule
   * places a chat whose first live event comes before the list.
   */
  discoverChats?: "from-start" | "from-head" | false;
  /** Where `client.users` keeps the names it learns (e.g. `localStorage` and a key per user); default memory only. */
  users?: { storage?: StorageLike; key?: string };
  /**
   * A send not acknowledged within this many ms fails with `SendTimeoutError` and is not
   * resent again. It must stay below the server's dedup window (`NATTER_DEDUP_WINDOW`,
   * default 2 min), so that every resend is still recognized as a duplicate. Default 90 000.
   */
  sendTimeoutMs?: number;
  /**
   * Sends per chat on the wire at once. 1 (the default) keeps a chat's messages in the
   * order `send()` was called, across reconnects and retries; more trades that order for
   * throughput (a gateway may process pipelined sends of a chat in parallel).
   */
  sendWindow?: number;
  /** Reconnect backoff (full jitter): `baseMs` default 500, `capMs` default 30 000. */
  backoff?: Partial<BackoffOptions>;
  /** Least delay after close 4008 (rate limited). Default 5000. */
  rateLimitedDelayMs?: number;
  /** Acks are batched: at most one `ack` per chat per this many ms. Default 200. */
  ackDelayMs?: number;
  /** No `ready` within this many ms of opening: try the next server. Default 10 000. */
  connectTimeoutMs?: number;
  /** Wait before fetching a gap over HTTP. Default 250. */
  gapGraceMs?: number;
  /** At most one `typing` frame per chat per this many ms. Default 3000. */
  typingIntervalMs?: number;
  /** A WebSocket constructor to use instead of the global one. */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  /** Random source of the jitter, in [0, 1). */
  random?: () => number;
}

/** A send that was not acknowledged before `sendTimeoutMs`: it may or may not have landed; its event tells. */
export class SendTimeoutError extends Error {
  override name = "SendTimeoutError";
  readonly code = "send_timeout";
  readonly chat: string;
  readonly id: string;
  constructor(chat: string, id: string, ms: number) {
    super(`send ${id} to ${chat} was not acknowledged within ${ms} ms; not retried any more`);
    this.chat = chat;
    this.id = id;
  }
}

/** A send pending when `close()` was called. */
export class ClientClosedError extends Error {
  override name = "ClientClosedError";
  readonly code = "closed";
  constructor() {
    super("the client was closed");
  }
}

interface PendingSend {
  ref: string;
  chat: string;
  /** The client id of a send or an edit (a reaction has none: a ref-unique stand-in). */
  id: string;
  /** What goes out, less its `ref`: a `send`, `edit`, `react` or `unreact` frame. */
  frame: Record<string, unknown> & { type: "send" | "edit" | "react" | "unreact" };
  inflight: boolean;
  retryAt: number;
  attempts: number;
  timer: ReturnType<typeof setTimeout>;
  resolve(sent: SentMessage): void;
  reject(err: Error): void;
}

/** The answer to `react` / `unreact`: the event that added (or removed) the reaction; all 0 for nothing removed. */
export interface ReactionAck {
  chat: string;
  seq: number;
  n: number;
  ts: number;
}

/** Send errors worth retrying with the same id (before the deadline). */
const RETRIABLE: ReadonlySet<string> = new Set(["rate_limited", "unavailable", "home_unreachable"]);

export class NatterClient {
  readonly http: NatterHttp;
  readonly cursors: CursorStore;
  /** Display names and handles by user id, learned from lists and members, looked up once otherwise. */
  readonly users: Users;
  readonly #emitter: Emitter<ClientEvents>;
  readonly #ordering: ChatOrdering;
  readonly #processing: Processing;
  readonly #discover: "from-start" | "from-head" | false;
  readonly #servers: string[];
  readonly #WS: typeof WebSocket;
  readonly #random: () => number;
  readonly #backoff: BackoffOptions;
  readonly #sendTimeoutMs: number;
  readonly #sendWindow: number;
  readonly #rateLimitedDelayMs: number;
  readonly #ackDelayMs: number;
  readonly #connectTimeoutMs: number;
  readonly #typingIntervalMs: number;

  #token: string;
  #state: ClientState = "idle";
  #ws: WebSocket | undefined;
  #ready = false;
  #serverIndex = 0;
  #attempt = 0;
  #userId: string | undefined;
  #deviceId: string | undefined;
  #heartbeatMs = 25_000;
  #lastFrameAt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;
  readonly #outbox = new Map<string, PendingSend>();
  readonly #sendStats = { frames: 0, resends: 0, reconnects: 0 };
  readonly #acks = new Map<string, number>();
  readonly #reads = new Map<string, number>();
  readonly #typingAt = new Map<string, number>();
  #watch: string[] = [];
  /** Sync refs still expecting `synced`/`error` frames, with how many. */
  readonly #syncWaits = new Map<string, number>();
  #connectWaiters: { resolve(): void; reject(err: Error): void }[] = [];

  constructor(opts: ClientOptions) {
    this.http = new NatterHttp({
      servers: opts.servers,
      token: opts.token,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    this.#servers = this.http.servers;
    for (const s of this.#servers) new URL(s); // throws early on a malformed URL
    this.#token = opts.token;
    this.cursors = opts.cursors ?? new MemoryCursorStore();
    this.users = new Users(this.http, opts.users);
    this.#discover = opts.discoverChats ?? "from-start";
    // The token's payload names the user: known before `connect()`; `ready` confirms it.
    const claims = tokenClaims(opts.token);
    this.#userId = claims?.userId;
    this.#deviceId = claims?.deviceId;
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!WS) throw new TypeError("no global WebSocket: use Node >= 22 or pass opts.WebSocket");
    this.#WS = WS;
    this.#random = opts.random ?? Math.random;
    this.#backoff = { ...BACKOFF_DEFAULTS, ...opts.backoff };
    this.#sendTimeoutMs = opts.sendTimeoutMs ?? 90_000;
    this.#sendWindow = Math.max(1, opts.sendWindow ?? 1);
    this.#rateLimitedDelayMs = opts.rateLimitedDelayMs ?? 5000;
    this.#ackDelayMs = opts.ackDelayMs ?? 200;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.#typingIntervalMs = opts.typingIntervalMs ?? 3000;
    this.#emitter = new Emitter<ClientEvents>((err, event) => {
      if (event !== "error") this.#emitter.emit("error", err instanceof Error ? err : new Error(String(err)));
    });
    this.#processing = new Processing({
      cursors: this.cursors,
      mode: opts.cursorMoves ?? "after-handler",
      listeners: () => this.#emitter.listeners("event"),
      processed: (e) => this.#processed(e.chat, e.n),
      onError: (err) => this.#emitter.emit("error", err),
    });
    this.#ordering = new ChatOrdering({
      stored: (chat) => this.cursors.get(chat),
      startOf: (e) => (this.#discover === "from-start" ? 0 : e.n - 1),
      deliver: (e) => this.#processing.push(e),
      fetchAfter: (chat, afterN, limit) => this.http.messages(chat, { after: afterN, limit }),
      me: () => this.#userId,
      onError: (err) => this.#emitter.emit("error", err),
      ...(opts.gapGraceMs === undefined ? {} : { gapGraceMs: opts.gapGraceMs }),
    });
  }

  /** Logs in over HTTP and returns a client for that session (not yet connected) and the session. */
  static async login(
    opts: Omit<ClientOptions, "token"> & { handle: string; password: string; deviceName?: string },
  ): Promise<{ client: NatterClient; session: Session }> {
    const http = new NatterHttp({ servers: opts.servers, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    const session = await http.login(opts.handle, opts.password, opts.deviceName);
    return { client: new NatterClient({ ...opts, token: session.token }), session };
  }

  /** Signs up over HTTP and returns a client for the new account's session and the session. */
  static async signup(
    opts: Omit<ClientOptions, "token"> & { handle: string; displayName: string; password: string },
  ): Promise<{ client: NatterClient; session: Session }> {
    const http = new NatterHttp({ servers: opts.servers, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    const session = await http.signup(opts.handle, opts.displayName, opts.password);
    return { client: new NatterClient({ ...opts, token: session.token }), session };
  }

  // ------------------------------------------------------------------ public API

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): () => void {
    return this.#emitter.on(event, listener);
  }
  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): () => void {
    return this.#emitter.once(event, listener);
  }
  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): void {
    this.#emitter.off(event, listener);
  }

  get state(): ClientState {
    return this.#state;
  }
  /**
   * The user and device of the session: read from the token when the client is built (its
   * payload names them), confirmed by every `ready`. Undefined only for a token of an
   * unknown shape, until `ready`.
   */
  get userId(): string | undefined {
    return this.#userId;
  }
  get deviceId(): string | undefined {
    return this.#deviceId;
  }
  /** The gateway URL the socket uses (or will use next). */
  get server(): string {
    return this.#servers[this.#serverIndex % this.#servers.length]!;
  }
  /** Sends not yet acknowledged. */
  get pendingSends(): number {
    return this.#outbox.size;
  }
  /** Delivery counters: delivered, duplicates dropped, buffered out of order, filled over HTTP. */
  get stats(): Readonly<ChatOrdering["stats"]> {
    return this.#ordering.stats;
  }
  /** Send counters: frames written, of which resends of an id already written once, and reconnects. */
  get sendStats(): Readonly<{ frames: number; resends: number; reconnects: number }> {
    return this.#sendStats;
  }

  /** A new token (after `unauthorized`, or a refresh); used from the next connection on. */
  setToken(token: string): void {
    this.#token = token;
    const claims = tokenClaims(token);
    if (claims) {
      this.#userId = claims.userId;
      this.#deviceId = claims.deviceId;
    }
    this.http.token = token;
  }

  /**
   * Starts the connection (and keeps it up). Resolves once the first connection is
   * `ready` and its `sync` replay is complete; rejects if the token is refused or the
   * client is closed before that. Calling it while connected resolves at once.
   */
  connect(): Promise<void> {
    if (this.#state === "open" && this.#syncWaits.size === 0) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#state === "idle" || this.#state === "closed" || this.#state === "unauthorized") {
      this.#attempt = 0;
      this.#open();
    }
    return p;
  }

  /**
   * Closes the socket for good: pending acks are sent first, pending sends fail with
   * `ClientClosedError`, cursors stay in the store.
   */
  close(): void {
    if (this.#state === "closed") return;
    this.#flushAcks();
    this.#setState("closed");
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#pumpTimer);
    this.#teardownSocket(CLOSE_CODES.normal);
    this.#ordering.stop();
    this.#processing.stop();
    for (const p of this.#outbox.values()) {
      clearTimeout(p.timer);
      p.reject(new ClientClosedError());
    }
    this.#outbox.clear();
    this.#failConnect(new ClientClosedError());
    (this.cursors as { flush?: () => void }).flush?.();
  }

  /**
   * Sends a message. Resolves with its `seq` and `n` once the server acknowledged it
   * (`sent`). Until then it is resent with the same `id` after every reconnect, and on
   * `rate_limited`/`unavailable`/`home_unreachable` (a chat homed at an edge site or the hub
   * across a cut leaf link), for at most `sendTimeoutMs`. Works while disconnected
   * (the send waits for the connection). `attachments`: ids from `http.uploadAttachment`
   * into this chat (the body may then be ""). `retry`: this `id` may have been sent before
   * (an app resending its own outbox after a restart): the gateway then also finds a
   * message sent longer ago than its dedup window. The client's own resends say so anyway.
   */
  send(
    chat: string,
    body: string,
    opts: { id?: string; replyTo?: number; attachments?: string[]; retry?: boolean } = {},
  ): Promise<SentMessage> {
    const id = opts.id ?? newId();
    const replyTo = opts.replyTo === undefined ? {} : { replyTo: opts.replyTo };
    const attachments = opts.attachments?.length ? { attachments: opts.attachments } : {};
    const retry = opts.retry ? { retry: true } : {};
    return this.#enqueue(chat, id, { type: "send", chat, id, body, ...replyTo, ...attachments, ...retry });
  }

  /** Replies to message `n` of the chat: a `send` with `replyTo` (v1.1). */
  reply(chat: string, n: number, body: string, opts: { id?: string } = {}): Promise<SentMessage> {
    return this.send(chat, body, { ...opts, replyTo: n });
  }

  /**
   * Edits my message `n` (v1.1): a `message.edited` event; resolves with its position.
   * Resent like a send (the same `id`, so a retry is the same edit).
   */
  edit(chat: string, n: number, body: string, opts: { id?: string } = {}): Promise<SentMessage> {
    const id = opts.id ?? newId();
    return this.#enqueue(chat, id, { type: "edit", chat, id, target: n, body });
  }

  /**
   * Adds (`react`) my `emoji` to message `n`; resolves with the event that added it (the
   * earlier one if it was there). Idempotent on the server, so resending is safe.
   */
  react(chat: string, n: number, emoji: string): Promise<ReactionAck> {
    return this.#enqueue(chat, undefined, { type: "react", chat, target: n, emoji });
  }

  /** Takes back my `emoji` on message `n`; resolves with the removal (n 0: there was none). */
  unreact(chat: string, n: number, emoji: string): Promise<ReactionAck> {
    return this.#enqueue(chat, undefined, { type: "unreact", chat, target: n, emoji });
  }

  /** Queues a frame that the server answers with `sent`: resent after reconnects until then. */
  #enqueue(chat: string, clientId: string | undefined, frame: PendingSend["frame"]): Promise<SentMessage> {
    if (clientId !== undefined && !isClientMsgId(clientId)) {
      return Promise.reject(new NatterError("invalid_input", "id must be 1..64 of [A-Za-z0-9_.:-]", { field: "id" }));
    }
    if (this.#state === "closed") return Promise.reject(new ClientClosedError());
    const ref = `s${++this.#seq}`;
    // A reaction has no id: a stand-in no `sent` carries, so only its ref matches it.
    const id = clientId ?? `~${ref}`;
    if (utf8Length(JSON.stringify({ ...frame, ref })) > MAX_FRAME_BYTES) {
      return Promise.reject(new NatterError("too_large", "the message is over the frame limit", { field: "body" }));
    }
    return new Promise<SentMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#outbox.delete(ref)) return;
        reject(new SendTimeoutError(chat, id, this.#sendTimeoutMs));
        this.#pumpSends();
      }, this.#sendTimeoutMs);
      this.#outbox.set(ref, { ref, chat, id, frame, inflight: false, retryAt: 0, attempts: 0, timer, resolve, reject });
      this.#pumpSends();
    });
  }

  /** Marks the chat read up to `n` (sent now, or on the next connection). */
  read(chat: string, n: number): void {
    this.#reads.set(chat, Math.max(n, this.#reads.get(chat) ?? 0));
    this.#flushReads();
  }

  /** Tells the chat's other members this user is typing (throttled to one frame per `typingIntervalMs`). */
  typing(chat: string): void {
    if (!this.#ready) return;
    const now = Date.now();
    if (now - (this.#typingAt.get(chat) ?? 0) < this.#typingIntervalMs) return;
    this.#typingAt.set(chat, now);
    this.#frame({ type: "typing", chat });
  }

  /** Replaces the set of users whose presence is watched (kept across reconnects). */
  watch(users: string[]): void {
    this.#watch = [...new Set(users)];
    if (this.#ready) this.#frame({ type: "watch", users: this.#watch });
  }

  /**
   * Starts following a chat after `afterN` (0: from its start, or the user's joining),
   * fetching what it missed at once (over HTTP). Does nothing for a chat that already has a cursor:
   * `rewind` moves a known one.
   *
   * ```ts
   * const { chatId } = await client.http.createDirect(ben.userId);
   * client.track(chatId); // every event of the new chat, from chat.created on
   * ```
   */
  track(chat: string, afterN = 0): void {
    if (this.cursors.get(chat) !== undefined || this.#ordering.position(chat) !== undefined) return;
    this.rewind(chat, afterN);
  }

  /**
   * Delivers a chat's events again after `afterN` (0: from its start, or the user's
   * joining): the stored cursor goes back to `afterN`, what is queued for the app is
   * dropped, and the events after it are fetched over HTTP (connected or not), then live
   * ones follow. For rebuilding a view or reprocessing.
   *
   * ```ts
   * client.rewind(chatId, 0); // the whole chat comes again as `event`s, in order
   * ```
   */
  rewind(chat: string, afterN = 0): void {
    const n = Math.max(0, Math.floor(afterN));
    this.#processing.reset(chat);
    this.#ordering.reset(chat, n);
    this.cursors.set(chat, n);
    // Over HTTP, not `sync`: the gateway never sends a socket the same event twice.
    void this.#ordering.catchUp(chat);
  }

  /** Stops keeping a cursor for the chat (it is left out of the next `sync`; live events start it again). */
  forget(chat: string): void {
    this.#processing.reset(chat);
    this.#ordering.reset(chat, undefined);
    this.cursors.delete(chat);
  }

  /**
   * With `cursorMoves: "on-done"`: the app has processed the chat up to `event.n`; the
   * cursor moves there (never back) and the server gets the ack. In the default mode the
   * SDK moves cursors itself, and `done` would move one past a handler still running.
   *
   * ```ts
   * client.on("event", (e) => jobs.push(e)); // processed later, elsewhere
   * // … once e is stored for good:
   * client.done(e);
   * ```
   */
  done(event: { chat: string; n: number }): void {
    const before = this.cursors.get(event.chat) ?? -1;
    this.#processing.done(event.chat, event.n);
    if (event.n > before) this.#processed(event.chat, event.n);
  }

  /** The chat's stored cursor: the last n processed (see `cursorMoves`). */
  cursor(chat: string): number | undefined {
    return this.cursors.get(chat);
  }

  /** A pager over the chat's history, newest page first (`older()`). */
  history(chat: string, opts: { pageSize?: number; before?: number } = {}): HistoryPager {
    return new HistoryPager(this.http, chat, opts);
  }

  // ------------------------------------------------------------------ connection

  #setState(next: ClientState): void {
    const prev = this.#state;
    if (prev === next) return;
    this.#state = next;
    this.#emitter.emit("state", next, prev);
  }

  #open(): void {
    this.#setState("connecting");
    const base = this.server;
    // Connect-time resume: the gateway holds live events until the `sync` sent right after
    // `ready`, so each chat's replay comes first and live events follow with no gap.
    const url = `${base.replace(/^http/, "ws")}/v1/ws?${RESUME_PARAM}=1`;
    let ws: WebSocket;
    try {
      ws = new this.#WS(url);
    } catch (err) {
      this.#emitter.emit("error", err instanceof Error ? err : new Error(String(err)));
      this.#scheduleReconnect(1006);
      return;
    }
    this.#ws = ws;
    this.#ready = false;
    this.#connectTimer = setTimeout(() => {
      if (this.#ws === ws && !this.#ready) this.#socketGone(ws, 1006);
    }, this.#connectTimeoutMs);
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#lastFrameAt = Date.now();
      ws.send(JSON.stringify({ type: "auth", token: this.#token }));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#ws !== ws) return;
      this.#lastFrameAt = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        this.#emitter.emit("error", new NatterError("invalid_json", "the server sent a frame that is not JSON"));
        return;
      }
      this.#onFrame(frame);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.#ws === ws) this.#socketGone(ws, ev.code);
    };
    ws.onerror = () => {
      // A close event follows; it decides.
    };
  }

  /** Detaches from the socket (closing it if still open) and decides what comes next from `code`. */
  #socketGone(ws: WebSocket, code: number): void {
    if (this.#ws !== ws) return;
    if (code === CLOSE_CODES.tooLarge) {
      // The gateway refused a frame as too large: never resend the sends that were on the wire.
      for (const p of [...this.#outbox.values()]) {
        if (!p.inflight) continue;
        this.#outbox.delete(p.ref);
        clearTimeout(p.timer);
        p.reject(new NatterError("too_large", "the gateway closed the socket: a frame was too large (1009)"));
      }
    }
    this.#teardownSocket(CLOSE_CODES.normal);
    if (this.#state === "closed") return;
    if (code === CLOSE_CODES.unauthorized) {
      this.#setState("unauthorized");
      this.#emitter.emit("unauthorized");
      this.#failConnect(new NatterError("unauthorized", "the server refused the token (4001)"));
      return;
    }
    if (!shouldReconnect(code)) {
      this.#setState("closed");
      const err = new NatterError("invalid_input", `the server closed the connection with ${code}; not reconnecting`);
      this.#emitter.emit("error", err);
      this.#failConnect(err);
      return;
    }
    this.#scheduleReconnect(code);
  }

  #teardownSocket(code: number): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#ready = false;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#heartbeatTimer);
    this.#syncWaits.clear();
    for (const p of this.#outbox.values()) p.inflight = false;
    if (!ws) return;
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    try {
      if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) ws.close(code);
    } catch {
      // Already closing.
    }
  }

  #scheduleReconnect(code: number): void {
    let delay = fullJitter(this.#attempt, this.#backoff, this.#random);
    if (code === CLOSE_CODES.rateLimited) delay = Math.max(delay, this.#rateLimitedDelayMs);
    this.#attempt++;
    this.#sendStats.reconnects++;
    // The next attempt goes to the next gateway in the list.
    this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
    this.#setState("reconnecting");
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (this.#state === "reconnecting") this.#open();
    }, delay);
  }

  #failConnect(err: Error): void {
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  #maybeConnected(): void {
    if (this.#state !== "open" || this.#syncWaits.size > 0) return;
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #frame(frame: ClientFrame): boolean {
    const ws = this.#ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // ------------------------------------------------------------------ frames in

  #onFrame(f: ServerFrame): void {
    switch (f.type) {
      case "ready":
        this.#onReady(f.userId, f.deviceId, f.heartbeatMs);
        return;
      case "event": {
        const { type: _type, ...event } = f;
        this.#ordering.push(event as ChatEvent);
        return;
      }
      case "sent":
        // A `sent` without `id` answers a reaction (or a `delete` frame, which this client sends over HTTP).
        this.#onSent(f.ref, { chat: f.chat, id: f.id ?? "", seq: f.seq, n: f.n, ts: f.ts });
        return;
      case "synced":
        this.#syncProgress(f.ref);
        this.#emitter.emit("synced", { chat: f.chat, n: f.n });
        return;
      case "receipt":
        this.#emitter.emit("receipt", { chat: f.chat, user: f.user, deliveredN: f.deliveredN, readN: f.readN });
        return;
      case "typing":
        this.#emitter.emit("typing", { chat: f.chat, user: f.user });
        return;
      case "presence":
        this.#emitter.emit("presence", { user: f.user, online: f.online, lastSeen: f.lastSeen });
        return;
      case "error":
        this.#onError(f);
        return;
      case "pong":
        return;
    }
  }

  #onReady(userId: string, deviceId: string, heartbeatMs: number): void {
    clearTimeout(this.#connectTimer);
    this.#ready = true;
    this.#attempt = 0;
    this.#userId = userId;
    this.#deviceId = deviceId;
    this.#heartbeatMs = heartbeatMs > 0 ? heartbeatMs : 25_000;
    this.http.useServer(this.#serverIndex);
    this.#setState("open");
    this.#startHeartbeat();
    // Sync first: the socket asked to resume, so live events wait for this (an empty sync starts them at once).
    this.#sync({ ...this.cursors.all(), ...this.#ordering.positions() });
    if (this.#discover !== false) void this.#discoverChats(this.#ws!);
    if (this.#watch.length > 0) this.#frame({ type: "watch", users: this.#watch });
    this.#pumpSends();
    this.#flushAcks();
    this.#flushReads();
    this.#maybeConnected();
  }

  #sync(cursors: Record<string, number>): void {
    const entries = Object.entries(cursors);
    for (let i = 0; i === 0 || i < entries.length; i += MAX_SYNC_CHATS) {
      const chunk = entries.slice(i, i + MAX_SYNC_CHATS);
      const ref = `sync${++this.#seq}`;
      if (chunk.length > 0) this.#syncWaits.set(ref, chunk.length);
      this.#frame({ type: "sync", ref, cursors: Object.fromEntries(chunk) });
    }
  }

  #syncProgress(ref: string | undefined): void {
    if (ref === undefined) return;
    const left = this.#syncWaits.get(ref);
    if (left === undefined) return;
    if (left <= 1) this.#syncWaits.delete(ref);
    else this.#syncWaits.set(ref, left - 1);
    this.#maybeConnected();
  }

  #onError(f: ErrorFrame): void {
    const err = new NatterError(f.code as ErrorCode, f.message, {
      ...(f.field === undefined ? {} : { field: f.field }),
      ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }),
    });
    const pending = f.ref === undefined ? undefined : this.#outbox.get(f.ref);
    if (pending) {
      pending.inflight = false;
      if (RETRIABLE.has(f.code)) {
        pending.retryAt = Date.now() + (f.retryAfterMs ?? fullJitter(pending.attempts, this.#backoff, this.#random));
        this.#pumpSends();
        return;
      }
      this.#outbox.delete(pending.ref);
      clearTimeout(pending.timer);
      pending.reject(err);
      this.#pumpSends();
      return;
    }
    if (f.ref !== undefined && this.#syncWaits.has(f.ref)) {
      // This chat cannot be synced: not a member any more, or no such chat. Stop tracking it.
      if (f.chat !== undefined && (f.code === "forbidden" || f.code === "not_found")) this.cursors.delete(f.chat);
      this.#syncProgress(f.ref);
    }
    this.#emitter.emit("error", err);
  }

  #startHeartbeat(): void {
    clearInterval(this.#heartbeatTimer);
    const ws = this.#ws;
    const every = Math.max(1000, Math.floor(this.#heartbeatMs / 2));
    this.#heartbeatTimer = setInterval(() => {
      if (!ws || this.#ws !== ws) return;
      const quiet = Date.now() - this.#lastFrameAt;
      // Browsers answer the server's pings without telling us; a ping frame proves the path both ways.
      if (quiet > 2 * this.#heartbeatMs) this.#socketGone(ws, CLOSE_CODES.idleTimeout);
      else if (quiet >= this.#heartbeatMs) this.#frame({ type: "ping" });
    }, every);
  }

  // ------------------------------------------------------------------ sends

  #pumpSends(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    if (!this.#ready || this.#outbox.size === 0) return;
    const now = Date.now();
    const inflight = new Map<string, number>();
    const blocked = new Set<string>();
    let wakeAt = Infinity;
    // In creation order; per chat at most `sendWindow` on the wire, and a waiting send holds back the ones after it.
    for (const p of this.#outbox.values()) {
      if (blocked.has(p.chat)) continue;
      const count = inflight.get(p.chat) ?? 0;
      if (p.inflight) {
        inflight.set(p.chat, count + 1);
        continue;
      }
      if (count >= this.#sendWindow || p.retryAt > now) {
        if (p.retryAt > now) wakeAt = Math.min(wakeAt, p.retryAt);
        blocked.add(p.chat);
        continue;
      }
      // A resend says so: only then does the gateway read its client-message index, which
      // answers a resend older than the dedup window (docs/protocol.md, "Resends").
      const retry = p.attempts > 0 && p.frame.type === "send" ? { retry: true } : {};
      if (!this.#frame({ ...p.frame, ...retry, ref: p.ref } as ClientFrame)) return;
      p.inflight = true;
      if (p.attempts > 0) this.#sendStats.resends++;
      this.#sendStats.frames++;
      p.attempts++;
      inflight.set(p.chat, count + 1);
    }
    if (wakeAt !== Infinity) this.#pumpTimer = setTimeout(() => this.#pumpSends(), Math.max(0, wakeAt - now));
  }

  #onSent(ref: string, sent: SentMessage): void {
    let pending = this.#outbox.get(ref);
    if (!pending) {
      for (const p of this.#outbox.values()) {
        if (sent.id !== "" && p.chat === sent.chat && p.id === sent.id) {
          pending = p;
          break;
        }
      }
    }
    if (pending) {
      this.#outbox.delete(pending.ref);
      clearTimeout(pending.timer);
      pending.resolve(sent);
      // `sent` events are for messages (a chat list shows them); edits and reactions come back as events.
      if (pending.frame.type === "send") this.#emitter.emit("sent", sent);
    }
    this.#pumpSends();
  }

  // ------------------------------------------------------------------ delivery, acks, reads

  /** An event was processed (its cursor stored): the server gets an ack for it, batched. */
  #processed(chat: string, n: number): void {
    if (n <= (this.#acks.get(chat) ?? 0)) return;
    this.#acks.set(chat, n);
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined;
      this.#flushAcks();
    }, this.#ackDelayMs);
  }

  /**
   * Chats with no cursor that `GET /v1/chats` lists (created or joined while away) are
   * synced from their start or their head (`discoverChats`). `connect()` waits for them.
   */
  async #discoverChats(ws: WebSocket): Promise<void> {
    const ref = `discover${++this.#seq}`;
    this.#syncWaits.set(ref, 1);
    try {
      // My own name too, so that events are named from the first one after `connect()`.
      const me = this.#userId;
      if (me !== undefined && !this.users.get(me)) await this.users.lookup(me);
      if (this.#ws !== ws) return;
      const found: Record<string, number> = {};
      let cursor: string | undefined;
      do {
        const page = await this.http.chats({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
        if (this.#ws !== ws) return;
        for (const c of page.chats) {
          if (c.peer && c.peerHandle !== undefined && c.peerDisplayName !== undefined) {
            this.users.learn({ userId: c.peer, handle: c.peerHandle, displayName: c.peerDisplayName });
          }
          if (this.cursors.get(c.chatId) !== undefined || this.#ordering.position(c.chatId) !== undefined) continue;
          found[c.chatId] = this.#discover === "from-head" ? c.lastN : 0;
        }
        cursor = page.next;
      } while (cursor);
      for (const [chat, n] of Object.entries(found)) {
        this.#ordering.reset(chat, n);
        this.cursors.set(chat, n);
      }
      if (Object.keys(found).length > 0) this.#sync(found);
    } catch (err) {
      if (this.#ws === ws) this.#emitter.emit("error", err instanceof Error ? err : new Error(String(err)));
    } finally {
      if (this.#ws === ws) this.#syncProgress(ref);
    }
  }

  #flushAcks(): void {
    if (!this.#ready) return;
    for (const [chat, n] of this.#acks) {
      if (!this.#frame({ type: "ack", chat, n })) return;
      this.#acks.delete(chat);
    }
  }

  #flushReads(): void {
    if (!this.#ready) return;
    for (const [chat, n] of this.#reads) {
      if (!this.#frame({ type: "read", chat, n })) return;
      this.#reads.delete(chat);
    }
  }
}

function newId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}
