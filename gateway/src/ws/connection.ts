import type { Logger } from "@natter/config";
import {
  CLOSE_CODES,
  type ChatEvent,
  type ClientFrame,
  isNatterError,
  NatterError,
  parseClientFrame,
  type ReceiptFrame,
  refOf,
  type TypingSignalFrame,
} from "@natter/protocol";
import type { WebSocket } from "ws";
import { bearer } from "../auth/authenticate.ts";
import type { AuthInfo, GatewayContext } from "../context.ts";
import type { PresenceHub } from "../presence/presence-hub.ts";
import { ChatFeed, type ChatFeedDeps, type DeliveryPath, type FeedSocket } from "./chat-feed.ts";
import { FrameLimits } from "./frame-limits.ts";
import type { Heartbeats } from "./heartbeats.ts";
import type { Expiring, SessionExpiry } from "./session-expiry.ts";
import type { InboxHub, InboxListener } from "./inbox-hub.ts";
import type { WsOptions } from "./options.ts";
import { Transport, type TransportDeps, type TransportOwner } from "./transport.ts";
import { WatchSet } from "./watch-set.ts";

/** Shared by every connection of the gateway (one object, not one per socket). */
export interface ConnectionDeps {
  ctx: GatewayContext;
  feed: ChatFeedDeps;
  transport: TransportDeps;
  hub: InboxHub;
  presenceHub: PresenceHub;
  opts: WsOptions;
  logger: Logger;
  heartbeats: Heartbeats;
  /** Closes sockets whose session expires. */
  expiry: SessionExpiry;
  /** Called once when the socket is gone. */
  onClosed(conn: Connection): void;
}

type State = "authenticating" | "open" | "closed";

/** The socket's `Connection`, for the listeners every socket shares. */
const CONNECTION = Symbol("connection");
type OwnedSocket = WebSocket & { [CONNECTION]?: Connection };

/** Frames that arrived while a header token was being checked; more than this is abuse. */
const MAX_EARLY_FRAMES = 64;
/** Typing and receipt signals kept while a socket authenticates (they are ephemeral). */
const EARLY_SIGNALS_MAX = 64;

/**
 * One WebSocket of one device: authentication (header or first `auth` frame, with the
 * connect-time resume), and what each frame means (dispatch). The socket's I/O is its
 * `Transport`, its frame budgets `FrameLimits`, its presence watches a `WatchSet` (made
 * at the first `watch`), and its live events a `ChatFeed`. A gateway holds tens of
 * thousands of mostly idle ones: the connection is itself its feed's socket and its user's
 * inbox listener (no closures per socket for them).
 */
export class Connection implements FeedSocket, InboxListener, Expiring, TransportOwner {
  // The socket's listeners: one function each for the gateway, not closures per socket
  // (`ws` calls them with the socket as `this`).
  static readonly #onMessageOf = function (this: OwnedSocket, data: unknown, isBinary: boolean): void {
    const conn = this[CONNECTION];
    if (conn) conn.#onMessage(data as Buffer | Buffer[], isBinary);
  };
  static readonly #onPongOf = function (this: OwnedSocket): void {
    const conn = this[CONNECTION];
    if (conn) conn.#io.alive = true;
  };
  static readonly #onCloseOf = function (this: OwnedSocket, code: number): void {
    const conn = this[CONNECTION];
    if (conn && conn.#state !== "closed") conn.#io.closedByPeer(code);
  };

  readonly #io: Transport;
  readonly #deps: ConnectionDeps;
  readonly #limits: FrameLimits;
  #state: State = "authenticating";
  #auth: AuthInfo | undefined;
  #feed: ChatFeed | undefined;
  #watches: WatchSet | undefined;
  /** Counted as a device in presence (from `ready` until the close). */
  #online = false;
  /** Frames received while authenticating, handled after `ready`. */
  #early: string[] | undefined;
  /**
   * Typing and receipt signals that reached the inbox between its subscription and `ready`:
   * sent right after `ready`, which is always a socket's first frame.
   */
  #earlySignals: (TypingSignalFrame | ReceiptFrame)[] | undefined;
  /**
   * Connect-time resume: the cursors of the `auth` frame (replayed right after `ready`), or
   * `true` for `?resume=1` (live events wait for the client's first `sync`); undefined: live
   * events flow from `ready` on.
   */
  #resume: Record<string, number> | true | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  /** Frames being handled (sends awaiting their PubAck). */
  #inflight = 0;

  constructor(socket: WebSocket, authorization: string | undefined, resume: boolean, deps: ConnectionDeps) {
    this.#deps = deps;
    this.#io = new Transport(socket, deps.transport, this);
    this.#limits = new FrameLimits(deps.opts);
    if (resume) this.#resume = true;
    deps.ctx.metrics.wsConnections.inc();

    // Handlers first, synchronously: frames that arrive during authentication are kept.
    (socket as OwnedSocket)[CONNECTION] = this;
    socket.on("message", Connection.#onMessageOf);
    socket.on("pong", Connection.#onPongOf);
    socket.on("close", Connection.#onCloseOf);
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

  /** The device session this socket authenticated with (once authenticated). */
  get auth(): AuthInfo | undefined {
    return this.#auth;
  }

  /** The session ended (its expiry passed, or it was revoked): close 4001, log in again. */
  expired(): void {
    this.close(CLOSE_CODES.unauthorized);
  }

  /** Some of the user's device sessions were revoked, on any gateway: this socket ends if it is one of them. */
  revoked(deviceIds: readonly string[]): void {
    if (this.#auth && deviceIds.includes(this.#auth.deviceId)) this.expired();
  }

  /** Whom the user may see changed: the socket's watches are re-checked (a watch never outlives its relationship). */
  contactsChanged(): void {
    const me = this.#auth?.userId;
    if (!me || !this.#watches) return;
    this.#watches.recheck(me).catch((err: unknown) => this.#deps.logger.warn({ err }, "watch re-check failed"));
  }

  /** Closes with `code` (idempotent). */
  close(code: number): void {
    this.#io.close(code);
  }

  /** A heartbeat (`Heartbeats` calls it every `heartbeatMs`). */
  beat(): void {
    this.#io.beat();
  }

  // ------------------------------------------------------------------ authentication

  async #authenticate(token: string): Promise<void> {
    const { ctx } = this.#deps;
    let info: AuthInfo;
    try {
      info = await ctx.authenticator.authenticate(token);
    } catch (err) {
      if (!isNatterError(err) || err.code !== "unauthorized")
        this.#deps.logger.warn({ err }, "websocket authentication failed");
      this.close(CLOSE_CODES.unauthorized);
      return;
    }
    if (this.#state !== "authenticating") return;
    this.#clearAuthTimer();
    if (this.#deps.hub.sockets(info.userId) >= ctx.config.wsMaxPerUser) {
      this.close(CLOSE_CODES.tooManySockets);
      return;
    }
    this.#auth = info;
    const feed = new ChatFeed(info.userId, this, this.#deps.feed);
    this.#feed = feed;
    try {
      await this.#deps.hub.add(info.userId, this);
    } catch (err) {
      this.#deps.logger.error({ err }, "inbox subscription failed");
      this.close(CLOSE_CODES.internalError);
      return;
    }
    if (this.#state !== "authenticating") {
      // Closed while subscribing: give the subscription back.
      this.#deps.hub.remove(info.userId, this);
      return;
    }
    this.#state = "open";
    this.#deps.expiry.add(this, info.expiresAt);
    ctx.presence.connect(info.userId);
    this.#online = true;
    this.#io.send({
      type: "ready",
      userId: info.userId,
      deviceId: info.deviceId,
      heartbeatMs: this.#deps.opts.heartbeatMs,
    });
    // The feed has held the live events that came in since the subscription: a resume
    // replays first and they follow it; otherwise they flow now, each chat from its first.
    // Frames sent before `ready` (a `sync` among them) are handled before the release, so
    // a client that sent its `sync` early gets replay, then live, too.
    const resume = this.#resume;
    this.#resume = undefined;
    if (resume !== undefined && resume !== true) feed.sync(resume, undefined);
    const signals = this.#earlySignals ?? [];
    this.#earlySignals = undefined;
    for (const frame of signals) this.#io.send(frame);
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const text of early) this.#handleText(text);
    if (resume === undefined) feed.release();
  }

  #clearAuthTimer(): void {
    // Dropped, not only cleared: a Timeout object kept in a field is ~130 bytes per socket.
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
  }

  // ------------------------------------------------------------------ frames in

  #onMessage(data: Buffer | Buffer[], isBinary: boolean): void {
    this.#io.alive = true;
    if (this.#state === "closed") return;
    const { metrics } = this.#deps.ctx;
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString("utf8");
    if (isBinary) {
      metrics.wsFramesIn.inc({ type: "binary" });
      this.#badFrame(new NatterError("invalid_input", "frames are JSON text, not binary"), undefined);
      return;
    }
    const wait = this.#limits.take(this.#deps.opts);
    if (wait > 0) {
      metrics.wsFramesIn.inc({ type: "rate_limited" });
      metrics.rateLimited.inc({ limit: "ws_frames" });
      if (this.#limits.refusedTooOften(this.#deps.opts)) {
        this.close(CLOSE_CODES.rateLimited);
        return;
      }
      this.#io.sendError(new NatterError("rate_limited", "too many frames", { retryAfterMs: wait }), refOf(text));
      return;
    }
    if (this.#state === "authenticating") {
      if (this.#early) {
        // A token is being checked: keep the frame for after `ready`.
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
      this.#deps.ctx.metrics.wsFramesIn.inc({ type: "invalid" });
      this.close(CLOSE_CODES.unauthorized);
      return;
    }
    this.#deps.ctx.metrics.wsFramesIn.inc({ type: frame.type });
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
      this.#deps.ctx.metrics.wsFramesIn.inc({ type: "invalid" });
      this.#badFrame(err as NatterError, refOf(text));
      return;
    }
    this.#deps.ctx.metrics.wsFramesIn.inc({ type: frame.type });
    this.#inflight++;
    if (this.#inflight >= this.#deps.opts.maxInflight) this.#io.pause();
    this.#handle(frame)
      .catch((err: unknown) => {
        const ref = "ref" in frame ? frame.ref : undefined;
        if (isNatterError(err)) {
          this.#io.sendError(err, ref);
        } else {
          this.#deps.logger.error({ err, type: frame.type }, "frame failed");
          this.#io.sendError(new NatterError("internal", "internal error"), ref);
        }
      })
      .finally(() => {
        this.#inflight--;
        if (this.#io.paused && this.#inflight < this.#deps.opts.maxInflight && this.#state === "open") {
          this.#io.resume();
        }
      });
  }

  async #handle(frame: ClientFrame): Promise<void> {
    const { ctx } = this.#deps;
    const me = this.#auth!.userId;
    switch (frame.type) {
      case "auth":
        throw new NatterError("invalid_input", "already authenticated", { field: "type" });
      case "ping":
        this.#io.send({ type: "pong", ...(frame.ref === undefined ? {} : { ref: frame.ref }) });
        return;
      case "send": {
        const r = await ctx.chats.send(me, frame.chat, frame.id, frame.body, {
          ...(frame.replyTo === undefined ? {} : { replyTo: frame.replyTo }),
          ...(frame.attachments === undefined ? {} : { attachments: frame.attachments }),
          firstSend: frame.retry !== true,
        });
        this.#io.send({ type: "sent", ref: frame.ref, chat: r.chat, id: r.id, seq: r.seq, n: r.n, ts: r.ts });
        return;
      }
      case "edit": {
        const r = await ctx.edits.edit(me, frame.chat, frame.target, frame.id, frame.body);
        this.#io.send({ type: "sent", ref: frame.ref, chat: r.chat, id: r.id, seq: r.seq, n: r.n, ts: r.ts });
        return;
      }
      case "react":
      case "unreact": {
        const r =
          frame.type === "react"
            ? await ctx.reactions.add(me, frame.chat, frame.target, frame.emoji)
            : await ctx.reactions.remove(me, frame.chat, frame.target, frame.emoji);
        this.#io.send({ type: "sent", ref: frame.ref, chat: r.chat, seq: r.seq, n: r.n, ts: r.ts });
        return;
      }
      case "delete": {
        const r = await ctx.deletes.byMember(me, frame.chat, frame.target);
        this.#io.send({ type: "sent", ref: frame.ref, chat: r.chat, seq: r.seq, n: r.n, ts: r.ts });
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
        if (this.#state !== "open") return;
        this.#watches ??= new WatchSet(ctx, this.#deps.presenceHub, (f) => this.#io.send(f));
        await this.#watches.replace(me, frame.users);
        return;
    }
  }

  /** An invalid frame gets an `error` frame; too many within the window close the socket (1008). */
  #badFrame(err: NatterError, ref: string | undefined): void {
    if (this.#limits.badTooOften(this.#deps.opts)) {
      this.close(CLOSE_CODES.policyViolation);
      return;
    }
    this.#io.sendError(err, ref);
  }

  // ------------------------------------------------------------------ the inbox's listener, the feed's socket

  /** A live event from the user's inbox. */
  event(event: ChatEvent): void {
    this.#feed?.live(event);
  }

  /** A typing or receipt signal from the user's inbox: forwarded as it is. */
  signal(frame: TypingSignalFrame | ReceiptFrame): void {
    if (this.#state === "open") this.#io.send(frame);
    else if (this.#state === "authenticating") {
      // Ephemeral signals: a few are kept for after `ready`, a flood is not.
      const held = (this.#earlySignals ??= []);
      if (held.length < EARLY_SIGNALS_MAX) held.push(frame);
    }
  }

  deliver(event: ChatEvent, path: DeliveryPath): boolean {
    if (!this.#io.send({ type: "event", ...event })) return false;
    const { metrics } = this.#deps.ctx;
    metrics.deliveries.inc({ path });
    if (path !== "replay") metrics.deliverLatency.observe(Math.max(0, Date.now() - event.ts) / 1000);
    return true;
  }

  synced(chat: string, n: number, ref: string | undefined): void {
    this.#io.send({ type: "synced", ...(ref === undefined ? {} : { ref }), chat, n });
  }

  syncFailed(chat: string, err: NatterError, ref: string | undefined): void {
    this.#io.sendError(err, ref, chat);
  }

  overflow(): void {
    this.close(CLOSE_CODES.slowConsumer);
  }

  failed(err: unknown): void {
    this.#deps.logger.error({ err, userId: this.#auth?.userId }, "live feed failed; closing the socket");
    this.close(CLOSE_CODES.internalError);
  }

  drained(): Promise<boolean> {
    return this.#io.drained();
  }

  // ------------------------------------------------------------------ lifecycle

  /** The transport closed (ours or the peer's): the teardown, once. */
  transportClosed(): void {
    this.#teardown();
  }

  #teardown(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const { ctx, hub, heartbeats } = this.#deps;
    heartbeats.remove(this);
    this.#deps.expiry.remove(this);
    this.#clearAuthTimer();
    this.#feed?.stop();
    if (this.#auth && this.#feed) hub.remove(this.#auth.userId, this);
    if (this.#auth && this.#online) ctx.presence.disconnect(this.#auth.userId);
    this.#watches?.close();
    ctx.metrics.wsConnections.dec();
    this.#deps.onClosed(this);
  }
}
