import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNats, ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import type { ChatEvent, ChatEventPayload } from "@natter/protocol";
import { SqliteStore, type Store } from "@natter/store";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import { type NatsServer, startNatsServer } from "@natter/testkit";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { createHistoryConsumer, writeHistoryBatch } from "./history.ts";
import type { ConsumerRunner } from "./runner.ts";
import { assertHistoryMatches, createChats, publishWorkload } from "./test-chats.ts";
import { metricValue, waitFor } from "./test-helpers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "history-test");

describe("history - consumer against a real nats-server and the SQLite store", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let store: Store;
  let registry: Registry;
  let history: ConsumerRunner<ChatEvent>;
  const chats = createChats(8, "h");
  const total = 400;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "history-test", logger });
    jsm = await jetstreamManager(nc);
    await ensureChatStream(jsm, { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger);
    store = new SqliteStore(":memory:");
    await store.migrate();
    registry = new Registry();
    history = createHistoryConsumer({
      nc,
      store,
      logger,
      registry,
      batchSize: 20,
      runner: { checkIntervalMs: 200, retryBaseMs: 50, nakBaseMs: 50 },
    });
    await history.start();
  });
  after(async () => {
    await history?.stop();
    await nc?.close();
    await store?.close();
    await server?.stop();
  });

  const processed = () => metricValue(registry, "natter_consumer_messages_processed_total", CONSUMERS.history);

  test("history - every published event, membership and chat head is written", async () => {
    await publishWorkload(jetstream(nc), chats, total);
    const kinds = new Set(chats.flatMap((c) => c.published.map((p) => p.kind)));
    assert.deepEqual([...kinds].sort(), ["chat.created", "member.added", "member.removed", "message.created"]);
    await waitFor(`${total} events processed`, async () => (await processed()) >= total);
    await assertHistoryMatches(store, chats);
    const writes = await registry.getSingleMetricAsString("natter_history_write_seconds");
    assert.ok(Number(/natter_history_write_seconds_count (\d+)/.exec(writes)?.[1]) > 0, writes);
  });

  test("history - a poison event on a chat subject is terminated and the chat stream moves on", async () => {
    await jetstream(nc).publish("chat.poison.msg", JSON.stringify({ chat: "poison", kind: "message.created" }));
    await publishWorkload(jetstream(nc), chats, 16, 7);
    await waitFor("poison counted", async () => {
      return (await metricValue(registry, "natter_consumer_poison_messages_total", CONSUMERS.history)) === 1;
    });
    await waitFor("events after the poison processed", async () => (await processed()) >= total + 16);
    await assertHistoryMatches(store, chats);
    assert.deepEqual(await store.getEvents("poison", { afterN: 0, limit: 10 }), []);
  });

  test("history - a delete erases its target in the store, then in the stream (target in an earlier batch or the same one)", async () => {
    const js = jetstream(nc);
    const chat = "hdel";
    const seqs = new Map<number, number>();
    const publish = async (e: ChatEventPayload) =>
      seqs.set(e.n, (await js.publish(`chat.${chat}.msg`, JSON.stringify(e))).seq);
    const base = { chat, from: "u0", ts: 1 };
    await publish({ ...base, n: 1, kind: "chat.created", chatKind: "group", members: ["u0"] });
    await publish({ ...base, n: 2, kind: "message.created", id: "m2", body: "secret two" });
    await publish({ ...base, n: 3, kind: "message.created", id: "m3", body: "kept three" });
    await waitFor("2 and 3 written", async () => (await store.getEvents(chat, { afterN: 0, limit: 10 })).length === 3);
    // One delete of a stored message; a message and its delete that may share a batch.
    await publish({ ...base, n: 4, kind: "message.deleted", target: 2 });
    await publish({ ...base, n: 5, kind: "message.created", id: "m5", body: "secret five" });
    await publish({ ...base, n: 6, kind: "message.deleted", target: 5 });
    await waitFor("6 written", async () => (await store.getEvents(chat, { afterN: 0, limit: 10 })).length === 6);
    const stored = await store.getEvents(chat, { afterN: 0, limit: 10 });
    for (const [n, by] of [
      [2, 4],
      [5, 6],
    ] as const) {
      const e = stored[n - 1]!;
      assert.equal(e.kind === "message.created" && e.deleted, true, `${n} deleted`);
      assert.equal("body" in e, false);
      assert.equal(e.kind === "message.created" && e.deletedN, by);
      assert.equal(e.seq, seqs.get(n));
    }
    assert.equal(JSON.stringify(stored).includes("secret"), false);
    assert.equal(stored[2]!.kind === "message.created" && stored[2]!.body, "kept three");
    assert.equal((await store.getChatHead(chat))?.preview, undefined, "the deleted last message left no preview");
    // The stream's copies: erased by seq once the store had them; the rest stay.
    const inStream = async (n: number) =>
      (await jsm.streams.getMessage(CHAT_STREAM, { seq: seqs.get(n)! }).catch(() => null)) !== null;
    await waitFor("2 and 5 erased from the stream", async () => !(await inStream(2)) && !(await inStream(5)));
    assert.equal(await inStream(3), true);
    assert.equal(await inStream(4), true);
  });

  test("history - a full replay (consumer deleted and re-created) leaves no duplicate", async () => {
    const before = await processed();
    const streamMsgs = (await jsm.streams.info(CHAT_STREAM)).state.messages;
    assert.ok(await jsm.consumers.delete(CHAT_STREAM, CONSUMERS.history));
    // deliver_policy all: the re-created consumer hands every good event to the store again.
    await waitFor("everything replayed", async () => (await processed()) >= before + streamMsgs - 1, 30_000);
    await assertHistoryMatches(store, chats);
    assert.ok((await metricValue(registry, "natter_consumer_restarts_total", CONSUMERS.history)) >= 1);
  });
});

describe("history - batch writes", () => {
  test("history - the preview stays on the last message when a membership event follows it in one batch", async () => {
    const store = new SqliteStore(":memory:");
    await store.migrate();
    try {
      const base = { chat: "c1", from: "u0" };
      await writeHistoryBatch(store, [
        { ...base, seq: 1, n: 1, ts: 1, kind: "chat.created", chatKind: "group", members: ["u0", "u1"] },
        { ...base, seq: 2, n: 2, ts: 2, kind: "message.created", id: "a", body: "hello" },
        { ...base, seq: 3, n: 3, ts: 3, kind: "member.added", user: "u2" },
      ]);
      const head = await store.getChatHead("c1");
      assert.equal(head?.lastN, 3);
      assert.equal(head?.lastSeq, 3);
      assert.equal(head?.preview, "hello");
      assert.equal(head?.previewFrom, "u0");
      assert.equal((await store.getMember("c1", "u0"))?.role, "admin");
      assert.equal((await store.getMember("c1", "u2"))?.active, true);
    } finally {
      await store.close();
    }
  });
});
