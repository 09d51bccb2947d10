import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { natsSuite } from "@natter/testkit";
import { headers } from "@nats-io/transport-node";
import { JsPublishError, JsPublisher, JsPublishFailed } from "./js-publisher.ts";

describe("JsPublisher - JetStream publishes over one reply subscription (real nats-server)", () => {
  let pub: JsPublisher;
  const nats = natsSuite({
    setup: async ({ jsm, nc }) => {
      await jsm.streams.add({ name: "PUBTEST", subjects: ["pubtest.>"], duplicate_window: 60_000_000_000 });
      pub = new JsPublisher(nc, { timeoutMs: 500 });
    },
  });
  nats.beforeStop(() => pub?.close());

  test("JsPublisher - acks carry the stream and seq; many in flight resolve each to its own", async () => {
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => pub.publish(`pubtest.m${i % 7}`, `m${i}`)));
    assert.deepEqual(
      acks.map((a) => a.seq),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.ok(acks.every((a) => a.stream === "PUBTEST" && !a.duplicate));
    assert.equal(pub.pending, 0);
  });

  test("JsPublisher - expected last subject sequence: 10071 on a conflict; a repeated msg id is a duplicate", async () => {
    const first = await pub.publish("pubtest.c", "one", {
      headers: headers(),
      expectLastSubjectSequence: 0,
      msgId: "x1",
    });
    const second = await pub.publish("pubtest.c", "two", {
      headers: headers(),
      expectLastSubjectSequence: first.seq,
      msgId: "x2",
    });
    await assert.rejects(
      pub.publish("pubtest.c", "stale", { headers: headers(), expectLastSubjectSequence: first.seq, msgId: "x3" }),
      (err: unknown) => err instanceof JsPublishError && err.errCode === 10071,
    );
    // A repeat of x1 with the current expectation: the original's seq, marked duplicate.
    const again = await pub.publish("pubtest.c", "one", {
      headers: headers(),
      expectLastSubjectSequence: second.seq,
      msgId: "x1",
    });
    assert.deepEqual(again, { stream: "PUBTEST", seq: first.seq, duplicate: true, count: 1 });
    assert.ok(second.seq > first.seq);
  });

  test("JsPublisher - no stream on the subject fails fast; a closed publisher fails what waits", async () => {
    await assert.rejects(pub.publish("nostream.x", "x"), JsPublishFailed);
    const other = new JsPublisher(nats.nc);
    const waiting = other.publish("pubtest.z", "z");
    other.close();
    await assert.rejects(waiting, JsPublishFailed);
  });
});
