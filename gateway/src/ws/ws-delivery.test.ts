import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CLOSE_CODES, type ChatEvent, type ErrorFrame, type SyncedFrame } from "@natter/protocol";
import { userSignalSubject } from "@natter/subjects";
import {
  group,
  publishToInbox,
  req,
  sendMany,
  signup,
  startWsTestEnv,
  streamEvents,
  WsClient,
  type WsTestEnv,
} from "./ws-test-setup.ts";

// The gateway's side of delivery, with the test playing the fanout consumer: events are
// published to user inboxes in any order, with duplicates and gaps, and what each socket
// receives is checked against the chat's log.
let env: WsTestEnv;

before(async () => {
  env = await startWsTestEnv({
    ws: {
      replayPage: 7,
      heartbeatMs: 200,
      maxBufferedBytes: 256 * 1024,
      drainTimeoutMs: 1000,
      frameBurst: 50,
      framesPerSecond: 20,
      rateLimitCloseAfter: 40,
    },
  });
});
after(async () => {
  await env?.close();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function metric(name: string): Promise<number> {
  const text = await env.t.gw.ctx.metrics.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

/** A new group of two users, `a` and `b`, where `a` has sent `count` messages: the chat and its log. */
async function chatWithHistory(count: number) {
  const a = await signup(env);
  const b = await signup(env);
  const chat = await group(env, [a, b]);
  await sendMany(env, a, chat, count);
  return { a, b, chat, log: await streamEvents(env, chat) };
}

describe("gateway ws - live delivery", () => {
  test("delivery - duplicates dropped and gaps filled: every socket of the user gets 1..N once, in order", async () => {
    const { b, chat, log } = await chatWithHistory(30);
    assert.deepEqual(
      log.map((e) => e.n),
      range(1, 31),
    );
    const phone = await WsClient.connect(env.base, b.token, { name: "phone" });
    const laptop = await WsClient.connect(env.base, b.token, { name: "laptop" });
    assert.equal(env.t.gw.realtime.hub.size, 1, "one subscription for the user's two sockets");

    // n=1 starts the sockets' cursor; then duplicates, reordering and holes.
    const at = (n: number) => log[n - 1]!;
    const scrambled: ChatEvent[] = [at(1), at(2), at(2), at(4), at(3), at(3), at(9), at(5), at(1)];
    scrambled.push(...log.slice(9, 20), at(12), at(31), at(25));
    await publishToInbox(env, b.userId, scrambled);
    for (const c of [phone, laptop]) {
      await c.until(() => c.ns(chat).length >= 31, 10_000, "31 events");
      assert.deepEqual(c.ns(chat), range(1, 31), c.name);
      assert.deepEqual(c.violations, []);
      assert.deepEqual(
        c.events.map((e) => (e.kind === "message.created" ? e.id : e.kind)),
        log.map((e) => (e.kind === "message.created" ? e.id : e.kind)),
      );
    }
    // A late duplicate changes nothing.
    await publishToInbox(env, b.userId, [at(30)]);
    await phone.sync();
    assert.equal(phone.ns(chat).length, 31);
    assert.ok((await metric("natter_deliveries_duplicate_total")) > 0);
    assert.ok((await metric('natter_deliveries_total{path="fill"}')) > 0);

    await phone.close();
    assert.equal(env.t.gw.realtime.hub.size, 1, "the laptop still holds the subscription");
    await laptop.close();
    await waitFor(() => env.t.gw.realtime.hub.size === 0, "the last socket's subscription to end");
  });

  test("delivery - `ready` is a socket's first frame while signals stream into the user's inbox", async () => {
    const { b, chat } = await chatWithHistory(1);
    // Receipts published without pause: some reach the inbox between a socket's
    // subscription and its `ready`, the window where they once went out first.
    let streaming = true;
    const receipt = JSON.stringify({ type: "receipt", chat, user: b.userId, deliveredN: 1, readN: 1 });
    const stream = (async () => {
      while (streaming) {
        for (let i = 0; i < 20; i++) env.t.nc.publish(userSignalSubject(b.userId), receipt);
        await env.t.nc.flush();
      }
    })();
    try {
      for (let round = 0; round < 10; round++) {
        const sockets = await Promise.all(
          (["header", "frame"] as const).map((auth) => WsClient.connect(env.base, b.token, { name: auth, auth })),
        );
        for (const c of sockets) {
          await c.until(() => c.frames.some((f) => f.type === "receipt"), 5000, "a receipt after ready");
          assert.equal(c.frames[0]?.type, "ready", `${c.name}: first frame ${c.frames[0]?.type}`);
          await c.close();
        }
      }
    } finally {
      streaming = false;
      await stream;
    }
  });

  test("delivery - another user's inbox never reaches this socket", async () => {
    const a = await signup(env);
    const b = await signup(env);
    const chat = await group(env, [a, b]);
    const log = await streamEvents(env, chat);
    const aSock = await WsClient.connect(env.base, a.token);
    const bSock = await WsClient.connect(env.base, b.token);
    await publishToInbox(env, a.userId, log);
    await aSock.until(() => aSock.ns(chat).length === 1);
    bSock.send({ type: "ping", ref: "after" });
    await bSock.waitFor((f) => f.type === "pong");
    assert.equal(bSock.events.length, 0);
    await Promise.all([aSock.close(), bSock.close()]);
  });
});

describe("gateway ws - sync", () => {
  test("sync - replays after the cursor in pages, then synced; live events at the seam come once", async () => {
    const a = await signup(env);
    const b = await signup(env);
    const chat = await group(env, [a, b]);
    await sendMany(env, a, chat, 24);
    const c = await WsClient.open(env.base, { token: b.token });
    await c.waitFor((f) => f.type === "ready");
    c.send({ type: "sync", ref: "s", cursors: { [chat]: 10 } });
    // While it replays (pages of 7), the live path gets everything again and one more.
    await sendMany(env, a, chat, 1, "late");
    const log = await streamEvents(env, chat);
    await publishToInbox(env, b.userId, log);
    await c.until(() => c.ns(chat).length >= 16, 10_000, "11..26");
    const synced = await c.waitFor<SyncedFrame>((f) => f.type === "synced");
    assert.equal(synced.ref, "s");
    assert.ok(synced.n >= 25 && synced.n <= 26);
    assert.deepEqual(c.ns(chat), range(11, 26));
    const syncedAt = c.frames.indexOf(synced);
    assert.ok(
      c.frames.slice(0, syncedAt).filter((f) => f.type === "event").length === synced.n - 10,
      "every event up to synced.n came before synced",
    );
    await c.close();
  });

  test("sync - with ?resume=1, live events before the first sync wait for it, so the replay comes first", async () => {
    const { b, chat, log } = await chatWithHistory(8);
    const c = await WsClient.open(env.base, { token: b.token, resume: true });
    await c.waitFor((f) => f.type === "ready");
    await publishToInbox(env, b.userId, log.slice(5)); // n 6..9 arrive before the client syncs
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.events.length, 0, "held until sync");
    c.send({ type: "sync", cursors: { [chat]: 2 } });
    await c.until(() => c.ns(chat).length >= 7);
    assert.deepEqual(c.ns(chat), range(3, 9));
    await c.close();
  });

  for (const auth of ["header", "frame"] as const) {
    test(`live - a socket that does not resume (${auth} auth) gets live events from ready on, from the first one, with no hold`, async () => {
      const { b, chat, log } = await chatWithHistory(3);
      const c = await WsClient.open(env.base, { token: b.token, auth });
      await c.waitFor((f) => f.type === "ready");
      await publishToInbox(env, b.userId, [log[2]!, log[3]!]);
      // A ping sent after the inbox publish is answered after the events reached the
      // gateway: both events must be on the socket by the pong (a hold, timed or not, fails).
      await new Promise((r) => setTimeout(r, 100));
      c.send({ type: "ping", ref: "after" });
      await c.waitFor((f) => f.type === "pong");
      // (Receipts of the sender's own reads may come too; they are signals, not chat events.)
      assert.deepEqual(
        c.frames.map((f) => f.type).filter((t) => t !== "receipt"),
        ["ready", "event", "event", "pong"],
      );
      assert.deepEqual(c.ns(chat), [3, 4]);
      await c.close();
    });
  }

  test("resume - cursors in the auth frame: replay first, then live, no gap or duplicate at the seam", async () => {
    const { a, b, chat, log } = await chatWithHistory(20);
    const c = await WsClient.open(env.base, {
      token: b.token,
      auth: "frame",
      resume: true,
      held: new Map([[chat, 4]]),
    });
    // Live events race the replay (pages of 7): some the replay also reads, and newer ones.
    await c.waitFor((f) => f.type === "ready");
    await sendMany(env, a, chat, 2, "live");
    const all = await streamEvents(env, chat);
    await publishToInbox(env, b.userId, all.slice(10));
    await c.until(() => c.ns(chat).length >= all.length - 4, 10_000, "5..23");
    assert.deepEqual(c.ns(chat), range(5, all.length));
    assert.deepEqual(c.violations, []);
    const synced = await c.waitFor<SyncedFrame>((f) => f.type === "synced");
    assert.equal(synced.chat, chat);
    assert.ok(synced.n >= log.length, "the replay reached at least the head as of the connect");
    assert.equal(c.frames[0]!.type, "ready", "ready comes before any event");
    await c.close();
  });

  test("sync - a cursor past the chat's head is answered at the head, and later live events still arrive", async () => {
    const a = await signup(env);
    const b = await signup(env);
    const chat = await group(env, [a, b]);
    await sendMany(env, a, chat, 2);
    const c = await WsClient.open(env.base, { token: b.token, resume: true });
    await c.waitFor((f) => f.type === "ready");
    c.send({ type: "sync", ref: "far", cursors: { [chat]: Number.MAX_SAFE_INTEGER } });
    const synced = await c.waitFor<SyncedFrame>((f) => f.type === "synced");
    assert.equal(synced.n, 3, "the head");
    await sendMany(env, a, chat, 1, "next");
    const log = await streamEvents(env, chat);
    await publishToInbox(env, b.userId, [log[3]!]);
    await c.until(() => c.events.length === 1, 5000, "event 4");
    assert.deepEqual(c.ns(chat), [4]);
    await c.close();
  });

  test("sync - a chat the user was never in gets an error frame naming it: not_found, as for an unknown chat", async () => {
    const a = await signup(env);
    const b = await signup(env);
    const outsider = await signup(env);
    const chat = await group(env, [a, b]);
    const c = await WsClient.open(env.base, { token: outsider.token });
    await c.waitFor((f) => f.type === "ready");
    c.send({ type: "sync", ref: "x", cursors: { [chat]: 0, nochat: 0 } });
    await c.until(() => c.errors().length === 2);
    const byChat = Object.fromEntries(c.errors().map((e: ErrorFrame) => [e.chat, e.code]));
    // A stranger is told the same as for a chat that does not exist.
    assert.deepEqual(byChat, { [chat]: "not_found", nochat: "not_found" });
    assert.equal(c.events.length, 0);
    await c.close();
  });

  test("sync - a removed member replays only up to the removal, and resumes at re-addition", async () => {
    const admin = await signup(env);
    const m = await signup(env);
    const chat = await group(env, [admin, m]);
    await sendMany(env, admin, chat, 3, "before");
    const removed = await req(env, "DELETE", `/v1/chats/${chat}/members/${m.userId}`, undefined, admin.token);
    assert.equal(removed.status, 200);
    const removalN = removed.body.n as number;
    await sendMany(env, admin, chat, 4, "while-out");

    const c = await WsClient.open(env.base, { token: m.token });
    await c.waitFor((f) => f.type === "ready");
    c.send({ type: "sync", cursors: { [chat]: 0 } });
    const synced = await c.waitFor<SyncedFrame>((f) => f.type === "synced");
    assert.equal(synced.n, removalN);
    assert.deepEqual(c.ns(chat), range(1, removalN));

    // Re-added: the fanout sends the member.added event; the gap before it is skipped, not filled.
    const added = await req(env, "POST", `/v1/chats/${chat}/members`, { userId: m.userId }, admin.token);
    await sendMany(env, admin, chat, 1, "after");
    const log = await streamEvents(env, chat);
    await publishToInbox(
      env,
      m.userId,
      log.filter((e) => e.n >= added.body.n),
    );
    await c.until(() => c.ns(chat).length === removalN + 2);
    assert.deepEqual(c.ns(chat), [...range(1, removalN), added.body.n, added.body.n + 1]);
    assert.ok(!c.events.some((e) => e.kind === "message.created" && e.id.startsWith("while-out")));
    await c.close();
  });
});

describe("gateway ws - backpressure and heartbeats", () => {
  test("backpressure - a client that stops reading is closed as a slow consumer (4009)", async () => {
    const u = await signup(env);
    const c = await WsClient.connect(env.base, u.token);
    const before = await metric("natter_ws_slow_consumer_closes_total");
    c.ws.pause();
    // 400 events of 60 KB (24 MB) on a made-up chat: far more than socket buffers hold.
    const body = "x".repeat(60_000);
    const events: ChatEvent[] = range(1, 400).map((n) => ({
      chat: "slowchat",
      seq: 1_000_000 + n,
      n,
      ts: Date.now(),
      from: "someone",
      kind: "message.created",
      id: `big-${n}`,
      body,
    }));
    await publishToInbox(env, u.userId, events);
    await waitFor(async () => (await metric("natter_ws_slow_consumer_closes_total")) > before, "a 4009 close");
    c.ws.resume();
    assert.equal((await c.closed).code, CLOSE_CODES.slowConsumer);
    assert.ok(c.events.length < 400, "the socket was cut before everything was queued");
    await waitFor(() => env.t.gw.realtime.connections === 0, "the connection to be dropped");
  });

  test("rate - frames over the socket's rate get rate_limited errors; far over closes with 4008", async () => {
    const u = await signup(env);
    const c = await WsClient.connect(env.base, u.token);
    for (let i = 0; i < 60; i++) c.send({ type: "ping", ref: `p${i}` });
    await c.until(() => c.frames.filter((f) => f.type === "pong" || f.type === "error").length >= 60);
    const limited = c.errors().filter((e) => e.code === "rate_limited");
    assert.ok(limited.length >= 5, `${limited.length} rate_limited`);
    assert.ok(limited.every((e) => (e.retryAfterMs ?? 0) > 0 && e.ref?.startsWith("p")));
    assert.equal(c.closeCode, undefined, "a little over the rate is only refused");
    for (let i = 0; i < 100; i++) c.send({ type: "ping" });
    assert.equal((await c.closed).code, CLOSE_CODES.rateLimited);
  });

  test("metrics - connections, frames, deliveries and latency are exported", async () => {
    const text = await env.t.gw.ctx.metrics.registry.metrics();
    for (const name of [
      "natter_ws_connections",
      "natter_inbox_subscriptions",
      'natter_ws_frames_in_total{type="ping"}',
      'natter_ws_frames_out_total{type="event"}',
      'natter_deliveries_total{path="live"}',
      "natter_deliver_latency_seconds_bucket",
      'natter_ws_closes_total{code="4009"}',
      "natter_ws_slow_consumer_closes_total 1",
    ]) {
      assert.ok(text.includes(name), name);
    }
  });

  test("heartbeat - a client that answers no ping is closed with 4010", async () => {
    const u = await signup(env);
    const c = await WsClient.open(env.base, { token: u.token, autoPong: false });
    await c.waitFor((f) => f.type === "ready");
    const { code } = await c.closed;
    assert.equal(code, CLOSE_CODES.idleTimeout);
  });

  test("heartbeat - a client that answers pings stays open across several intervals", async () => {
    const u = await signup(env);
    const c = await WsClient.connect(env.base, u.token);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(c.closeCode, undefined);
    c.send({ type: "ping", ref: "alive" });
    await c.waitFor((f) => f.type === "pong");
    await c.close();
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
