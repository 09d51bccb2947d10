import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ensureChatStream, JsPublisher } from "@natter/bus";
import { createLogger } from "@natter/config";
import type { ChatEventPayload } from "@natter/protocol";
import { SqliteStore } from "@natter/store";
import { CHAT_STREAM, chatSubject } from "@natter/subjects";
import { startNatsServer } from "@natter/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { createGatewayMetrics } from "../metrics.ts";
import { r3ClusterSuite } from "../testing.ts";
import { NotMemberError, type Published, Sequencer } from "./sequencer.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "sequencer-test");
let chatCounter = 0;
const newChat = () => `g_seqtest${chatCounter++}`;
const message =
  (chat: string, from: string, id: string) =>
  (n: number, ts: number): ChatEventPayload => ({ chat, n, ts, from, kind: "message.created", id, body: `body ${id}` });

/** A sequencer on `nc`, and a reader of its batch-size histogram: publishes made and events in them. */
function testSequencer(nc: NatsConnection, jsm: JetStreamManager, store: SqliteStore, maxBatch: number) {
  const registry = new Registry();
  const seq = new Sequencer({
    publisher: new JsPublisher(nc),
    jsm,
    store,
    metrics: createGatewayMetrics(registry),
    logger,
    maxBatch,
  });
  const batches = async () => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === "natter_publish_batch_events");
    const values = (m?.values ?? []) as { metricName?: string; value: number }[];
    return {
      publishes: values.find((v) => v.metricName === "natter_publish_batch_events_count")?.value ?? 0,
      events: values.find((v) => v.metricName === "natter_publish_batch_events_sum")?.value ?? 0,
    };
  };
  return { seq, batches };
}

describe("sequencer - group commit on an R3 chat stream (a real 3-node nats-server cluster)", () => {
  const cluster = r3ClusterSuite();
  const sequencer = (maxBatch = 64) => testSequencer(cluster.nc, cluster.jsm, cluster.store, maxBatch);

  /** The chat's events as stored, in stream order: [n, seq, id]. */
  async function stored(chat: string): Promise<[number, number, string][]> {
    const out: [number, number, string][] = [];
    const info = await cluster.jsm.streams.info(CHAT_STREAM);
    for (let s = 1; s <= info.state.last_seq; s++) {
      const m = await cluster.jsm.direct.getMessage(CHAT_STREAM, { seq: s }).catch(() => null);
      if (!m || m.subject !== chatSubject(chat)) continue;
      const e = m.json<{ n: number; id: string }>();
      out.push([e.n, m.seq, e.id]);
    }
    return out;
  }

  test("sequencer - sends queued behind an in-flight publish go as atomic batches, dense and in order", async () => {
    const chat = newChat();
    const { seq, batches } = sequencer();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        seq.publish(chat, message(chat, "u1", `m${i}`), { dedupId: `${chat}:u1:m${i}` }),
      ),
    );
    // Queue order is n order: the i-th call got n = i + 1, with the stream seq it landed at.
    assert.deepEqual(
      results.map((r) => r.event.n),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.ok(results.every((r) => !r.duplicate));
    const inStream = await stored(chat);
    assert.deepEqual(
      inStream.map(([n, s]) => [n, s]),
      results.map((r) => [r.event.n, r.event.seq]),
      "every event is in the stream at the seq its caller got",
    );
    const b = await batches();
    assert.equal(b.events, 40);
    assert.ok(b.publishes < 40, `fewer publishes than events (${b.publishes} for 40): some went as a batch`);
  });

  test("sequencer - two gateways batching on one chat never share an n (conflicts rebuild the batch)", async () => {
    const chat = newChat();
    const a = sequencer();
    const b = sequencer();
    const sends = (s: Sequencer, who: string) =>
      Array.from({ length: 30 }, (_, i) =>
        s.publish(chat, message(chat, who, `${who}${i}`), { dedupId: `${chat}:${who}:${i}` }),
      );
    const results: Published[] = await Promise.all([...sends(a.seq, "ua"), ...sends(b.seq, "ub")]);
    const ns = results.map((r) => r.event.n).sort((x, y) => x - y);
    assert.deepEqual(
      ns,
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    const inStream = await stored(chat);
    assert.deepEqual(
      inStream.map(([n]) => n),
      Array.from({ length: 60 }, (_, i) => i + 1),
      "stream order is n order",
    );
    const byId = new Map(results.map((r) => [(r.event as { id: string }).id, r.event.seq]));
    for (const [, s, id] of inStream) assert.equal(byId.get(id), s, `${id} was told the seq it landed at`);
  });

  test("sequencer - a batch holding an id already stored goes one by one: the repeat gets the original", async () => {
    const chat = newChat();
    const { seq } = sequencer();
    const first = await seq.publish(chat, message(chat, "u1", "x"), { dedupId: `${chat}:u1:x` });
    const results = await Promise.all([
      seq.publish(chat, message(chat, "u1", "y0"), { dedupId: `${chat}:u1:y0` }),
      seq.publish(chat, message(chat, "u1", "y1"), { dedupId: `${chat}:u1:y1` }),
      seq.publish(chat, message(chat, "u1", "x"), { dedupId: `${chat}:u1:x` }),
      seq.publish(chat, message(chat, "u1", "y2"), { dedupId: `${chat}:u1:y2` }),
    ]);
    assert.equal(results[2]!.duplicate, true);
    assert.equal(results[2]!.event.seq, first.event.seq);
    assert.equal(results[2]!.event.n, 1);
    assert.deepEqual(
      results.filter((r) => !r.duplicate).map((r) => r.event.n),
      [2, 3, 4],
    );
    assert.deepEqual(
      (await stored(chat)).map(([n, , id]) => [n, id]),
      [
        [1, "x"],
        [2, "y0"],
        [3, "y1"],
        [4, "y2"],
      ],
    );
  });

  test("sequencer - a sender is checked against the members as of the position the message takes, not the store", async () => {
    const chat = newChat();
    const a = sequencer(1);
    const b = sequencer(1);
    const created = (n: number, ts: number): ChatEventPayload => ({
      chat,
      n,
      ts,
      from: "admin",
      kind: "chat.created",
      chatKind: "group",
      members: ["admin", "carol", "dave"],
    });
    await a.seq.publish(chat, created, { expectEmpty: true });
    // The store never hears of this chat here (no history consumer): members come from the stream.
    const ok = await a.seq.publish(chat, message(chat, "carol", "c1"), { sender: "carol" });
    assert.equal(ok.event.n, 2);
    await assert.rejects(a.seq.publish(chat, message(chat, "mallory", "m1"), { sender: "mallory" }), NotMemberError);
    // Another gateway removes carol; the store still lists nobody. The next send from carol on
    // the first gateway conflicts, re-reads the head and the events since, and is refused.
    await b.seq.publish(chat, (n, ts) => ({ chat, n, ts, from: "admin", kind: "member.removed", user: "carol" }));
    await assert.rejects(a.seq.publish(chat, message(chat, "carol", "c2"), { sender: "carol" }), NotMemberError);
    const dave = await a.seq.publish(chat, message(chat, "dave", "d1"), { sender: "dave" });
    assert.equal(dave.event.n, 4);
    // Added back (by this gateway this time): allowed again at once.
    await a.seq.publish(chat, (n, ts) => ({ chat, n, ts, from: "admin", kind: "member.added", user: "carol" }));
    assert.equal((await a.seq.publish(chat, message(chat, "carol", "c3"), { sender: "carol" })).event.n, 6);
    assert.deepEqual(
      (await stored(chat)).map(([n, , id]) => [n, id]),
      [
        [1, undefined],
        [2, "c1"],
        [3, undefined],
        [4, "d1"],
        [5, undefined],
        [6, "c3"],
      ],
      "no refused message reached the stream",
    );
  });

  test("sequencer - in a batch, a sender who is not a member is refused and the rest land", async () => {
    const chat = newChat();
    const { seq } = sequencer(64);
    await seq.publish(
      chat,
      (n, ts) => ({ chat, n, ts, from: "u1", kind: "chat.created", chatKind: "group", members: ["u1", "u2"] }),
      { expectEmpty: true },
    );
    const sends = ["u1", "x", "u2", "u1"].map((who, i) =>
      seq.publish(chat, message(chat, who, `b${i}`), { sender: who }).then(
        (r) => r.event.n,
        (err: unknown) => (err instanceof NotMemberError ? "refused" : Promise.reject(err)),
      ),
    );
    assert.deepEqual(await Promise.all(sends), [2, "refused", 3, 4]);
  });

  test("sequencer - maxBatch 1 publishes one event at a time, with the same result", async () => {
    const chat = newChat();
    const { seq, batches } = sequencer(1);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => seq.publish(chat, message(chat, "u1", `s${i}`))),
    );
    assert.deepEqual(
      results.map((r) => r.event.n),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.deepEqual(await batches(), { publishes: 10, events: 10 });
  });
});

describe("sequencer - chat streams that get no atomic batches", () => {
  test("sequencer - on an R1 stream (a batch is staged on disk there) it publishes one at a time", async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureChatStream(jsm, { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger);
      const store = new SqliteStore({ path: ":memory:" });
      await store.migrate();
      const { seq, batches } = testSequencer(nc, jsm, store, 64);
      const chat = newChat();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => seq.publish(chat, message(chat, "u1", `o${i}`))),
      );
      assert.deepEqual(
        results.map((r) => r.event.n),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      assert.deepEqual(await batches(), { publishes: 12, events: 12 }, "twelve publishes of one event each");
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});
