import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CHAT_STREAM, CONSUMERS } from "@natter/subjects";
import { injectJson, injectSignup, type NatsServer, startNatsServer } from "@natter/testkit";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { startTestGateway, type TestGateway } from "../testing.ts";

// Back-pressure when history falls behind: with the `history` durable holding more
// unwritten events than NATTER_HISTORY_MAX_LAG, sends are refused with 503 `unavailable`
// (nothing published) until it catches up. Real nats-server; the durable is made here and
// never consumed, so its backlog only grows until the test drains it.
describe("history lag - back-pressure on sends", () => {
  let nats: NatsServer;
  let t: TestGateway;

  before(async () => {
    nats = await startNatsServer();
    t = await startTestGateway(nats.url, { overrides: { historyMaxLag: "3" } });
  });
  after(async () => {
    await t?.close();
    await nats?.stop();
  });

  const send = (token: string, chat: string, id: string) =>
    injectJson(t.gw.app, "POST", `/v1/chats/${chat}/messages`, { id, body: id }, token);

  test("history lag - sends are refused (503 unavailable, nothing published) while history is behind, accepted once it caught up", async () => {
    const a = await injectSignup(t.gw.app, "lag_ana");
    const b = await injectSignup(t.gw.app, "lag_ben");
    const chat = (await injectJson(t.gw.app, "POST", "/v1/chats", { kind: "direct", userId: b.userId }, a.token)).body
      .chatId as string;
    const jsm = await jetstreamManager(t.nc);
    await jsm.consumers.add(CHAT_STREAM, { durable_name: CONSUMERS.history, ack_policy: AckPolicy.Explicit });

    for (let i = 0; i < 4; i++) assert.equal((await send(a.token, chat, `m${i}`)).status, 201);
    // The gateway reads the backlog every 2 s: 5 events (the chat's creation and 4 messages) > 3.
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await send(a.token, chat, `late${i}`);
      if (r.status === 503) refused = r;
    }
    assert.ok(refused, "a send was refused within 4 s of the backlog passing the limit");
    assert.equal(refused.body.code, "unavailable");
    const head = (await jsm.streams.info(CHAT_STREAM)).state.last_seq;

    // History catches up (here: the backlog goes away): sends are accepted again.
    await jsm.consumers.delete(CHAT_STREAM, CONSUMERS.history);
    let accepted = false;
    for (let i = 0; i < 40 && !accepted; i++) {
      await new Promise((r) => setTimeout(r, 100));
      accepted = (await send(a.token, chat, "after")).status === 201;
    }
    assert.ok(accepted, "sends resume once history is no longer behind");
    assert.equal((await jsm.streams.info(CHAT_STREAM)).state.last_seq, head + 1, "the refused sends published nothing");
  });
});
