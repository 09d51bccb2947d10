/**
 * Push (v1.1): what a notification carries, and how the operator's webhook is signed. The
 * sender (`consumers/src/push-*.ts`) and every receiver (the testkit's, an operator's)
 * read the scheme here, so it has one home. Browser-safe: strings only; the HMAC itself
 * is one `node:crypto` call on each side (`createHmac("sha256", secret)`).
 */

/** A Web Push payload (JSON, encrypted per RFC 8291), and the webhook's body with `userId`. */
export interface PushNotification {
  /**
   * Stable across redeliveries: derived from the chat and the range of `n` it collapses, so
   * a client drops a repeat by this id (`notificationIdOf`).
   */
  notificationId: string;
  chat: string;
  /** The sender of the newest message it covers, and that sender's display name. */
  from: string;
  fromName: string;
  /** The newest message it covers (open the chat there). */
  n: number;
  /** Messages it covers: "3 new messages from Ana". */
  count: number;
  /** The newest message's preview (`previewOf`), unless the deployment turned previews off. */
  preview?: string;
}

/** The webhook's body: a notification for one user. */
export interface PushWebhookBody extends PushNotification {
  userId: string;
}

/** The id of the notification collapsing messages `firstN..lastN` of `chat`. */
export function notificationIdOf(chat: string, firstN: number, lastN: number): string {
  return `${chat}:${firstN}-${lastN}`;
}

/** The webhook's signature header: `Natter-Signature: t=<ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const WEBHOOK_SIGNATURE_HEADER = "Natter-Signature";

/** What the HMAC covers: the timestamp, a dot, the raw body as sent (binds the two). */
export function webhookSignedContent(t: number, body: string): string {
  return `${t}.${body}`;
}

/** The header's value for a timestamp and the hex HMAC of `webhookSignedContent`. */
export function formatWebhookSignature(t: number, hmacHex: string): string {
  return `t=${t},v1=${hmacHex}`;
}

/** The header's parts, or undefined when it is not of that shape. */
export function parseWebhookSignature(value: string | undefined): { t: number; v1: string } | undefined {
  const m = value === undefined ? null : /^t=(\d{1,15}),v1=([0-9a-f]{64})$/.exec(value.trim());
  return m ? { t: Number(m[1]), v1: m[2]! } : undefined;
}
