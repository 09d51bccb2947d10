import { type ChatEvent, membershipEffect, previewOf } from "@natter/protocol";
import type { BatchWrites, ChatHead, StoreWrite } from "./store.ts";

/**
 * Projects chat events onto the store's read models: chat rows, membership, reactions and chat heads
 * (the events themselves are written by `appendEvents`). Used by the history consumer for
 * every event, and by the gateway right after its own publish so the next request sees the
 * change. Every write is guarded by `n`, so applying an event twice, or an older one after a
 * newer one, changes nothing.
 */
export async function projectEvents(store: BatchWrites, events: readonly ChatEvent[]): Promise<void> {
  await store.writeAll(projectionWrites(events));
}

/** The writes `projectEvents` makes, in order, as data (for `writeAll`). */
export function projectionWrites(events: readonly ChatEvent[]): StoreWrite[] {
  const writes: StoreWrite[] = [];
  const heads = new Map<string, ChatHead>();
  for (const e of events) {
    if (e.kind === "chat.created") {
      writes.push({
        op: "createChat",
        chat: {
          chatId: e.chat,
          kind: e.chatKind,
          createdBy: e.from,
          createdAt: e.ts,
          ...(e.title === undefined ? {} : { title: e.title }),
        },
      });
    }
    if (e.kind === "reaction.added" || e.kind === "reaction.removed") {
      writes.push({
        op: "applyReaction",
        reaction: {
          chatId: e.chat,
          target: e.target,
          userId: e.from,
          emoji: e.emoji,
          n: e.n,
          active: e.kind === "reaction.added",
        },
      });
    }
    for (const { user, member, role } of membershipEffect(e)) {
      writes.push({ op: "applyMembership", change: { chatId: e.chat, userId: user, role, active: member, n: e.n } });
    }
    const prev = heads.get(e.chat);
    if (!prev || e.n > prev.lastN) {
      const preview = previewOf(e);
      heads.set(e.chat, {
        chatId: e.chat,
        lastN: e.n,
        lastSeq: e.seq,
        lastActivity: e.ts,
        ...(preview === undefined ? {} : { preview, previewFrom: e.from }),
      });
    }
  }
  for (const head of heads.values()) writes.push({ op: "advanceChatHead", head });
  return writes;
}
