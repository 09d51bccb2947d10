import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ErrorFrame, SentFrame } from "@natter/protocol";
import { CONSUMERS } from "@natter/subjects";
import { NatterClient } from "@natter/client";
import { consumerCaughtUp, stackSuite, WsClient } from "@natter/testkit";
import { Api } from "./http-client.ts";

// The rule for resends (docs/protocol.md, "Resends"): inside the JetStream dedup window the
// stream answers any resend with the original; after it, the history store's client-message
// index answers an HTTP retry and a socket `send` marked `retry: true`, and only those. A
// first send (no `retry`) touches only NATS, so an unmarked socket resend older than the
// window is a new message: the trade this test pins. The window is 1 s here (2 min by default).
const WINDOW_MS = 1000;
// A send rate low enough for the SDK case to be refused (and resend), high enough for the others.
const live = stackSuite({
  env: { NATTER_DEDUP_WINDOW: `${WINDOW_MS}ms`, NATTER_SEND_BURST: "4", NATTER_SEND_RATE: "4" },
});

let handles = 0;
async function group(): Promise<{ a: Api; chat: string; socket: WsClient }> {
  const a = await new Api(live.g1.url).signup(`retry_a_${++handles}`);
  const b = await new Api(live.g1.url).signup(`retry_b_${handles}`);
  const made = await a.call("POST", "/v1/chats", { kind: "group", title: "resends", members: [b.userId] });
  assert.equal(made.status, 201);
  const socket = live.closing(await WsClient.connect(live.g1.url, a.token!, { name: "a" }));
  return { a, chat: made.body.chatId, socket };
}

let refs = 0;
async function send(c: WsClient, frame: Record<string, unknown>): Promise<SentFrame | ErrorFrame> {
  const ref = `r${++refs}`;
  c.send({ type: "send", ref, ...frame });
  return c.waitFor<SentFrame | ErrorFrame>(
    (f) => (f.type === "sent" || f.type === "error") && f.ref === ref,
    10_000,
    `answer to ${ref}`,
  );
}

/** Past the dedup window, with the history consumer done with everything sent so far. */
async function pastTheWindow(): Promise<void> {
  await consumerCaughtUp(live.stack.nats.url, CONSUMERS.history, 20_000);
  await new Promise((r) => setTimeout(r, WINDOW_MS + 500));
}

describe("resends and the dedup window", () => {
  test("inside the window any resend is the original, marked or not", async () => {
    const { socket, chat } = await group();
    const first = (await send(socket, { chat, id: "in-1", body: "hello" })) as SentFrame;
    assert.equal(first.type, "sent");
    const again = (await send(socket, { chat, id: "in-1", body: "hello" })) as SentFrame;
    assert.deepEqual({ ...again, ref: first.ref }, first, "an unmarked resend inside the window");
    const marked = (await send(socket, { chat, id: "in-1", body: "hello", retry: true })) as SentFrame;
    assert.deepEqual({ ...marked, ref: first.ref }, first, "a marked resend inside the window");
  });

  test("after the window a marked socket resend and an HTTP retry are the original", async () => {
    const { a, socket, chat } = await group();
    const first = (await send(socket, { chat, id: "out-1", body: "hello" })) as SentFrame;
    assert.equal(first.type, "sent");
    await pastTheWindow();
    const marked = (await send(socket, { chat, id: "out-1", body: "hello", retry: true })) as SentFrame;
    assert.deepEqual({ ...marked, ref: first.ref }, first, "retry: true is answered by the store's index");
    const http = await a.call("POST", `/v1/chats/${chat}/messages`, { id: "out-1", body: "hello" });
    assert.equal(http.status, 200, "an HTTP retry reads the index");
    assert.deepEqual(http.body, { chat, id: "out-1", seq: first.seq, n: first.n, ts: first.ts });
    const history = await a.call("GET", `/v1/chats/${chat}/messages?after=0&limit=100`);
    const copies = history.body.events.filter((e: { id?: string }) => e.id === "out-1");
    assert.equal(copies.length, 1, "one message in history");
  });

  test("after the window an unmarked socket resend is a new message (the documented trade)", async () => {
    const { a, socket, chat } = await group();
    const first = (await send(socket, { chat, id: "late-1", body: "hello" })) as SentFrame;
    assert.equal(first.type, "sent");
    await pastTheWindow();
    const unmarked = (await send(socket, { chat, id: "late-1", body: "hello", retry: false })) as SentFrame;
    assert.equal(unmarked.type, "sent");
    assert.equal(unmarked.n, first.n + 1, "neither the stream (window passed) nor the index (not asked) knew it");
    await consumerCaughtUp(live.stack.nats.url, CONSUMERS.history, 20_000);
    // The index keeps the earliest landing: a marked resend from now on is the first one.
    const marked = (await send(socket, { chat, id: "late-1", body: "hello", retry: true })) as SentFrame;
    assert.equal(marked.n, first.n);
    const history = await a.call("GET", `/v1/chats/${chat}/messages?after=0&limit=100`);
    assert.deepEqual(
      history.body.events.filter((e: { id?: string }) => e.id === "late-1").map((e: { n: number }) => e.n),
      [first.n, first.n + 1],
    );
  });

  test("retry must be a boolean; nothing is published otherwise", async () => {
    const { a, socket, chat } = await group();
    const before = (await a.call("GET", `/v1/chats/${chat}`)).body.lastN;
    const refused = (await send(socket, { chat, id: "bad-1", body: "hello", retry: "yes" })) as ErrorFrame;
    assert.equal(refused.type, "error");
    assert.equal(refused.code, "invalid_input");
    assert.equal(refused.field, "retry");
    assert.equal((await a.call("GET", `/v1/chats/${chat}`)).body.lastN, before);
  });
});

/** How many times gateway g1 has read the client-message index (its store metric). */
async function indexReads(): Promise<number> {
  const text = await (await fetch(`${live.g1.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('natter_store_seconds_count{op="findClientMsg",outcome="ok"'));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

test("the SDK marks its resends, and only those read the index", async () => {
  const { client } = await NatterClient.signup({
    servers: live.g1.url,
    handle: `retry_sdk_${++handles}`,
    displayName: "sdk",
    password: "password-123",
    sendWindow: 8,
  });
  live.closing(client);
  await client.connect();
  const { chatId } = await client.http.createGroup("sdk resends", []);
  const before = await indexReads();
  await client.send(chatId, "first");
  assert.equal(await indexReads(), before, "a first send reads nothing from the store");
  // Over the send burst: some are refused with rate_limited and resent with the same id.
  const sent = await Promise.all(Array.from({ length: 8 }, (_, i) => client.send(chatId, `burst ${i}`)));
  assert.equal(new Set(sent.map((s) => s.n)).size, 8);
  const { resends } = client.sendStats;
  assert.ok(resends > 0, "the burst was over the limit: something was resent");
  assert.equal((await indexReads()) - before, resends, "one index read per resend, none for first sends");
});
