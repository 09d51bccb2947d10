import type { Logger } from "@natter/config";
import { CLOSE_CODES, closeReason } from "@natter/protocol";
import type { WebSocket } from "ws";
import type { GatewayContext } from "../context.ts";
import { PresenceHub } from "../presence/presence-hub.ts";
import { ChatHeads } from "./chat-heads.ts";
import { Connection, type ConnectionDeps } from "./connection.ts";
import { Heartbeats } from "./heartbeats.ts";
import { SessionExpiry } from "./session-expiry.ts";
import { InboxHub } from "./inbox-hub.ts";
import type { WsOptions } from "./options.ts";

/**
 * The gateway's real-time side: every open socket and the inbox and presence subscriptions they share.
 * `close()` is the graceful stop: no new sockets, every open one closed with 1001 (going
 * away: reconnect elsewhere and sync), then the inbox subscriptions drained.
 */
/** Sessions re-checked at once after a NATS reconnect. */
const RECHECK_BATCH = 64;

export class Realtime {
  readonly hub: InboxHub;
  readonly presenceHub: PresenceHub;
  readonly opts: WsOptions;
  readonly #ctx: GatewayContext;
  readonly log: Logger;
  readonly #connections = new Set<Connection>();
  readonly #heartbeats: Heartbeats;
  readonly #expiry = new SessionExpiry();
  /** Shared by every connection (one object, not one per socket). */
  readonly #deps: ConnectionDeps;
  #accepting = true;

  constructor(opts: { ctx: GatewayContext; options: WsOptions }) {
    this.#ctx = opts.ctx;
    this.opts = opts.options;
    this.log = opts.ctx.logger.child({ component: "ws" });
    this.hub = new InboxHub({
      nc: opts.ctx.nc,
      logger: this.log,
      metrics: opts.ctx.metrics,
      onContactsChanged: (userId) => {
        opts.ctx.contacts.forget(userId);
        opts.ctx.access.forgetSender(userId);
      },
    });
    this.presenceHub = new PresenceHub({ nc: opts.ctx.nc, logger: this.log, metrics: opts.ctx.metrics });
    this.#heartbeats = new Heartbeats(this.opts.heartbeatMs);
    const { store, metrics, chatLog } = this.#ctx;
    // The stream's last event of each chat in one batch; a chat the stream no longer holds
    // any event of has its head in the store (`ChatLog.head`).
    const heads = new ChatHeads(async (chatIds) => {
      const last = await chatLog.lastEvents(chatIds);
      const out = new Map<string, number>();
      await Promise.all(chatIds.map(async (id) => out.set(id, last.get(id)?.n ?? (await chatLog.head(id)).n)));
      return out;
    });
    this.#deps = {
      ctx: this.#ctx,
      feed: {
        readRange: (chatId, afterN, toN, limit) =>
          chatLog.range(chatId, { afterN, ...(toN === undefined ? {} : { toN }), limit }),
        getMember: (chatId, userId) => store.getMember(chatId, userId),
        headN: (chatId) => heads.head(chatId),
        duplicate: () => metrics.duplicatesDropped.inc(),
        maxPending: this.opts.maxPendingEvents,
        page: this.opts.replayPage,
      },
      transport: {
        metrics,
        maxBufferedBytes: this.opts.maxBufferedBytes,
        drainTimeoutMs: this.opts.drainTimeoutMs,
      },
      hub: this.hub,
      presenceHub: this.presenceHub,
      opts: this.opts,
      logger: this.log,
      heartbeats: this.#heartbeats,
      expiry: this.#expiry,
      onClosed: (c) => this.#connections.delete(c),
    };
    this.#watchReconnects();
  }

  /**
   * A socket just upgraded on `/v1/ws`, with the request's Authorization header and
   * whether it asked to resume (`?resume=1`: live events wait for its first `sync`).
   */
  accept(socket: WebSocket, authorization: string | undefined, resume: boolean): void {
    if (!this.#accepting) {
      socket.close(CLOSE_CODES.goingAway, closeReason(CLOSE_CODES.goingAway));
      return;
    }
    this.#connections.add(new Connection(socket, authorization, resume, this.#deps));
  }

  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Re-checks every open socket's session in the store and closes the ended ones (4001):
   * after a NATS reconnect, a revocation may have been published while this gateway
   * could not hear it. Bounded concurrency, so a gateway with many sockets does not flood
   * the store.
   */
  async recheckSessions(): Promise<number> {
    const open = [...this.#connections].filter((c) => c.auth !== undefined);
    const now = Date.now();
    let closed = 0;
    const check = async (c: Connection) => {
      const a = c.auth!;
      const s = await this.#ctx.store.getSession(a.userId, a.deviceId);
      if (!s || s.revoked || s.expiresAt <= now) {
        c.expired();
        closed++;
      }
    };
    for (let i = 0; i < open.length; i += RECHECK_BATCH) await Promise.all(open.slice(i, i + RECHECK_BATCH).map(check));
    if (closed > 0)
      this.log.info({ closed, checked: open.length }, "sockets of ended sessions closed after a NATS reconnect");
    return closed;
  }

  /**
   * After a NATS reconnect: a `user.<userId>.contacts` signal may have been missed while
   * disconnected, so every socket's watches are re-checked against fresh contacts.
   */
  #recheckWatches(): void {
    const users = new Set<string>();
    for (const c of this.#connections) if (c.userId !== undefined) users.add(c.userId);
    for (const u of users) this.#ctx.contacts.forget(u);
    for (const c of this.#connections) c.contactsChanged();
  }

  /** Watches the NATS connection: after each reconnect, `recheckSessions` and `#recheckWatches`. */
  #watchReconnects(): void {
    void (async () => {
      for await (const s of this.#ctx.nc.status()) {
        if (s.type !== "reconnect") continue;
        this.recheckSessions().catch((err: unknown) => this.log.warn({ err }, "session re-check failed"));
        this.#recheckWatches();
      }
    })();
  }

  async close(): Promise<void> {
    this.#accepting = false;
    for (const conn of [...this.#connections]) conn.close(CLOSE_CODES.goingAway);
    this.#heartbeats.stop();
    this.#expiry.stop();
    this.presenceHub.close();
    await this.hub.drain();
  }
}
