import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { PresenceFrame, ReceiptFrame, ServerFrame, TypingSignalFrame } from "@natter/protocol";
import { type GatewayProc, LIFTED_RATE_LIMITS, type Stack, startStack, WsClient } from "@natter/testkit";
import { Api, eventually } from "./http-client.ts";

// Presence, typing, receipts and unread counts over the production path: two gateway
// processes (a third one to kill), the consumers process, a real nats-server, real sockets.
const TTL_MS = 2000;
const DELAY_MS = 600;
const ENV = {
  ...LIFTED_RATE_LIMITS,
  NATTER_PRESENCE_TTL: `${TTL_MS}ms`,
  NATTER_PRESENCE_ONLINE_DELAY: `${DELAY_MS}ms`,
};
let stack: Stack;
let g1: GatewayProc;
let g2: GatewayProc;
const sockets: WsClient[] = [];

before(async () => {
  stack = await startStack({ gateways: 2, env: ENV });
  [g1, g2] = stack.gateways as [GatewayProc, GatewayProc];
});
after(async () => {
  await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  await stack?.stop();
});

let handles = 0;
async function user(name: string, via = g1): Promise<Api> {
  return new Api(via.url).signup(`pr_${name}_${++handles}`);
}

async function device(via: GatewayProc, api: Api, name: string): Promise<WsClient> {
  const c = await WsClient.connect(via.url, api.token!, { name });
  sockets.push(c);
  return c;
}

/**
 * The chats here are between people who talk to each other: each one brought in accepts
 * it (a chat from a stranger is a message request, whose members see nothing of each
 * other until it is accepted: tests/src/requests.test.ts).
 */
async function accept(chatId: string, users: Api[]): Promise<void> {
  for (const u of users) assert.equal((await u.call("POST", `/v1/chats/${chatId}/accept`)).status, 204);
}

async function direct(a: Api, b: Api): Promise<string> {
  const r = await a.call("POST", "/v1/chats", { kind: "direct", userId: b.userId });
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
  await accept(r.body.chatId as string, [b]);
  return r.body.chatId as string;
}

async function group(owner: Api, members: Api[]): Promise<string> {
  const r = await owner.call("POST", "/v1/chats", { kind: "group", title: "p", members: members.map((m) => m.userId) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await accept(r.body.chatId as string, members);
  return r.body.chatId as string;
}

const presenceOf = (c: WsClient, user: string) =>
  c.frames.filter((f): f is PresenceFrame => f.type === "presence" && f.user === user);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function send(c: WsClient, chat: string, id: string): Promise<number> {
  c.send({ type: "send", ref: id, chat, id, body: `body ${id}` });
  const r = await c.waitFor((f) => (f.type === "sent" || f.type === "error") && f.ref === id, 10_000, id);
  assert.equal(r.type, "sent", JSON.stringify(r));
  return (r as Extract<ServerFrame, { type: "sent" }>).n;
}

describe("presence - across gateways", () => {
  test("presence - online after the delay, offline when the last device (on either gateway) closes; a stranger sees nothing", async () => {
    const ana = await user("ana");
    const ben = await user("ben", g2);
    const stranger = await user("stranger", g2);
    await direct(ana, ben);
    const watcher = await device(g2, ben, "ben");
    const spy = await device(g2, stranger, "stranger");
    watcher.send({ type: "watch", users: [ana.userId] });
    spy.send({ type: "watch", users: [ana.userId, ben.userId] });
    const first = await watcher.waitFor<PresenceFrame>((f) => f.type === "presence" && f.user === ana.userId);
    assert.equal(first.online, false, "ana has not connected yet");

    const t0 = Date.now();
    const phone = await device(g1, ana, "ana-phone");
    await watcher.until(() => presenceOf(watcher, ana.userId).some((f) => f.online), 10_000, "ana online");
    const onlineAfter = Date.now() - t0;
    assert.ok(
      onlineAfter >= DELAY_MS - 50,
      `online announced after ${onlineAfter} ms, before the ${DELAY_MS} ms delay`,
    );

    // A second device on the other gateway; the first one leaving changes nothing.
    const laptop = await device(g2, ana, "ana-laptop");
    await phone.close();
    await sleep(DELAY_MS + 500);
    assert.equal(
      presenceOf(watcher, ana.userId).filter((f) => !f.online).length,
      1,
      "still online: only the snapshot said offline",
    );
    const http = await ben.call("GET", `/v1/presence?users=${ana.userId},${stranger.userId}`);
    assert.equal(http.status, 200);
    assert.equal(http.body.presence.length, 1, "the stranger is left out");
    assert.equal(http.body.presence[0].userId, ana.userId);
    assert.equal(http.body.presence[0].online, true);

    const left = Date.now();
    await laptop.close();
    await watcher.until(() => presenceOf(watcher, ana.userId).at(-1)?.online === false, 10_000, "ana offline");
    const off = presenceOf(watcher, ana.userId).at(-1)!;
    assert.ok(off.lastSeen >= left - 100 && off.lastSeen <= Date.now(), `lastSeen ${off.lastSeen} vs ${left}`);
    const after = await ben.call("GET", `/v1/presence?users=${ana.userId}`);
    assert.deepEqual(after.body.presence, [{ userId: ana.userId, online: false, lastSeen: off.lastSeen }]);

    // A stranger: no frames about ana (their own presence only), an empty batch over HTTP.
    assert.deepEqual(presenceOf(spy, ana.userId), []);
    assert.deepEqual(presenceOf(spy, ben.userId), []);
    const spyHttp = await stranger.call("GET", `/v1/presence?users=${ana.userId},${ben.userId}`);
    assert.deepEqual(spyHttp.body, { presence: [] });
    await Promise.all([watcher.close(), spy.close()]);
  });

  test("presence - watch delivers changes only for the watched users; a new watch replaces the set", async () => {
    const me = await user("me", g1);
    const a = await user("a", g2);
    const b = await user("b", g1);
    await group(me, [a, b]);
    const w = await device(g1, me, "me");
    w.send({ type: "watch", users: [a.userId] });
    await w.waitFor((f) => f.type === "presence" && f.user === a.userId);
    const da = await device(g2, a, "a");
    const db = await device(g1, b, "b");
    await w.until(() => presenceOf(w, a.userId).some((f) => f.online), 10_000, "a online");
    await sleep(DELAY_MS + 300);
    assert.deepEqual(presenceOf(w, b.userId), [], "b is not watched");

    w.send({ type: "watch", users: [b.userId] });
    const bNow = await w.waitFor<PresenceFrame>((f) => f.type === "presence" && f.user === b.userId);
    assert.equal(bNow.online, true);
    const aCount = presenceOf(w, a.userId).length;
    await da.close();
    await db.close();
    await w.until(() => presenceOf(w, b.userId).at(-1)?.online === false, 10_000, "b offline");
    await sleep(300);
    assert.equal(presenceOf(w, a.userId).length, aCount, "a is no longer watched");

    w.send({ type: "watch", ref: "big", users: Array.from({ length: 201 }, (_, i) => `u${i}`) });
    const err = await w.waitFor((f) => f.type === "error" && f.ref === "big");
    assert.equal(err.type === "error" && err.code, "invalid_input");
    await w.close();
  });

  test("presence - a gateway killed with SIGKILL takes its users offline within the TTL", async () => {
    const g3 = await stack.startGateway("g3");
    const victim = await user("victim", g3);
    const friend = await user("friend", g1);
    await direct(friend, victim);
    const w = await device(g1, friend, "friend");
    await WsClient.connect(g3.url, victim.token!, { name: "victim" });
    w.send({ type: "watch", users: [victim.userId] });
    await w.until(() => presenceOf(w, victim.userId).some((f) => f.online), 10_000, "victim online");
    const killedAt = Date.now();
    await g3.kill("SIGKILL");
    await w.until(() => presenceOf(w, victim.userId).at(-1)?.online === false, TTL_MS * 3, "victim offline");
    const took = Date.now() - killedAt;
    console.log(`# presence: SIGKILLed gateway's user offline after ${took} ms (TTL ${TTL_MS} ms)`);
    assert.ok(took <= TTL_MS + 1000, `offline after ${took} ms`);
    const http = await friend.call("GET", `/v1/presence?users=${victim.userId}`);
    assert.equal(http.body.presence[0].online, false);
    await w.close();
  });
});

describe("typing - signals to online members", () => {
  test("typing - reaches the other online members, is rate limited, is not in history", async () => {
    const a = await user("ta", g1);
    const b = await user("tb", g2);
    const c = await user("tc", g1);
    const chat = await group(a, [b, c]);
    const da = await device(g1, a, "a");
    const db = await device(g2, b, "b");
    const dc = await device(g1, c, "c");
    const typings = (d: WsClient) => d.frames.filter((f): f is TypingSignalFrame => f.type === "typing");

    da.send({ type: "typing", chat });
    await db.until(() => typings(db).length === 1, 5000, "typing on b");
    await dc.until(() => typings(dc).length === 1, 5000, "typing on c");
    assert.deepEqual(typings(db)[0], { type: "typing", chat, user: a.userId });
    for (let i = 0; i < 5; i++) da.send({ type: "typing", chat });
    await sleep(500);
    assert.equal(typings(db).length, 1, "extra typing within 2 s are dropped");
    assert.equal(typings(da).length, 0, "not echoed to the typist");
    assert.deepEqual(da.errors(), [], "dropped silently");
    await sleep(2000);
    da.send({ type: "typing", chat });
    await db.until(() => typings(db).length === 2, 5000, "typing after the interval");

    // Never persisted: history (after a message, so the history consumer has caught up) has no trace.
    const n = await send(da, chat, "after-typing");
    const history = await eventually(async () => {
      const r = await b.call("GET", `/v1/chats/${chat}/messages`);
      return r.body.events.some((e: { n: number }) => e.n === n) ? r.body.events : undefined;
    });
    assert.deepEqual(
      history.map((e: { kind: string }) => e.kind),
      ["chat.created", "message.created"],
    );
  });
});

describe("receipts - delivered and read pointers", () => {
  test("receipts - pointers only move forward; delivered and read reach the sender live and over HTTP", async () => {
    const s = await user("sender", g1);
    const r = await user("reader", g2);
    const chat = await direct(s, r);
    const ds = await device(g1, s, "sender");
    const dr = await device(g2, r, "reader");
    for (let i = 1; i <= 3; i++) await send(ds, chat, `m${i}`); // n = 2, 3, 4
    const fromReader = () => ds.frames.filter((f): f is ReceiptFrame => f.type === "receipt" && f.user === r.userId);

    dr.send({ type: "ack", chat, n: 4 });
    await ds.until(() => fromReader().length === 1, 5000, "delivered receipt");
    assert.deepEqual(fromReader()[0], { type: "receipt", chat, user: r.userId, deliveredN: 4, readN: 0 });
    dr.send({ type: "read", chat, n: 3 });
    await ds.until(() => fromReader().length === 2, 5000, "read receipt");
    assert.deepEqual(fromReader()[1], { type: "receipt", chat, user: r.userId, deliveredN: 4, readN: 3 });

    // Backwards or equal: nothing stored, nothing sent.
    dr.send({ type: "ack", chat, n: 2 });
    dr.send({ type: "read", chat, n: 1 });
    dr.send({ type: "read", chat, n: 3 });
    dr.send({ type: "ping", ref: "p" });
    await dr.waitFor((f) => f.type === "pong");
    await sleep(300);
    assert.equal(fromReader().length, 2, "no receipt when no pointer moved");

    const http = await s.call("GET", `/v1/chats/${chat}/receipts`);
    assert.equal(http.status, 200);
    const byUser = Object.fromEntries(
      http.body.members.map((m: { userId: string; deliveredN: number; readN: number }) => [m.userId, m]),
    );
    assert.deepEqual(byUser[r.userId], { userId: r.userId, deliveredN: 4, readN: 3 });
    assert.deepEqual(byUser[s.userId], { userId: s.userId, deliveredN: 4, readN: 4 }, "sending marks read");
    const outsider = await user("outsider");
    assert.equal(
      (await outsider.call("GET", `/v1/chats/${chat}/receipts`)).status,
      404,
      "as for a chat that does not exist",
    );

    // The reader's reply marks the chat read for them: the sender sees read up to it.
    const reply = await send(dr, chat, "reply");
    await ds.until(() => fromReader().some((f) => f.readN === reply), 5000, "read by sending");

    // More sends by a reader already caught up: each moves their pointer only onto their own
    // message, which the event says; stored, but no receipt (one flush window apart).
    await sleep(200);
    const before = fromReader().length;
    const next1 = await send(dr, chat, "more1");
    await sleep(200);
    const next2 = await send(dr, chat, "more2");
    await ds.waitFor((f) => f.type === "event" && f.n === next2);
    await sleep(300);
    assert.equal(fromReader().length, before, "no receipt for a send onto the sender's own message");
    assert.equal(next2, next1 + 1);
    const after = await s.call("GET", `/v1/chats/${chat}/receipts`);
    const reader = after.body.members.find((m: { userId: string }) => m.userId === r.userId);
    assert.deepEqual(
      reader,
      { userId: r.userId, deliveredN: next2, readN: next2 },
      "the pointer is stored all the same",
    );
  });

  test("receipts - unread counts are right after a mix of sends and reads, sorted by last activity", async () => {
    const a = await user("ua", g1);
    const b = await user("ub", g2);
    const c = await user("uc", g1);
    const chat = await group(a, [b, c]);
    const quiet = await direct(b, c);
    const da = await device(g1, a, "a");
    const db = await device(g2, b, "b");
    const dc = await device(g1, c, "c");
    const unread = async (who: Api, id = chat) => {
      const list = await who.call("GET", "/v1/chats");
      return list.body.chats.find((x: { chatId: string }) => x.chatId === id)?.unread as number;
    };
    for (let i = 0; i < 5; i++) await send(da, chat, `a${i}`); // n = 2..6
    assert.equal(await unread(b), 5);
    assert.equal(await unread(a), 0, "my own messages are not unread");
    db.send({ type: "read", chat, n: 4 });
    await eventually(async () => (await unread(b)) === 2, 5000, "b unread 2");
    await send(dc, chat, "c0"); // n = 7
    assert.equal(await unread(b), 3);
    assert.equal(await unread(a), 1);
    await send(db, chat, "b0"); // n = 8: marks b read up to 8
    await eventually(async () => (await unread(b)) === 0, 5000, "b unread 0");
    assert.equal(await unread(a), 2);
    await eventually(async () => (await unread(c)) === 1, 5000, "c unread 1");
    dc.send({ type: "ack", chat, n: 8 });
    await sleep(200);
    assert.equal(await unread(c), 1, "delivered is not read");

    // Once history has everything, the counts are the same (the store's count, not the stream's).
    await eventually(async () => {
      const r = await a.call("GET", `/v1/chats/${chat}/messages`);
      return r.body.events.length === 8;
    });
    assert.deepEqual([await unread(a), await unread(b), await unread(c)], [2, 0, 1]);
    const list = await b.call("GET", "/v1/chats");
    assert.deepEqual(
      list.body.chats.map((x: { chatId: string }) => x.chatId),
      [chat, quiet],
      "by last activity",
    );
    assert.equal(list.body.chats[0].preview, "body b0");
  });
});
