import { createHmac } from "node:crypto";
import type https from "node:https";
import type { Logger } from "@natter/config";
import {
  formatWebhookSignature,
  type PushWebhookBody,
  WEBHOOK_SIGNATURE_HEADER,
  webhookSignedContent,
} from "@natter/protocol";
import { backoffSleep, postJson } from "./push-http.ts";

/** Attempts per notification before it counts as a dead letter; back-off 500 ms doubling. */
export const WEBHOOK_ATTEMPTS = 5;
const WEBHOOK_BACKOFF_MS = 500;
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The signature header's value for `body` at time `t` (ms). */
export function signWebhook(secret: string, t: number, body: string): string {
  const mac = createHmac("sha256", secret).update(webhookSignedContent(t, body)).digest("hex");
  return formatWebhookSignature(t, mac);
}

export type WebhookOutcome = "sent" | "dead";

/**
 * The operator's webhook: each notification POSTed as JSON, signed with the configured
 * secret (`Natter-Signature`, `@natter/protocol`'s scheme), retried with back-off on a
 * network error, a 429 or a 5xx. After `WEBHOOK_ATTEMPTS` it is a dead letter (counted,
 * logged, not retried): a webhook down for an hour must not hold up Web Push for everyone.
 * Any other 4xx is a dead letter at once (the receiver refuses it; a retry changes nothing).
 */
export class WebhookSender {
  readonly #url: string;
  readonly #secret: string;
  readonly #agent: https.Agent;
  readonly #log: Logger;
  readonly #backoffMs: number;

  constructor(opts: { url: string; secret: string; agent: https.Agent; logger: Logger; backoffMs?: number }) {
    this.#url = opts.url;
    this.#secret = opts.secret;
    this.#agent = opts.agent;
    this.#log = opts.logger;
    this.#backoffMs = opts.backoffMs ?? WEBHOOK_BACKOFF_MS;
  }

  async send(body: PushWebhookBody, signal?: AbortSignal): Promise<WebhookOutcome> {
    const json = JSON.stringify(body);
    let last = "";
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
      if (attempt > 1) await backoffSleep(this.#backoffMs * 2 ** (attempt - 2), signal);
      // Signed per attempt: a receiver may refuse old timestamps (replays).
      const t = Date.now();
      try {
        const status = await postJson(
          this.#url,
          json,
          { [WEBHOOK_SIGNATURE_HEADER]: signWebhook(this.#secret, t, json) },
          this.#agent,
          WEBHOOK_TIMEOUT_MS,
        );
        if (status >= 200 && status < 300) return "sent";
        last = `status ${status}`;
        if (status < 500 && status !== 429) break;
      } catch (err) {
        last = String(err);
      }
    }
    this.#log.warn({ notificationId: body.notificationId, user: body.userId, error: last }, "webhook: dead letter");
    return "dead";
  }
}
