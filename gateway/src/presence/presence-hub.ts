import type { Logger } from "@natter/config";
import { type PresenceFrame, parseSignal } from "@natter/protocol";
import { presenceSubject } from "@natter/subjects";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";

export type PresenceListener = (frame: PresenceFrame) => void;

interface Watched {
  sub: Subscription;
  listeners: Set<PresenceListener>;
}

/**
 * One core NATS subscription to `presence.<userId>` per user that at least one socket on
 * this gateway watches: presence changes travel only to gateways that show them (interest
 * routing, as for inboxes). Each change is parsed once and handed to every watching socket.
 */
export class PresenceHub {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #watched = new Map<string, Watched>();

  constructor(opts: { nc: NatsConnection; logger: Logger; metrics: GatewayMetrics }) {
    this.#nc = opts.nc;
    this.#log = opts.logger;
    this.#metrics = opts.metrics;
  }

  /** Adds `listener` for each user; resolves once the server has the new interest. */
  async add(users: Iterable<string>, listener: PresenceListener): Promise<void> {
    let added = false;
    for (const userId of users) {
      let w = this.#watched.get(userId);
      if (!w) {
        const listeners = new Set<PresenceListener>();
        const sub = this.#nc.subscribe(presenceSubject(userId), {
          callback: (err, msg) => {
            if (err) {
              this.#log.warn({ err: String(err), userId }, "presence subscription error");
              return;
            }
            let frame;
            try {
              frame = parseSignal(msg.json());
            } catch {
              frame = undefined;
            }
            if (frame?.type !== "presence" || frame.user !== userId) {
              this.#log.warn({ subject: msg.subject }, "not a presence change; dropped");
              return;
            }
            for (const l of [...listeners]) l(frame);
          },
        });
        w = { sub, listeners };
        this.#watched.set(userId, w);
        added = true;
      }
      w.listeners.add(listener);
    }
    this.#metrics.presenceSubscriptions.set(this.#watched.size);
    if (added) await this.#nc.flush();
  }

  /** Removes `listener` from each user; a user's subscription ends with its last listener. */
  remove(users: Iterable<string>, listener: PresenceListener): void {
    for (const userId of users) {
      const w = this.#watched.get(userId);
      if (!w || !w.listeners.delete(listener) || w.listeners.size > 0) continue;
      this.#watched.delete(userId);
      try {
        w.sub.unsubscribe();
      } catch {
        // The connection is closing: the subscription goes with it.
      }
    }
    this.#metrics.presenceSubscriptions.set(this.#watched.size);
  }

  get size(): number {
    return this.#watched.size;
  }

  close(): void {
    for (const w of this.#watched.values()) {
      try {
        w.sub.unsubscribe();
      } catch {
        // closing
      }
    }
    this.#watched.clear();
    this.#metrics.presenceSubscriptions.set(0);
  }
}
