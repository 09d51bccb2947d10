import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connectNats } from "@natter/bus";
import { createLogger } from "@natter/config";
import { natsSuite } from "@natter/testkit";
import type { JsMsg } from "@nats-io/jetstream";
import { Registry } from "prom-client";
import { ConsumerRunner, type RunnerOptions } from "./runner.ts";
import { metricValue, uniqueName, waitFor } from "./test-helpers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "runner-test");

interface Item {
  i: number;
}

function parseItem(m: JsMsg): Item {
  const v = m.json<Item>();
  if (typeof v !== "object" || v === null || !Number.isSafeInteger(v.i)) throw new TypeError("no integer i");
  return { i: v.i };
}

describe("runner - against a real nats-server", () => {
  const nats = natsSuite({ connect: (url) => connectNats({ servers: [url], name: "runner-test", logger }) });

  /** A fresh stream and a runner over it whose handled values land in `seen`. */
  async function setup(overrides: Partial<RunnerOptions<Item>> = {}) {
    const { js, jsm } = nats;
    const stream = uniqueName("RT");
    const subject = `${stream.toLowerCase()}.items`;
    await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`] });
    const registry = new Registry();
    const seen: number[] = [];
    const batches: number[][] = [];
    const runner = new ConsumerRunner<Item>({
      nc: nats.nc,
      logger,
      stream,
      durable: "test",
      filterSubject: subject,
      batchSize: 10,
      ackWaitMs: 5_000,
      nakBaseMs: 50,
      checkIntervalMs: 200,
      retryBaseMs: 50,
      registry,
      parse: parseItem,
      onBatch: async (items) => {
        batches.push(items.map((x) => x.i));
        seen.push(...items.map((x) => x.i));
      },
      ...overrides,
    });
    const publish = async (data: string | Item) => {
      await js.publish(subject, typeof data === "string" ? data : JSON.stringify(data));
    };
    const ackFloor = async () => (await jsm.consumers.info(stream, "test")).ack_floor.stream_seq;
    return { stream, subject, registry, runner, seen, batches, publish, ackFloor };
  }

  test("runner - a poison message is terminated and counted, and the messages after it are handled", async () => {
    const t = await setup();
    await t.runner.start();
    try {
      await t.publish({ i: 1 });
      await t.publish("this is not json");
      await t.publish({ wrong: "shape" } as unknown as Item);
      for (let i = 2; i <= 20; i++) await t.publish({ i });
      await waitFor("20 items handled", () => t.seen.length >= 20);
      assert.deepEqual(
        [...new Set(t.seen)].sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, k) => k + 1),
      );
      assert.equal(await metricValue(t.registry, "natter_consumer_poison_messages_total", "test"), 2);
      // Terminated and acked messages alike leave nothing pending on the server.
      await waitFor("nothing left pending", async () => {
        const info = await nats.jsm.consumers.info(t.stream, "test");
        return info.num_pending === 0 && info.num_ack_pending === 0;
      });
      assert.equal(await metricValue(t.registry, "natter_consumer_messages_processed_total", "test"), 20);
    } finally {
      await t.runner.stop();
    }
  });

  test("runner - lingering gathers messages that arrive apart into one batch, and a full batch goes at once", async () => {
    const t = await setup({ lingerMs: 600 });
    await t.runner.start();
    try {
      // Three messages 50 ms apart, all inside one linger: one batch of three.
      for (let i = 1; i <= 3; i++) {
        await t.publish({ i });
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitFor("first batch", () => t.batches.length >= 1);
      assert.deepEqual(t.batches[0], [1, 2, 3]);
      // A full batch (batchSize 10) does not wait for the linger to end.
      const began = Date.now();
      await Promise.all(Array.from({ length: 10 }, (_, k) => t.publish({ i: 10 + k })));
      await waitFor("a full batch", () => t.seen.length >= 13);
      assert.ok(Date.now() - began < 500, `a full batch waited ${Date.now() - began} ms`);
      assert.equal(t.batches[1]?.length, 10);
    } finally {
      await t.runner.stop();
    }
  });

  test("runner - a handler that throws once gets the batch redelivered and handled again", async () => {
    let calls = 0;
    const handled: number[] = [];
    const t = await setup({
      onBatch: async (items) => {
        calls++;
        if (calls === 1) throw new Error("store unavailable");
        handled.push(...items.map((x) => x.i));
      },
    });
    for (let i = 1; i <= 5; i++) await t.publish({ i });
    await t.runner.start();
    try {
      await waitFor("all 5 handled after the failure", () => new Set(handled).size === 5);
      assert.ok(calls >= 2, `handler called ${calls} times`);
      assert.deepEqual(
        [...new Set(handled)].sort((a, b) => a - b),
        [1, 2, 3, 4, 5],
      );
      assert.equal(await metricValue(t.registry, "natter_consumer_handler_errors_total", "test"), 1);
      await waitFor("acked through the last message", async () => (await t.ackFloor()) === 5);
    } finally {
      await t.runner.stop();
    }
  });

  test("runner - a server that stops answering ends the session by missed heartbeats, counted as a stall", async () => {
    const t = await setup({ heartbeatMs: 500 });
    const stalls = async () => {
      const { values } = await t.registry.getSingleMetric("natter_consumer_stalls_total")!.get();
      return values.find((v) => v.labels.consumer === "test" && v.labels.reason === "heartbeats")?.value ?? 0;
    };
    await t.runner.start();
    const pid = nats.server.pid;
    try {
      await t.publish({ i: 1 });
      await waitFor("the first item", () => t.seen.includes(1));
      assert.equal(await stalls(), 0);
      // Frozen, not killed: the TCP connection stays up, only the heartbeats stop coming.
      process.kill(pid, "SIGSTOP");
      await waitFor("a stall counted", async () => (await stalls()) >= 1, 15_000);
      process.kill(pid, "SIGCONT");
      await t.publish({ i: 2 });
      await waitFor("the item after the thaw", () => t.seen.includes(2), 30_000);
    } finally {
      process.kill(pid, "SIGCONT");
      await t.runner.stop();
    }
  });

  test("runner - recovers after its consumer is deleted out from under it", async () => {
    const t = await setup();
    await t.runner.start();
    try {
      for (let i = 1; i <= 3; i++) await t.publish({ i });
      await waitFor("first 3 handled", () => t.seen.length >= 3);
      assert.ok(await nats.jsm.consumers.delete(t.stream, "test"));
      for (let i = 4; i <= 6; i++) await t.publish({ i });
      await waitFor("items published after the deletion handled", () => [4, 5, 6].every((i) => t.seen.includes(i)));
      assert.ok((await metricValue(t.registry, "natter_consumer_restarts_total", "test")) >= 1);
      const info = await nats.jsm.consumers.info(t.stream, "test");
      assert.equal(info.config.ack_policy, "explicit");
      assert.equal(info.config.deliver_policy, "all");
    } finally {
      await t.runner.stop();
    }
  });

  test("runner - resumes by itself after nats-server is killed and restarted", async () => {
    const t = await setup();
    await t.runner.start();
    try {
      for (let i = 1; i <= 3; i++) await t.publish({ i });
      await waitFor("first 3 handled", () => t.seen.length >= 3);
      await nats.server.kill();
      await new Promise((r) => setTimeout(r, 300));
      await nats.server.restart();
      // The client reconnects on its own; publish as soon as JetStream answers again.
      await waitFor("publish accepted after restart", async () => {
        try {
          await t.publish({ i: 4 });
          return true;
        } catch {
          return false;
        }
      });
      for (let i = 5; i <= 6; i++) await t.publish({ i });
      await waitFor(
        "items published after the restart handled",
        () => [4, 5, 6].every((i) => t.seen.includes(i)),
        60_000,
      );
      assert.deepEqual(
        [...new Set(t.seen)].sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6],
      );
    } finally {
      await t.runner.stop();
    }
  });

  test("runner - stop finishes the in-flight batch and acks it before returning", async () => {
    let entered!: () => void;
    const inFlight = new Promise<void>((r) => {
      entered = r;
    });
    const finished: number[] = [];
    const t = await setup({
      batchSize: 5,
      onBatch: async (items) => {
        entered();
        await new Promise((r) => setTimeout(r, 300));
        finished.push(...items.map((x) => x.i));
      },
    });
    for (let i = 1; i <= 5; i++) await t.publish({ i });
    await t.runner.start();
    await inFlight;
    await t.runner.stop();
    // stop() returned only after the batch that was in the handler completed.
    assert.deepEqual(finished, [1, 2, 3, 4, 5]);
    await nats.nc.flush();
    await waitFor("the finished batch is acked", async () => (await t.ackFloor()) === 5, 5_000);
  });
});
