import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createLogger } from "@natter/config";
import { createGateway, type Gateway } from "./gateway.ts";
import { r3ClusterSuite, testConfig } from "./testing.ts";

// Readiness tells a load balancer whether this gateway can take a send: NATS connected and
// the chat stream writable. On a real 3-node cluster with an R3 stream, a lost quorum (two
// nodes down) makes it 503 within the check's timeout, and the quorum's return makes it
// 200 again.
describe("readiness - on a 3-node cluster", () => {
  let gw: Gateway;
  const cluster = r3ClusterSuite({
    connect: { maxReconnectAttempts: -1, reconnectTimeWait: 200 },
    setup: async ({ servers, nc, store }) => {
      const config = testConfig({ natsUrl: servers[0]!.url, streamReplicas: "3" });
      gw = await createGateway({ config, logger: createLogger(config.logLevel, "readiness-test"), store, nc });
    },
    teardown: async () => {
      await gw?.close();
    },
  });

  const readyz = async () => {
    const r = await gw.app.inject({ method: "GET", url: "/readyz" });
    return { status: r.statusCode, body: JSON.parse(r.body) as Record<string, boolean> };
  };

  async function until(want: number, ms: number): Promise<{ status: number; body: Record<string, boolean> }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await readyz();
      if (r.status === want || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  test("readiness - 200 with the quorum, 503 (jetstream false) when two of three nodes are down, 200 when they are back", async () => {
    const up = await until(200, 20_000);
    assert.deepEqual(up, { status: 200, body: { ok: true, nats: true, jetstream: true, store: true } });

    // The client stays on node 1; nodes 2 and 3 die: no quorum, no stream leader.
    await Promise.all([cluster.servers[1]!.kill(), cluster.servers[2]!.kill()]);
    const down = await until(503, 20_000);
    assert.equal(down.status, 503);
    assert.equal(down.body.jetstream, false);
    assert.equal(down.body.ok, false);

    await Promise.all([cluster.servers[1]!.restart(), cluster.servers[2]!.restart()]);
    const back = await until(200, 60_000);
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });
});
