import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CLOSE_CODES } from "@natter/protocol";
import { stackSuite, WsClient } from "@natter/testkit";
import { Api } from "./http-client.ts";

// A session ended anywhere ends everywhere at once: the sockets of a logged-out, expired
// or otherwise revoked device session close with 4001 on every gateway, within a second.
// Two gateway processes over one real nats-server; the socket is on the other gateway
// than the one that serves the logout.
const WITHIN_MS = 1000;
const live = stackSuite({ store: "sqlite", gateways: 2, env: { NATTER_ADMINS: "ses_admin" } });

let handles = 0;
const handle = (name: string) => `ses_${name}_${++handles}`;

async function login(base: string, h: string, password = "password-123"): Promise<Api> {
  const api = new Api(base);
  const r = await api.call("POST", "/v1/auth/login", { handle: h, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  api.token = r.body.token;
  api.userId = r.body.userId;
  return api;
}

/** Resolves with the close code and how long after `since` the socket closed. */
async function closedWithin(c: WsClient, since: number): Promise<{ code: number; ms: number }> {
  const { code } = await Promise.race([
    c.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${c.name} still open`)), 5000)),
  ]);
  return { code, ms: Date.now() - since };
}

/** `c` closes with 4001 within WITHIN_MS of `since`, when `what` happened. */
async function assertRevokedWithin(c: WsClient, since: number, what: string): Promise<void> {
  const { code, ms } = await closedWithin(c, since);
  assert.equal(code, CLOSE_CODES.unauthorized);
  assert.ok(ms < WITHIN_MS, `closed ${ms} ms after the ${what}`);
}

/** `c` is still open: it answers a ping. */
async function answersPing(c: WsClient, ref: string): Promise<void> {
  c.send({ type: "ping", ref });
  await c.waitFor((f) => f.type === "pong");
}

describe("sessions - end everywhere at once", () => {
  test("sessions - a logout on one gateway closes that device's socket on the other with 4001 within a second; other devices stay", async () => {
    const phone = await new Api(live.g1.url).signup(handle("ana"));
    const laptop = await login(live.g2.url, (await phone.call("GET", "/v1/me")).body.handle);
    const phoneSocket = await WsClient.connect(live.g2.url, phone.token!, { name: "phone" });
    const laptopSocket = await WsClient.connect(live.g2.url, laptop.token!, { name: "laptop" });

    const at = Date.now();
    assert.equal((await phone.call("POST", "/v1/auth/logout")).status, 204);
    await assertRevokedWithin(phoneSocket, at, "logout");

    // The other device is untouched: its socket answers, its token works.
    await answersPing(laptopSocket, "still-here");
    assert.equal((await laptop.call("GET", "/v1/me")).status, 200);
    // The revoked token opens nothing any more, on either gateway.
    assert.equal((await phone.call("GET", "/v1/me")).status, 401);
    const again = await WsClient.open(live.g1.url, { token: phone.token!, name: "phone-again" });
    assert.equal((await again.closed).code, CLOSE_CODES.unauthorized);
    await laptopSocket.close();
  });

  test("sessions - a password change logs out my other devices everywhere (4001), keeps this one, and the old password stops working", async () => {
    const me = await new Api(live.g1.url).signup(handle("ben"));
    const h = (await me.call("GET", "/v1/me")).body.handle as string;
    const other = await login(live.g2.url, h);
    const otherSocket = await WsClient.connect(live.g2.url, other.token!, { name: "other" });
    const mySocket = await WsClient.connect(live.g1.url, me.token!, { name: "mine" });

    const wrong = await me.call("POST", "/v1/auth/password", {
      password: "not-it-at-all",
      newPassword: "new-pass-456",
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, "bad_credentials");

    const at = Date.now();
    const r = await me.call("POST", "/v1/auth/password", { password: "password-123", newPassword: "new-pass-456" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.revoked, 1);
    await assertRevokedWithin(otherSocket, at, "change");

    await answersPing(mySocket, "mine");
    assert.equal((await me.call("GET", "/v1/me")).status, 200);
    const old = await new Api(live.g2.url).call("POST", "/v1/auth/login", { handle: h, password: "password-123" });
    assert.equal(old.status, 401);
    await login(live.g2.url, h, "new-pass-456");
    await mySocket.close();
  });

  test("sessions - log out my other devices: every other session ends, this one stays", async () => {
    const me = await new Api(live.g1.url).signup(handle("cleo"));
    const h = (await me.call("GET", "/v1/me")).body.handle as string;
    const others = [await login(live.g1.url, h), await login(live.g2.url, h)];
    const sockets = await Promise.all(others.map((o, i) => WsClient.connect(i ? live.g2.url : live.g1.url, o.token!)));
    const r = await me.call("POST", "/v1/auth/logout-others");
    assert.deepEqual(r.body, { revoked: 2 });
    for (const s of sockets) assert.equal((await s.closed).code, CLOSE_CODES.unauthorized);
    for (const o of others) assert.equal((await o.call("GET", "/v1/me")).status, 401);
    assert.equal((await me.call("GET", "/v1/me")).status, 200);
  });
});

describe("sessions - admin revocation", () => {
  test("sessions - an admin revokes every session of a user: their sockets close everywhere (4001); non-admins are refused", async () => {
    const admin = await new Api(live.g1.url).signup("ses_admin");
    const user = await new Api(live.g1.url).signup(handle("eve"));
    const h = (await user.call("GET", "/v1/me")).body.handle as string;
    const second = await login(live.g2.url, h);
    const sockets = [
      await WsClient.connect(live.g2.url, user.token!),
      await WsClient.connect(live.g1.url, second.token!),
    ];

    const refused = await user.call("POST", `/v1/admin/users/${admin.userId}/revoke-sessions`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, "forbidden");
    assert.equal((await admin.call("GET", "/v1/me")).status, 200, "nothing revoked by a refused call");

    const at = Date.now();
    const r = await admin.call("POST", `/v1/admin/users/${user.userId}/revoke-sessions`);
    assert.deepEqual(r.body, { revoked: 2 });
    for (const s of sockets) {
      await assertRevokedWithin(s, at, "revocation");
    }
    assert.equal((await user.call("GET", "/v1/me")).status, 401);
    assert.equal((await admin.call("POST", "/v1/admin/users/u_nobody/revoke-sessions")).status, 404);
  });
});

describe("sessions - expiry", () => {
  const short = stackSuite({ store: "sqlite", gateways: 1, env: { NATTER_TOKEN_TTL: "3s" } });

  test("sessions - a socket is closed with 4001 within a second of its token's expiry, not only checked at connect", async () => {
    const gw = short.g1;
    const signup = await new Api(gw.url).call("POST", "/v1/auth/signup", {
      handle: handle("dan"),
      displayName: "Dan",
      password: "password-123",
    });
    assert.equal(signup.status, 201);
    const c = await WsClient.connect(gw.url, signup.body.token);
    const { code } = await closedWithin(c, Date.now());
    const late = Date.now() - signup.body.expiresAt;
    assert.equal(code, CLOSE_CODES.unauthorized);
    assert.ok(late < WITHIN_MS, `closed ${late} ms after the expiry`);
  });
});
