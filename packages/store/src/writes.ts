import type { ChatEvent, ErasedEvent } from "@natter/protocol";
import type { Chat, ChatHead, MembershipChange, Reaction, ReadState, StoreWrite } from "./store.ts";

/** The write methods a `StoreWrite` names, returning `R` (a promise for a store, nothing for SQLite's synchronous calls). */
export interface WriteMethods<R> {
  appendEvents(events: ChatEvent[]): R;
  eraseMessage(erased: ErasedEvent): R;
  applyReaction(reaction: Reaction): R;
  createChat(chat: Chat): R;
  applyMembership(change: MembershipChange): R;
  advanceChatHead(head: ChatHead): R;
  advanceReadState(state: ReadState): R;
}

/** Calls the method `w` names: the one place a write as data becomes a call. */
export function applyWrite<R>(to: WriteMethods<R>, w: StoreWrite): R {
  switch (w.op) {
    case "appendEvents":
      return to.appendEvents(w.events);
    case "eraseMessage":
      return to.eraseMessage(w.erased);
    case "applyReaction":
      return to.applyReaction(w.reaction);
    case "createChat":
      return to.createChat(w.chat);
    case "applyMembership":
      return to.applyMembership(w.change);
    case "advanceChatHead":
      return to.advanceChatHead(w.head);
    case "advanceReadState":
      return to.advanceReadState(w.state);
  }
}

/**
 * `writeAll` for a backend without transactions (Cassandra): the writes call by call with
 * the effect of applying them in order. Writes of one chat (one chat and user for read
 * marks) keep their order; writes of different chats are independent (every write is
 * guarded by `n` or only moves forward), so they run concurrently, as a history batch
 * over many chats needs. `appendEvents` spans chats, so it waits for every write before
 * it and the writes after it wait for it: a chat head never gets ahead of its events.
 */
export async function writeOneByOne(store: WriteMethods<Promise<void>>, writes: readonly StoreWrite[]): Promise<void> {
  const lanes = new Map<string, Promise<void>>();
  for (const w of writes) {
    const lane = laneOf(w);
    if (lane === undefined) {
      await Promise.all(lanes.values());
      lanes.clear();
      await applyWrite(store, w);
      continue;
    }
    const before = lanes.get(lane);
    lanes.set(lane, before ? before.then(() => applyWrite(store, w)) : applyWrite(store, w));
  }
  await Promise.all(lanes.values());
}

/** The rows a write touches, as a key: writes with the same key keep their order; undefined waits for all. */
function laneOf(w: StoreWrite): string | undefined {
  if (w.op === "appendEvents") return undefined;
  if (w.op === "advanceReadState") return `${w.state.chatId}\n${w.state.userId}`;
  return chatOfWrite(w);
}

/** The chat a write other than `appendEvents` (which spans chats) touches. */
export function chatOfWrite(w: Exclude<StoreWrite, { op: "appendEvents" }>): string {
  switch (w.op) {
    case "eraseMessage":
      return w.erased.chat;
    case "applyReaction":
      return w.reaction.chatId;
    case "createChat":
      return w.chat.chatId;
    case "applyMembership":
      return w.change.chatId;
    case "advanceChatHead":
      return w.head.chatId;
    case "advanceReadState":
      return w.state.chatId;
  }
}
