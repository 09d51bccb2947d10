import { ChatLog } from "@natter/bus";
import type { Logger } from "@natter/config";
import {
  type ChatEvent,
  type MessageCreatedEvent,
  notificationIdOf,
  type PushNotification,
  previewOf,
} from "@natter/protocol";
import type { Store } from "@natter/store";
import { CHAT_STREAM, CHAT_STREAM_SUBJECTS, CONSUMERS } from "@natter/subjects";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Counter, type Registry, register } from "prom-client";
import { parseChatEvent } from "./chat-event.ts";
import { perRegistry } from "./metrics.ts";
import type { WebhookSender } from "./push-webhook.ts";
import type { PushCursors } from "./push-cursors.ts";
import type { WebPushSender } from "./push-web.ts";
import { cutWindow, type PushWindow } from "./push-windows.ts";
import { ConsumerRunner, type RunnerOptions } from "./runner.ts";

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    sent: new Counter({
      name: "natter_push_sent_total",
      help: "Notifications delivered: channel webpush (one per browser subscription) or webhook (one per user)",
      labelNames: ["channel"] as const,
      registers,
    }),
    collapsed: new Counter({
      name: "natter_push_collapsed_total",
      help: "Messages folded into another message's notification (a burst of 5 to one user counts 4)",
      registers,
    }),
    failed: new Counter({
      name: "natter_push_failed_total",
      help: "Notifications not delivered after their retries: channel webpush (refused, or the push service down) or webhook (dead letters)",
      labelNames: ["channel"] as const,
      registers,
    }),
    removed: new Counter({
      name: "natter_push_subscriptions_removed_total",
      help: "Push subscriptions removed: gone (the push service answered 404 or 410), session (its device session logged out, revoked or expired)",
      labelNames: ["reason"] as const,
      registers,
    }),
    skipped: new Counter({
      name: "natter_push_skipped_total",
      help: "Notifications not sent: acked (a member's device acknowledged every message within the grace), muted (the member muted the chat), deleted (every message of a window deleted within the grace), stale (messages older than NATTER_PUSH_TTL, skipped by the cursor)",
      labelNames: ["reason"] as const,
      registers,
    }),
  };
}
type PushMetrics = ReturnType<typeof createMetrics>;
const pushMetrics = perRegistry(createMetrics);

export interface PushNotifierOptions {
  nc: NatsConnection;
  store: Store;
  logger: Logger;
  registry?: Registry;
  /** `NATTER_PUSH_GRACE`: wait after a message before pushing it, and the collapse span. */
  graceMs: number;
  /** `NATTER_PUSH_PREVIEW`: whether notifications carry `preview`. */
  preview: boolean;
  webPush?: WebPushSender;
  webhook?: WebhookSender;
  /** Where each chat's windows have got to (`PUSH_BUCKET`). */
  cursors: PushCursors;
  /**
   * Messages older than this are not pushed (`NATTER_PUSH_TTL`: a push service would drop
   * them by then anyway): the cursor skips them. What keeps a first deployment on a chat
   * stream with days of history from notifying all of it.
   */
  maxAgeMs: number;
}

/**
 * The push consumer's batch handler. A batch only says which chats have new messages; the
 * windows are cut from the log: each chat's next window opens at its first message after
 * the chat's cursor (`PushCursors`) and takes what follows within one grace
 * (`cutWindow`). Once that grace has passed, the window is read again through `ChatLog`
 * (a message deleted meanwhile comes back erased and is not pushed), and each member other
 * than the senders is told of the messages their devices have not acknowledged (the
 * delivered pointer, which a connected device moves within a fraction of a second), one
 * notification per window with the count, unless the member muted the chat. Then the
 * cursor moves past the window. The runner acks the batch after this resolves: a crash
 * before the cursor moved cuts the same window again from the same cursor (the same
 * notification id), so delivery is at least once and repeats are recognisable.
 */
export class PushNotifier {
  readonly #nc: NatsConnection;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #metrics: PushMetrics;
  readonly #opts: PushNotifierOptions;
  readonly #stopping = new AbortController();
  #chatLog: ChatLog | undefined;

  constructor(opts: PushNotifierOptions) {
    this.#nc = opts.nc;
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#metrics = pushMetrics(opts.registry ?? register);
    this.#opts = opts;
  }

  /** Cuts retries' back-offs short (the batch is then naked or acked as usual). */
  stop(): void {
    this.#stopping.abort();
  }

  async handle(events: readonly ChatEvent[]): Promise<void> {
    // Per chat, the newest message of the batch: windows are notified up to it.
    const upTo = new Map<string, number>();
    for (const e of events) if (e.kind === "message.created") upTo.set(e.chat, Math.max(upTo.get(e.chat) ?? 0, e.n));
    if (upTo.size === 0) return;
    this.#chatLog ??= new ChatLog(await jetstreamManager(this.#nc), this.#store);
    const names = new Map<string, Promise<string>>();
    const queue = [...upTo];
    // Chats side by side (each waits out its own grace), a bounded number at once.
    await Promise.all(
      Array.from({ length: Math.min(CHAT_CONCURRENCY, queue.length) }, async () => {
        for (let item = queue.shift(); item; item = queue.shift()) await this.#chat(item[0], item[1], names);
      }),
    );
  }

  /** Notifies the chat's windows from its cursor until one covers message `upToN`. */
  async #chat(chat: string, upToN: number, names: Map<string, Promise<string>>): Promise<void> {
    const log = this.#chatLog!;
    for (let cursor = await this.#opts.cursors.get(chat); cursor < upToN;) {
      // The window's anchor: the chat's first message after the cursor, as the log has it.
      const after = await log.range(chat, { afterN: cursor, toN: upToN, limit: WINDOW_LIMIT });
      const first = after.find((e) => e.kind === "message.created");
      if (!first) return; // nothing but other kinds of events up to there
      const staleBefore = Date.now() - this.#opts.maxAgeMs;
      if (first.ts < staleBefore) {
        // Too old to be worth a push: past every such event of this page at once.
        let last = cursor;
        for (const e of after) if (e.ts < staleBefore) last = e.n;
        this.#metrics.skipped.inc({ reason: "stale" });
        await this.#opts.cursors.set(chat, last);
        cursor = last;
        continue;
      }
      // The grace runs from the first message's own time. Clamped, so a gateway's clock
      // ahead of ours cannot hold the batch for longer than one grace.
      const wait = Math.min(this.#opts.graceMs, first.ts + this.#opts.graceMs - Date.now()) + SETTLE_MS;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // Read again now: everything within the grace has landed, and an erased row (a
      // message deleted within the grace) wins over the copy the batch delivered.
      const w = cutWindow(await log.range(chat, { afterN: first.n - 1, limit: WINDOW_LIMIT }), this.#opts.graceMs);
      if (w.messages.length === 0) this.#metrics.skipped.inc({ reason: "deleted" });
      else await this.#notifyWindow(w, names);
      await this.#opts.cursors.set(chat, w.lastN);
      cursor = w.lastN;
    }
  }

  async #notifyWindow(w: PushWindow, names: Map<string, Promise<string>>): Promise<void> {
    const members = await this.#chatLog!.membersAt(w.chat, w.lastN);
    await Promise.all([...members].map((user) => this.#notifyMember(w, w.messages, user, names)));
  }

  async #notifyMember(
    w: PushWindow,
    messages: MessageCreatedEvent[],
    user: string,
    names: Map<string, Promise<string>>,
  ): Promise<void> {
    const [member, read, settings] = await Promise.all([
      this.#store.getMember(w.chat, user),
      this.#store.getReadState(w.chat, user),
      this.#store.getChatSettings(w.chat, user),
    ]);
    // Members only for the messages they were there for (one who joined later gets none).
    const joinedN = member?.active ? member.joinedN : Number.POSITIVE_INFINITY;
    const delivered = read?.deliveredN ?? 0;
    const mine = messages.filter((m) => m.from !== user && m.n >= joinedN);
    if (mine.length === 0) return;
    const unacked = mine.filter((m) => m.n > delivered);
    if (unacked.length === 0) {
      this.#metrics.skipped.inc({ reason: "acked" });
      return;
    }
    if (settings && settings.mutedUntil > Date.now()) {
      this.#metrics.skipped.inc({ reason: "muted" });
      return;
    }
    const last = unacked.at(-1)!;
    let name = names.get(last.from);
    if (!name) names.set(last.from, (name = this.#store.getUser(last.from).then((u) => u?.displayName ?? last.from)));
    const preview = this.#opts.preview ? previewOf(last) : undefined;
    const notification: PushNotification = {
      notificationId: notificationIdOf(w.chat, w.firstN, w.lastN),
      chat: w.chat,
      from: last.from,
      fromName: await name,
      n: last.n,
      count: unacked.length,
      ...(preview === undefined ? {} : { preview }),
    };
    this.#metrics.collapsed.inc(unacked.length - 1);
    await Promise.all([this.#webPush(user, notification), this.#webhook(user, notification)]);
  }

  async #webPush(user: string, notification: PushNotification): Promise<void> {
    const sender = this.#opts.webPush;
    if (!sender) return;
    const subs = await this.#store.listPushSubscriptions(user);
    await Promise.all(
      subs.map(async (sub) => {
        // Bound to its device session: a logout, a revocation or an expiry ends it here,
        // whichever path ended the session.
        const session = await this.#store.getSession(user, sub.deviceId);
        if (!session || session.revoked || session.expiresAt <= Date.now()) {
          await this.#store.deletePushSubscription(user, sub.subscriptionId);
          this.#metrics.removed.inc({ reason: "session" });
          return;
        }
        const outcome = await sender.send(sub, notification, this.#stopping.signal);
        if (outcome === "gone") {
          await this.#store.deletePushSubscription(user, sub.subscriptionId);
          this.#metrics.removed.inc({ reason: "gone" });
          this.#log.info({ user, subscription: sub.subscriptionId }, "push subscription gone (404/410): removed");
        } else if (outcome === "sent") this.#metrics.sent.inc({ channel: "webpush" });
        else this.#metrics.failed.inc({ channel: "webpush" });
      }),
    );
  }

  async #webhook(user: string, notification: PushNotification): Promise<void> {
    const sender = this.#opts.webhook;
    if (!sender) return;
    const outcome = await sender.send({ ...notification, userId: user }, this.#stopping.signal);
    if (outcome === "sent") this.#metrics.sent.inc({ channel: "webhook" });
    else this.#metrics.failed.inc({ channel: "webhook" });
  }
}

export interface PushConsumerOptions extends Omit<PushNotifierOptions, "logger"> {
  logger: Logger;
  /** Messages per batch. Default 256. */
  batchSize?: number;
  runner?: Partial<
    Pick<
      RunnerOptions<ChatEvent>,
      "ackWaitMs" | "maxAckPending" | "nakBaseMs" | "checkIntervalMs" | "retryBaseMs" | "heartbeatMs" | "stallMs"
    >
  >;
}

/**
 * Waited beyond the grace before a window is read: a message stamped within the grace is
 * in the stream by then (a publish takes milliseconds), so the window is read whole.
 */
const SETTLE_MS = 250;
/** Chats handled at once in a batch (each waits out its own grace, reads and sends). */
const CHAT_CONCURRENCY = 16;
/** Most events a window read takes: a window of a chat busier than this is cut there (the same cut every time). */
const WINDOW_LIMIT = 1000;
/** Like fanout's: a crash delays pushes by at most this; the grace and retries are kept alive with `working()`. */
const PUSH_ACK_WAIT_MS = 10_000;
export const PUSH_BATCH = 256;

/**
 * The push consumer: durable `push` on the chat stream. The runner lingers one grace once a
 * message waits, so a burst's messages come in one batch (fewer, fuller batches; the
 * windows themselves are cut from the log).
 */
export function createPushConsumer(opts: PushConsumerOptions): ConsumerRunner<ChatEvent> & { notifier: PushNotifier } {
  const registry = opts.registry ?? register;
  const notifier = new PushNotifier({ ...opts, logger: opts.logger.child({ consumer: CONSUMERS.push }), registry });
  const runner = new ConsumerRunner<ChatEvent>({
    nc: opts.nc,
    logger: opts.logger,
    stream: CHAT_STREAM,
    durable: CONSUMERS.push,
    filterSubject: CHAT_STREAM_SUBJECTS[0]!,
    batchSize: opts.batchSize ?? PUSH_BATCH,
    lingerMs: opts.graceMs + SETTLE_MS,
    ackWaitMs: PUSH_ACK_WAIT_MS,
    registry,
    ...opts.runner,
    parse: parseChatEvent,
    onBatch: (events) => notifier.handle(events),
  });
  const stop = runner.stop.bind(runner);
  return Object.assign(runner, {
    notifier,
    stop: () => {
      notifier.stop();
      return stop();
    },
  });
}
