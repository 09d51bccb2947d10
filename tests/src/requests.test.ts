import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ServerFrame } from "@natter/protocol";
import { type GatewayProc, LIFTED_RATE_LIMITS, type Stack, startStack, WsClient } from "@natter/testkit";
import { Api } from "./http-client.ts";

// The acceptance line of message requests over the production path: two gateway
// processes, the consumers, a real nats-server, real sockets. The stranger and the
// recipient sit on different gateways, so nothing can leak through one process's memory.
const DELAY_MS = 300;
let stack: Stack;
let g1: GatewayProc;
let g2: GatewayProc;
const sockets: WsClient[] = [];

before(async () => {
  stack = await startStack({
    gateways: 2,
    env: { ...LIFTED_RATE_LIMITS, NATTER_PRESENCE_ONLINE_DELAY: `${DELAY_MS}ms`, NATTER_TYPING_INTERVAL: "200ms" },
  });
  [g1, g2] = stack.gateways as [GatewayProc, GatewayProc];
});
after(async () => {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  await stack?.stop();
});

let handles = 0;
async function device(via: GatewayProc, api: Api, name: string): Promise<WsClient> {
  const c = await WsClient.connect(via.url, api.token!, { name });
  sockets.push(c);
  return c;
}

async function send(c: WsClient, chat: string, id: string): Promise<ServerFrame> {
  c.send({ type: "send", ref: id, chat, id, body: `body ${id}` });
  return c.waitFor((f) => (f.type === "sent" || f.type === "error") && f.ref === id, 10_000, id);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What the stranger's socket learned about the recipient. */
const about = (c: WsClient, user: string) =>
  c.frames.filter((f) => (f.type === "presence" || f.type === "typing" || f.type === "receipt") && f.user === user);

describe("message requests - end to end", () => {
  test("a stranger learns nothing of my presence, typing or receipts until I reply; after a block, their sends are refused", async () => {
    const me = await new Api(g1.url).signup(`rq_me_${++handles}`);
    const stranger = await new Api(g2.url).signup(`rq_stranger_${++handles}`);
    const mine = await device(g1, me, "me");
    await sleep(DELAY_MS + 200); // I count as online
    const theirs = await device(g2, stranger, "stranger");

    const opened = await stranger.call("POST", "/v1/chats", { kind: "direct", userId: me.userId });
    assert.equal(opened.status, 201);
    const chat = opened.body.chatId as string;
    theirs.send({ type: "watch", users: [me.userId] });
    const hello = await send(theirs, chat, "hello");
    assert.equal(hello.type, "sent");
    const n = hello.type === "sent" ? hello.n : 0;

    // I get the message live, and the chat is listed as a request.
    await mine.waitFor((f) => f.type === "event" && f.chat === chat && f.n === n, 10_000, "the stranger's message");
    const list = await me.call("GET", "/v1/chats?requests=only");
    assert.deepEqual(
      list.body.chats.map((c: { chatId: string; request?: { from: string } }) => [c.chatId, c.request?.from]),
      [[chat, stranger.userId]],
    );
    // I read it and type; the stranger asks for my presence every way there is.
    mine.send({ type: "read", chat, n });
    mine.send({ type: "typing", chat });
    const polled = await stranger.call("GET", `/v1/presence?users=${me.userId}`);
    assert.deepEqual(polled.body.presence, []);
    const receipts = await stranger.call("GET", `/v1/chats/${chat}/receipts`);
    assert.deepEqual(
      receipts.body.members.find((m: { userId: string }) => m.userId === me.userId),
      { userId: me.userId, deliveredN: 0, readN: 0 },
    );
    // The stranger's own typing reaches me: the stranger's socket is live all along.
    theirs.send({ type: "typing", chat });
    await mine.waitFor((f) => f.type === "typing" && f.user === stranger.userId, 10_000, "the stranger's typing");
    await sleep(500);
    assert.deepEqual(about(theirs, me.userId), [], "nothing of me before I answer");

    // I reply: accepted. Their open watch now shows me, typing and receipts flow.
    const reply = await send(mine, chat, "who-is-this");
    assert.equal(reply.type, "sent", JSON.stringify(reply));
    await theirs.waitFor((f) => f.type === "presence" && f.user === me.userId && f.online, 10_000, "my presence");
    await sleep(300); // the typing interval
    mine.send({ type: "typing", chat });
    await theirs.waitFor((f) => f.type === "typing" && f.user === me.userId, 10_000, "my typing");
    const again = await send(theirs, chat, "old-friend");
    assert.equal(again.type, "sent");
    mine.send({ type: "read", chat, n: again.type === "sent" ? again.n : 0 });
    await theirs.waitFor((f) => f.type === "receipt" && f.user === me.userId, 10_000, "my receipt");

    // I block them: their sends are refused, over the socket and over HTTP.
    assert.equal((await me.call("POST", `/v1/users/${stranger.userId}/block`)).status, 204);
    const refused = await send(theirs, chat, "let-me-explain");
    assert.equal(refused.type === "error" && refused.code, "forbidden");
    const overHttp = await stranger.call("POST", `/v1/chats/${chat}/messages`, { id: "http-1", body: "please" });
    assert.deepEqual([overHttp.status, overHttp.body.code], [403, "forbidden"]);
    // And my presence stops reaching their open watch: I go offline, they hear nothing.
    await sleep(300);
    await mine.close();
    await sleep(1000);
    assert.equal(
      theirs.frames.filter((f) => f.type === "presence" && f.user === me.userId && !f.online).length,
      0,
      "the watch ended with the block",
    );
  });
});
