import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type NatsServer, startNatsServer } from "@natter/testkit";
import { startTestGateway, type TestGateway } from "../testing.ts";

// Login limits that stop guessing without locking the owner out, and look-ups that cannot
// enumerate handles fast. The gateway believes X-Forwarded-For from 127.0.0.1 here
// (NATTER_TRUST_PROXY), so each request can come from an address of the test's choosing.
let nats: NatsServer;
let t: TestGateway;

before(async () => {
  nats = await startNatsServer();
  t = await startTestGateway(nats.url, {
    overrides: {
      loginBurst: "5",
      loginRatePerMin: "1",
      lookupBurst: "5",
      lookupRatePerMin: "1",
      trustProxy: "127.0.0.1",
    },
  });
});
after(async () => {
  await t?.close();
  await nats?.stop();
});

/** `from` is sent as X-Forwarded-For; `peer` is the socket's address (the trusted proxy unless given). */
async function req(
  method: string,
  url: string,
  body?: unknown,
  opts: { token?: string; from?: string; peer?: string } = {},
) {
  const res = await t.gw.app.inject({
    method: method as "GET",
    url,
    remoteAddress: opts.peer ?? "127.0.0.1",
    ...(body === undefined ? {} : { payload: body as object }),
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.from ? { "x-forwarded-for": opts.from } : {}),
    },
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

const PASSWORD = "correct horse";
async function signup(handle: string, from: string) {
  const r = await req("POST", "/v1/auth/signup", { handle, displayName: handle, password: PASSWORD }, { from });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { userId: string; token: string };
}
const login = (handle: string, password: string, from: string, peer?: string) =>
  req("POST", "/v1/auth/login", { handle, password }, { from, ...(peer ? { peer } : {}) });

describe("login limits", () => {
  test("login limits - twenty wrong passwords from one address do not stop the owner's correct password from another", async () => {
    await signup("owner1", "198.51.100.1");
    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push((await login("owner1", "guess-guess", "203.0.113.66")).status);
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401], "failures answer 401 until the pair's budget");
    assert.ok(
      statuses.slice(5).every((s) => s === 429),
      "then the guessing address waits",
    );
    // The owner, from their own address, with the right password: in.
    const owner = await login("owner1", PASSWORD, "198.51.100.1");
    assert.equal(owner.status, 200, JSON.stringify(owner.body));
    // Even the right password from the guessing address waits: that pair failed.
    assert.equal((await login("owner1", PASSWORD, "203.0.113.66")).status, 429);
  });

  test("login limits - guesses spread over many addresses slow the handle down only for addresses that failed", async () => {
    await signup("owner2", "198.51.100.2");
    // 5 × 5 = 25 failures: the handle's own budget (5 × burst) is spent.
    for (let a = 0; a < 5; a++) {
      for (let i = 0; i < 5; i++) assert.equal((await login("owner2", "nope-nope", `203.0.113.${10 + a}`)).status, 401);
    }
    // A sixth guessing address fails once, then waits: the handle is hot.
    assert.equal((await login("owner2", "nope-nope", "203.0.113.50")).status, 401);
    assert.equal((await login("owner2", "nope-nope", "203.0.113.50")).status, 429);
    // An address that never failed for it is never refused the right password.
    assert.equal((await login("owner2", PASSWORD, "198.51.100.2")).status, 200);
    assert.equal((await login("owner2", PASSWORD, "192.0.2.7")).status, 200);
  });

  test("login limits - one address guessing many handles waits (the per-address budget)", async () => {
    let limited = false;
    for (let i = 0; i < 120 && !limited; i++) {
      limited = (await login(`nobody${i}`, "whatever-1", "203.0.113.99")).status === 429;
    }
    assert.ok(limited, "an address that fails across handles is stopped");
    assert.equal((await login("nobody-else", "whatever-1", "203.0.113.98")).status, 401, "other addresses are not");
  });

  test("login limits - X-Forwarded-For is believed only from a trusted proxy", async () => {
    const untrusted = "192.0.2.200";
    const direct = await login("ghost", "whatever-1", "203.0.113.1", untrusted);
    assert.equal(direct.status, 401);
    // From an untrusted peer, the header is ignored: the failures count against the peer.
    for (let i = 0; i < 4; i++) await login("ghost", "whatever-1", `203.0.113.${100 + i}`, untrusted);
    const sixth = await login("ghost", "whatever-1", "203.0.113.250", untrusted);
    assert.equal(sixth.status, 429, "five failures of one peer, whatever the header said");
  });

  test("login limits - handle look-ups are rate limited per user", async () => {
    const u = await signup("looker", "198.51.100.3");
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await req("GET", `/v1/users?handle=someone${i}`, undefined, { token: u.token })).status);
    }
    assert.deepEqual(statuses, [404, 404, 404, 404, 404, 429, 429, 429]);
  });
});
