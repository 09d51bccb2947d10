import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { injectJson, injectSignup, type Method, natsSuite } from "@natter/testkit";
import { startTestGateway, type TestGateway } from "./testing.ts";

let t: TestGateway;
natsSuite({
  setup: async ({ server }) =>
    (t = await startTestGateway(server.url, { overrides: { memberLimit: "4", loginBurst: "5" } })),
}).beforeStop(() => t?.close());

const req = (method: Method, url: string, body?: unknown, token?: string) =>
  injectJson(t.gw.app, method, url, body, token);
let seq = 0;
const signup = (name = `user${++seq}`) => injectSignup(t.gw.app, name);

describe("gateway http - accounts", () => {
  test("accounts - signup, me, login on a second device, logout revokes only that device", async () => {
    const a = await signup("ana");
    assert.match(a.userId, /^[A-Za-z0-9_-]+$/);
    assert.ok(a.expiresAt > Date.now());
    const me = await req("GET", "/v1/me", undefined, a.token);
    assert.deepEqual(me, { status: 200, body: { userId: a.userId, handle: "ana", displayName: "ana" } });

    const login = await req("POST", "/v1/auth/login", {
      handle: "ANA",
      password: "correct horse",
      deviceName: "phone",
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.userId, a.userId);
    assert.notEqual(login.body.deviceId, a.deviceId);

    assert.equal((await req("POST", "/v1/auth/logout", undefined, login.body.token)).status, 204);
    assert.equal((await req("GET", "/v1/me", undefined, login.body.token)).body.code, "unauthorized");
    assert.equal((await req("GET", "/v1/me", undefined, a.token)).status, 200);
  });

  test("accounts - handles are unique, case-insensitively", async () => {
    await signup("bob");
    const r = await req("POST", "/v1/auth/signup", { handle: "BOB", displayName: "Bob 2", password: "another pass" });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, "handle_taken");
    assert.equal(r.body.field, "handle");
  });

  test("accounts - unknown handle and wrong password get the same 401", async () => {
    await signup("carol");
    const wrong = await req("POST", "/v1/auth/login", { handle: "carol", password: "wrong password" });
    const unknown = await req("POST", "/v1/auth/login", { handle: "nobody", password: "wrong password" });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, unknown.body);
    assert.equal(wrong.body.code, "bad_credentials");
  });

  test("accounts - login attempts are rate limited per handle with retryAfterMs", async () => {
    await signup("dave");
    let limited: { status: number; body: { code: string; retryAfterMs?: number } } | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const r = await req("POST", "/v1/auth/login", { handle: "dave", password: "wrong password" });
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(limited, "a 429 came within 10 attempts");
    assert.equal(limited.body.code, "rate_limited");
    assert.ok((limited.body.retryAfterMs ?? 0) > 0);
  });

  test("accounts - users are found by handle", async () => {
    const e = await signup("erin");
    const r = await req("GET", "/v1/users?handle=Erin", undefined, e.token);
    assert.deepEqual(r.body, { userId: e.userId, handle: "erin", displayName: "erin" });
    assert.equal((await req("GET", "/v1/users?handle=zzz", undefined, e.token)).status, 404);
    const byId = await req("GET", `/v1/users/${e.userId}`, undefined, e.token);
    assert.deepEqual(byId.body, { userId: e.userId, handle: "erin", displayName: "erin" });
    assert.equal((await req("GET", "/v1/users/u_nobody", undefined, e.token)).body.code, "not_found");
    assert.equal((await req("GET", "/v1/users/bad.id", undefined, e.token)).body.code, "invalid_input");
  });
});

describe("gateway http - chats", () => {
  test("chats - a direct chat is the same chat whoever opens it", async () => {
    const a = await signup();
    const b = await signup();
    const r1 = await req("POST", "/v1/chats", { kind: "direct", userId: b.userId }, a.token);
    assert.equal(r1.status, 201);
    assert.equal(r1.body.kind, "direct");
    assert.deepEqual([...r1.body.members].sort(), [a.userId, b.userId].sort());
    const r2 = await req("POST", "/v1/chats", { kind: "direct", userId: a.userId }, b.token);
    assert.equal(r2.status, 200);
    assert.equal(r2.body.chatId, r1.body.chatId);
    const again = await req("POST", "/v1/chats", { kind: "direct", userId: b.userId }, a.token);
    assert.equal(again.status, 200);
    assert.equal(again.body.lastN, 1);
  });

  test("chats - group create, add, remove, leave, and the member limit", async () => {
    const [admin, u1, u2, u3, u4] = await Promise.all([signup(), signup(), signup(), signup(), signup()]);
    const g = await req("POST", "/v1/chats", { kind: "group", title: "team", members: [u1!.userId] }, admin!.token);
    assert.equal(g.status, 201);
    const chatId = g.body.chatId as string;
    const info = await req("GET", `/v1/chats/${chatId}`, undefined, u1!.token);
    assert.equal(info.body.title, "team");
    assert.deepEqual(
      info.body.members
        .map((m: { userId: string; role: string; joinedN: number }) => [m.userId, m.role, m.joinedN])
        .sort(),
      [
        [admin!.userId, "admin", 1],
        [u1!.userId, "member", 1],
      ].sort(),
    );

    // Only admins add.
    const notAdmin = await req("POST", `/v1/chats/${chatId}/members`, { userId: u2!.userId }, u1!.token);
    assert.equal(notAdmin.status, 403);
    assert.equal(notAdmin.body.code, "forbidden");
    const add2 = await req("POST", `/v1/chats/${chatId}/members`, { userId: u2!.userId }, admin!.token);
    assert.deepEqual(add2, { status: 200, body: { n: 2 } });
    const add3 = await req("POST", `/v1/chats/${chatId}/members`, { userId: u3!.userId }, admin!.token);
    assert.deepEqual(add3.body, { n: 3 });
    // memberLimit is 4 in this suite.
    const full = await req("POST", `/v1/chats/${chatId}/members`, { userId: u4!.userId }, admin!.token);
    assert.equal(full.status, 422);
    assert.equal(full.body.code, "member_limit");

    // A member may not remove another; may leave.
    assert.equal((await req("DELETE", `/v1/chats/${chatId}/members/${u3!.userId}`, undefined, u2!.token)).status, 403);
    assert.deepEqual((await req("DELETE", `/v1/chats/${chatId}/members/${u2!.userId}`, undefined, u2!.token)).body, {
      n: 4,
    });
    assert.deepEqual((await req("DELETE", `/v1/chats/${chatId}/members/${u3!.userId}`, undefined, admin!.token)).body, {
      n: 5,
    });
    const gone = await req("GET", `/v1/chats/${chatId}`, undefined, u3!.token);
    assert.equal(gone.status, 403);
    const after = await req("GET", `/v1/chats/${chatId}`, undefined, admin!.token);
    assert.equal(after.body.lastN, 5);
    assert.equal(after.body.members.length, 2);
  });

  test("chats - a group over the member limit is refused and nothing is created", async () => {
    const users = await Promise.all([signup(), signup(), signup(), signup(), signup()]);
    const r = await req(
      "POST",
      "/v1/chats",
      { kind: "group", title: "too big", members: users.slice(1).map((u) => u.userId) },
      users[0]!.token,
    );
    assert.equal(r.status, 422);
    assert.equal(r.body.code, "member_limit");
    const list = await req("GET", "/v1/chats", undefined, users[0]!.token);
    assert.deepEqual(list.body.chats, []);
  });
});

describe("gateway http - sending", () => {
  test("sending - a retry with the same id returns the same seq and n", async () => {
    const a = await signup();
    const b = await signup();
    const chat = (await req("POST", "/v1/chats", { kind: "direct", userId: b.userId }, a.token)).body.chatId;
    const first = await req("POST", `/v1/chats/${chat}/messages`, { id: "x-1", body: "hi" }, a.token);
    assert.equal(first.status, 201);
    assert.equal(first.body.n, 2);
    const retry = await req("POST", `/v1/chats/${chat}/messages`, { id: "x-1", body: "hi" }, a.token);
    assert.equal(retry.status, 200);
    assert.deepEqual(retry.body, first.body);
    // The same client id from the other member is a different message.
    const other = await req("POST", `/v1/chats/${chat}/messages`, { id: "x-1", body: "hi back" }, b.token);
    assert.equal(other.status, 201);
    assert.equal(other.body.n, 3);
  });

  test("sending - members only (a stranger gets 404 as for an unknown chat), empty 400, oversize 413", async () => {
    const a = await signup();
    const b = await signup();
    const stranger = await signup();
    const chat = (await req("POST", "/v1/chats", { kind: "direct", userId: b.userId }, a.token)).body.chatId;
    const stranger404 = await req("POST", `/v1/chats/${chat}/messages`, { id: "s1", body: "hi" }, stranger.token);
    assert.equal(stranger404.status, 404);
    assert.equal(stranger404.body.code, "not_found");
    const r404 = await req("POST", "/v1/chats/nochat/messages", { id: "s1", body: "hi" }, a.token);
    assert.equal(r404.status, 404);
    assert.equal((await req("POST", `/v1/chats/${chat}/messages`, { id: "s2", body: "  " }, a.token)).status, 400);
    const big = await req("POST", `/v1/chats/${chat}/messages`, { id: "s3", body: "é".repeat(2049) }, a.token);
    assert.equal(big.status, 413);
    assert.equal(big.body.code, "too_large");
    const head = await req("GET", `/v1/chats/${chat}`, undefined, a.token);
    assert.equal(head.body.lastN, 1, "nothing was published");
  });
});

describe("gateway http - openapi", () => {
  test("openapi - the document covers every route", async () => {
    const r = await req("GET", "/v1/openapi.json");
    assert.equal(r.status, 200);
    const paths = r.body.paths as Record<string, Record<string, unknown>>;
    const toOpenApi = (url: string) => url.replace(/:([A-Za-z]+)/g, "{$1}");
    assert.ok(t.gw.routes.length >= 14);
    for (const route of t.gw.routes) {
      const p = paths[toOpenApi(route.url)];
      assert.ok(p, `${route.url} is documented`);
      assert.ok(p[route.method.toLowerCase()], `${route.method} ${route.url} is documented`);
    }
  });
});
