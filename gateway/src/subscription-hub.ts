import type { Logger } from "@natter/config";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Gauge } from "prom-client";
import { atWindowEnd } from "./ws/turn.ts";

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** Someone waits for the server to have the interest: the batch ends with a flush. */
  flush: boolean;
}

interface Entry<L> {
  /** Undefined until the tick's batch subscribes it. */
  sub: Subscription | undefined;
  /** The server has processed the subscription (its batch's flush came back). */
  known: boolean;
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
 *
 * Subscribing is batched per window (`ws/turn.ts`, a millisecond): the users added while
 * the window's sockets authenticate are subscribed together at its end, followed by one
 * PING (`flush`), so a burst of connections costs one write to the server and one round
 * trip per window instead of a SUB write and a PING-PONG per socket. Listeners are
 * registered at once (a user's socket count is exact); their messages flow once the batch
 * subscribed, and a socket gets `ready` only after the PONG (G1, G4).
 */
export class SubscriptionHub<L> {
  readonly #opts: SubscriptionHubOptions<L>;
  readonly #entries = new Map<string, Entry<L>>();
  /** Users added in this window, subscribed at its end. */
  #queued: string[] | undefined;
  /** Users whose last listener left in this window, unsubscribed at its end unless one came back. */
  #leaving: string[] | undefined;
  /** This window's batch: resolves when the server has processed its subscriptions (and all before). */
  #batch: Batch | undefined;
  #closed = false;

  constructor(opts: SubscriptionHubOptions<L>) {
    this.#opts = opts;
  }

  /**
   * Adds a listener for the user; returns true when the user's subscription is not known to
   * the server yet (new, or waiting for this window's batch): the caller flushes when it needs
   * the interest.
   */
  add(userId: string, listener: L): boolean {
    const existing = this.#entries.get(userId);
    if (existing) {
      existing.listeners.add(listener);
      return !existing.known;
    }
    this.#entries.set(userId, { sub: undefined, known: false, listeners: new Set<L>([listener]) });
    this.#opts.gauge.set(this.#entries.size);
    (this.#queued ??= []).push(userId);
    this.#schedule();
    return true;
  }

  /**
   * Removes a listener; the user's subscription ends with their last one, at the end of the
   * window (one write for the window's UNSUBs), and not at all if a listener of the user
   * came back within the window (a socket that reconnected at once).
   */
  remove(userId: string, listener: L): void {
    const entry = this.#entries.get(userId);
    if (!entry || !entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    (this.#leaving ??= []).push(userId);
    this.#schedule();
  }

  #unsubscribe(userId: string, entry: Entry<L>): void {
    this.#entries.delete(userId);
    // Never subscribed (it left in the window it came): nothing to tell the server.
    if (!entry.sub) return;
    try {
      entry.sub.unsubscribe();
    } catch (err) {
      // The connection is closing: the subscription goes with it.
      this.#opts.logger.debug({ err: String(err), userId }, "unsubscribe failed");
    }
  }

  /**
   * Resolves once the server has processed every subscription added so far: the end of
   * this window's batch (one PING for every caller of the window, sent after its SUBs).
   */
  flush(): Promise<void> {
    const batch = this.#schedule();
    batch.flush = true;
    return batch.promise;
  }

  /** This window's batch, scheduled for the end of the window if it is not yet. */
  #schedule(): Batch {
    if (this.#batch) return this.#batch;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that do not await it (a socket closed meanwhile) must not see an unhandled rejection.
    promise.catch(() => {});
    const batch: Batch = { promise, resolve, reject, flush: false };
    this.#batch = batch;
    atWindowEnd(() => this.#run(batch));
    return batch;
  }

  /** Ends the subscriptions of the window's users left without listeners, subscribes its new users, then one flush for all of them. */
  #run(batch: Batch): void {
    this.#batch = undefined;
    const leaving = this.#leaving ?? [];
    this.#leaving = undefined;
    const queued = this.#queued ?? [];
    this.#queued = undefined;
    for (const userId of leaving) {
      const entry = this.#entries.get(userId);
      if (entry && entry.listeners.size === 0) this.#unsubscribe(userId, entry);
    }
    if (leaving.length > 0) this.#opts.gauge.set(this.#entries.size);
    const subscribed: Entry<L>[] = [];
    try {
      if (this.#closed) throw new Error(`${this.#opts.name} subscriptions are closed`);
      for (const userId of queued) {
        const entry = this.#entries.get(userId);
        // Gone already, or a later entry of the same user queued twice: subscribed once.
        if (!entry || entry.sub) continue;
        entry.sub = this.#subscribe(userId, entry.listeners);
        subscribed.push(entry);
      }
    } catch (err) {
      batch.reject(err);
      return;
    }
    if (subscribed.length === 0 && !batch.flush) {
      batch.resolve();
      return;
    }
    this.#opts.nc.flush().then(() => {
      for (const e of subscribed) e.known = true;
      batch.resolve();
    }, batch.reject);
  }

  #subscribe(userId: string, listeners: ReadonlySet<L>): Subscription {
    const { nc, logger, name } = this.#opts;
    const onMessage = this.#opts.handler(userId, listeners);
    return nc.subscribe(this.#opts.subject(userId), {
      callback: (err, msg) => {
        if (err) logger.warn({ err: String(err), userId }, `${name} subscription error`);
        else onMessage(msg);
      },
    });
  }

  /** Listeners of one user here (0 when none). */
  count(userId: string): number {
    return this.#entries.get(userId)?.listeners.size ?? 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drains every subscription (shutdown): messages already received are still handed out. */
  async drain(): Promise<void> {
    this.#closed = true;
    const subs = [...this.#entries.values()].flatMap((e) => (e.sub ? [e.sub] : []));
    this.#entries.clear();
    this.#opts.gauge.set(0);
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
  }

  /** Ends every subscription at once (shutdown). */
  close(): void {
    this.#closed = true;
    for (const e of this.#entries.values()) {
      try {
        e.sub?.unsubscribe();
      } catch {
        // The connection is closing: the subscription goes with it.
      }
    }
    this.#entries.clear();
    this.#opts.gauge.set(0);
  }
}
