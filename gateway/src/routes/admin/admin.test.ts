// The operators' API (issue 17, item 6) over a real stack: two gateway processes and a
// consumers process on a real nats-server (the gateways connect as the `gateway` identity,
// so a JetStream call it may not make fails here) and the production store, Cassandra.
// Each route: what it answers an admin, the 403 for everyone else; disabling closes the
// user's sockets on both gateways and refuses the login; an operator's removal is an event
// in the log, and the removed user hears nothing after it; every call leaves one audit line.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CLOSE_CODES, type ServerFrame } from "@natter/protocol";
import { CHAT_STREAM, CONSUMERS, PRESENCE_BUCKET } from "@natter/subjects";
import { stackSuite, WsClient } from "@natter/testkit";

const ADMIN = "adm_root";
/** Every audit line either gateway has written, parsed. */
const audits: Record<string, unknown>[] = [];
const live = stackSuite({
  store: "cassandra",
  gateways: 2,
  // Info: the audit lines are read from the gateways' output.
  env: { NATTER_ADMINS: ADMIN, NATTER_LOG_LEVEL: "info" },
  setup: (stack) => {
    for (const g of stack.gateways) {
      let rest = "";
      g.child.stdout?.on("data", (d: Buffer) => {
        const lines = (rest + d.toString()).split("\n");
        rest = lines.pop() ?? "";
        for (const l of lines) if (l.includes('"admin action"')) audits.push(JSON.parse(l) as Record<string, unknown>);
      });
    }
  },
});

const PASSWORD = "password-123";
let handles = 0;
const handle = (name: string) => `adm_${name}${++handles}`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response JSON, read by the assertions
type Json = any;

/** One HTTP call: JSON in, `{status, body}` out. */
async function call(base: string, method: string, path: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json, text };
}

interface Person {
  userId: string;
  handle: string;
  token: string;
  deviceId: string;
}

async function signup(h: string, base = live.g1.url): Promise<Person> {
  const r = await call(base, "POST", "/v1/auth/signup", undefined, {
    handle: h,
    displayName: `Name ${h}`,
    password: PASSWORD,
  });
  assert.equal(r.status, 201, r.text);
  return { handle: h, ...r.body };
}

async function login(h: string, base: string, deviceName = ""): Promise<Person> {
  const r = await call(base, "POST", "/v1/auth/login", undefined, { handle: h, password: PASSWORD, deviceName });
  assert.equal(r.status, 200, r.text);
  return { handle: h, ...r.body };
}

let admin: Person | undefined;
/** The operator NATTER_ADMINS names, signed up once. */
async function operator(): Promise<Person> {
  admin ??= await signup(ADMIN);
  return admin;
}

/** Resolves with the socket's close code; fails after 5 s (a socket that stays open). */
async function closeCode(c: WsClient): Promise<number> {
  const { code } = await Promise.race([
    c.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${c.name} still open after 5 s`)), 5000)),
  ]);
  return code;
}

/** Waits (at most 5 s) for a gateway's audit line of `action` on `target` with `result`, and returns it. */
async function auditLine(action: string, target: string, result: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = audits.find((l) => l.action === action && l.target === target && l.result === result);
    if (line) return line;
    if (Date.now() > deadline)
      throw new Error(`no audit line ${action} ${target} ${result}: ${JSON.stringify(audits)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("admin API - the admin role", () => {
  test("admin - every admin route answers 403 forbidden to a non-admin and 401 without a token; nothing changes", async () => {
    await operator();
    const user = await signup(handle("plain"));
    const victim = await signup(handle("victim"));
    const group = await call(live.g1.url, "POST", "/v1/chats", victim.token, {
      kind: "group",
      title: "t",
      members: [user.userId],
    });
    assert.equal(group.status, 201, group.text);
    const chat = group.body.chatId as string;
    const routes: [string, string][] = [
      ["GET", `/v1/admin/users?handle=adm`],
      ["GET", `/v1/admin/users/${victim.userId}`],
      ["POST", `/v1/admin/users/${victim.userId}/disable`],
      ["POST", `/v1/admin/users/${victim.userId}/enable`],
      ["GET", `/v1/admin/users/${victim.userId}/sessions`],
      ["POST", `/v1/admin/users/${victim.userId}/revoke-sessions`],
      ["DELETE", `/v1/admin/chats/${chat}/members/${user.userId}`],
      ["GET", `/v1/admin/streams`],
    ];
    for (const [method, path] of routes) {
      const refused = await call(live.g2.url, method, path, user.token);
      assert.equal(refused.status, 403, `${method} ${path}: ${refused.text}`);
      assert.equal(refused.body.code, "forbidden");
      assert.equal((await call(live.g2.url, method, path)).status, 401, `${method} ${path} without a token`);
    }
    // Nothing was done: the victim's token works, the member is still in the group.
    assert.equal((await call(live.g1.url, "GET", "/v1/me", victim.token)).status, 200);
    const view = await call(live.g1.url, "GET", `/v1/chats/${chat}`, user.token);
    assert.equal(view.status, 200, view.text);
    const refusedLine = await auditLine("disable", victim.userId, "forbidden");
    assert.equal(refusedLine.caller, user.userId);
  });
});

describe("admin API - users", () => {
  test("admin - find users by handle prefix (any case), a page at a time, and one by id; never a password hash", async () => {
    const op = await operator();
    const made = [];
    for (const x of ["c", "a", "b"]) made.push(await signup(`adm_find_${x}${handles}`));
    const first = await call(live.g1.url, "GET", `/v1/admin/users?handle=ADM_FIND_&limit=2`, op.token);
    assert.equal(first.status, 200, first.text);
    const sorted = made.map((p) => p.handle).sort();
    assert.deepEqual(
      first.body.users.map((u: Json) => u.handle),
      sorted.slice(0, 2),
    );
    assert.equal(first.body.next, sorted[1]);
    const second = await call(
      live.g1.url,
      "GET",
      `/v1/admin/users?handle=adm_find_&limit=2&after=${first.body.next}`,
      op.token,
    );
    assert.deepEqual(
      second.body.users.map((u: Json) => u.handle),
      sorted.slice(2),
    );
    assert.equal(second.body.next, undefined, "a page that is not full is the last");
    const a = made.find((p) => p.handle === sorted[0])!;
    const one = await call(live.g2.url, "GET", `/v1/admin/users/${a.userId}`, op.token);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.userId, a.userId);
    assert.equal(one.body.handle, a.handle);
    assert.equal(one.body.displayName, `Name ${a.handle}`);
    assert.equal(one.body.disabled, false);
    assert.ok(one.body.createdAt > 0 && one.body.createdAt <= Date.now());
    assert.deepEqual(first.body.users[0], one.body);
    assert.doesNotMatch(first.text + one.text, /password|scrypt/i);

    assert.equal((await call(live.g1.url, "GET", `/v1/admin/users/u_nobody`, op.token)).status, 404);
    const noHandle = await call(live.g1.url, "GET", `/v1/admin/users`, op.token);
    assert.equal(noHandle.status, 400, noHandle.text);
    assert.equal(noHandle.body.code, "invalid_input");
    assert.equal((await call(live.g1.url, "GET", `/v1/admin/users?handle=a*b`, op.token)).status, 400);
    assert.equal((await call(live.g1.url, "GET", `/v1/admin/users?handle=adm&limit=101`, op.token)).status, 400);
    const line = await auditLine("find-users", "adm_find_", "ok");
    assert.equal(line.admin, op.userId);
  });

  test("admin - disable: every socket closes 4001 on both gateways, tokens stop working, login answers 403 account_disabled; idempotent; enable lets the user in again", async () => {
    const op = await operator();
    const h = handle("dis");
    const phone = await signup(h, live.g1.url);
    const laptop = await login(h, live.g2.url, "laptop");
    const sockets = [
      await WsClient.connect(live.g1.url, phone.token, { name: "phone" }),
      await WsClient.connect(live.g2.url, laptop.token, { name: "laptop" }),
      await WsClient.connect(live.g2.url, phone.token, { name: "phone-2" }),
    ];

    const r = await call(live.g2.url, "POST", `/v1/admin/users/${phone.userId}/disable`, op.token);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { userId: phone.userId, disabled: true, revoked: 2 });
    for (const s of sockets) assert.equal(await closeCode(s), CLOSE_CODES.unauthorized, s.name);
    for (const p of [phone, laptop]) {
      for (const g of [live.g1, live.g2]) assert.equal((await call(g.url, "GET", "/v1/me", p.token)).status, 401);
    }
    const again = await WsClient.open(live.g1.url, { token: laptop.token, name: "again" });
    assert.equal(await closeCode(again), CLOSE_CODES.unauthorized);

    // The right password is told the account is disabled; a wrong one learns nothing new.
    const refused = await call(live.g1.url, "POST", "/v1/auth/login", undefined, { handle: h, password: PASSWORD });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.code, "account_disabled");
    const wrong = await call(live.g1.url, "POST", "/v1/auth/login", undefined, { handle: h, password: "not-the-one" });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, "bad_credentials");
    const sessions = await call(live.g1.url, "GET", `/v1/admin/users/${phone.userId}/sessions`, op.token);
    assert.equal(sessions.body.sessions.length, 2, "the refused login left no session");
    assert.ok(sessions.body.sessions.every((s: Json) => s.revoked && !s.live));

    const repeat = await call(live.g1.url, "POST", `/v1/admin/users/${phone.userId}/disable`, op.token);
    assert.deepEqual(repeat.body, { userId: phone.userId, disabled: true, revoked: 0 });
    const found = await call(live.g1.url, "GET", `/v1/admin/users?handle=${h}`, op.token);
    assert.equal(found.body.users[0].disabled, true);
    const line = await auditLine("disable", phone.userId, "ok");
    assert.equal(line.admin, op.userId);
    assert.equal(line.revoked, 2);

    const self = await call(live.g1.url, "POST", `/v1/admin/users/${op.userId}/disable`, op.token);
    assert.equal(self.status, 400, self.text);
    assert.equal(self.body.field, "userId");
    assert.equal(
      (await call(live.g1.url, "GET", "/v1/me", op.token)).status,
      200,
      "the refused self-disable did nothing",
    );
    assert.equal((await call(live.g1.url, "POST", `/v1/admin/users/u_nobody/disable`, op.token)).status, 404);

    const enabled = await call(live.g2.url, "POST", `/v1/admin/users/${phone.userId}/enable`, op.token);
    assert.deepEqual(enabled.body, { userId: phone.userId, disabled: false, revoked: 0 });
    const back = await login(h, live.g1.url);
    assert.equal((await call(live.g2.url, "GET", "/v1/me", back.token)).status, 200);
    assert.equal((await call(live.g1.url, "GET", "/v1/me", laptop.token)).status, 401, "ended sessions stay ended");
  });

  test("admin - a user's sessions: device ids and names, times, revoked and live, newest first; no token; revoke ends them", async () => {
    const op = await operator();
    const h = handle("ses");
    const first = await signup(h);
    const phone = await login(h, live.g2.url, "phone");
    const laptop = await login(h, live.g1.url, "laptop");
    assert.equal((await call(live.g2.url, "POST", "/v1/auth/logout", phone.token)).status, 204);

    const r = await call(live.g2.url, "GET", `/v1/admin/users/${first.userId}/sessions`, op.token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.userId, first.userId);
    assert.equal(typeof r.body.online, "boolean");
    assert.equal(typeof r.body.lastSeen, "number");
    const byDevice = new Map(r.body.sessions.map((s: Json) => [s.deviceId, s]));
    assert.deepEqual(
      r.body.sessions.map((s: Json) => s.deviceId),
      [laptop.deviceId, phone.deviceId, first.deviceId],
    );
    assert.deepEqual(
      { ...(byDevice.get(phone.deviceId) as object), createdAt: 0, expiresAt: 0 },
      { deviceId: phone.deviceId, deviceName: "phone", createdAt: 0, expiresAt: 0, revoked: true, live: false },
    );
    assert.equal((byDevice.get(laptop.deviceId) as Json).live, true);
    assert.ok(!r.text.includes(laptop.token) && !/token/i.test(r.text), "no token in the answer");

    const revoked = await call(live.g1.url, "POST", `/v1/admin/users/${first.userId}/revoke-sessions`, op.token);
    assert.deepEqual(revoked.body, { revoked: 2 });
    const after = await call(live.g1.url, "GET", `/v1/admin/users/${first.userId}/sessions`, op.token);
    assert.ok(after.body.sessions.every((s: Json) => !s.live));
    assert.equal((await call(live.g1.url, "GET", `/v1/admin/users/u_nobody/sessions`, op.token)).status, 404);
  });
});

describe("admin API - chats", () => {
  test("admin - remove a member: a member.removed event from the operator; the removed user gets it and no later event", async () => {
    const op = await operator();
    const owner = await signup(handle("own"));
    const gone = await signup(handle("gone"));
    const stays = await signup(handle("stay"));
    const created = await call(live.g1.url, "POST", "/v1/chats", owner.token, {
      kind: "group",
      title: "operated",
      members: [gone.userId, stays.userId],
    });
    assert.equal(created.status, 201, created.text);
    const chat = created.body.chatId as string;
    // A direct chat of the owner and the one to be removed: its events show the socket still hears the owner.
    const direct = (await call(live.g1.url, "POST", "/v1/chats", owner.token, { kind: "direct", userId: gone.userId }))
      .body.chatId as string;
    const goneSocket = await WsClient.connect(live.g2.url, gone.token, { name: "gone" });
    const staysSocket = await WsClient.connect(live.g1.url, stays.token, { name: "stays" });

    const r = await call(live.g2.url, "DELETE", `/v1/admin/chats/${chat}/members/${gone.userId}`, op.token);
    assert.equal(r.status, 200, r.text);
    const removedAt = r.body.n as number;
    const isRemoval = (f: ServerFrame) => f.type === "event" && f.chat === chat && f.n === removedAt;
    const heard = await goneSocket.waitFor(isRemoval, 10_000, "the removal");
    assert.equal(heard.type === "event" && heard.kind, "member.removed");
    assert.deepEqual(
      heard.type === "event" && { from: heard.from, user: "user" in heard ? heard.user : undefined },
      { from: op.userId, user: gone.userId },
      "the event is the operator's",
    );

    // Later events: the remaining member hears the group's; the removed one only the direct chat's.
    const later = await call(live.g1.url, "POST", `/v1/chats/${chat}/messages`, owner.token, {
      id: "after-1",
      body: "after",
    });
    assert.equal(later.status, 201, later.text);
    await staysSocket.waitFor((f) => f.type === "event" && f.chat === chat && f.n === later.body.n, 10_000, "later");
    // Sent after the group's message: once it is here, the group's would have been too (one fanout, in log order).
    const sentinel = await call(live.g1.url, "POST", `/v1/chats/${direct}/messages`, owner.token, {
      id: "s-1",
      body: "s",
    });
    assert.equal(sentinel.status, 201, sentinel.text);
    await goneSocket.waitFor(
      (f) => f.type === "event" && f.chat === direct && f.n === sentinel.body.n,
      10_000,
      "sentinel",
    );
    assert.deepEqual(
      goneSocket.events.filter((e) => e.chat === chat && e.n > removedAt).map((e) => e.n),
      [],
      "nothing of the group after the removal",
    );
    assert.deepEqual(goneSocket.violations, []);
    // The removed user reads up to the removal and may not send.
    const page = await call(live.g1.url, "GET", `/v1/chats/${chat}/messages?limit=100`, gone.token);
    assert.equal(Math.max(...page.body.events.map((e: Json) => e.n)), removedAt);
    const send = await call(live.g1.url, "POST", `/v1/chats/${chat}/messages`, gone.token, { id: "x", body: "x" });
    assert.equal(send.status, 403);

    // What an operator may not remove: someone not in it, in a chat that does not exist or
    // in a direct chat, or the sole admin of a group with others in it.
    const notMember = await call(live.g1.url, "DELETE", `/v1/admin/chats/${chat}/members/${gone.userId}`, op.token);
    assert.equal(notMember.status, 404, notMember.text);
    assert.equal(
      (await call(live.g1.url, "DELETE", `/v1/admin/chats/g_nope/members/${gone.userId}`, op.token)).status,
      404,
    );
    const inDirect = await call(live.g1.url, "DELETE", `/v1/admin/chats/${direct}/members/${gone.userId}`, op.token);
    assert.equal(inDirect.status, 400, inDirect.text);
    const soleAdmin = await call(live.g1.url, "DELETE", `/v1/admin/chats/${chat}/members/${owner.userId}`, op.token);
    assert.equal(soleAdmin.status, 409, soleAdmin.text);
    assert.equal(soleAdmin.body.code, "last_admin");
    await auditLine("remove-member", `${chat}/${gone.userId}`, "ok");
    await auditLine("remove-member", `${chat}/${owner.userId}`, "last_admin");
    await goneSocket.close();
    await staysSocket.close();
  });
});

describe("admin API - streams", () => {
  test("admin - streams: the chat stream's state and every durable's lag, read with the gateway's identity", async () => {
    const op = await operator();
    const a = await signup(handle("st"));
    const b = await signup(handle("st"));
    const chat = (await call(live.g1.url, "POST", "/v1/chats", a.token, { kind: "direct", userId: b.userId })).body
      .chatId as string;
    const sent = await call(live.g1.url, "POST", `/v1/chats/${chat}/messages`, a.token, { id: "m1", body: "hi" });
    assert.equal(sent.status, 201, sent.text);

    const r = await call(live.g2.url, "GET", "/v1/admin/streams", op.token);
    assert.equal(r.status, 200, r.text);
    const chats = r.body.streams.find((s: Json) => s.name === CHAT_STREAM);
    assert.ok(chats, r.text);
    assert.ok(chats.lastSeq >= sent.body.seq, `lastSeq ${chats.lastSeq} < ${sent.body.seq}`);
    assert.ok(chats.messages >= 2 && chats.bytes > 0 && chats.firstSeq >= 1);
    assert.equal(chats.replicas, 1);
    assert.deepEqual(chats.subjects, ["chat.*.msg"]);
    assert.ok(r.body.streams.some((s: Json) => s.name === `KV_${PRESENCE_BUCKET}`));
    const byName = new Map(r.body.consumers.map((c: Json) => [c.name, c]));
    for (const name of [CONSUMERS.history, CONSUMERS.fanout]) {
      const c = byName.get(name) as Json;
      assert.equal(c?.exists, true, `${name}: ${r.text}`);
      assert.equal(c.stream, CHAT_STREAM);
      for (const k of ["numPending", "numAckPending", "numRedelivered", "numWaiting", "deliveredSeq", "ackFloorSeq"]) {
        assert.ok(Number.isInteger(c[k]) && c[k] >= 0, `${name}.${k} = ${c[k]}`);
      }
    }
    // The stack runs no push consumer: named, and said not to exist.
    assert.deepEqual(byName.get(CONSUMERS.push), { stream: CHAT_STREAM, name: CONSUMERS.push, exists: false });
    // The history durable catches up: its lag reaches 0 once the message is written.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const h = (await call(live.g2.url, "GET", "/v1/admin/streams", op.token)).body.consumers.find(
        (c: Json) => c.name === CONSUMERS.history,
      );
      if (h.numPending === 0 && h.numAckPending === 0 && h.deliveredSeq >= sent.body.seq) break;
      assert.ok(Date.now() < deadline, `history still behind: ${JSON.stringify(h)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    await auditLine("read-streams", "jetstream", "ok");
  });
});
