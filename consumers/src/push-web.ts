import { createHash } from "node:crypto";
import type https from "node:https";
import type { Logger } from "@natter/config";
import type { PushNotification } from "@natter/protocol";
import type { PushSubscriptionRow } from "@natter/store";
import webpush from "web-push";
import { backoffSleep } from "./push-http.ts";

/** Attempts per push before it counts as failed; back-off 500 ms doubling. */
export const WEB_PUSH_ATTEMPTS = 3;
const WEB_PUSH_BACKOFF_MS = 500;
const WEB_PUSH_TIMEOUT_MS = 10_000;

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact in every token. */
  subject: string;
}

/**
 * The Web Push `Topic` of a chat's notifications (RFC 8030 §5.4: at most 32 base64url
 * characters): a push service holding an undelivered push of the chat for an offline
 * browser replaces it with the newer one, so the browser wakes to one per chat.
 */
export function pushTopic(chat: string): string {
  return createHash("sha256").update(chat).digest("base64url").slice(0, 32);
}

/** `sent`; `gone` (404 or 410: the subscription is dead, remove it); `failed` (retries spent, or refused). */
export type WebPushOutcome = "sent" | "gone" | "failed";

/**
 * Web Push through the `web-push` library (RFC 8291 `aes128gcm` payloads, RFC 8292 VAPID),
 * over the push consumer's agent (`pushAgent`). Every push says how long a push service may
 * hold it (`TTL`), that it is a chat message (`urgency: high`: RFC 8030's class for
 * messages a user waits for) and its chat's `Topic`.
 */
export class WebPushSender {
  readonly #vapid: VapidKeys;
  readonly #agent: https.Agent;
  readonly #ttlSeconds: number;
  readonly #log: Logger;
  readonly #backoffMs: number;

  constructor(opts: { vapid: VapidKeys; agent: https.Agent; ttlMs: number; logger: Logger; backoffMs?: number }) {
    this.#vapid = opts.vapid;
    this.#agent = opts.agent;
    this.#ttlSeconds = Math.max(0, Math.round(opts.ttlMs / 1000));
    this.#log = opts.logger;
    this.#backoffMs = opts.backoffMs ?? WEB_PUSH_BACKOFF_MS;
  }

  async send(sub: PushSubscriptionRow, notification: PushNotification, signal?: AbortSignal): Promise<WebPushOutcome> {
    const payload = JSON.stringify(notification);
    let last = "";
    for (let attempt = 1; attempt <= WEB_PUSH_ATTEMPTS; attempt++) {
      if (attempt > 1) await backoffSleep(this.#backoffMs * 2 ** (attempt - 2), signal);
      try {
        await webpush.sendNotification(
          { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
          payload,
          {
            vapidDetails: this.#vapid,
            TTL: this.#ttlSeconds,
            urgency: "high",
            topic: pushTopic(notification.chat),
            agent: this.#agent,
            timeout: WEB_PUSH_TIMEOUT_MS,
          },
        );
        return "sent";
      } catch (err) {
        const status = err instanceof webpush.WebPushError ? err.statusCode : 0;
        if (status === 404 || status === 410) return "gone";
        last = status ? `status ${status}: ${String((err as webpush.WebPushError).body).slice(0, 200)}` : String(err);
        // Other refusals (400 bad subscription, 413 too large, 403 wrong VAPID key) do not heal with a retry.
        if (status >= 400 && status < 500 && status !== 429) break;
      }
    }
    this.#log.warn(
      { notificationId: notification.notificationId, subscription: sub.subscriptionId, user: sub.userId, error: last },
      "web push failed",
    );
    return "failed";
  }
}
