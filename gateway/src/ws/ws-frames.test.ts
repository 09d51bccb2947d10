import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CLOSE_CODES, type ErrorFrame, type SentFrame } from "@natter/protocol";
import { group, req, signup, startWsTestEnv, type TestUser, WsClient, type WsTestEnv } from "./ws-test-setup.ts";

let env: WsTestEnv;

before(async () => {
  env = await startWsTestEnv({
    ws: { authTimeoutMs: 300, badFrameLimit: 5, maxFrameBytes: 8 * 1024 },
    overrides: { sendBurst: "5", sendRate: "1", wsMaxPerUser: "3" },
  });
});
after(async () => {
  await env?.close();
});

async function ready(token: string, auth: "header" | "frame" = "header") {
  const c = await WsClient.open(env.base, { token, auth });
  const r = await c.waitFor((f) => f.type === "ready", 5000, "ready");
  return { c, r };
}

describe("gateway ws - authentication", () => {
  test("auth - a bearer header gets ready with the user, device and heartbeat", async () => {
    const u = await signup(env);
    const { c, r } = await ready(u.token);
    assert.deepEqual(r, { type: "ready", userId: u.userId, deviceId: u.deviceId, heartbeatMs: 25_000 });
    await c.close();
  });

  test("auth - an auth first frame gets ready", async () => {
    const u = await signup(env);
    const { c, r } = await ready(u.token, "frame");
    assert.equal(r.type === "ready" && r.userId, u.userId);
    await c.close();
  });

  test("auth - no auth frame within the timeout closes with 4002", async () => {
    const c = await WsClient.open(env.base);
    const { code } = await c.closed;
    assert.equal(code, CLOSE_CODES.authTimeout);
    assert.equal(c.frames.length, 0);
  });

  test("auth - a token in the URL is ignored: no ready, closed for want of auth", async () => {
    const u = await signup(env);
    const c = await WsClient.open(env.base, { path: `/v1/ws?token=${u.token}&access_token=${u.token}` });
    const { code } = await c.closed;
    assert.equal(code, CLOSE_CODES.authTimeout);
    assert.ok(!c.frames.some((f) => f.type === "ready"));
  });

  test("auth - bad tokens, a non-bearer header and a first frame that is not auth close with 4001", async () => {
    const u = await signup(env);
    const forged = `${u.token.slice(0, -4)}AAAA`;
    const cases = [
      WsClient.open(env.base, { token: forged }),
      WsClient.open(env.base, { token: "garbage" }),
      WsClient.open(env.base, { token: forged, auth: "frame" }),
      WsClient.open(env.base, { headers: { authorization: `Basic ${u.token}` } }),
    ];
    const opened = await Promise.all(cases);
    const notAuth = await WsClient.open(env.base);
    notAuth.send({ type: "ping" });
    const garbage = await WsClient.open(env.base);
    garbage.sendRaw("{not json");
    for (const c of [...opened, notAuth, garbage]) {
      assert.equal((await c.closed).code, CLOSE_CODES.unauthorized);
      assert.ok(!c.frames.some((f) => f.type === "ready"));
    }
  });

  test("auth - a logged-out device's token is refused with 4001", async () => {
    const u = await signup(env);
    assert.equal((await req(env, "POST", "/v1/auth/logout", undefined, u.token)).status, 204);
    const c = await WsClient.open(env.base, { token: u.token });
    assert.equal((await c.closed).code, CLOSE_CODES.unauthorized);
  });

  test("auth - frames sent right behind the auth frame are answered after ready", async () => {
    const u = await signup(env);
    const c = await WsClient.open(env.base, { token: u.token, auth: "frame" });
    c.send({ type: "ping", ref: "early" });
    const pong = await c.waitFor((f) => f.type === "pong");
    assert.deepEqual(pong, { type: "pong", ref: "early" });
    assert.equal(c.frames[0]?.type, "ready", "ready comes first");
    await c.close();
  });
});

describe("gateway ws - sockets per user", () => {
  test("sockets - a user holds at most NATTER_WS_MAX_PER_USER sockets on a gateway; one more is closed with 4011", async () => {
    const u = await signup(env);
    const open = [];
    for (let i = 0; i < 3; i++) open.push((await ready(u.token)).c);
    const extra = await WsClient.open(env.base, { token: u.token, name: "fourth" });
    assert.equal((await extra.closed).code, CLOSE_CODES.tooManySockets);
    // Closing one makes room again.
    await open.pop()!.close();
    const again = await ready(u.token);
    assert.equal(again.r.type, "ready");
    await Promise.all([...open, again.c].map((c) => c.close()));
  });
});

describe("gateway ws - frames", () => {
  let a: TestUser;
  let b: TestUser;
  let stranger: TestUser;
  let chatId: string;
  before(async () => {
    [a, b, stranger] = [await signup(env), await signup(env), await signup(env)];
    chatId = await group(env, [a, b]);
  });

  test("frames - ping is answered by pong with the same ref", async () => {
    const { c } = await ready(a.token);
    c.send({ type: "ping", ref: "p1" });
    c.send({ type: "ping" });
    await c.until(() => c.frames.filter((f) => f.type === "pong").length === 2);
    assert.deepEqual(
      c.frames.filter((f) => f.type === "pong"),
      [{ type: "pong", ref: "p1" }, { type: "pong" }],
    );
    await c.close();
  });

  test("frames - send gets sent with ref, seq and n; a retry gets the same; HTTP agrees", async () => {
    const { c } = await ready(a.token);
    c.send({ type: "send", ref: "s1", chat: chatId, id: "ws-1", body: "over the socket" });
    const sent = await c.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "s1");
    assert.equal(sent.chat, chatId);
    assert.equal(sent.id, "ws-1");
    assert.equal(sent.n, 2, "n=1 is chat.created");
    assert.ok(sent.seq > 0 && sent.ts > 0);
    c.send({ type: "send", ref: "s2", chat: chatId, id: "ws-1", body: "over the socket" });
    const retry = await c.waitFor<SentFrame>((f) => f.type === "sent" && f.ref === "s2");
    assert.deepEqual({ ...retry, ref: "s1" }, sent);
    const http = await req(env, "POST", `/v1/chats/${chatId}/messages`, { id: "ws-1", body: "x" }, a.token);
    assert.equal(http.body.n, sent.n);
    await c.close();
  });

  test("frames - send errors carry the HTTP codes and the ref; nothing is published", async () => {
    const lastN = (await req(env, "GET", `/v1/chats/${chatId}`, undefined, a.token)).body.lastN;
    const { c } = await ready(stranger.token);
    c.send({ type: "send", ref: "forbidden", chat: chatId, id: "x1", body: "let me in" });
    c.send({ type: "send", ref: "missing", chat: "nochat", id: "x2", body: "hello?" });
    const { c: member } = await ready(b.token);
    member.send({ type: "send", ref: "empty", chat: chatId, id: "x3", body: "   " });
    member.send({ type: "send", ref: "big", chat: chatId, id: "x4", body: "é".repeat(2049) });
    const code = async (client: WsClient, ref: string) =>
      (await client.waitFor<ErrorFrame>((f) => f.type === "error" && f.ref === ref)).code;
    // A stranger is told the same as for a chat that does not exist.
    assert.equal(await code(c, "forbidden"), "not_found");
    assert.equal(await code(c, "missing"), "not_found");
    assert.equal(await code(member, "empty"), "invalid_input");
    assert.equal(await code(member, "big"), "too_large");
    assert.ok(!c.frames.some((f) => f.type === "sent"));
    assert.ok(!member.frames.some((f) => f.type === "sent"));
    assert.equal((await req(env, "GET", `/v1/chats/${chatId}`, undefined, a.token)).body.lastN, lastN);
    await Promise.all([c.close(), member.close()]);
  });

  test("frames - sends over the user's rate limit get rate_limited with retryAfterMs", async () => {
    const u = await signup(env);
    const v = await signup(env);
    const chat = await group(env, [u, v]);
    const { c } = await ready(u.token);
    for (let i = 0; i < 8; i++) c.send({ type: "send", ref: `r${i}`, chat, id: `rl-${i}`, body: "fast" });
    await c.until(() => c.frames.filter((f) => f.type === "sent" || f.type === "error").length === 8);
    const limited = c.errors().filter((e) => e.code === "rate_limited");
    assert.ok(limited.length >= 1, JSON.stringify(c.frames));
    assert.ok(limited.every((e) => (e.retryAfterMs ?? 0) > 0 && e.ref?.startsWith("r")));
    await c.close();
  });

  test("frames - ack and read move the stored pointers forward only", async () => {
    const { c } = await ready(b.token);
    c.send({ type: "ack", chat: chatId, n: 2 });
    c.send({ type: "read", chat: chatId, n: 1 });
    c.send({ type: "ack", ref: "not-mine", chat: "nochat", n: 1 });
    await c.waitFor((f) => f.type === "error" && f.ref === "not-mine");
    const state = async () => env.t.store.getReadState(chatId, b.userId);
    // The two frames are handled concurrently: wait for both to land.
    const landed = (s: { deliveredN: number; readN: number } | undefined) => s?.readN === 1 && s.deliveredN === 2;
    for (let i = 0; i < 50 && !landed(await state()); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await state(), { chatId, userId: b.userId, deliveredN: 2, readN: 1 });
    c.send({ type: "ack", chat: chatId, n: 1 });
    c.send({ type: "read", ref: "r2", chat: chatId, n: 2 });
    for (let i = 0; i < 50 && (await state())?.readN !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await state(), { chatId, userId: b.userId, deliveredN: 2, readN: 2 });
    const list = await req(env, "GET", "/v1/chats", undefined, b.token);
    assert.equal(list.body.chats.find((x: { chatId: string }) => x.chatId === chatId).readN, 2);
    await c.close();
  });

  test("frames - ack and read past the chat's head stop at the head", async () => {
    const chat = await group(env, [a, b]);
    const sent = await req(env, "POST", `/v1/chats/${chat}/messages`, { id: "clamp-1", body: "one" }, a.token);
    assert.equal(sent.status, 201);
    const { c } = await ready(b.token);
    c.send({ type: "read", ref: "far", chat, n: Number.MAX_SAFE_INTEGER });
    const state = async () => env.t.store.getReadState(chat, b.userId);
    for (let i = 0; i < 50 && (await state()) === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await state(), { chatId: chat, userId: b.userId, deliveredN: sent.body.n, readN: sent.body.n });
    // A later message is unread for b: the pointer did not run ahead of it.
    await req(env, "POST", `/v1/chats/${chat}/messages`, { id: "clamp-2", body: "two" }, a.token);
    const list = await req(env, "GET", "/v1/chats", undefined, b.token);
    const item = list.body.chats.find((x: { chatId: string }) => x.chatId === chat);
    assert.equal(item.readN, sent.body.n);
    assert.equal(item.unread, 1);
    await c.close();
  });

  test("frames - typing reaches the other members; watch answers a member's presence and leaves strangers out", async () => {
    const stranger = await signup(env);
    // b was added by a, whom b shared no chat with: a message request until b accepts it
    // (before, a's watch of b showed nothing).
    assert.equal((await req(env, "POST", `/v1/chats/${chatId}/accept`, undefined, b.token)).status, 204);
    const { c: ca } = await ready(a.token);
    const { c: cb } = await ready(b.token);
    ca.send({ type: "typing", ref: "t", chat: chatId });
    const typing = await cb.waitFor((f) => f.type === "typing");
    assert.deepEqual(typing, { type: "typing", chat: chatId, user: a.userId });
    ca.send({ type: "typing", ref: "t2", chat: "nochat" });
    assert.equal((await ca.waitFor<ErrorFrame>((f) => f.type === "error" && f.ref === "t2")).code, "not_found");
    ca.send({ type: "watch", ref: "w", users: [b.userId, stranger.userId] });
    const p = await ca.waitFor((f) => f.type === "presence");
    assert.equal(p.type === "presence" && p.user, b.userId);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(ca.frames.filter((f) => f.type === "presence").length, 1, "the stranger is left out");
    assert.equal(ca.frames.filter((f) => f.type === "typing").length, 0, "typing does not echo to the typist");
    await Promise.all([ca.close(), cb.close()]);
  });

  test("frames - invalid frames get error frames with stable codes; the socket stays open", async () => {
    const { c } = await ready(a.token);
    c.sendRaw("not json");
    c.send({ type: "shout", ref: "u1" });
    c.send({ type: "send", ref: "bad-chat", chat: "a.b", id: "i", body: "b" });
    c.sendRaw(Buffer.from([1, 2, 3]), true);
    await c.until(() => c.errors().length === 4);
    const errs = c.errors();
    assert.equal(errs[0]?.code, "invalid_json");
    assert.deepEqual(
      { code: errs[1]?.code, field: errs[1]?.field, ref: errs[1]?.ref },
      { code: "invalid_input", field: "type", ref: "u1" },
    );
    assert.deepEqual(
      { code: errs[2]?.code, field: errs[2]?.field, ref: errs[2]?.ref },
      { code: "invalid_input", field: "chat", ref: "bad-chat" },
    );
    assert.equal(errs[3]?.code, "invalid_input");
    c.send({ type: "ping", ref: "still-here" });
    await c.waitFor((f) => f.type === "pong");
    assert.equal(c.closeCode, undefined);
    await c.close();
  });

  test("frames - more invalid frames than the limit close the socket with 1008", async () => {
    const { c } = await ready(a.token);
    for (let i = 0; i < 10; i++) c.sendRaw(`garbage ${i}`);
    assert.equal((await c.closed).code, CLOSE_CODES.policyViolation);
    assert.equal(c.errors().length, 5, "one error frame per invalid frame up to the limit");
  });

  test("frames - a frame over the size limit closes the socket with 1009", async () => {
    const { c } = await ready(a.token);
    c.send({ type: "send", ref: "huge", chat: chatId, id: "huge", body: "x".repeat(9 * 1024) });
    assert.equal((await c.closed).code, CLOSE_CODES.tooLarge);
    assert.ok(!c.frames.some((f) => f.type === "sent"));
  });

  test("frames - the gateway's close ends its sockets with 1001 and drops their inbox subscriptions", async () => {
    const local = await startWsTestEnv();
    const u = await signup(local);
    const c = await WsClient.open(local.base, { token: u.token });
    await c.waitFor((f) => f.type === "ready");
    assert.equal(local.t.gw.realtime.hub.size, 1);
    await local.t.gw.close();
    assert.equal((await c.closed).code, CLOSE_CODES.goingAway);
    assert.equal(local.t.gw.realtime.hub.size, 0);
    assert.equal(local.t.gw.realtime.connections, 0);
    await local.t.nc.close();
    await local.nats.stop();
  });
});
