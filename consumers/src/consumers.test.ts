import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectNats } from "@natter/bus";
import { createLogger, loadConfig } from "@natter/config";
import { SqliteStore } from "@natter/store";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import { type NatsServer, startNatsServer } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { startConsumers } from "./consumers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "consumers-test");
let server: NatsServer;
let nc: NatsConnection;
const store = new SqliteStore({ path: ":memory:" });

before(async () => {
  server = await startNatsServer();
  nc = await connectNats({ servers: [server.url], name: "consumers-test", logger });
  await store.migrate();
});
after(async () => {
  await nc?.close();
  await server?.stop();
  await store.close();
});

const config = (consumers: string) =>
  loadConfig({ NATTER_TOKEN_SECRET: "x".repeat(32), NATTER_CONSUMERS: consumers, NATTER_NATS_URL: server.url });
const durables = async () => {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const c of jsm.consumers.list(CHAT_STREAM)) names.push(c.name);
  return names.sort();
};

test("consumers - NATTER_CONSUMERS picks the durables a process runs: one each, then both", async () => {
  const fanoutOnly = await startConsumers({ config: config("fanout"), nc, store, logger, registry: new Registry() });
  try {
    assert.deepEqual(
      fanoutOnly.runners.map((r) => r.name),
      [CONSUMERS.fanout],
    );
    assert.deepEqual(await durables(), [CONSUMERS.fanout], "no history durable on the server");
  } finally {
    await fanoutOnly.stop();
  }
  const both = await startConsumers({ config: config("fanout, history"), nc, store, logger, registry: new Registry() });
  try {
    // Always history first, whatever the order in the variable.
    assert.deepEqual(
      both.runners.map((r) => r.name),
      [CONSUMERS.history, CONSUMERS.fanout],
    );
    assert.deepEqual(await durables(), [CONSUMERS.fanout, CONSUMERS.history].sort());
  } finally {
    await both.stop();
  }
});
