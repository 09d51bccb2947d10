// The SDK against the real stack: a nats-server (testkit), a gateway process and a
// consumers process (@natter/testkit stack.ts) on a SQLite store. No mocks.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { type GatewayProc, type Stack, startStack, until } from "@natter/testkit";
import { ChatOrdering } from "./ordering.ts";
import { LocalStorageCursorStore, MemoryCursorStore, NatterClient, NatterHttp, type StorageLike } from "./index.ts";
import { fullJitter } from "./backoff.ts";

let stack: Stack;
let gw: GatewayProc;
const clients: NatterClient[] = [];

before(async () => {
  stack = await startStack();
  gw = stack.gateways[0]!;
});
after(async () => {
  for (const c of clients) c.close();
  await stack?.stop("SIGKILL");
});

let seq = 0;
async function user(name: string): Promise<{ client: NatterClient; userId: string; cursors: MemoryCursorStore }> {
  const cursors = new MemoryCursorStore();
  const { client, session } = await NatterClient.signup({
    servers: gw.url,
    handle: `${name}_${++seq}`,
    displayName: name,
    password: "password-123",
    cursors,
  });
  clients.push(client);
  return { client, userId: session.userId, cursors };
}

describe("client - SDK over the real stack", () => {
  test("client - connect, send, and another user's client receives in n order", async () => {
    const ana = await user("ana");
    const ben = await user("ben");
    const anaEvents: ChatEvent[] = [];
    const benEvents: ChatEvent[] = [];
    const states: string[] = [];
    ana.client.on("state", (s) => states.push(s));
    ana.client.on("event", (e) => anaEvents.push(e));
    ben.client.on("event", (e) => benEvents.push(e));
    await Promise.all([ana.client.connect(), ben.client.connect()]);
    assert.equal(ana.client.state, "open");
    assert.deepEqual(states, ["connecting", "open"]);
    assert.equal(ana.client.userId, ana.userId);

    const chat = await ana.client.http.createGroup("sdk basics", [ben.userId]);
    const sent = [];
    for (let i = 0; i < 20; i++) sent.push(await ana.client.send(chat.chatId, `hello ${i}`, { id: `basic-${i}` }));
    assert.deepEqual(
      sent.map((s) => s.n),
      Array.from({ length: 20 }, (_, i) => i + 2),
      "n = 2..21 (1 is chat.created)",
    );
    assert.ok(sent.every((s) => s.seq > 0 && s.chat === chat.chatId));

    await until(() => benEvents.length === 21 && anaEvents.length === 21, 15_000, "21 events on both clients");
    for (const events of [anaEvents, benEvents]) {
      assert.deepEqual(
        events.map((e) => e.n),
        Array.from({ length: 21 }, (_, i) => i + 1),
      );
      assert.equal(events[0]!.kind, "chat.created");
      const msgs = events.filter((e) => e.kind === "message.created");
      assert.deepEqual(
        msgs.map((e) => e.body),
        Array.from({ length: 20 }, (_, i) => `hello ${i}`),
      );
    }
    // Cursors persisted in the memory store, for the next sync.
    assert.equal(ben.cursors.get(chat.chatId), 21);
    assert.equal(ana.cursors.get(chat.chatId), 21);
    assert.equal(ben.client.stats.duplicates, 0);

    // Read marks reach the server: ben's chat list shows the chat read up to 21.
    ben.client.read(chat.chatId, 21);
    const row = await waitFor(async () => {
      const r = await ben.client.http.chats();
      const c = r.chats.find((x) => x.chatId === chat.chatId);
      return c && c.readN === 21 ? c : undefined;
    });
    assert.equal(row.unread, 0);
  });

  test("client - a retried id gets the same seq and n (dedup), not a second message", async () => {
    const ana = await user("dedup");
    const ben = await user("dedupb");
    await ana.client.connect();
    const chat = await ana.client.http.createDirect(ben.userId);
    const first = await ana.client.send(chat.chatId, "once", { id: "same-id" });
    const again = await ana.client.send(chat.chatId, "once", { id: "same-id" });
    assert.deepEqual(again, first);
    const page = await waitFor(async () => {
      const p = await ana.client.http.messages(chat.chatId, { after: 0 });
      return p.events.length >= 2 ? p : undefined;
    });
    assert.equal(page.events.filter((e) => e.kind === "message.created").length, 1);
  });

  test("client - a reconnecting client syncs from its stored cursors and gets only what it missed", async () => {
    const ana = await user("sync");
    const ben = await user("syncb");
    await Promise.all([ana.client.connect(), ben.client.connect()]);
    const chat = await ana.client.http.createGroup("sync", [ben.userId]);
    for (let i = 0; i < 5; i++) await ana.client.send(chat.chatId, `before ${i}`);
    await until(() => ben.cursors.get(chat.chatId) === 6, 15_000, "ben at 6");
    ben.client.close();

    for (let i = 0; i < 7; i++) await ana.client.send(chat.chatId, `while away ${i}`);
    // A new client on the same cursor store: a device that restarts.
    const again = new NatterClient({ servers: gw.url, token: ben.client.http.token!, cursors: ben.cursors });
    clients.push(again);
    const got: ChatEvent[] = [];
    const synced: { chat: string; n: number }[] = [];
    again.on("event", (e) => got.push(e));
    again.on("synced", (s) => synced.push(s));
    await again.connect();
    assert.deepEqual(
      got.map((e) => e.n),
      [7, 8, 9, 10, 11, 12, 13],
      "the replay is exactly what was missed",
    );
    assert.deepEqual(synced, [{ chat: chat.chatId, n: 13 }]);
    assert.equal(ben.cursors.get(chat.chatId), 13);
  });

  test("client - history pager pages backwards with before, oldest page last", async () => {
    const ana = await user("pager");
    const ben = await user("pagerb");
    await ana.client.connect();
    const chat = await ana.client.http.createGroup("pager", [ben.userId]);
    for (let i = 0; i < 45; i++) await ana.client.send(chat.chatId, `m${i}`, { id: `p-${i}` });
    await waitFor(async () => {
      const p = await ana.client.http.messages(chat.chatId, { after: 45, limit: 5 });
      return p.events.length === 1 ? p : undefined;
    });
    const pager = ben.client.history(chat.chatId, { pageSize: 20 });
    const pages: number[][] = [];
    while (pager.hasMore) pages.push((await pager.older()).map((e) => e.n));
    assert.deepEqual(pages, [
      Array.from({ length: 20 }, (_, i) => i + 27),
      Array.from({ length: 20 }, (_, i) => i + 7),
      [1, 2, 3, 4, 5, 6],
    ]);
    assert.deepEqual(await pager.older(), [], "nothing older than n = 1");
  });

  test("client - a gap is filled over HTTP from the real history, in order, without duplicates", async () => {
    const ana = await user("gap");
    const ben = await user("gapb");
    const chat = await ana.client.http.createGroup("gaps", [ben.userId]);
    for (let i = 0; i < 30; i++) await ana.client.http.sendMessage(chat.chatId, `g-${i}`, `gap ${i}`);
    const all = await waitFor(async () => {
      const p = await ben.client.http.messages(chat.chatId, { after: 0, limit: 100 });
      return p.events.length === 31 ? p.events : undefined;
    });
    // Feed the real events out of order with holes and repeats, as a flaky path could.
    const cursors = new MemoryCursorStore({ [chat.chatId]: 0 });
    const delivered: number[] = [];
    const ordering = new ChatOrdering({
      stored: (c) => cursors.get(c),
      startOf: (e) => e.n - 1,
      deliver: (e) => {
        delivered.push(e.n);
        cursors.set(e.chat, e.n);
      },
      fetchAfter: (c, afterN, limit) => ben.client.http.messages(c, { after: afterN, limit }),
      me: () => ben.userId,
      onError: (err) => assert.fail(err),
      gapGraceMs: 50,
      fillPage: 7,
    });
    const pick = (ns: number[]) => ns.map((n) => all[n - 1]!);
    for (const e of pick([1, 2, 2, 5, 3, 9, 31, 1, 30])) ordering.push(e);
    await until(() => delivered.length === 31, 10_000, "31 delivered");
    assert.deepEqual(
      delivered,
      Array.from({ length: 31 }, (_, i) => i + 1),
    );
    assert.ok(ordering.stats.filled > 0, "some came from the HTTP fill");
    assert.ok(ordering.stats.duplicates >= 2);
    assert.equal(cursors.get(chat.chatId), 31);
    assert.equal(ordering.position(chat.chatId), 31);
    ordering.stop();
  });

  test("client - a refused token emits unauthorized and stops", async () => {
    const bad = new NatterClient({ servers: gw.url, token: "v1.not.valid" });
    clients.push(bad);
    let unauthorized = 0;
    bad.on("unauthorized", () => unauthorized++);
    await assert.rejects(bad.connect(), (err: Error & { code?: string }) => err.code === "unauthorized");
    assert.equal(bad.state, "unauthorized");
    assert.equal(unauthorized, 1);
  });

  test("client - HTTP errors carry the server's stable code", async () => {
    const ana = await user("errs");
    await assert.rejects(ana.client.http.chat("no-such-chat"), (err: Error & { code?: string }) => {
      assert.equal(err.code, "not_found");
      return true;
    });
    await assert.rejects(
      new NatterHttp({ servers: gw.url }).login("nobody_here", "password-123"),
      (err: Error & { code?: string }) => err.code === "bad_credentials",
    );
  });
});

describe("client - parts without a server", () => {
  test("client - full jitter stays in [0, min(cap, base * 2^attempt))", () => {
    const opts = { baseMs: 100, capMs: 5000 };
    assert.equal(
      fullJitter(0, opts, () => 0),
      0,
    );
    assert.equal(
      fullJitter(0, opts, () => 0.999999),
      99,
    );
    assert.equal(
      fullJitter(3, opts, () => 0.5),
      400,
    );
    assert.equal(
      fullJitter(10, opts, () => 0.5),
      2500,
      "capped",
    );
    assert.equal(
      fullJitter(5000, opts, () => 0.5),
      2500,
      "no overflow",
    );
  });

  test("client - LocalStorageCursorStore writes one JSON entry and reads it back", () => {
    const data = new Map<string, string>();
    const storage: StorageLike = {
      getItem: (k) => data.get(k) ?? null,
      setItem: (k, v) => void data.set(k, v),
      removeItem: (k) => void data.delete(k),
    };
    const a = new LocalStorageCursorStore("natter:cursors:u1", { storage, flushMs: 0 });
    a.set("c1", 5);
    a.set("c2", 9);
    a.delete("c2");
    assert.equal(data.get("natter:cursors:u1"), '{"c1":5}');
    const b = new LocalStorageCursorStore("natter:cursors:u1", { storage });
    assert.deepEqual(b.all(), { c1: 5 });
    data.set("natter:cursors:u1", "{corrupt");
    assert.deepEqual(new LocalStorageCursorStore("natter:cursors:u1", { storage }).all(), {});
  });
});

async function waitFor<T>(check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
