import { type ChatEvent, previewOf } from "@natter/protocol";
import type { ChatHead, Store, StoreWrite } from "./store.ts";

/**
 * Projects chat events onto the store's read models: chat rows, membership and chat heads
 * (the events themselves are written by `appendEvents`). Used by the history consumer for
 * every event, and by the gateway right after its own publish so the next request sees the
 * change. Every write is guarded by `n`, so applying an event twice, or an older one after a
 * newer one, changes nothing.
 */
export async function projectEvents(store: Store, events: readonly ChatEvent[]): Promise<void> {
  await applyWrites(store, projectionWrites(events));
}

/** The writes `projectEvents` makes, in order, as data (for `Store.writeAll`). */
export function projectionWrites(events: readonly ChatEvent[]): StoreWrite[] {
  const writes: StoreWrite[] = [];
  const heads = new Map<string, ChatHead>();
  for (const e of events) {
    switch (e.kind) {
      case "chat.created":
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
        for (const userId of e.members) {
          const role = e.chatKind === "group" && userId === e.from ? "admin" : "member";
          writes.push({ op: "applyMembership", change: { chatId: e.chat, userId, role, active: true, n: e.n } });
        }
        break;
      case "member.added":
        writes.push({
          op: "applyMembership",
          change: { chatId: e.chat, userId: e.user, role: "member", active: true, n: e.n },
        });
        break;
      case "member.removed":
        writes.push({
          op: "applyMembership",
          change: { chatId: e.chat, userId: e.user, role: "member", active: false, n: e.n },
        });
        break;
      case "message.created":
        break;
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

/** Applies the writes in order: in one `writeAll` where the store has it, else call by call. */
export async function applyWrites(store: Store, writes: readonly StoreWrite[]): Promise<void> {
  if (store.writeAll) {
    await store.writeAll(writes);
    return;
  }
  for (const w of writes) {
    switch (w.op) {
      case "appendEvents":
        await store.appendEvents(w.events);
        break;
      case "createChat":
        await store.createChat(w.chat);
        break;
      case "applyMembership":
        await store.applyMembership(w.change);
        break;
      case "advanceChatHead":
        await store.advanceChatHead(w.head);
        break;
      case "advanceReadState":
        await store.advanceReadState(w.state);
        break;
    }
  }
}
