import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent, ErasedEvent } from "@natter/protocol";
import type { Chat, ChatHead, MembershipChange, Reaction, ReadState, StoreWrite } from "./store.ts";
import { type WriteMethods, writeOneByOne } from "./writes.ts";

/** A store whose writes take a tick and record when they start, `(what`, and end, `what)`. */
function recorder(): { store: WriteMethods<Promise<void>>; log: string[] } {
  const log: string[] = [];
  const write = async (what: string) => {
    log.push(`(${what}`);
    await new Promise((resolve) => setImmediate(resolve));
    log.push(`${what})`);
  };
  return {
    log,
    store: {
      appendEvents: (events: ChatEvent[]) => write(`events:${events.length}`),
      eraseMessage: (m: ErasedEvent) => write(`erase:${m.chat}:${m.n}`),
      applyReaction: (r: Reaction) => write(`reaction:${r.chatId}:${r.target}`),
      createChat: (chat: Chat) => write(`chat:${chat.chatId}`),
      applyMembership: (c: MembershipChange) => write(`member:${c.chatId}:${c.userId}`),
      advanceChatHead: (h: ChatHead) => write(`head:${h.chatId}`),
      advanceReadState: (s: ReadState) => write(`read:${s.chatId}:${s.userId}`),
    },
  };
}

const head = (chatId: string): StoreWrite => ({
  op: "advanceChatHead",
  head: { chatId, lastN: 1, lastSeq: 1, lastActivity: 0 },
});
const member = (chatId: string, userId: string): StoreWrite => ({
  op: "applyMembership",
  change: { chatId, userId, role: "member", active: true, n: 1 },
});

test("writeOneByOne - events first; each chat's writes in order, chats concurrently", async () => {
  const { store, log } = recorder();
  await writeOneByOne(store, [
    { op: "appendEvents", events: [] },
    member("a", "u1"),
    member("b", "u1"),
    head("a"),
    head("b"),
  ]);
  assert.equal(
    log.join(" "),
    "(events:0 events:0) (member:a:u1 (member:b:u1 member:a:u1) (head:a member:b:u1) (head:b head:a) head:b)",
  );
});

test("writeOneByOne - a later appendEvents waits for every write before it", async () => {
  const { store, log } = recorder();
  await writeOneByOne(store, [head("a"), head("b"), { op: "appendEvents", events: [] }, head("a")]);
  assert.equal(log.join(" "), "(head:a (head:b head:a) head:b) (events:0 events:0) (head:a head:a)");
});

test("writeOneByOne - a failed write fails the batch and stops the writes after it in its chat", async () => {
  const { store, log } = recorder();
  store.createChat = async () => {
    throw new Error("down");
  };
  const chat = { chatId: "a", kind: "group", createdBy: "u1", createdAt: 0 } as const;
  await assert.rejects(writeOneByOne(store, [{ op: "createChat", chat }, head("a"), head("b")]), /down/);
  // Like Promise.all: it rejects at once; the other chats' writes still finish.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(log.join(" "), "(head:b head:b)");
});
