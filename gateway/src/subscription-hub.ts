import type { Logger } from "@natter/config";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Gauge } from "prom-client";

interface Entry<L> {
  sub: Subscription;
  listeners: Set<L>;
}

export interface SubscriptionHubOptions<L> {
  nc: NatsConnection;
  logger: Logger;
  /** Names the subscriptions in logs ("inbox", "presence"). */
  name: string;
  /** The subject of a user's subscription. */
  subject: (userId: string) => string;
  /**
   * Makes the message handler of a user's subscription, once when it is subscribed (so
   * anything per user, such as subjects to compare against, is computed once, not per
   * message). `listeners` is the live set: copy it before calling out.
   */
  handler: (userId: string, listeners: ReadonlySet<L>) => (msg: Msg) => void;
  /** Set to the number of subscriptions whenever it changes. */
  gauge: Gauge;
}

/**
 * Ref-counted core NATS subscriptions, one per user with at least one listener on this
 * gateway: the first listener of a user subscribes, the last one to leave unsubscribes.
 * Interest routing then brings the user's messages here and nowhere else. The inbox
 * (`ws/inbox-hub.ts`) and presence (`presence/presence-hub.ts`) hubs are this with their
 * subject and parser; they decide when to flush (`flush`) so the server has the interest.
 */
export class SubscriptionHub<L> {
  readonly #opts: SubscriptionHubOptions<L>;
  readonly #entries = new Map<string, Entry<L>>();

  constructor(opts: SubscriptionHubOptions<L>) {
    this.#opts = opts;
  }

  /** Adds a listener for the user; returns true when that subscribed (the caller flushes when it needs the interest). */
  add(userId: string, listener: L): boolean {
    const existing = this.#entries.get(userId);
    if (existing) {
      existing.listeners.add(listener);
      return false;
    }
    const { nc, logger, name } = this.#opts;
    const listeners = new Set<L>([listener]);
    const onMessage = this.#opts.handler(userId, listeners);
    const sub = nc.subscribe(this.#opts.subject(userId), {
      callback: (err, msg) => {
        if (err) logger.warn({ err: String(err), userId }, `${name} subscription error`);
        else onMessage(msg);
      },
    });
    this.#entries.set(userId, { sub, listeners });
    this.#opts.gauge.set(this.#entries.size);
    return true;
  }

  /** Removes a listener; the user's subscription ends with their last one. */
  remove(userId: string, listener: L): void {
    const entry = this.#entries.get(userId);
    if (!entry || !entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.#entries.delete(userId);
    this.#opts.gauge.set(this.#entries.size);
    try {
      entry.sub.unsubscribe();
    } catch (err) {
      // The connection is closing: the subscription goes with it.
      this.#opts.logger.debug({ err: String(err), userId }, "unsubscribe failed");
    }
  }

  /** Resolves once the server has processed every subscription made so far. */
  flush(): Promise<void> {
    return this.#opts.nc.flush();
  }

  /** Users with a subscription here. */
  /** Listeners of one user here (0 when none). */
  count(userId: string): number {
    return this.#entries.get(userId)?.listeners.size ?? 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drains every subscription (shutdown): messages already received are still handed out. */
  async drain(): Promise<void> {
    const subs = [...this.#entries.values()].map((e) => e.sub);
    this.#entries.clear();
    this.#opts.gauge.set(0);
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
  }

  /** Ends every subscription at once (shutdown). */
  close(): void {
    for (const e of this.#entries.values()) {
      try {
        e.sub.unsubscribe();
      } catch {
        // The connection is closing: the subscription goes with it.
      }
    }
    this.#entries.clear();
    this.#opts.gauge.set(0);
  }
}
