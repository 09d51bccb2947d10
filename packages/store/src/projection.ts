import { type ChatEvent, membershipEffect, previewOf } from "@natter/protocol";
import type { BatchWrites, ChatHead, ReadState, StoreWrite } from "./store.ts";

/**
 * Projects chat events onto the store's read models: chat rows, membership, reactions, chat heads
 * and the sender's read pointers (the events themselves are written by `appendEvents`). Used by the history consumer for
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
  /**
   * Sending a message marks the chat delivered and read up to it for the sender
   * (docs/protocol.md, Receipts): a fact of the log, so written here with the message, in
   * the history consumer's batch, rather than by the sending gateway (a store write per
   * flush on the send path, which on SQLite waited for history's write lock on the
   * gateway's event loop). The newest message per (chat, sender) of the batch.
   */
  const sent = new Map<string, ReadState>();
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
    if (e.kind === "message.created") {
      const key = `${e.chat}\n${e.from}`;
      if ((sent.get(key)?.readN ?? 0) < e.n) {
        sent.set(key, { chatId: e.chat, userId: e.from, deliveredN: e.n, readN: e.n });
      }
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
  for (const state of sent.values()) writes.push({ op: "advanceReadState", state });
  return writes;
}
