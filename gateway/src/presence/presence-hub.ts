import type { Logger } from "@natter/config";
import { type PresenceFrame, parseSignal } from "@natter/protocol";
import { presenceSubject } from "@natter/subjects";
import type { NatsConnection } from "@nats-io/transport-node";
import type { GatewayMetrics } from "../metrics.ts";
import { SubscriptionHub } from "../subscription-hub.ts";

export type PresenceListener = (frame: PresenceFrame) => void;

/**
 * One core NATS subscription to `presence.<userId>` per user that at least one socket on
 * this gateway watches (`SubscriptionHub`): presence changes travel only to gateways that
 * show them (interest routing, as for inboxes). Each change is parsed once and handed to
 * every watching socket.
 */
export class PresenceHub {
  readonly #hub: SubscriptionHub<PresenceListener>;

  constructor(opts: { nc: NatsConnection; logger: Logger; metrics: GatewayMetrics }) {
    const log = opts.logger;
    this.#hub = new SubscriptionHub<PresenceListener>({
      nc: opts.nc,
      logger: log,
      name: "presence",
      subject: presenceSubject,
      gauge: opts.metrics.presenceSubscriptions,
      handler: (userId, listeners) => (msg) => {
        let frame;
        try {
          frame = parseSignal(msg.json());
        } catch {
          frame = undefined;
        }
        if (frame?.type !== "presence" || frame.user !== userId) {
          log.warn({ subject: msg.subject }, "not a presence change; dropped");
          return;
        }
        for (const l of [...listeners]) l(frame);
      },
    });
  }

  /** Adds `listener` for each user; resolves once the server has the new interest. */
  async add(users: Iterable<string>, listener: PresenceListener): Promise<void> {
    let added = false;
    for (const userId of users) if (this.#hub.add(userId, listener)) added = true;
    if (added) await this.#hub.flush();
  }

  /** Removes `listener` from each user; a user's subscription ends with its last listener. */
  remove(users: Iterable<string>, listener: PresenceListener): void {
    for (const userId of users) this.#hub.remove(userId, listener);
  }

  get size(): number {
    return this.#hub.size;
  }

  close(): void {
    this.#hub.close();
  }
}
