import type { Logger } from "@natter/config";
import {
  type ChatEvent,
  parseEventPayload,
  parseSignal,
  type ReceiptFrame,
  type TypingSignalFrame,
} from "@natter/protocol";
import { userInboxSubject, userSignalSubject, userSubjects } from "@natter/subjects";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";

/** One socket's interest in its user's inbox: chat events, and the ephemeral signals beside them. */
export interface InboxListener {
  event(event: ChatEvent): void;
  signal(frame: TypingSignalFrame | ReceiptFrame): void;
}

interface Inbox {
  sub: Subscription;
  listeners: Set<InboxListener>;
}

/**
 * One core NATS subscription to `user.<userId>.*` per user with at least one socket on
 * this gateway: NATS interest routing then brings that user's events (`.inbox`) and
 * signals (`.signal`: typing and receipts, never stored) here and nowhere else. One
 * subscription rather than one per subject halves the subscriptions a gateway holds and
 * the SUB/UNSUB traffic of every connect and reconnect storm. The first socket of a user
 * subscribes, the last one to leave unsubscribes. Each event is parsed once and handed to
 * every socket of the user (its other devices too).
 */
export class InboxHub {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #inboxes = new Map<string, Inbox>();

  constructor(opts: { nc: NatsConnection; logger: Logger; metrics: GatewayMetrics }) {
    this.#nc = opts.nc;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
  }

  /**
   * Adds a listener for the user's inbox. Resolves once the server has the interest (a
   * flush), so events published after it reach this gateway.
   */
  async add(userId: string, listener: InboxListener): Promise<void> {
    let inbox = this.#inboxes.get(userId);
    if (!inbox) {
      const listeners = new Set<InboxListener>();
      const inboxSubject = userInboxSubject(userId);
      const signalSubject = userSignalSubject(userId);
      const sub = this.#nc.subscribe(userSubjects(userId), {
        callback: (err, msg) => {
          if (err) this.#log.warn({ err: String(err), userId }, "inbox subscription error");
          else if (msg.subject === inboxSubject) this.#dispatch(userId, listeners, msg);
          else if (msg.subject === signalSubject) this.#signal(userId, listeners, msg);
          else this.#invalid(userId, msg, "not an inbox or signal subject");
        },
      });
      inbox = { sub, listeners };
      this.#inboxes.set(userId, inbox);
      this.#metrics.inboxSubscriptions.set(this.#inboxes.size);
    }
    inbox.listeners.add(listener);
    await this.#nc.flush();
  }

  /** Removes a listener; the user's subscription ends with their last one. */
  remove(userId: string, listener: InboxListener): void {
    const inbox = this.#inboxes.get(userId);
    if (!inbox || !inbox.listeners.delete(listener) || inbox.listeners.size > 0) return;
    this.#inboxes.delete(userId);
    this.#metrics.inboxSubscriptions.set(this.#inboxes.size);
    try {
      inbox.sub.unsubscribe();
    } catch (err) {
      // The connection is closing: the subscription goes with it.
      this.#log.debug({ err: String(err), userId }, "unsubscribe failed");
    }
  }

  /** Users with a subscription on this gateway. */
  get size(): number {
    return this.#inboxes.size;
  }

  /** Drains every subscription (shutdown): messages already received are still handed out. */
  async drain(): Promise<void> {
    const subs = [...this.#inboxes.values()].map((i) => i.sub);
    this.#inboxes.clear();
    this.#metrics.inboxSubscriptions.set(0);
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
  }

  #dispatch(userId: string, listeners: Set<InboxListener>, msg: Msg): void {
    let event: ChatEvent;
    try {
      const data = msg.json<Record<string, unknown>>();
      const seq = data.seq;
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) throw new TypeError("event.seq is missing");
      event = parseEventPayload(data, seq);
    } catch (err) {
      this.#invalid(userId, msg, `not a chat event on an inbox: ${String(err)}`);
      return;
    }
    for (const listener of [...listeners]) listener.event(event);
  }

  #signal(userId: string, listeners: Set<InboxListener>, msg: Msg): void {
    let frame;
    try {
      frame = parseSignal(msg.json());
    } catch {
      frame = undefined;
    }
    if (!frame || frame.type === "presence") {
      this.#invalid(userId, msg, "not a signal on a user signal subject");
      return;
    }
    for (const listener of [...listeners]) listener.signal(frame);
  }

  #invalid(userId: string, msg: Msg, why: string): void {
    this.#metrics.inboxInvalid.inc();
    this.#log.warn({ userId, subject: msg.subject }, `${why}; dropped`);
  }
}
