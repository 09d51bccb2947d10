/**
 * The push consumer under faults: every group of the chaos load has one member with no
 * device who never sends (the listener), so every message of the group must reach the
 * listener in exactly one notification. The push consumer runs webhook-only towards the
 * testkit's receiver, which checks each signature; after a phase, once the push consumer
 * has acked everything, each group's messages (read from history) are matched against the
 * listener's notifications: a message in none is lost, a message in two notifications of
 * different ids is duplicated, one id with two contents conflicts.
 */
import type { PushWebhookBody } from "@natter/protocol";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import { startTestWebhookReceiver, type TestWebhookReceiver } from "@natter/testkit";
import type { JetStreamManager } from "@nats-io/jetstream";
import { api } from "../http.ts";

export interface Listened {
  chatId: string;
  /** The listener's user id. */
  listener: string;
  /** A member's token, to read the group's history. */
  token: string;
}

export interface PushVerdict {
  lost: number;
  duplicated: number;
  conflicting: number;
  unsigned: number;
  /** Messages checked (all groups, all of their history so far). */
  checked: number;
  problems: string[];
}

export const PUSH_WEBHOOK_SECRET = "chaos-webhook-secret-chaos-webhook-secret";

export async function startPushWatch(): Promise<TestWebhookReceiver> {
  return startTestWebhookReceiver(PUSH_WEBHOOK_SECRET);
}

/** Waits until the push durable has acked every event in the stream (`limitMs` at most). */
export async function pushCaughtUp(jsm: JetStreamManager, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      const [s, c] = await Promise.all([
        jsm.streams.info(CHAT_STREAM),
        jsm.consumers.info(CHAT_STREAM, CONSUMERS.push),
      ]);
      if (c.ack_floor.stream_seq >= s.state.last_seq && c.num_ack_pending === 0) return true;
    } catch {
      // a node restarting: ask again
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** The `n` range a notification collapses, from its id (`notificationIdOf`: `<chat>:<first>-<last>`). */
function rangeOf(b: PushWebhookBody): [number, number] {
  const m = /:(\d+)-(\d+)$/.exec(b.notificationId);
  return m ? [Number(m[1]), Number(m[2])] : [b.n, b.n];
}

export async function verifyPush(
  gateway: string,
  hooks: TestWebhookReceiver,
  groups: readonly Listened[],
): Promise<PushVerdict> {
  const v: PushVerdict = { lost: 0, duplicated: 0, conflicting: 0, unsigned: 0, checked: 0, problems: [] };
  const note = (p: string) => {
    if (v.problems.length < 20) v.problems.push(p);
  };
  v.unsigned = hooks.received.filter((h) => !h.verified).length;
  if (v.unsigned) note(`${v.unsigned} webhooks with a signature that does not verify`);
  for (const g of groups) {
    const byId = new Map<string, string>();
    const coveredBy = new Map<number, string>();
    for (const h of hooks.received) {
      if (h.body.chat !== g.chatId || h.body.userId !== g.listener) continue;
      const seen = byId.get(h.body.notificationId);
      if (seen !== undefined) {
        if (seen !== h.raw) {
          v.conflicting++;
          note(`${g.chatId}: ${h.body.notificationId} repeated with another content`);
        }
        continue;
      }
      byId.set(h.body.notificationId, h.raw);
      const [first, last] = rangeOf(h.body);
      for (let n = first; n <= last; n++) {
        const other = coveredBy.get(n);
        if (other !== undefined) {
          v.duplicated++;
          note(`${g.chatId}: n=${n} in ${other} and ${h.body.notificationId}`);
        } else coveredBy.set(n, h.body.notificationId);
      }
    }
    for (let after = 0; ;) {
      const page = await api<{ events: { n: number; kind: string }[]; hasMore: boolean }>(
        gateway,
        "GET",
        `/v1/chats/${g.chatId}/messages?after=${after}&limit=100`,
        undefined,
        g.token,
      );
      for (const e of page.events) {
        if (e.kind !== "message.created") continue;
        v.checked++;
        if (!coveredBy.has(e.n)) {
          v.lost++;
          note(`${g.chatId}: n=${e.n} in no notification to the listener`);
        }
      }
      if (!page.hasMore || page.events.length === 0) break;
      after = page.events.at(-1)!.n;
    }
  }
  return v;
}
