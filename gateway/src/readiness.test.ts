import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import { SqliteStore } from "@natter/store";
import { type NatsServer, startNatsCluster, waitForJetStream } from "@natter/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createGateway, type Gateway } from "./gateway.ts";
import { testConfig } from "./testing.ts";

// Readiness tells a load balancer whether this gateway can take a send: NATS connected and
// the chat stream writable. On a real 3-node cluster with an R3 stream, a lost quorum (two
// nodes down) makes it 503 within the check's timeout, and the quorum's return makes it
// 200 again.
describe("readiness - on a 3-node cluster", () => {
  let servers: NatsServer[] = [];
  let nc: NatsConnection;
  let gw: Gateway;
  const store = new SqliteStore({ path: ":memory:" });

  before(async () => {
    servers = await startNatsCluster(3);
    nc = await connect({ servers: servers.map((s) => s.url), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const config = testConfig({ natsUrl: servers[0]!.url, streamReplicas: "3" });
    const logger = createLogger(config.logLevel, "readiness-test");
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await waitForJetStream(() =>
      ensureChatStream(jsm, { replicas: 3, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger),
    );
    await store.migrate();
    gw = await createGateway({ config, logger, store, nc });
  });
  after(async () => {
    await gw?.close();
    await nc?.close();
    await Promise.all(servers.map((s) => s.stop()));
    await store.close();
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
    await Promise.all([servers[1]!.kill(), servers[2]!.kill()]);
    const down = await until(503, 20_000);
    assert.equal(down.status, 503);
    assert.equal(down.body.jetstream, false);
    assert.equal(down.body.ok, false);

    await Promise.all([servers[1]!.restart(), servers[2]!.restart()]);
    const back = await until(200, 60_000);
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });
});
