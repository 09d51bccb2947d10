import type { Logger } from "@natter/config";
import {
  CLOSE_CODES,
  type ChatEvent,
  type ClientFrame,
  type ErrorFrame,
  isNatterError,
  NatterError,
  parseClientFrame,
  type PresenceFrame,
  type ReceiptFrame,
  refOf,
  type ServerFrame,
  type TypingSignalFrame,
} from "@natter/protocol";
import type { WebSocket } from "ws";
import { authenticate, bearer } from "../auth/authenticate.ts";
import type { AuthInfo, GatewayContext } from "../context.ts";
import { type Bucket, takeToken } from "../rate-limit.ts";
import { ChatFeed, type ChatFeedDeps, type DeliveryPath, type FeedSocket } from "./chat-feed.ts";
import type { PresenceHub } from "../presence/presence-hub.ts";
import type { Heartbeats } from "./heartbeats.ts";
import type { InboxHub, InboxListener } from "./inbox-hub.ts";
import type { WsOptions } from "./options.ts";

/** Shared by every connection of the gateway (one object, not one per socket). */
export interface ConnectionDeps {
  ctx: GatewayContext;
  feed: ChatFeedDeps;
  hub: InboxHub;
  presenceHub: PresenceHub;
  opts: WsOptions;
  logger: Logger;
  heartbeats: Heartbeats;
  /** Called once when the socket is gone. */
  onClosed(conn: Connection): void;
}

type State = "authenticating" | "open" | "closed";

/** Frames that arrived while a header token was being checked; more than this is abuse. */
const MAX_EARLY_FRAMES = 64;
/** Close reasons are at most 123 bytes; ours are short and fixed. */
const REASONS: Record<number, string> = {
  [CLOSE_CODES.goingAway]: "gateway shutting down",
  [CLOSE_CODES.policyViolation]: "too many invalid frames",
  [CLOSE_CODES.internalError]: "internal error; reconnect and sync",
  [CLOSE_CODES.unauthorized]: "unauthorized",
  [CLOSE_CODES.authTimeout]: "no auth frame in time",
  [CLOSE_CODES.rateLimited]: "frame rate limit",
  [CLOSE_CODES.slowConsumer]: "slow consumer; reconnect and sync",
  [CLOSE_CODES.idleTimeout]: "heartbeat timeout",
};

/**
 * One WebSocket of one device: authentication (header or first `auth` frame), frames in,
 * frames out with a bounded send buffer, heartbeats, and the device's live feed (an
 * `InboxHub` listener feeding a `ChatFeed`). A gateway holds tens of thousands of mostly
 * idle ones: the connection is itself its feed's socket and its user's inbox listener (no
 * closures per socket for them), and what only some sockets use (watches, timers) is
 * allocated when first needed.
 */
export class Connection implements FeedSocket, InboxListener {
  readonly #socket: WebSocket;
  readonly #d: ConnectionDeps;
  readonly #log: Logger;
  #state: State = "authenticating";
  #auth: AuthInfo | undefined;
  #feed: ChatFeed | undefined;
  /** Users this socket watches (visible ones only), and the online state last sent for each; from the first `watch`. */
  #watched: Map<string, boolean | undefined> | undefined;
  #watchGen = 0;
  /** Counted as a device in presence (from `ready` until the close). */
  #online = false;
  #presenceListener: ((f: PresenceFrame) => void) | undefined;
  #early: string[] | undefined;
  /**
   * Connect-time resume: the cursors of the `auth` frame (replayed right after `ready`), or
   * `true` for `?resume=1` (live events wait for the client's first `sync`); undefined: live
   * events flow from `ready` on.
   */
  #resume: Record<string, number> | true | undefined;
  #alive = true;
  #authTimer: NodeJS.Timeout | undefined;
  #inflight = 0;
  readonly #frames: Bucket;
  #badFrames = 0;
  #refused = 0;
  #windowStart = Date.now();

  constructor(socket: WebSocket, authorization: string | undefined, resume: boolean, deps: ConnectionDeps) {
    this.#socket = socket;
    if (resume) this.#resume = true;
    this.#d = deps;
    this.#log = deps.logger;
    this.#frames = { tokens: deps.opts.frameBurst, at: Date.now() };
    deps.ctx.metrics.wsConnections.inc();

    // Handlers first, synchronously: frames that arrive during authentication are kept.
    socket.on("message", (data, isBinary) => this.#onMessage(data as Buffer | Buffer[], isBinary));
    socket.on("pong", () => {
      this.#alive = true;
    });
    socket.on("close", (code) => this.#onClose(code));
    deps.heartbeats.add(this);

    // The token comes from the Authorization header or the first frame; a token in the URL is never read.
    if (authorization !== undefined) {
      this.#early = [];
      const token = bearer(authorization);
      if (token === undefined) queueMicrotask(() => this.close(CLOSE_CODES.unauthorized));
      else void this.#authenticate(token);
    } else {
      this.#authTimer = setTimeout(() => this.close(CLOSE_CODES.authTimeout), deps.opts.authTimeoutMs);
    }
  }

  get userId(): string | undefined {
    return this.#auth?.userId;
  }

  /** Closes with `code` (idempotent); a socket that does not finish the close handshake is cut after 1 s. */
  close(code: number): void {
    if (this.#socket.readyState >= this.#socket.CLOSING) return;
    this.#d.ctx.metrics.wsCloses.inc({ code: String(code) });
    if (code === CLOSE_CODES.slowConsumer) this.#d.ctx.metrics.slowConsumerCloses.inc();
    this.#socket.close(code, REASONS[code] ?? "");
    setTimeout(() => this.#socket.terminate(), 1000).unref();
    this.#teardown();
  }

  // ------------------------------------------------------------------ authentication

  async #authenticate(token: string): Promise<void> {
    const { ctx } = this.#d;
    let info: AuthInfo;
    try {
      info = await authenticate(ctx.signer, ctx.store, token);
    } catch (err) {
      if (!isNatterError(err) || err.code !== "unauthorized")
        this.#log.warn({ err }, "websocket authentication failed");
      this.close(CLOSE_CODES.unauthorized);
      return;
    }
    if (this.#state !== "authenticating") return;
    this.#clearAuthTimer();
    this.#auth = info;
    const feed = new ChatFeed(info.userId, this, this.#d.feed);
    this.#feed = feed;
    try {
      await this.#d.hub.add(info.userId, this);
    } catch (err) {
      this.#log.error({ err }, "inbox subscription failed");
      this.close(CLOSE_CODES.internalError);
      return;
    }
    if (this.#state !== "authenticating") {
      // Closed while subscribing: give the subscription back.
      this.#d.hub.remove(info.userId, this);
      return;
    }
    this.#state = "open";
    ctx.presence.connect(info.userId);
    this.#online = true;
    this.#send({ type: "ready", userId: info.userId, deviceId: info.deviceId, heartbeatMs: this.#d.opts.heartbeatMs });
    // The feed has held the live events that came in since the subscription: a resume
    // replays first and they follow it; otherwise they flow now, each chat from its first.
    // Frames sent before `ready` (a `sync` among them) are handled before the release, so
    // a client that sent its `sync` early gets replay, then live, too.
    const resume = this.#resume;
    this.#resume = undefined;
    if (resume !== undefined && resume !== true) feed.sync(resume, undefined);
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const text of early) this.#handleText(text);
    if (resume === undefined) feed.release();
  }

  // ------------------------------------------------------------------ frames in

  #onMessage(data: Buffer | Buffer[], isBinary: boolean): void {
    this.#alive = true;
    if (this.#state === "closed") return;
    const { metrics } = this.#d.ctx;
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString("utf8");
    if (isBinary) {
      metrics.wsFramesIn.inc({ type: "binary" });
      this.#badFrame(new NatterError("invalid_input", "frames are JSON text, not binary"), undefined);
      return;
    }
    this.#rollWindow();
    const { frameBurst, framesPerSecond } = this.#d.opts;
    const wait = takeToken(this.#frames, frameBurst, framesPerSecond / 1000);
    if (wait > 0) {
      metrics.wsFramesIn.inc({ type: "rate_limited" });
      metrics.rateLimited.inc({ limit: "ws_frames" });
      if (++this.#refused > this.#d.opts.rateLimitCloseAfter) {
        this.close(CLOSE_CODES.rateLimited);
        return;
      }
      this.#sendError(new NatterError("rate_limited", "too many frames", { retryAfterMs: wait }), refOf(text));
      return;
    }
    if (this.#state === "authenticating") {
      if (this.#early) {
        // A header token is being checked: keep the frame for after `ready`.
        if (this.#early.length >= MAX_EARLY_FRAMES) this.close(CLOSE_CODES.policyViolation);
        else this.#early.push(text);
        return;
      }
      this.#firstFrame(text);
      return;
    }
    this.#handleText(text);
  }

  /** Without a header token the first frame must be `auth`; anything else is unauthorized. */
  #firstFrame(text: string): void {
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(text);
    } catch {
      this.#d.ctx.metrics.wsFramesIn.inc({ type: "invalid" });
      this.close(CLOSE_CODES.unauthorized);
      return;
    }
    this.#d.ctx.metrics.wsFramesIn.inc({ type: frame.type });
    if (frame.type !== "auth") {
      this.close(CLOSE_CODES.unauthorized);
      return;
    }
    this.#clearAuthTimer();
    if (frame.cursors) this.#resume = frame.cursors;
    // Frames after `auth` and before `ready` wait, as with a header token.
    this.#early = [];
    void this.#authenticate(frame.token);
  }

  #handleText(text: string): void {
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(text);
    } catch (err) {
      this.#d.ctx.metrics.wsFramesIn.inc({ type: "invalid" });
      this.#badFrame(err as NatterError, refOf(text));
      return;
    }
    this.#d.ctx.metrics.wsFramesIn.inc({ type: frame.type });
    this.#inflight++;
    if (this.#inflight >= this.#d.opts.maxInflight) this.#socket.pause();
    this.#handle(frame)
      .catch((err: unknown) => {
        const ref = "ref" in frame ? frame.ref : undefined;
        if (isNatterError(err)) {
          this.#sendError(err, ref);
        } else {
          this.#log.error({ err, type: frame.type }, "frame failed");
          this.#sendError(new NatterError("internal", "internal error"), ref);
        }
      })
      .finally(() => {
        this.#inflight--;
        if (this.#socket.isPaused && this.#inflight < this.#d.opts.maxInflight && this.#state === "open") {
          this.#socket.resume();
        }
      });
  }

  async #handle(frame: ClientFrame): Promise<void> {
    const { ctx } = this.#d;
    const me = this.#auth!.userId;
    switch (frame.type) {
      case "auth":
        throw new NatterError("invalid_input", "already authenticated", { field: "type" });
      case "ping":
        this.#send({ type: "pong", ...(frame.ref === undefined ? {} : { ref: frame.ref }) });
        return;
      case "send": {
        const r = await ctx.chats.send(me, frame.chat, frame.id, frame.body);
        this.#send({ type: "sent", ref: frame.ref, chat: r.chat, id: r.id, seq: r.seq, n: r.n, ts: r.ts });
        return;
      }
      case "ack":
      case "read":
        // Read up to n implies delivered up to n; pointers never move backwards, and a
        // `receipt` reaches the chat's members only when one moved.
        await ctx.signals.advance(me, frame.chat, frame.n, frame.type === "read" ? frame.n : 0);
        return;
      case "sync":
        this.#feed!.sync(frame.cursors, frame.ref);
        return;
      case "typing":
        // Dropped silently when faster than one per NATTER_TYPING_INTERVAL per chat.
        await ctx.signals.typing(me, frame.chat);
        return;
      case "watch":
        await this.#watch(frame.users);
        return;
    }
  }

  /**
   * Replaces the watched set: users who share no chat with me are left out silently; the
   * presence subscriptions follow the set; then the current presence of each watched user
   * is sent at once, and changes after it as they come (only when `online` changes).
   */
  async #watch(users: string[]): Promise<void> {
    const { ctx } = this.#d;
    const limit = ctx.config.presenceWatchLimit;
    if (users.length > limit)
      throw new NatterError("invalid_input", `watch at most ${limit} users`, { field: "users" });
    const gen = ++this.#watchGen;
    const visible = await ctx.contacts.visible(this.#auth!.userId, users);
    if (gen !== this.#watchGen || this.#state !== "open") return;
    const watched = (this.#watched ??= new Map());
    const listener = (this.#presenceListener ??= (f) => this.#onPresence(f));
    const next = new Set(visible);
    const gone = [...watched.keys()].filter((u) => !next.has(u));
    const added = visible.filter((u) => !watched.has(u));
    this.#d.presenceHub.remove(gone, listener);
    for (const u of gone) watched.delete(u);
    for (const u of added) watched.set(u, undefined);
    await this.#d.presenceHub.add(added, listener);
    if (this.#state !== "open") return;
    const states = await ctx.presence.read(visible);
    if (gen !== this.#watchGen || this.#state !== "open") return;
    for (const u of visible) {
      const s = states.get(u);
      if (!s || !watched.has(u)) continue;
      watched.set(u, s.online);
      this.#send({ type: "presence", user: u, online: s.online, lastSeen: s.lastSeen });
    }
  }

  #onPresence(f: PresenceFrame): void {
    const watched = this.#watched;
    if (!watched?.has(f.user) || watched.get(f.user) === f.online) return;
    watched.set(f.user, f.online);
    this.#send(f);
  }

  /** An invalid frame gets an `error` frame; too many within the window close the socket (1008). */
  #badFrame(err: NatterError, ref: string | undefined): void {
    this.#rollWindow();
    if (++this.#badFrames > this.#d.opts.badFrameLimit) {
      this.close(CLOSE_CODES.policyViolation);
      return;
    }
    this.#sendError(err, ref);
  }

  #rollWindow(): void {
    const now = Date.now();
    if (now - this.#windowStart < this.#d.opts.badFrameWindowMs) return;
    this.#windowStart = now;
    this.#badFrames = 0;
    this.#refused = 0;
  }

  // ------------------------------------------------------------------ frames out (the feed's socket, the inbox's listener)

  /** A live event from the user's inbox. */
  event(event: ChatEvent): void {
    this.#feed?.live(event);
  }

  /** A typing or receipt signal from the user's inbox: forwarded as it is. */
  signal(frame: TypingSignalFrame | ReceiptFrame): void {
    this.#send(frame);
  }

  deliver(event: ChatEvent, path: DeliveryPath): boolean {
    const ok = this.#send({ type: "event", ...event });
    if (!ok) return false;
    const { metrics } = this.#d.ctx;
    metrics.deliveries.inc({ path });
    if (path !== "replay") metrics.deliverLatency.observe(Math.max(0, Date.now() - event.ts) / 1000);
    return true;
  }

  /** Writes a frame unless the socket is gone; a client that lets the buffer fill is closed (4009). */
  #send(frame: ServerFrame): boolean {
    if (this.#socket.readyState !== this.#socket.OPEN) return false;
    if (this.#socket.bufferedAmount > this.#d.opts.maxBufferedBytes) {
      this.close(CLOSE_CODES.slowConsumer);
      return false;
    }
    this.#cork();
    this.#socket.send(JSON.stringify(frame));
    this.#d.ctx.metrics.wsFramesOut.inc({ type: frame.type });
    return true;
  }

  #corked = false;

  /**
   * Holds the TCP socket's writes until the end of this tick, so the frames one burst of
   * events produces leave in one write system call rather than one each.
   */
  #cork(): void {
    if (this.#corked) return;
    const raw = (this.#socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!raw) return;
    this.#corked = true;
    raw.cork();
    process.nextTick(() => {
      this.#corked = false;
      raw.uncork();
    });
  }

  #sendError(err: NatterError, ref: string | undefined, chat?: string): void {
    const frame: ErrorFrame = {
      type: "error",
      ...(ref === undefined ? {} : { ref }),
      code: err.code,
      message: err.message,
      ...(err.field === undefined ? {} : { field: err.field }),
      ...(chat === undefined ? {} : { chat }),
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    };
    this.#send(frame);
  }

  synced(chat: string, n: number, ref: string | undefined): void {
    this.#send({ type: "synced", ...(ref === undefined ? {} : { ref }), chat, n });
  }

  syncFailed(chat: string, err: NatterError, ref: string | undefined): void {
    this.#sendError(err, ref, chat);
  }

  overflow(): void {
    this.close(CLOSE_CODES.slowConsumer);
  }

  failed(err: unknown): void {
    this.#log.error({ err, userId: this.#auth?.userId }, "live feed failed; closing the socket");
    this.close(CLOSE_CODES.internalError);
  }

  /** Waits (bounded) until the client has read enough of a replay to send the next page. */
  async drained(): Promise<boolean> {
    const low = this.#d.opts.maxBufferedBytes / 4;
    const deadline = Date.now() + this.#d.opts.drainTimeoutMs;
    while (this.#socket.readyState === this.#socket.OPEN && this.#socket.bufferedAmount > low) {
      if (Date.now() > deadline) {
        this.close(CLOSE_CODES.slowConsumer);
        return false;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.#socket.readyState === this.#socket.OPEN;
  }

  // ------------------------------------------------------------------ lifecycle

  /** A socket that answered neither the last ping nor sent anything since is closed (`Heartbeats` calls it every `heartbeatMs`). */
  beat(): void {
    if (!this.#alive) {
      this.close(CLOSE_CODES.idleTimeout);
      return;
    }
    this.#alive = false;
    try {
      this.#socket.ping();
    } catch {
      // Closing already.
    }
  }

  // Cleared timers are dropped too: a Timeout object kept in a field is ~130 bytes per socket.
  #clearAuthTimer(): void {
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
  }

  #onClose(code: number): void {
    if (this.#state !== "closed") this.#d.ctx.metrics.wsCloses.inc({ code: String(code) });
    this.#teardown();
  }

  #teardown(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#d.heartbeats.remove(this);
    this.#clearAuthTimer();
    this.#feed?.stop();
    if (this.#auth && this.#feed) this.#d.hub.remove(this.#auth.userId, this);
    if (this.#auth && this.#online) this.#d.ctx.presence.disconnect(this.#auth.userId);
    if (this.#watched && this.#presenceListener) {
      this.#d.presenceHub.remove(this.#watched.keys(), this.#presenceListener);
      this.#watched.clear();
    }
    this.#d.ctx.metrics.wsConnections.dec();
    this.#d.onClosed(this);
  }
}
