import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNats, ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import type { ChatEvent, ChatEventPayload } from "@natter/protocol";
import { projectEvents, SqliteStore, type Store } from "@natter/store";
import { CHAT_STREAM, CONSUMERS, chatSubject, HEADERS } from "@natter/subjects";
import { type NatsServer, startNatsServer } from "@natter/testkit";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { createFanoutConsumer, Fanout } from "./fanout.ts";
import { createHistoryConsumer } from "./history.ts";
import type { ConsumerRunner } from "./runner.ts";
import { type ChatScript, createChats, nextPayload, prng, publishPayload } from "./test-chats.ts";
import { waitFor } from "./test-helpers.ts";

const logger = createLogger(process.env.NATTER_TEST_LOG ?? "silent", "fanout-test");
const fast = { checkIntervalMs: 200, retryBaseMs: 50, nakBaseMs: 50 };

/** What arrived on `user.*.inbox`, per user, in arrival order, with the headers checked. */
class Inboxes {
  readonly byUser = new Map<string, ChatEvent[]>();
  readonly headerErrors: string[] = [];
  #sub: Subscription | undefined;

  async listen(nc: NatsConnection): Promise<void> {
    this.#sub = nc.subscribe("user.*.inbox", {
      callback: (err, msg) => {
        if (err) return;
        const user = msg.subject.split(".")[1]!;
        const e = msg.json<ChatEvent>();
        if (msg.headers?.get(HEADERS.n) !== String(e.n) || msg.headers?.get(HEADERS.kind) !== e.kind) {
          this.headerErrors.push(`${user} ${e.chat} n=${e.n}: headers ${msg.headers?.toString()}`);
        }
        const list = this.byUser.get(user);
        if (list) list.push(e);
        else this.byUser.set(user, [e]);
      },
    });
    await nc.flush();
  }
  close(): void {
    this.#sub?.unsubscribe();
  }
  /** Events of one chat a user received, in arrival order. */
  of(user: string, chatId: string): ChatEvent[] {
    return (this.byUser.get(user) ?? []).filter((e) => e.chat === chatId);
  }
  /** The n a user received for a chat, duplicates dropped (by n, as a gateway does), ascending. */
  nsOf(user: string, chatId: string): number[] {
    return [...new Set(this.of(user, chatId).map((e) => e.n))].sort((a, b) => a - b);
  }
}

/**
 * The reference: which n of each chat every user must receive. Folded independently of the
 * fanout's code: a user receives an event when a member just before it or just after it.
 */
function expectedDeliveries(chats: ChatScript[]): Map<string, Map<string, number[]>> {
  const out = new Map<string, Map<string, number[]>>();
  for (const chat of chats) {
    const members = new Set<string>();
    for (const p of chat.published) {
      const before = new Set(members);
      if (p.kind === "chat.created") p.members.forEach((u) => members.add(u));
      else if (p.kind === "member.added") members.add(p.user);
      else if (p.kind === "member.removed") members.delete(p.user);
      for (const u of new Set([...before, ...members])) {
        let perChat = out.get(u);
        if (!perChat) out.set(u, (perChat = new Map()));
        const ns = perChat.get(chat.chatId);
        if (ns) ns.push(p.n);
        else perChat.set(chat.chatId, [p.n]);
      }
    }
  }
  return out;
}

function script(chatId: string): ChatScript {
  return { chatId, kind: "group", creator: "ua", members: new Map(), published: [], seqs: [] };
}

/** A group's life: created with ua and ub; messages; uc added; messages; ub removed; messages. */
function groupStory(chatId: string): ((n: number) => ChatEventPayload)[] {
  const base = (n: number) => ({ chat: chatId, n, ts: 1_700_000_000_000 + n });
  const msg = (from: string) => (n: number) =>
    ({ ...base(n), from, kind: "message.created", id: `m${n}`, body: `hello ${n}` }) as const;
  return [
    (n) => ({ ...base(n), from: "ua", kind: "chat.created", chatKind: "group", title: "g", members: ["ua", "ub"] }),
    msg("ua"),
    msg("ub"),
    msg("ua"),
    (n) => ({ ...base(n), from: "ua", kind: "member.added", user: "uc" }),
    msg("uc"),
    msg("ub"),
    (n) => ({ ...base(n), from: "ua", kind: "member.removed", user: "ub" }),
    msg("ua"),
    msg("uc"),
  ];
}

async function publishStory(js: JetStreamClient, chat: ChatScript): Promise<void> {
  for (const make of groupStory(chat.chatId)) await publishPayload(js, chat, make(chat.published.length + 1));
}

const asEvents = (chat: ChatScript): ChatEvent[] =>
  chat.published.map((p, i) => ({ ...p, seq: chat.seqs[i] }) as ChatEvent);

interface Env {
  server: NatsServer;
  nc: NatsConnection;
  subNc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  store: Store;
  inboxes: Inboxes;
  registry: Registry;
}

async function setUp(name: string): Promise<Env> {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: [server.url], name, logger });
  const subNc = await connectNats({ servers: [server.url], name: `${name}-inboxes`, logger });
  const jsm = await jetstreamManager(nc);
  await ensureChatStream(jsm, { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 120_000 }, logger);
  const store = new SqliteStore({ path: ":memory:" });
  await store.migrate();
  const inboxes = new Inboxes();
  await inboxes.listen(subNc);
  return { server, nc, subNc, js: jetstream(nc), jsm, store, inboxes, registry: new Registry() };
}

async function tearDown(env: Env | undefined, runners: (ConsumerRunner<ChatEvent> | undefined)[]): Promise<void> {
  for (const r of runners) await r?.stop();
  env?.inboxes.close();
  await env?.subNc.close();
  await env?.nc.close();
  await env?.store.close();
  await env?.server.stop();
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

describe("fanout - a group's events reach exactly its members as of each event", () => {
  let env: Env;
  let fanout: ConsumerRunner<ChatEvent> | undefined;
  let history: ConsumerRunner<ChatEvent> | undefined;

  before(async () => {
    env = await setUp("fanout-test");
    fanout = createFanoutConsumer({ ...env, logger, batchSize: 4, runner: fast });
    history = createHistoryConsumer({ ...env, logger, batchSize: 4, runner: fast });
    await fanout.start();
    await history.start();
  });
  after(() => tearDown(env, [fanout, history]));

  test("fanout - created with A,B; C added; B removed: A all, B up to its removal, C from its addition, in n order", async () => {
    const chat = script("fg1");
    await publishStory(env.js, chat);
    const { inboxes } = env;
    await waitFor("ua has all 10 events", () => inboxes.of("ua", "fg1").length >= 10);
    // Every inbox is fed by the same connection, so by now nothing else is on its way.
    await new Promise((r) => setTimeout(r, 200));
    const ns = (u: string) => inboxes.of(u, "fg1").map((e) => e.n);
    assert.deepEqual(ns("ua"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(ns("ub"), [1, 2, 3, 4, 5, 6, 7, 8], "ub gets its own removal (8) and nothing after");
    assert.deepEqual(ns("uc"), [5, 6, 7, 8, 9, 10], "uc gets its own addition (5) and everything after");
    assert.deepEqual(inboxes.byUser.get("ud"), undefined, "a non-member gets nothing");
    assert.deepEqual(inboxes.headerErrors, []);
    // The payload is the full event with its stream seq: exactly what history pages return.
    assert.deepEqual(inboxes.of("ua", "fg1"), asEvents(chat));
    await waitFor(
      "history written",
      async () => (await env.store.getEvents("fg1", { afterN: 0, limit: 100 })).length === 10,
    );
    assert.deepEqual(inboxes.of("uc", "fg1"), await env.store.getEvents("fg1", { afterN: 4, limit: 100 }));

    assert.equal(await counter(env.registry, "natter_fanout_events_total"), 10);
    assert.equal(await counter(env.registry, "natter_fanout_deliveries_total"), 10 + 8 + 6);
    const members = await env.registry.getSingleMetricAsString("natter_fanout_members");
    assert.match(members, /natter_fanout_members_count 10\b/);
    assert.match(members, /natter_fanout_members_sum 24\b/);
  });

  test("fanout - two groups interleaved in the stream keep their own membership", async () => {
    const chats = [script("fg2"), script("fg3")];
    const stories = chats.map((c) => groupStory(c.chatId));
    for (let i = 0; i < stories[0]!.length; i++) {
      await Promise.all(chats.map((c, k) => publishPayload(env.js, c, stories[k]![i]!(i + 1))));
    }
    await waitFor("ua has all events of both", () => chats.every((c) => env.inboxes.of("ua", c.chatId).length >= 10));
    await new Promise((r) => setTimeout(r, 200));
    const want = expectedDeliveries(chats);
    for (const u of ["ua", "ub", "uc"]) {
      for (const c of chats) {
        assert.deepEqual(
          env.inboxes.of(u, c.chatId).map((e) => e.n),
          want.get(u)?.get(c.chatId) ?? [],
          `${u} in ${c.chatId}`,
        );
      }
    }
  });
});

describe("fanout - cold start: membership as of the event, whatever the store holds", () => {
  let env: Env;
  let fanout: ConsumerRunner<ChatEvent> | undefined;

  before(async () => {
    env = await setUp("fanout-cold");
  });
  after(() => tearDown(env, [fanout]));

  test("fanout - consumer created after the events, the stream's early events gone, the store AHEAD (B removed later)", async () => {
    const chat = script("fc1");
    await publishStory(env.js, chat);
    // History has written everything: the store's members are already ua and uc (ub removed at 8).
    await env.store.appendEvents(asEvents(chat));
    await projectEvents(env.store, asEvents(chat));
    assert.deepEqual((await env.store.listMembers("fc1")).map((m) => m.userId).sort(), ["ua", "uc"]);
    // The stream no longer holds events 1..3 (max age): the fanout starts at n = 4.
    await env.jsm.streams.purge(CHAT_STREAM, { filter: chatSubject("fc1"), seq: chat.seqs[3]! });
    fanout = createFanoutConsumer({ ...env, logger, batchSize: 3, runner: fast });
    await fanout.start();
    await waitFor("ua has events 4..10", () => env.inboxes.of("ua", "fc1").length >= 7);
    await new Promise((r) => setTimeout(r, 200));
    const ns = (u: string) => env.inboxes.of(u, "fc1").map((e) => e.n);
    assert.deepEqual(ns("ua"), [4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(ns("ub"), [4, 5, 6, 7, 8], "ub was a member at 4..8 although the store says removed");
    assert.deepEqual(ns("uc"), [5, 6, 7, 8, 9, 10], "uc did not get 4 although the store says member");
    assert.ok((await counter(env.registry, "natter_fanout_membership_loads_total", { reason: "cold" })) >= 1);
    // The next tests drive a Fanout by hand: no durable consumer may deliver their chats.
    await fanout.stop();
    fanout = undefined;
  });

  test("fanout - the store BEHIND (history lagging): events it lacks are read from the stream; a redelivery uses the membership of its own n", async () => {
    const chat = script("fc2");
    await publishStory(env.js, chat);
    const events = asEvents(chat);
    // History has only written events 1..3 (no membership change after creation yet).
    await env.store.appendEvents(events.slice(0, 3));
    const fresh = new Fanout({ nc: env.nc, store: env.store, logger, registry: env.registry });
    await fresh.handle(events.slice(8)); // n = 9, 10: membership as of 8 is ua, uc
    await fresh.handle([events[5]!, events[3]!]); // redeliveries: 6 (ua, ub, uc) and 4 (ua, ub)
    await waitFor("uc has 9, 10, 6", () => env.inboxes.of("uc", "fc2").length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    const ns = (u: string) => env.inboxes.of(u, "fc2").map((e) => e.n);
    assert.deepEqual(ns("ua"), [9, 10, 6, 4]);
    assert.deepEqual(ns("ub"), [6, 4]);
    assert.deepEqual(ns("uc"), [9, 10, 6]);
  });

  test("fanout - an event that is in neither the store nor the stream holds the batch instead of guessing", async () => {
    const chat = script("fc3");
    await publishStory(env.js, chat);
    await env.jsm.streams.purge(CHAT_STREAM, { filter: chatSubject("fc3"), seq: chat.seqs[5]! });
    const fresh = new Fanout({ nc: env.nc, store: env.store, logger, registry: env.registry });
    await assert.rejects(
      fresh.handle(asEvents(chat).slice(6)),
      /fc3: event n=1 is in neither the store nor the stream/,
    );
    assert.deepEqual(env.inboxes.of("ua", "fc3"), []);
  });
});

describe("fanout - consumer killed and replaced mid-stream: every member ends with every event", () => {
  let env: Env;
  const runners: ConsumerRunner<ChatEvent>[] = [];
  const extraConns: NatsConnection[] = [];

  before(async () => {
    env = await setUp("fanout-restart");
  });
  after(async () => {
    await tearDown(env, runners);
    for (const c of extraConns) await c.close().catch(() => {});
  });

  test("fanout - crash (connection dropped, batch unacked), then a graceful stop, each replaced by a fresh instance", async () => {
    const chats = createChats(10, "fk");
    const rand = prng(11);
    const total = 600;
    const history = createHistoryConsumer({ ...env, logger, batchSize: 16, runner: fast });
    runners.push(history);
    await history.start();

    const start = async () => {
      const nc = await connectNats({ servers: [env.server.url], name: "fanout-instance", logger });
      extraConns.push(nc);
      const r = createFanoutConsumer({
        nc,
        store: env.store,
        logger,
        registry: env.registry,
        batchSize: 8,
        runner: { ...fast, ackWaitMs: 1_000 },
      });
      runners.push(r);
      await r.start();
      return { nc, r };
    };

    let current = await start();
    for (let i = 0; i < total; i++) {
      const chat = chats[i % chats.length]!;
      await publishPayload(env.js, chat, nextPayload(chat, rand));
      if (i === 200) {
        // Crash: the connection goes away under the runner, whatever batch it holds is never acked.
        await current.nc.close();
        current = await start();
      } else if (i === 400) {
        await current.r.stop();
        current = await start();
      }
    }

    const want = expectedDeliveries(chats);
    const complete = () =>
      [...want].every(([u, perChat]) =>
        [...perChat].every(([chatId, ns]) => env.inboxes.nsOf(u, chatId).length === ns.length),
      );
    await waitFor("every member has every event", complete, 60_000);
    await waitFor("the fanout consumer has acked everything", async () => {
      const info = await env.jsm.consumers.info(CHAT_STREAM, CONSUMERS.fanout);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    await new Promise((r) => setTimeout(r, 200));

    let duplicates = 0;
    for (const [u, perChat] of want) {
      for (const [chatId, ns] of perChat) {
        assert.deepEqual(
          env.inboxes.nsOf(u, chatId),
          ns,
          `${u} in ${chatId}: exactly its events, after dropping duplicates`,
        );
        duplicates += env.inboxes.of(u, chatId).length - ns.length;
      }
    }
    for (const [u, got] of env.inboxes.byUser) {
      for (const e of got) {
        assert.ok(want.get(u)?.get(e.chat)?.includes(e.n), `${u} must not get ${e.chat} n=${e.n}`);
        const chat = chats.find((c) => c.chatId === e.chat)!;
        assert.equal(e.seq, chat.seqs[e.n - 1], `${e.chat} n=${e.n} carries its stream seq`);
      }
    }
    const kinds = new Set(chats.flatMap((c) => c.published.map((p) => p.kind)));
    assert.deepEqual([...kinds].sort(), ["chat.created", "member.added", "member.removed", "message.created"]);
    // The replacements started with no state: chats already under way were rebuilt from the log.
    assert.ok((await counter(env.registry, "natter_fanout_membership_loads_total", { reason: "cold" })) >= 1);
    assert.deepEqual(env.inboxes.headerErrors, []);
    logger.info({ duplicates }, "duplicates after the restarts (dropped by n by gateways)");
  });
});
