import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type GatewayProc, natsBin, type Stack, startStack } from "@natter/testkit";
import { Api, eventually } from "./http-client.ts";

// The acceptance of the chat log over the production path: two gateway processes and a
// consumers process over a real nats-server and a real Cassandra keyspace.
let stack: Stack;
let g1: GatewayProc;
let g2: GatewayProc;

before(async () => {
  stack = await startStack({ store: "cassandra", gateways: 2 });
  [g1, g2] = stack.gateways as [GatewayProc, GatewayProc];
});
after(async () => {
  await stack?.stop();
});

/** Every event of a chat, paged forward with `after` (limit 100), as a member sees it. */
async function readAll(api: Api, chatId: string): Promise<{ n: number; kind: string; id?: string; from: string }[]> {
  const all = [];
  let after = 0;
  for (;;) {
    const r = await api.call("GET", `/v1/chats/${chatId}/messages?after=${after}&limit=100`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    all.push(...r.body.events);
    if (!r.body.hasMore) return all;
    after = r.body.events.at(-1).n;
  }
}

describe("chat log - ordering across gateways", () => {
  test("chat log - three clients on two gateways get distinct dense n, and history agrees", async () => {
    const a = await new Api(g1.url).signup("e2e_ana");
    const b = await new Api(g2.url).signup("e2e_ben");
    const c = await new Api(g1.url).signup("e2e_cleo");
    const group = await a.call("POST", "/v1/chats", { kind: "group", title: "order", members: [b.userId, c.userId] });
    assert.equal(group.status, 201);
    const chatId = group.body.chatId as string;

    // Each client sends PER messages, 4 in flight at a time, alternating gateways.
    const PER = 60;
    const results: { from: string; id: string; n: number; seq: number }[] = [];
    await Promise.all(
      [a, b, c].map(async (client, ci) => {
        const lanes = [client, client.via(ci % 2 ? g1.url : g2.url)];
        let next = 0;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next < PER) {
              const i = next++;
              const id = `m-${ci}-${i}`;
              const r = await lanes[i % 2]!.call("POST", `/v1/chats/${chatId}/messages`, { id, body: `hello ${i}` });
              assert.equal(r.status, 201, JSON.stringify(r.body));
              results.push({ from: client.userId, id, n: r.body.n, seq: r.body.seq });
            }
          }),
        );
      }),
    );
    const ns = results.map((r) => r.n).sort((x, y) => x - y);
    const N = 1 + 3 * PER;
    assert.deepEqual(
      ns,
      Array.from({ length: 3 * PER }, (_, i) => i + 2),
      "message n are exactly 2..N (n=1 is chat.created)",
    );
    assert.equal(new Set(results.map((r) => r.seq)).size, results.length, "distinct stream sequences");

    // Retries through the other gateway return the original seq and n.
    for (const r of results.filter((_, i) => i % 15 === 0)) {
      const who = [a, b, c].find((x) => x.userId === r.from)!;
      const retry = await who.via(who.base === g1.url ? g2.url : g1.url).call("POST", `/v1/chats/${chatId}/messages`, {
        id: r.id,
        body: "retried",
      });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.n, r.n);
      assert.equal(retry.body.seq, r.seq);
    }

    // History (written by the history consumer to Cassandra) has exactly 1..N in order.
    const events = await eventually(
      async () => {
        const all = await readAll(b, chatId);
        return all.length === N ? all : undefined;
      },
      30_000,
      "history to hold every event",
    );
    assert.deepEqual(
      events.map((e) => e.n),
      Array.from({ length: N }, (_, i) => i + 1),
    );
    const byN = new Map(results.map((r) => [r.n, r]));
    for (const e of events.slice(1)) {
      assert.equal(e.kind, "message.created");
      assert.equal(e.id, byN.get(e.n)?.id);
      assert.equal(e.from, byN.get(e.n)?.from);
    }
    // Paging backwards gives the same order.
    const newest = await c.call("GET", `/v1/chats/${chatId}/messages?limit=7`);
    assert.deepEqual(
      newest.body.events.map((e: { n: number }) => e.n),
      [N - 6, N - 5, N - 4, N - 3, N - 2, N - 1, N],
    );
    assert.equal(newest.body.hasMore, true);
    const older = await c.call("GET", `/v1/chats/${chatId}/messages?before=${N - 6}&limit=3`);
    assert.deepEqual(
      older.body.events.map((e: { n: number }) => e.n),
      [N - 9, N - 8, N - 7],
    );
  });

  test("chat log - a removed member cannot send, reads only up to the removal, and never sees later events", async () => {
    const admin = await new Api(g1.url).signup("e2e_admin");
    const kept = await new Api(g2.url).signup("e2e_kept");
    const removed = await new Api(g2.url).signup("e2e_removed");
    const chatId = (
      await admin.call("POST", "/v1/chats", { kind: "group", title: "rm", members: [kept.userId, removed.userId] })
    ).body.chatId;
    assert.equal(
      (await removed.call("POST", `/v1/chats/${chatId}/messages`, { id: "r1", body: "before" })).status,
      201,
    );
    const rm = await admin.call("DELETE", `/v1/chats/${chatId}/members/${removed.userId}`);
    assert.equal(rm.status, 200);
    await admin.call("POST", `/v1/chats/${chatId}/messages`, { id: "a1", body: "after removal" });

    const send = await removed.call("POST", `/v1/chats/${chatId}/messages`, { id: "r2", body: "am I here?" });
    assert.equal(send.status, 403);
    assert.equal(send.body.code, "forbidden");
    // History up to and including the removal (as `sync`), nothing after it.
    const read = await removed.call("GET", `/v1/chats/${chatId}/messages`);
    assert.equal(read.status, 200);
    assert.deepEqual(
      read.body.events.map((e: { n: number }) => e.n),
      [1, 2, rm.body.n],
    );
    const info = await removed.call("GET", `/v1/chats/${chatId}`);
    assert.equal(info.status, 403);
    const list = await removed.call("GET", "/v1/chats");
    assert.ok(!list.body.chats.some((ch: { chatId: string }) => ch.chatId === chatId));

    const seen = await eventually(async () => {
      const all = await readAll(kept, chatId);
      return all.length === 4 ? all : undefined;
    });
    assert.deepEqual(
      seen.map((e) => e.kind),
      ["chat.created", "message.created", "member.removed", "message.created"],
    );
    assert.ok(!seen.some((e) => e.id === "r2"), "the refused send is not in history");
  });
});

describe("chat log - chat list", () => {
  test("chat log - my chat list is ordered by last activity with previews", async () => {
    const a = await new Api(g1.url).signup("e2e_list_a");
    const b = await new Api(g2.url).signup("e2e_list_b");
    const c = await new Api(g2.url).signup("e2e_list_c");
    const ab = (await a.call("POST", "/v1/chats", { kind: "direct", userId: b.userId })).body.chatId;
    const ac = (await a.call("POST", "/v1/chats", { kind: "direct", userId: c.userId })).body.chatId;
    await a.call("POST", `/v1/chats/${ab}/messages`, { id: "m1", body: "hello b" });
    await new Promise((r) => setTimeout(r, 5));
    await a.call("POST", `/v1/chats/${ac}/messages`, { id: "m1", body: "hello c" });
    // Chat heads are projected by the history consumer, a few milliseconds after `sent`.
    const list = await eventually(async () => {
      const r = await a.call("GET", "/v1/chats?limit=1");
      return r.body.chats[0]?.preview === "hello c" ? r : undefined;
    });
    assert.equal(list.body.chats.length, 1);
    assert.equal(list.body.chats[0].chatId, ac);
    assert.equal(list.body.chats[0].peer, c.userId);
    assert.equal(list.body.chats[0].lastN, 2);
    const next = await a.call("GET", `/v1/chats?limit=1&cursor=${encodeURIComponent(list.body.next)}`);
    assert.equal(next.body.chats[0].chatId, ab);
    assert.equal(next.body.chats[0].preview, "hello b");
    assert.equal(next.body.next, undefined);
  });
});

describe("chat log - tailing with the nats CLI", () => {
  test("chat log - `nats sub 'chat.*.msg'` shows readable events", async () => {
    const a = await new Api(g1.url).signup("e2e_tail_a");
    const b = await new Api(g1.url).signup("e2e_tail_b");
    const chatId = (await a.call("POST", "/v1/chats", { kind: "direct", userId: b.userId })).body.chatId;
    const sub = spawn(path.join(natsBin(), "nats"), ["--server", stack.nats.url, "sub", "chat.*.msg", "--count", "1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    sub.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    sub.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    await eventually(async () => out.includes("Subscribing"), 10_000, "nats sub to subscribe");
    // "Subscribing" is printed before the server has the interest registered: send until
    // the CLI has received one and exited (it subscribes with --count 1).
    let exitedFlag = false;
    sub.once("exit", () => {
      exitedFlag = true;
    });
    for (let i = 0; i < 20 && !exitedFlag; i++) {
      const sent = await a.call("POST", `/v1/chats/${chatId}/messages`, {
        id: `tail-${i}`,
        body: "hello from the CLI test",
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      await new Promise((r) => setTimeout(r, 250));
    }
    sub.kill();
    assert.ok(exitedFlag, `nats sub received an event and exited:\n${out}`);
    assert.match(out, new RegExp(`Received on "chat\\.${chatId}\\.msg"`));
    assert.match(out, /Natter-N: \d+/);
    assert.match(out, /Natter-Kind: message\.created/);
    assert.match(out, /"body":"hello from the CLI test"/);
    assert.match(out, /"kind":"message.created"/);
  });
});

describe("chat log - bad input", () => {
  test("chat log - each bad input gets its 4xx and stable code, and nothing is stored", async () => {
    const a = await new Api(g1.url).signup("e2e_bad_a");
    const b = await new Api(g1.url).signup("e2e_bad_b");
    const chatId = (await a.call("POST", "/v1/chats", { kind: "direct", userId: b.userId })).body.chatId as string;
    const anon = new Api(g1.url);
    const forged = new Api(
      g1.url,
      `v1.${Buffer.from(JSON.stringify({ u: a.userId, d: "dv_x", exp: 9e12 })).toString("base64url")}.forged`,
    );
    const expiredShape = new Api(g1.url, "not-a-token");
    const msgs = `/v1/chats/${chatId}/messages`;

    const cases: [string, Api, string, string, unknown, { body: string; type?: string } | undefined, number, string][] =
      [
        ["malformed JSON", a, "POST", msgs, undefined, { body: '{"id": "x", "body": ' }, 400, "invalid_json"],
        ["not JSON at all", a, "POST", msgs, undefined, { body: "hello", type: "text/plain" }, 400, "invalid_input"],
        ["body is a number", a, "POST", msgs, { id: "bad1", body: 42 }, undefined, 400, "invalid_input"],
        ["missing body", a, "POST", msgs, { id: "bad2" }, undefined, 400, "invalid_input"],
        ["extra field", a, "POST", msgs, { id: "bad3", body: "x", admin: true }, undefined, 400, "invalid_input"],
        ["empty body", a, "POST", msgs, { id: "bad4", body: "" }, undefined, 400, "invalid_input"],
        ["oversize body", a, "POST", msgs, { id: "bad5", body: "x".repeat(4097) }, undefined, 413, "too_large"],
        ["huge request", a, "POST", msgs, { id: "bad6", body: "x".repeat(200_000) }, undefined, 413, "too_large"],
        ["invalid message id", a, "POST", msgs, { id: "has space", body: "x" }, undefined, 400, "invalid_input"],
        ["too long message id", a, "POST", msgs, { id: "x".repeat(65), body: "x" }, undefined, 400, "invalid_input"],
        [
          "invalid chat id",
          a,
          "POST",
          "/v1/chats/bad.chat/messages",
          { id: "bad7", body: "x" },
          undefined,
          400,
          "invalid_input",
        ],
        ["wildcard chat id", a, "GET", "/v1/chats/*/messages", undefined, undefined, 400, "invalid_input"],
        ["unknown chat", a, "POST", "/v1/chats/nope/messages", { id: "bad8", body: "x" }, undefined, 404, "not_found"],
        ["missing token", anon, "POST", msgs, { id: "bad9", body: "x" }, undefined, 401, "unauthorized"],
        ["forged token", forged, "POST", msgs, { id: "bad10", body: "x" }, undefined, 401, "unauthorized"],
        ["garbage token", expiredShape, "GET", "/v1/me", undefined, undefined, 401, "unauthorized"],
        ["limit out of range", a, "GET", `${msgs}?limit=1000`, undefined, undefined, 400, "invalid_input"],
        ["limit not a number", a, "GET", `${msgs}?limit=abc`, undefined, undefined, 400, "invalid_input"],
        [
          "group without title",
          a,
          "POST",
          "/v1/chats",
          { kind: "group", members: [] },
          undefined,
          400,
          "invalid_input",
        ],
        [
          "unknown chat kind",
          a,
          "POST",
          "/v1/chats",
          { kind: "channel", userId: b.userId },
          undefined,
          400,
          "invalid_input",
        ],
        [
          "direct chat with self",
          a,
          "POST",
          "/v1/chats",
          { kind: "direct", userId: a.userId },
          undefined,
          400,
          "invalid_input",
        ],
        [
          "direct chat with nobody",
          a,
          "POST",
          "/v1/chats",
          { kind: "direct", userId: "u_nobody" },
          undefined,
          404,
          "not_found",
        ],
        [
          "signup short password",
          anon,
          "POST",
          "/v1/auth/signup",
          { handle: "shorty", displayName: "s", password: "1" },
          undefined,
          400,
          "invalid_input",
        ],
        [
          "signup bad handle",
          anon,
          "POST",
          "/v1/auth/signup",
          { handle: "no spaces!", displayName: "s", password: "password-123" },
          undefined,
          400,
          "invalid_input",
        ],
        ["signup array", anon, "POST", "/v1/auth/signup", undefined, { body: "[1,2,3]" }, 400, "invalid_input"],
        ["unknown route", a, "GET", "/v1/nothing-here", undefined, undefined, 404, "not_found"],
      ];
    for (const [name, api, method, url, body, raw, status, code] of cases) {
      const r = await api.call(method, url, body, raw);
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.message, "string", name);
    }
    // Nothing was stored: the chat still holds only its creation, and no user "shorty" exists.
    const info = await a.call("GET", `/v1/chats/${chatId}`);
    assert.equal(info.body.lastN, 1);
    assert.equal((await a.call("GET", "/v1/users?handle=shorty")).status, 404);
    const chats = await a.call("GET", "/v1/chats");
    assert.equal(chats.body.chats.length, 1);
  });
});
