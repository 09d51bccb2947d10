import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNats } from "@natter/bus";
import { createLogger } from "@natter/config";
import { type NatsServer, startNatsCluster, waitForJetStream } from "@natter/testkit";
import { type JetStreamManager, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { ConsumerRunner } from "./runner.ts";
import { uniqueName, waitFor } from "./test-helpers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "runner-leader-test");

// Issue 15's first fault: restarting the nats-server that leads a durable consumer stopped
// live delivery for ~30 s. The consume session's pull request lived on the dead leader;
// nats.js notices only after two missed idle heartbeats, which default to half the pull's
// 30 s expiry, so the runner sat on a dead pull for 30 s. With the runner's own heartbeat
// (default 1 s, NATTER_CONSUMER_HEARTBEAT) a leader move costs the consumer's Raft election
// (nats-server draws its election timeout between 4 and 9 s) plus two missed heartbeats:
// up to ~11 s on a loaded machine, and half the old 30 s stall is the bound that tells them apart.
describe("runner - the consumer's leader dies on a 3-node cluster", () => {
  let servers: NatsServer[];
  let admin: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    servers = await startNatsCluster(3);
    admin = await connectNats({ servers: servers.map((s) => s.url), name: "leader-admin", logger });
    jsm = await jetstreamManager(admin, { checkAPI: false });
    await waitForJetStream(() => jsm.getAccountInfo());
  });
  after(async () => {
    await admin?.close();
    await Promise.all((servers ?? []).map((s) => s.stop()));
  });

  test("runner - a SIGKILL of the consumer's leader costs live delivery one election, not the 30 s stall window", async () => {
    const stream = uniqueName("LD");
    const subject = `${stream.toLowerCase()}.items`;
    await waitForJetStream(() =>
      jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], num_replicas: 3 }),
    );
    const name = (s: NatsServer) => `natter-n${servers.indexOf(s) + 1}`;
    // The runner sits on a node that survives, so what is measured is the leader move alone,
    // not the runner's own reconnect.
    const home = servers[0]!;
    const nc = await connectNats({ servers: [home.url], name: "leader-runner", logger });
    const seen = new Map<number, number>();
    const runner = new ConsumerRunner<number>({
      nc,
      logger,
      stream,
      durable: "lead",
      filterSubject: subject,
      batchSize: 10,
      ackWaitMs: 5_000,
      registry: new Registry(),
      parse: (m: JsMsg) => m.json<{ i: number }>().i,
      onBatch: async (items) => {
        for (const i of items) if (!seen.has(i)) seen.set(i, Date.now());
      },
    });
    await runner.start();
    try {
      const js = jetstream(admin);
      await js.publish(subject, JSON.stringify({ i: 0 }));
      await waitFor("the first item", () => seen.has(0));
      // Move the consumer's leadership off the runner's node, then kill whichever node leads.
      const leaderOf = async () => (await jsm.consumers.info(stream, "lead")).cluster?.leader;
      for (let k = 0; k < 10 && (await leaderOf()) === name(home); k++) {
        await admin.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.lead`, "", { timeout: 5000 }).catch(() => {});
        await new Promise((r) => setTimeout(r, 500));
      }
      const leaderName = await leaderOf();
      assert.notEqual(leaderName, name(home), "the consumer's leader moved off the runner's node");
      const victim = servers.find((s) => name(s) === leaderName)!;
      await victim.kill();

      // Publish through the survivors (retrying while the stream elects a new leader); time
      // each message from its PubAck to its handling.
      const acked = new Map<number, number>();
      for (let i = 1; i <= 20; i++) {
        await waitForJetStream(() => js.publish(subject, JSON.stringify({ i }), { timeout: 2000 }));
        acked.set(i, Date.now());
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitFor("every item after the kill", () => [...acked.keys()].every((i) => seen.has(i)), 60_000);
      const waits = [...acked].map(([i, t]) => seen.get(i)! - t);
      const worst = Math.max(...waits);
      console.log(`consumer leader ${leaderName} SIGKILLed: the longest PubAck→handled wait was ${worst} ms`);
      assert.ok(worst < 15_000, `live delivery stalled for ${worst} ms after the leader died`);
      await victim.restart();
    } finally {
      await runner.stop();
      await nc.close();
    }
  });
});
