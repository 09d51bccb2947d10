import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ChatSummary, PresenceFrame } from "@natter/protocol";
import { req, signup, startWsTestEnv, type TestUser, WsClient, type WsTestEnv } from "../ws/ws-test-setup.ts";

/**
 * Message requests and blocks (`docs/protocol.md`, "Message requests") over a real
 * gateway and nats-server: who is asked, what a requester learns before and after the
 * answer, declines, blocks, and watches re-checked when a relationship ends.
 */

let env: WsTestEnv;
let seq = 0;

before(async () => {
  // Online after 100 ms, so presence changes show up within a test.
  env = await startWsTestEnv({ overrides: { presenceOnlineDelay: "100ms" } });
});
after(async () => {
  await env?.close();
});

async function direct(from: TestUser, to: TestUser): Promise<{ status: number; chatId: string }> {
  const r = await req(env, "POST", "/v1/chats", { kind: "direct", userId: to.userId }, from.token);
  return { status: r.status, chatId: r.body?.chatId as string };
}

/** `from` makes a group with `members`: the response as it is. */
function group(from: TestUser, title: string, members: TestUser[]) {
  return req(env, "POST", "/v1/chats", { kind: "group", title, members: members.map((m) => m.userId) }, from.token);
}

async function send(user: TestUser, chatId: string, body = "hi"): Promise<{ status: number; code?: string }> {
  const r = await req(env, "POST", `/v1/chats/${chatId}/messages`, { id: `m${++seq}`, body }, user.token);
  return { status: r.status, code: r.body?.code };
}

async function chats(user: TestUser, requests?: "only" | "exclude"): Promise<ChatSummary[]> {
  const r = await req(env, "GET", `/v1/chats${requests ? `?requests=${requests}` : ""}`, undefined, user.token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.chats as ChatSummary[];
}

async function presenceOf(viewer: TestUser, users: TestUser[]): Promise<string[]> {
  const r = await req(
    env,
    "GET",
    `/v1/presence?users=${users.map((u) => u.userId).join(",")}`,
    undefined,
    viewer.token,
  );
  assert.equal(r.status, 200);
  return (r.body.presence as { userId: string }[]).map((p) => p.userId);
}

async function post(user: TestUser, url: string): Promise<{ status: number; code?: string }> {
  const r = await req(env, "POST", url, undefined, user.token);
  return { status: r.status, code: r.body?.code };
}

async function socket(user: TestUser): Promise<WsClient> {
  const c = await WsClient.open(env.base, { token: user.token });
  await c.waitFor((f) => f.type === "ready", 5000, "ready");
  return c;
}

/** Lets frames that would arrive arrive: a silence check is only as good as this wait. */
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe("message requests", () => {
  test("a direct chat from a stranger is a request for the recipient only, listed with request and filtered", async () => {
    const [ana, ben] = [await signup(env), await signup(env)];
    const { status, chatId } = await direct(ana, ben);
    assert.equal(status, 201);
    assert.equal((await send(ana, chatId)).status, 201, "the requester may send");
    const item = (await chats(ben)).find((c) => c.chatId === chatId);
    assert.ok(item?.request, "listed for the recipient as a request");
    assert.equal(item.request.from, ana.userId);
    assert.equal(item.unread, 1, "and readable");
    const history = await req(env, "GET", `/v1/chats/${chatId}/messages`, undefined, ben.token);
    assert.equal(history.status, 200, "the recipient reads it");
    assert.deepEqual(
      (await chats(ben, "only")).map((c) => c.chatId),
      [chatId],
    );
    assert.deepEqual(await chats(ben, "exclude"), []);
    const mine = (await chats(ana)).find((c) => c.chatId === chatId);
    assert.ok(mine && mine.request === undefined, "not a request for the one who opened it");
    // A second user who already talks to ben (an accepted chat) opens no request.
    const { chatId: second } = await direct(ben, ana);
    assert.equal(second, chatId, "the pair has one direct chat");
    assert.equal((await chats(ben, "only")).length, 0, "ben opening it himself accepted it");
  });

  test("before accepting, the requester sees none of the recipient's presence, typing or receipts; after, all of them", async () => {
    const [ana, ben] = [await signup(env), await signup(env)];
    const { chatId } = await direct(ana, ben);
    const sent = await req(env, "POST", `/v1/chats/${chatId}/messages`, { id: "x1", body: "hello" }, ana.token);
    const n = sent.body.n as number;
    const [ca, cb] = [await socket(ana), await socket(ben)];
    await settle(200); // ben counts as online after the online delay

    ca.send({ type: "watch", users: [ben.userId] });
    cb.send({ type: "watch", users: [ana.userId] });
    cb.send({ type: "typing", chat: chatId });
    cb.send({ type: "read", chat: chatId, n });
    ca.send({ type: "typing", chat: chatId });
    // The requester's own typing reaches the recipient: the silence below is not a dead socket.
    await cb.waitFor((f) => f.type === "typing" && f.user === ana.userId, 5000, "ana's typing");
    await settle();
    assert.deepEqual(
      ca.frames.filter(
        (f) => (f.type === "presence" || f.type === "typing" || f.type === "receipt") && f.user === ben.userId,
      ),
      [],
      "nothing of ben reaches ana",
    );
    assert.equal(
      cb.frames.filter((f) => f.type === "presence").length,
      0,
      "symmetric: ben sees no presence of ana either",
    );
    assert.deepEqual(await presenceOf(ana, [ben]), []);
    const receipts = await req(env, "GET", `/v1/chats/${chatId}/receipts`, undefined, ana.token);
    assert.deepEqual(
      receipts.body.members.find((m: { userId: string }) => m.userId === ben.userId),
      { userId: ben.userId, deliveredN: 0, readN: 0 },
      "ben's pointers are not told to ana",
    );
    const own = await req(env, "GET", `/v1/chats/${chatId}/receipts`, undefined, ben.token);
    assert.equal(
      own.body.members.find((m: { userId: string }) => m.userId === ben.userId).readN,
      n,
      "ben's own pointer moved all the same",
    );

    assert.equal((await post(ben, `/v1/chats/${chatId}/accept`)).status, 204);
    // Ana's open watch is re-checked: ben's presence arrives without a new watch frame.
    const p = await ca.waitFor<PresenceFrame>((f) => f.type === "presence" && f.user === ben.userId, 5000, "presence");
    assert.equal(p.online, true);
    assert.deepEqual(await presenceOf(ana, [ben]), [ben.userId]);
    await settle(2100); // the typing interval
    cb.send({ type: "typing", chat: chatId });
    await ca.waitFor((f) => f.type === "typing" && f.user === ben.userId, 5000, "ben's typing after accepting");
    const later = await req(env, "POST", `/v1/chats/${chatId}/messages`, { id: "x2", body: "again" }, ana.token);
    cb.send({ type: "read", chat: chatId, n: later.body.n });
    await ca.waitFor((f) => f.type === "receipt" && f.user === ben.userId, 5000, "ben's receipt after accepting");
    assert.equal((await chats(ben, "only")).length, 0, "no longer a request");
    assert.equal((await post(ben, `/v1/chats/${chatId}/accept`)).status, 204, "accepting again changes nothing");
    await Promise.all([ca.close(), cb.close()]);
  });

  test("replying accepts; a group add by a stranger is a request, a decline leaves the group", async () => {
    const [ana, ben, cy] = [await signup(env), await signup(env), await signup(env)];
    const { chatId } = await direct(ana, ben);
    await send(ana, chatId);
    assert.deepEqual(await presenceOf(ana, [ben]), []);
    assert.equal((await send(ben, chatId, "hello back")).status, 201);
    assert.equal((await chats(ben, "only")).length, 0, "the reply accepted it");
    assert.deepEqual(await presenceOf(ana, [ben]), [ben.userId]);

    const g = await group(cy, "g", [ben, cy]);
    assert.equal(g.status, 201);
    const groupId = g.body.chatId as string;
    const asked = (await chats(ben, "only")).map((c) => c.chatId);
    assert.deepEqual(asked, [groupId], "cy, a stranger to ben, made a request of the group");
    assert.equal((await post(ana, `/v1/chats/${groupId}/decline`)).status, 404, "not a member: not found");
    assert.equal((await post(ben, `/v1/chats/${chatId}/decline`)).code, "conflict", "an accepted chat is no request");
    assert.equal((await post(ben, `/v1/chats/${groupId}/decline`)).status, 204);
    const view = await req(env, "GET", `/v1/chats/${groupId}`, undefined, ben.token);
    assert.equal(view.status, 403, "ben left the group");
    const log = await req(env, "GET", `/v1/chats/${groupId}/messages`, undefined, cy.token);
    assert.deepEqual(log.body.events.map((e: { kind: string; user?: string }) => [e.kind, e.user]).at(-1), [
      "member.removed",
      ben.userId,
    ]);

    // An add by a contact is not a request.
    const add = await req(env, "POST", `/v1/chats/${groupId}/members`, { userId: ana.userId }, cy.token);
    assert.equal(add.status, 200);
    assert.deepEqual(
      (await chats(ana, "only")).map((c) => c.chatId),
      [groupId],
      "cy is a stranger to ana too",
    );
    const g2 = await group(ana, "g2", [ben]);
    assert.equal(
      (await chats(ben, "only")).filter((c) => c.chatId === g2.body.chatId).length,
      0,
      "ana is ben's contact",
    );
  });

  test("a declined direct chat leaves the list and refuses the requester's sends until the recipient opens it", async () => {
    const [ana, ben] = [await signup(env), await signup(env)];
    const { chatId } = await direct(ana, ben);
    await send(ana, chatId);
    assert.equal((await post(ben, `/v1/chats/${chatId}/decline`)).status, 204);
    assert.equal((await post(ben, `/v1/chats/${chatId}/decline`)).status, 204, "declining again changes nothing");
    assert.equal((await chats(ben)).length, 0, "gone from ben's list");
    assert.deepEqual(await send(ana, chatId), { status: 403, code: "forbidden" });
    const reopened = await direct(ben, ana);
    assert.deepEqual(reopened, { status: 200, chatId });
    assert.equal((await chats(ben)).find((c) => c.chatId === chatId)?.request, undefined, "back, accepted");
    assert.equal((await send(ana, chatId)).status, 201);
  });

  test("a block refuses the blocked user's sends and hides their requests; opening a chat with a blocker is refused", async () => {
    const [ana, ben, cy] = [await signup(env), await signup(env), await signup(env)];
    const { chatId } = await direct(ana, ben);
    await send(ana, chatId);
    assert.equal((await chats(ben, "only")).length, 1);
    assert.equal((await post(ben, `/v1/users/${ana.userId}/block`)).status, 204);
    assert.equal((await post(ben, `/v1/users/${ana.userId}/block`)).status, 204, "idempotent");
    assert.deepEqual(await chats(ben), [], "ana's request vanished");
    assert.deepEqual(await send(ana, chatId), { status: 403, code: "forbidden" });
    assert.deepEqual(await send(ben, chatId), { status: 403, code: "forbidden" }, "both ways while blocked");
    const blocks = await req(env, "GET", "/v1/blocks", undefined, ben.token);
    assert.deepEqual(
      blocks.body.users.map((u: { userId: string }) => u.userId),
      [ana.userId],
    );

    assert.equal((await post(ben, `/v1/users/${cy.userId}/block`)).status, 204);
    assert.deepEqual((await direct(cy, ben)).status, 403, "a new direct chat with a blocker");
    const g = await group(cy, "g", [ben]);
    assert.deepEqual([g.status, g.body.code, g.body.field], [403, "forbidden", "members"]);
    assert.equal((await post(ben, `/v1/users/${ben.userId}/block`)).status, 400, "not yourself");
    assert.equal((await post(ben, "/v1/users/nobody-at-all/block")).status, 404);

    const unblock = await req(env, "DELETE", `/v1/users/${ana.userId}/block`, undefined, ben.token);
    assert.equal(unblock.status, 204);
    assert.deepEqual(
      (await chats(ben, "only")).map((c) => c.chatId),
      [chatId],
      "ana's request is back once unblocked",
    );
    assert.equal((await send(ana, chatId)).status, 201);
  });

  test("an open watch is re-checked when a relationship ends: after a block, the blocker's presence stops", async () => {
    const [ana, ben, cy] = [await signup(env), await signup(env), await signup(env)];
    const g = await group(ana, "g", [ben, cy]);
    const groupId = g.body.chatId as string;
    for (const u of [ben, cy]) assert.equal((await post(u, `/v1/chats/${groupId}/accept`)).status, 204);
    const [cb, cc] = [await socket(ben), await socket(cy)];
    await settle(300);
    const ca = await socket(ana);
    ca.send({ type: "watch", users: [ben.userId, cy.userId] });
    await ca.until(() => ca.frames.filter((f) => f.type === "presence" && f.online).length === 2, 5000, "both online");

    assert.equal((await post(ben, `/v1/users/${ana.userId}/block`)).status, 204);
    await settle();
    await Promise.all([cb.close(), cc.close()]);
    // Cy going offline reaches ana: the watch works; ben's going offline does not: it ended.
    await ca.waitFor((f) => f.type === "presence" && f.user === cy.userId && !f.online, 5000, "cy offline");
    await settle();
    assert.equal(
      ca.frames.filter((f) => f.type === "presence" && f.user === ben.userId && !f.online).length,
      0,
      "nothing of ben after his block",
    );
    assert.deepEqual(await presenceOf(ana, [ben, cy]), [cy.userId]);
    await ca.close();
  });

  test("an open watch is re-checked after a removal from the only shared chat", async () => {
    const [ana, ben] = [await signup(env), await signup(env)];
    const g = await group(ana, "g", [ben]);
    const groupId = g.body.chatId as string;
    assert.equal((await post(ben, `/v1/chats/${groupId}/accept`)).status, 204);
    const cb = await socket(ben);
    await settle(300);
    const ca = await socket(ana);
    ca.send({ type: "watch", users: [ben.userId] });
    await ca.waitFor((f) => f.type === "presence" && f.user === ben.userId && f.online, 5000, "ben online");
    const removed = await req(env, "DELETE", `/v1/chats/${groupId}/members/${ben.userId}`, undefined, ana.token);
    assert.equal(removed.status, 200);
    await settle();
    await cb.close();
    await settle(500);
    assert.equal(
      ca.frames.filter((f) => f.type === "presence" && f.user === ben.userId && !f.online).length,
      0,
      "no presence of a removed member",
    );
    await ca.close();
  });
});
