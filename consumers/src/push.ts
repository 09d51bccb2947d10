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
import type { WebPushSender } from "./push-web.ts";
import { type PushWindow, pushWindows } from "./push-windows.ts";
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
      help: "Notifications not sent to a member: acked (a device acknowledged every message within the grace), muted (the member muted the chat), deleted (every message deleted within the grace)",
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
  /** The clock (ms); tests of the windows pass their own. */
  now?: () => number;
}

/**
 * The push consumer's batch handler. For each collapse window (`pushWindows`) it waits out
 * the grace, then reads the window's messages again through `ChatLog` (so a message
 * deleted meanwhile comes back erased and is not pushed), and for each member other than
 * the senders counts the messages that member's devices have not acknowledged (the
 * delivered pointer, which a connected device moves within a fraction of a second) and
 * pushes one notification per window with that count, unless the member muted the chat.
 * The runner acks the batch after this resolves: a crash before re-delivers it, and the
 * same windows give the same notification ids (at least once, repeats recognisable).
 */
export class PushNotifier {
  readonly #nc: NatsConnection;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #metrics: PushMetrics;
  readonly #opts: PushNotifierOptions;
  readonly #now: () => number;
  readonly #stopping = new AbortController();
  #chatLog: ChatLog | undefined;

  constructor(opts: PushNotifierOptions) {
    this.#nc = opts.nc;
    this.#store = opts.store;
    this.#log = opts.logger;
    this.#metrics = pushMetrics(opts.registry ?? register);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Cuts retries' back-offs short (the batch is then naked or acked as usual). */
  stop(): void {
    this.#stopping.abort();
  }

  async handle(events: readonly ChatEvent[]): Promise<void> {
    const windows = pushWindows(events, this.#opts.graceMs);
    if (windows.length === 0) return;
    // The grace runs from each message's own time: by the newest one's, every device that
    // was connected has had it and acked it. Clamped, so a gateway's clock ahead of ours
    // cannot hold the batch for longer than one grace.
    const newest = Math.max(...windows.map((w) => w.messages.at(-1)!.ts));
    const wait = Math.min(this.#opts.graceMs, newest + this.#opts.graceMs - this.#now());
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.#chatLog ??= new ChatLog(await jetstreamManager(this.#nc), this.#store);
    const names = new Map<string, Promise<string>>();
    for (const w of windows) await this.#notifyWindow(w, names);
  }

  async #notifyWindow(w: PushWindow, names: Map<string, Promise<string>>): Promise<void> {
    const log = this.#chatLog!;
    // Read again now: an erased row (deleted within the grace) wins over what was delivered.
    const now = await log.range(w.chat, { afterN: w.firstN - 1, toN: w.lastN, limit: w.lastN - w.firstN + 1 });
    const live = new Set(now.filter((e) => e.kind === "message.created" && !e.deleted).map((e) => e.n));
    const messages = w.messages.filter((m) => live.has(m.n));
    if (messages.length === 0) {
      this.#metrics.skipped.inc({ reason: "deleted" });
      return;
    }
    const members = await log.membersAt(w.chat, w.lastN);
    await Promise.all(
      [...members].map(async (user) => {
        const n = await this.#notifyMember(w, messages, user, names);
        return n;
      }),
    );
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
    if (settings && settings.mutedUntil > this.#now()) {
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
        if (!session || session.revoked || session.expiresAt <= this.#now()) {
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
 * The linger beyond the grace: a message within one grace of a window's first one reaches
 * the consumer before the batch is taken (delivery takes milliseconds), so the batch holds
 * its whole window and a redelivery cuts the same one.
 */
const LINGER_MARGIN_MS = 250;
/** Like fanout's: a crash delays pushes by at most this; the grace and retries are kept alive with `working()`. */
const PUSH_ACK_WAIT_MS = 10_000;
export const PUSH_BATCH = 256;

/**
 * The push consumer: durable `push` on the chat stream. The runner lingers one grace (and a
 * margin) once a message waits, so a burst arrives as one batch and collapses into one
 * notification.
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
    lingerMs: opts.graceMs + LINGER_MARGIN_MS,
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
