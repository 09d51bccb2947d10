import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createTestKeyspace, type NatsServer, startNatsServer, type TestKeyspace } from "./index.ts";

describe("smoke - real nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  test("smoke - nats-server version is at least 2.11", (t) => {
    t.diagnostic(`nats-server version ${server.version} at ${server.url}`);
    console.log(`[smoke] real nats-server ${server.version} (pid ${server.pid}) at ${server.url}`);
    const [major, minor] = server.version.split(".").map(Number);
    assert.ok(major! > 2 || (major === 2 && minor! >= 11), `version ${server.version}`);
  });

  test("smoke - stream publish and direct get read back the message", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "SMOKE", subjects: ["smoke.>"], allow_direct: true });
    const js = jetstream(nc);
    const ack1 = await js.publish("smoke.a", JSON.stringify({ hello: "world" }));
    const ack2 = await js.publish("smoke.a", JSON.stringify({ hello: "again" }), {
      expect: { lastSubjectSequence: ack1.seq },
    });
    assert.equal(ack2.seq, ack1.seq + 1);
    const last = await jsm.direct.getMessage("SMOKE", { last_by_subj: "smoke.a" });
    assert.ok(last, "direct get found the message");
    assert.equal(last.seq, ack2.seq);
    assert.deepEqual(last.json(), { hello: "again" });
    // A stale expectation is refused by the server (this is what sequences chats).
    await assert.rejects(
      js.publish("smoke.a", "x", { expect: { lastSubjectSequence: ack1.seq } }),
      /wrong last sequence/,
    );
  });
});

describe("smoke - real Cassandra", () => {
  let ks: TestKeyspace;
  before(async () => {
    ks = await createTestKeyspace("smoke");
  });
  after(async () => {
    await ks?.drop();
  });

  test("smoke - Cassandra release_version is 5.0", async (t) => {
    const rs = await ks.client.execute("SELECT release_version FROM system.local");
    const version = rs.first()?.get("release_version") as string;
    t.diagnostic(`Cassandra release_version ${version}`);
    console.log(`[smoke] real Cassandra release_version ${version}`);
    assert.match(version, /^5\.0\./);
  });

  test("smoke - create a table, write a row and read it back", async () => {
    await ks.client.execute(`CREATE TABLE ${ks.keyspace}.kv (k text PRIMARY KEY, v int)`);
    await ks.client.execute(`INSERT INTO ${ks.keyspace}.kv (k, v) VALUES (?, ?)`, ["answer", 42], { prepare: true });
    const rs = await ks.client.execute(`SELECT v FROM ${ks.keyspace}.kv WHERE k = ?`, ["answer"], { prepare: true });
    assert.equal(rs.first()?.get("v"), 42);
  });
});
