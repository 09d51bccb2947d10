import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLogger } from "@natter/config";
import { type ChatEvent, type ChatEventPayload, erasedMessage, type MessageCreatedEvent } from "@natter/protocol";
import { SqliteStore } from "@natter/store";
import { chatSubject, HEADERS } from "@natter/subjects";
import { natsSuite } from "@natter/testkit";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { readChatEvents } from "./chat-range.ts";
import { ensureChatStream } from "./chat-stream.ts";

const logger = createLogger("silent", "chat-range-test");

/** Events of one chat as published, with the stream seq each got (index n-1). */
interface Published {
  chatId: string;
  events: ChatEvent[];
}

/** Publishes the chat's next message event as the gateway's sequencer does (dense n, chained expectation). */
async function publishNext(js: JetStreamClient, chat: Published): Promise<ChatEvent> {
  const n = chat.events.length + 1;
  const payload: ChatEventPayload =
    n === 1
      ? { chat: chat.chatId, n, ts: Date.now(), from: "u0", kind: "chat.created", chatKind: "group", members: ["u0"] }
      : { chat: chat.chatId, n, ts: Date.now(), from: "u0", kind: "message.created", id: `m${n}`, body: `body ${n}` };
  const h = headers();
  h.set(HEADERS.n, String(n));
  h.set(HEADERS.kind, payload.kind);
  const ack = await js.publish(chatSubject(chat.chatId), JSON.stringify(payload), {
    headers: h,
    expect: { lastSubjectSequence: chat.events.at(-1)?.seq ?? 0 },
  });
  const event = { ...payload, seq: ack.seq } as ChatEvent;
  chat.events.push(event);
  return event;
}

async function publishMany(js: JetStreamClient, chat: Published, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await publishNext(js, chat);
}

const ns = (events: ChatEvent[]) => events.map((e) => e.n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("readChatEvents - store first, the chat stream for the rest (real nats-server, SQLite store)", () => {
  const nats = natsSuite({
    setup: ({ jsm }) => ensureChatStream(jsm, { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger),
  });
  let store: SqliteStore;

  before(async () => {
    store = new SqliteStore({ path: ":memory:" });
    await store.migrate();
  });
  after(() => store?.close());
  const read = (chatId: string, opts: Parameters<typeof readChatEvents>[3]) =>
    readChatEvents(nats.jsm, store, chatId, opts);

  test("readChatEvents - everything in the stream, nothing stored", async () => {
    const chat: Published = { chatId: "r1", events: [] };
    await publishMany(nats.js, chat, 40);
    assert.deepEqual(await read("r1", { afterN: 0, limit: 100 }), chat.events);
    assert.deepEqual(await read("r1", { afterN: 25, limit: 100 }), chat.events.slice(25));
    assert.deepEqual(await read("r1", { afterN: 40, limit: 100 }), []);
    assert.deepEqual(await read("nochat", { afterN: 0, limit: 100 }), []);
  });

  test("readChatEvents - first half stored, second half only in the stream", async () => {
    const chat: Published = { chatId: "r2", events: [] };
    await publishMany(nats.js, chat, 60);
    await store.appendEvents(chat.events.slice(0, 30));
    assert.deepEqual(await read("r2", { afterN: 0, limit: 1000 }), chat.events);
    assert.deepEqual(await read("r2", { afterN: 10, limit: 1000 }), chat.events.slice(10));
    assert.deepEqual(await read("r2", { afterN: 45, limit: 1000 }), chat.events.slice(45));
  });

  test("readChatEvents - a hole in the store (a batch waiting for redelivery) is filled from the stream", async () => {
    const chat: Published = { chatId: "r2h", events: [] };
    await publishMany(nats.js, chat, 50);
    await store.appendEvents([...chat.events.slice(0, 10), ...chat.events.slice(20, 35)]);
    assert.deepEqual(await read("r2h", { afterN: 0, limit: 1000 }), chat.events);
    assert.deepEqual(await read("r2h", { afterN: 14, toN: 40, limit: 1000 }), chat.events.slice(14, 40));
  });

  test("readChatEvents - everything stored (the stream is not needed for the range)", async () => {
    const chat: Published = { chatId: "r3", events: [] };
    await publishMany(nats.js, chat, 30);
    await store.appendEvents(chat.events);
    assert.deepEqual(await read("r3", { afterN: 0, limit: 1000 }), chat.events);
    assert.deepEqual(await read("r3", { afterN: 0, toN: 30, limit: 1000 }), chat.events);
    // Events the stream no longer has (purged, as max age would) still come from the store.
    await nats.jsm.streams.purge("CHATS", { filter: chatSubject("r3") });
    assert.deepEqual(await read("r3", { afterN: 5, limit: 1000 }), chat.events.slice(5));
  });

  test("readChatEvents - toN and limit are respected, from either source", async () => {
    const chat: Published = { chatId: "r4", events: [] };
    await publishMany(nats.js, chat, 600);
    await store.appendEvents(chat.events.slice(0, 200));
    assert.deepEqual(ns(await read("r4", { afterN: 0, toN: 100, limit: 1000 })), range(1, 100));
    assert.deepEqual(ns(await read("r4", { afterN: 150, toN: 250, limit: 1000 })), range(151, 250));
    assert.deepEqual(ns(await read("r4", { afterN: 150, toN: 250, limit: 20 })), range(151, 170));
    assert.deepEqual(ns(await read("r4", { afterN: 190, limit: 20 })), range(191, 210));
    assert.deepEqual(ns(await read("r4", { afterN: 300, toN: 310, limit: 5 })), range(301, 305));
    // Longer than one stream page (256), shorter than the head.
    const long = await read("r4", { afterN: 220, limit: 300 });
    assert.deepEqual(long, chat.events.slice(220, 520));
    assert.deepEqual(ns(await read("r4", { afterN: 590, toN: 700, limit: 1000 })), range(591, 600));
    assert.deepEqual(await read("r4", { afterN: 10, toN: 10, limit: 10 }), []);
  });

  test("readChatEvents - many chats interleaved in the stream: only the asked chat's events, in n order", async () => {
    const chats: Published[] = Array.from({ length: 8 }, (_, i) => ({ chatId: `r5c${i}`, events: [] }));
    // Round-robin publishes so every chat's events are spread across the stream.
    for (let round = 0; round < 50; round++) {
      await Promise.all(chats.map((c) => publishNext(nats.js, c)));
    }
    // Chat 0 partly stored; the others not at all.
    await store.appendEvents(chats[0]!.events.slice(0, 17));
    for (const c of chats) {
      assert.deepEqual(await read(c.chatId, { afterN: 0, limit: 1000 }), c.events, c.chatId);
      // Not stored, afterN in the middle: the start sequence is found by bisecting the stream.
      assert.deepEqual(await read(c.chatId, { afterN: 33, toN: 44, limit: 1000 }), c.events.slice(33, 44), c.chatId);
    }
    const seqs = chats[3]!.events.map((e) => e.seq);
    assert.ok(seqs.at(-1)! - seqs[0]! > 100, "the chat's events are spread over the stream");
  });

  test("readChatEvents - a deleted message: the store's erased row wins over the stream's copy, and the stream's erased hole is filled from the store", async () => {
    const chat: Published = { chatId: "r7", events: [] };
    await publishMany(nats.js, chat, 12);
    // History has written 1..5; the gateway has erased message 8 ahead of it (as it does
    // before answering a delete), while the stream still holds 8's original.
    await store.appendEvents(chat.events.slice(0, 5));
    const erased8 = erasedMessage(chat.events[7] as MessageCreatedEvent, 13);
    await store.eraseMessage(erased8);
    const got = await read("r7", { afterN: 0, limit: 100 });
    assert.deepEqual(ns(got), range(1, 12));
    assert.deepEqual(got[7], erased8, "the store's erased row, not the stream's body");
    assert.deepEqual(got.slice(8), chat.events.slice(8));
    // History erased the stream's copy (its store rows 6, 7 not written yet): the stream's
    // hole at 8 sends the read back to the store, which has 8 erased, then on in the stream.
    assert.equal(await nats.jsm.streams.deleteMessage("CHATS", chat.events[7]!.seq, true), true);
    assert.deepEqual(await read("r7", { afterN: 0, limit: 100 }), got);
    assert.deepEqual(await read("r7", { afterN: 6, toN: 9, limit: 100 }), got.slice(6, 9));
  });

  test("readChatEvents - history applies a delete between the read's store step and its stream step: the read goes back to the store", async () => {
    const chat: Published = { chatId: "r9", events: [] };
    await publishMany(nats.js, chat, 6);
    await store.appendEvents(chat.events.slice(0, 4));
    const erased5 = erasedMessage(chat.events[4] as MessageCreatedEvent, 7);
    // The store as the read sees it: its first look at 5 finds nothing, and right after it
    // history does what it does for a delete, the erased row first, then the stream's copy.
    let applied = false;
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== "getEvents") return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<SqliteStore["getEvents"]>) => {
          const page = await target.getEvents(...args);
          if (!applied && args[1].afterN === 4) {
            applied = true;
            await target.eraseMessage(erased5);
            await nats.jsm.streams.deleteMessage("CHATS", chat.events[4]!.seq, true);
          }
          return page;
        };
      },
    });
    const got = await readChatEvents(nats.jsm, racing, "r9", { afterN: 4, toN: 5, limit: 1 });
    assert.equal(applied, true, "the delete was applied mid-read");
    assert.deepEqual(got, [erased5], "event 5, erased, not 'no such event'");
  });

  test("readChatEvents - a message taken from the stream is erased when its delete lies further along the stream than the range", async () => {
    const chat: Published = { chatId: "r8", events: [] };
    await publishMany(nats.js, chat, 10);
    // History has written 1..4 only; message 7 was deleted (n = 11), applied nowhere yet.
    await store.appendEvents(chat.events.slice(0, 4));
    const h = headers();
    h.set(HEADERS.n, "11");
    const del = { chat: "r8", n: 11, ts: 1, from: "u0", kind: "message.deleted", target: 7 };
    await nats.js.publish(chatSubject("r8"), JSON.stringify(del), {
      headers: h,
      expect: { lastSubjectSequence: chat.events.at(-1)!.seq },
    });
    const got = await read("r8", { afterN: 0, toN: 8, limit: 100 });
    assert.deepEqual(ns(got), range(1, 8));
    assert.deepEqual(got[6], erasedMessage(chat.events[6] as MessageCreatedEvent, 11));
    assert.deepEqual(got.slice(0, 6), chat.events.slice(0, 6), "the others untouched");
    // A range that stops before the deleted message reads no further than it needs.
    assert.deepEqual(await read("r8", { afterN: 0, toN: 6, limit: 100 }), chat.events.slice(0, 6));
  });

  test("readChatEvents - a poison message on the chat subject is skipped", async () => {
    const chat: Published = { chatId: "r6", events: [] };
    await publishMany(nats.js, chat, 5);
    await nats.js.publish(chatSubject("r6"), JSON.stringify({ chat: "r6", kind: "bogus" }));
    const poison = (await nats.jsm.direct.getMessage("CHATS", { last_by_subj: chatSubject("r6") }))!.seq;
    // The next event chains on the poison message's seq, as a gateway reading the head would.
    const h = headers();
    h.set(HEADERS.n, "6");
    const ack = await nats.js.publish(
      chatSubject("r6"),
      JSON.stringify({ chat: "r6", n: 6, ts: 1, from: "u0", kind: "message.created", id: "m6", body: "b" }),
      { headers: h, expect: { lastSubjectSequence: poison } },
    );
    const got = await read("r6", { afterN: 3, limit: 100 });
    assert.deepEqual(ns(got), [4, 5, 6]);
    assert.equal(got.at(-1)!.seq, ack.seq);
  });
});
