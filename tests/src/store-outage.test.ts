import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  cassandraContactPoints,
  type GatewayProc,
  type Stack,
  startStack,
  startTcpProxy,
  type TcpProxy,
  WsClient,
} from "@natter/testkit";
import { Api, eventually } from "./http-client.ts";

// The store's absence never fails a send. The stack reaches Cassandra through a TCP proxy
// the test cuts (Cassandra itself keeps running for the other suites): while it is cut,
// sends are answered 201 (the stream is the commit point), live delivery goes on, history
// pages serve what the stream holds, and afterwards the history consumer catches up by
// itself.
let proxy: TcpProxy;
let stack: Stack;
let gw: GatewayProc;

before(async () => {
  const [host, port] = cassandraContactPoints()[0]!.split(":");
  proxy = await startTcpProxy({ host: host!, port: Number(port ?? 9042) });
  stack = await startStack({
    store: "cassandra",
    gateways: 1,
    env: { NATTER_CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}` },
  });
  gw = stack.gateways[0]!;
});
after(async () => {
  proxy?.restore();
  await stack?.stop();
  await proxy?.close();
});

describe("store outage", () => {
  test("store outage - with Cassandra cut off, sends succeed, live delivery and history from the stream go on; then history catches up", async () => {
    const a = await new Api(gw.url).signup("outage_ana");
    const b = await new Api(gw.url).signup("outage_ben");
    const chat = (await a.call("POST", "/v1/chats", { kind: "direct", userId: b.userId })).body.chatId as string;
    const first = await a.call("POST", `/v1/chats/${chat}/messages`, { id: "before", body: "before the outage" });
    assert.equal(first.status, 201);
    const bSocket = await WsClient.connect(gw.url, b.token!, { name: "ben", held: new Map([[chat, first.body.n]]) });

    proxy.cut();
    // Still ready: the store is reported, but a gateway that can take sends stays in rotation.
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, nats: true, jetstream: true, store: false });
    const sent: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await a.call("POST", `/v1/chats/${chat}/messages`, { id: `during-${i}`, body: `during ${i}` });
      assert.equal(r.status, 201, `send ${i} during the outage: ${JSON.stringify(r.body)}`);
      sent.push(r.body.n);
    }
    // A retry of one of them answers the original (the stream's dedup window), not a second message.
    const retry = await a.call("POST", `/v1/chats/${chat}/messages`, { id: "during-3", body: "during 3" });
    assert.equal(retry.status, 200);
    assert.equal(retry.body.n, sent[3]);
    await bSocket.until(() => bSocket.ns(chat).includes(sent.at(-1)!), 10_000, "live delivery during the outage");
    assert.deepEqual(bSocket.violations, []);
    // History pages are served from the stream.
    const page = await b.call("GET", `/v1/chats/${chat}/messages?after=${first.body.n}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.deepEqual(
      page.body.events.map((e: { n: number }) => e.n),
      sent,
    );

    proxy.restore();
    // The history consumer writes everything once Cassandra is back, with no help.
    const all = await eventually(
      async () => {
        const r = await b.call("GET", `/v1/chats/${chat}/messages?limit=100`);
        return r.status === 200 && r.body.events.length === sent.length + 2 ? r.body.events : undefined;
      },
      60_000,
      "history complete",
    );
    assert.deepEqual(
      all.map((e: { n: number }) => e.n),
      Array.from({ length: sent.length + 2 }, (_, i) => i + 1),
    );
    await bSocket.close();
  });
});
