// The NATS permission matrix: every identity of packages/subjects/src/permissions.ts,
// against a real nats-server with TLS that refuses anonymous clients, as `npm start` runs
// it. For each identity, publishes (and JetStream API requests) it must be allowed and
// refused, and subscriptions likewise; then what the refusals protect: no forged event
// reaches the chat stream except through a gateway identity, and the read-only tail reads
// streams and live subjects with the real `nats` CLI but publishes nothing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { AttachmentBucket, connectNats, ensureChatStream } from "@natter/bus";
import { createLogger } from "@natter/config";
import {
  ATTACHMENT_BUCKET,
  ATTACHMENT_STREAM,
  attachmentMetaSubject,
  CHAT_STREAM,
  chatSubject,
  PRESENCE_BUCKET,
} from "@natter/subjects";
import { NATS_IDENTITY_NAMES, type NatsIdentity } from "@natter/subjects/permissions";
import { natsBin, type NatsServer, startNatsCluster, startNatsServer, waitForJetStream } from "@natter/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";

const run = promisify(execFile);
const logger = createLogger("silent", "nats-permissions");

/** One row of the matrix: subjects an identity must be able and unable to publish and subscribe to. */
interface Row {
  pub: string[];
  noPub: string[];
  sub: string[];
  noSub: string[];
}

const chat = chatSubject("d_matrix");
const stream = (op: string, s = CHAT_STREAM) => `$JS.API.STREAM.${op}.${s}`;
const next = (durable: string) => `$JS.API.CONSUMER.MSG.NEXT.${CHAT_STREAM}.${durable}`;
const create = (durable: string) => `$JS.API.CONSUMER.CREATE.${CHAT_STREAM}.${durable}`;
const ack = (durable: string) => `$JS.ACK.${CHAT_STREAM}.${durable}.1.1.1.1.1`;
const kv = `$KV.${PRESENCE_BUCKET}.seen.u_matrix`;
const direct = `$JS.API.DIRECT.GET.${CHAT_STREAM}.${chat}`;
/** Erasing one chat event by seq (a deleted message): the history consumer only, never a gateway. */
const ERASE = `$JS.API.STREAM.MSG.DELETE.${CHAT_STREAM}`;
/** Things no service identity may ever do. */
const DESTRUCTIVE = [
  stream("DELETE"),
  stream("PURGE"),
  stream("CREATE", "ROGUE"),
  `$JS.API.CONSUMER.DELETE.${CHAT_STREAM}.history`,
  `$JS.API.STREAM.DELETE.KV_${PRESENCE_BUCKET}`,
];

/** The attachments bucket: an object's description and chunks, and the calls on its stream. */
const OBJ_META = attachmentMetaSubject("a_matrix");
const OBJ_CHUNK = `$O.${ATTACHMENT_BUCKET}.C.matrix`;
const OBJ_DIRECT = `$JS.API.DIRECT.GET.${ATTACHMENT_STREAM}`;
const OBJ_PURGE = stream("PURGE", ATTACHMENT_STREAM);

const MATRIX: Record<Exclude<NatsIdentity, "admin" | "sys">, Row> = {
  gateway: {
    pub: [
      chat,
      "user.u_1.signal",
      "user.u_1.session",
      "presence.u_1",
      kv,
      stream("INFO"),
      stream("UPDATE"),
      direct,
      // Every durable's info, read-only (back-pressure, the admin API's stream state).
      `$JS.API.CONSUMER.INFO.${CHAT_STREAM}.history`,
      `$JS.API.CONSUMER.INFO.${CHAT_STREAM}.fanout`,
      // Attachments: uploads, claims, reads; the purge of a failed upload's chunks.
      OBJ_META,
      OBJ_CHUNK,
      OBJ_DIRECT,
      OBJ_PURGE,
      stream("CREATE", ATTACHMENT_STREAM),
    ],
    noPub: [
      "user.u_1.inbox",
      stream("DELETE", ATTACHMENT_STREAM),
      next("history"),
      next("fanout"),
      ack("history"),
      create("history"),
      ERASE,
      ...DESTRUCTIVE,
    ],
    sub: ["user.u_1.*", "presence.u_1", "_INBOX.x"],
    noSub: ["chat.*.msg", ">", "$JS.API.>", "$KV.>"],
  },
  history: {
    pub: [stream("INFO"), next("history"), create("history"), ack("history"), ERASE, direct, OBJ_META, OBJ_PURGE],
    noPub: [
      chat,
      "user.u_1.inbox",
      "presence.u_1",
      kv,
      next("fanout"),
      stream("UPDATE"),
      stream("CREATE", ATTACHMENT_STREAM),
      stream("DELETE", ATTACHMENT_STREAM),
      ...DESTRUCTIVE,
    ],
    sub: ["_INBOX.x"],
    noSub: ["chat.*.msg", "user.*.*", ">"],
  },
  fanout: {
    pub: ["user.u_1.inbox", direct, next("fanout"), ack("fanout")],
    noPub: [
      chat,
      "$KV.PUSH.chat.c_1",
      "user.u_1.signal",
      "presence.u_1",
      kv,
      next("history"),
      stream("UPDATE"),
      ERASE,
      OBJ_META,
      OBJ_CHUNK,
      OBJ_DIRECT,
      OBJ_PURGE,
      ...DESTRUCTIVE,
    ],
    sub: ["_INBOX.x"],
    noSub: ["chat.*.msg", "user.*.*", ">"],
  },
  push: {
    // Its durable and stream reads only: it publishes nothing on NATS (pushes go over HTTPS).
    // Its durable, the chat stream's reads, its cursors (the PUSH bucket).
    pub: [
      direct,
      stream("INFO"),
      next("push"),
      create("push"),
      ack("push"),
      "$KV.PUSH.chat.c_1",
      "$JS.API.STREAM.CREATE.KV_PUSH",
    ],
    noPub: [
      chat,
      "user.u_1.inbox",
      "user.u_1.signal",
      "presence.u_1",
      kv,
      next("history"),
      next("fanout"),
      ack("fanout"),
      stream("UPDATE"),
      ERASE,
      OBJ_META,
      OBJ_DIRECT,
      ...DESTRUCTIVE,
    ],
    sub: ["_INBOX.x"],
    noSub: ["chat.*.msg", "user.*.*", ">"],
  },
  consumers: {
    pub: ["user.u_1.inbox", next("history"), next("fanout"), next("push"), ERASE],
    noPub: [chat, "presence.u_1", kv, stream("UPDATE"), ...DESTRUCTIVE],
    sub: ["_INBOX.x"],
    noSub: ["chat.*.msg", ">"],
  },
  natter: {
    pub: [chat, "user.u_1.inbox", "user.u_1.signal", kv, next("history"), next("fanout"), next("push"), ERASE],
    noPub: DESTRUCTIVE,
    sub: ["user.u_1.*", "presence.u_1", "_INBOX.x"],
    noSub: ["chat.*.msg", ">"],
  },
  leaf: {
    pub: ["$JS.hub.API.CONSUMER.CREATE.CHATS", "$JS.S.x", "user.u_1.signal", "user.u_1.inbox", "edge.hub.call"],
    noPub: [
      chat,
      "edge.s1.call",
      "$JS.hub.API.STREAM.DELETE.CHATS",
      "$JS.hub.API.STREAM.PURGE.CHATS",
      "$JS.hub.API.DIRECT.GET.CHATS",
      "presence.u_1",
      kv,
      ...DESTRUCTIVE,
    ],
    sub: ["user.u_1.*", "$JS.M.x", "$JS.s1.API.CONSUMER.CREATE.CHATS", "_INBOX.x"],
    noSub: ["chat.*.msg", ">", "$JS.API.>", "$JS.s1.API.STREAM.DELETE.CHATS", "presence.u_1"],
  },
  tail: {
    pub: [
      "$JS.API.INFO",
      "$JS.API.STREAM.LIST",
      stream("INFO"),
      direct,
      `$JS.API.CONSUMER.INFO.${CHAT_STREAM}.history`,
      `$JS.API.CONSUMER.CREATE.${CHAT_STREAM}.tail_1.chat.*.msg`,
    ],
    noPub: [
      chat,
      "user.u_1.inbox",
      "user.u_1.signal",
      "user.u_1.session",
      "presence.u_1",
      kv,
      "_INBOX.x",
      stream("UPDATE"),
      create("history"),
      `${create("fanout")}.chat.*.msg`,
      next("history"),
      ack("history"),
      "$JS.API.CONSUMER.DURABLE.CREATE.CHATS.x",
      ERASE,
      OBJ_META,
      OBJ_CHUNK,
      OBJ_PURGE,
      ...DESTRUCTIVE,
    ],
    sub: ["chat.*.msg", "user.*.*", "presence.*", "_INBOX.x"],
    noSub: [">", "$JS.API.>", "$JS.ACK.>"],
  },
};

/**
 * True when the server refuses `nc`'s publish to `subject`, false when it lets it through.
 * A request tells them apart: a refusal surfaces as a permission violation, a message let
 * through gets an answer or "no responders"; silence would mean neither, and fails.
 */
async function publishRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  try {
    await nc.request(subject, "{}", { timeout: 2000 });
    return false;
  } catch (err) {
    const e = err as { name?: string; cause?: { name?: string }; message?: string };
    if (e.name === "PermissionViolationError" || e.cause?.name === "PermissionViolationError") return true;
    if (/no responders/i.test(e.message ?? "")) return false;
    throw new Error(`publish to ${subject}: neither refused nor answered`, { cause: err });
  }
}

/** True when the server refuses the subscription (it closes it with a permission error). */
async function subscribeRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  const closed = await Promise.race([sub.closed.then((e) => e ?? "closed"), delay(200).then(() => undefined)]);
  if (!sub.isClosed()) sub.unsubscribe();
  return closed instanceof Error && closed.name === "PermissionViolationError";
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The first message on `sub`, calling `again` each `everyMs` until one arrives (up to 20
 * tries): never an unbounded wait, which would hold the test file open past its timeout.
 */
async function firstWithin(sub: Subscription, everyMs: number, again: () => Promise<unknown>): Promise<string> {
  const it = sub[Symbol.asyncIterator]();
  const pending = it.next();
  for (let i = 0; i < 20; i++) {
    const r = await Promise.race([pending, delay(everyMs).then(() => undefined)]);
    if (r && !r.done) return r.value.string();
    if (r?.done) break;
    await again();
  }
  throw new Error(`no message on ${sub.getSubject()} after ${20 * everyMs} ms`);
}

describe("NATS permissions - every identity on a TLS server that refuses anonymous clients", () => {
  let server: NatsServer;
  const conns = new Map<NatsIdentity, NatsConnection>();
  const as = (who: NatsIdentity) => conns.get(who)!;

  before(async () => {
    server = await startNatsServer({ anonymous: false, tls: true, expectViolations: true });
    for (const who of NATS_IDENTITY_NAMES) {
      conns.set(who, await connectNats({ servers: [server.url], name: who, logger, access: server.access(who) }));
    }
    // The gateway creates what it owns, as at start-up: the chat stream and the presence bucket.
    const gw = as("gateway");
    await ensureChatStream(
      await jetstreamManager(gw),
      { replicas: 1, maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 },
      logger,
    );
    await new Kvm(gw).create(PRESENCE_BUCKET, { history: 1, markerTTL: 30_000, storage: "file" });
  });
  after(async () => {
    for (const nc of conns.values()) await nc.close();
    await server?.stop();
  });

  test("a client without credentials is refused, and so is one without TLS", async () => {
    await assert.rejects(connect({ servers: server.url, tls: { caFile: server.tlsCa! } }), /Authorization/i);
    // The right password, but no CA to verify the server with: no plain-text fallback.
    await assert.rejects(connect({ servers: server.url, user: "admin", pass: server.identities.admin.password }));
    await assert.rejects(
      connectNats({
        servers: [server.url],
        name: "wrong-password",
        logger,
        access: { natsUser: "admin", natsPassword: "wrong", natsTlsCa: server.tlsCa! },
      }),
      /Authorization/i,
    );
  });

  for (const [who, row] of Object.entries(MATRIX) as [keyof typeof MATRIX, Row][]) {
    test(`${who}: allowed and refused publishes and subscriptions`, async () => {
      const nc = as(who);
      for (const s of row.pub) assert.equal(await publishRefused(nc, s), false, `${who} may publish to ${s}`);
      for (const s of row.noPub) assert.equal(await publishRefused(nc, s), true, `${who} may not publish to ${s}`);
      for (const s of row.sub) assert.equal(await subscribeRefused(nc, s), false, `${who} may subscribe to ${s}`);
      for (const s of row.noSub) assert.equal(await subscribeRefused(nc, s), true, `${who} may not subscribe to ${s}`);
      assert.equal(nc.isClosed(), false, "refusals do not cost the connection");
    });
  }

  test("admin may do anything in the Natter account; sys reaches the servers, not the Natter account", async () => {
    const jsm = await jetstreamManager(as("admin"));
    await jsm.streams.add({ name: "SCRATCH", subjects: ["scratch.>"] });
    assert.equal(await jsm.streams.delete("SCRATCH"), true);
    assert.equal(await subscribeRefused(as("admin"), ">"), false);
    const ping = await as("sys").request("$SYS.REQ.SERVER.PING", "", { timeout: 2000 });
    assert.match(ping.string(), /"server"/);
    // The system account has no JetStream of Natter's: a publish there lands nowhere near CHATS.
    const before = (await jsm.streams.info(CHAT_STREAM)).state.messages;
    as("sys").publish(chat, "{}");
    await as("sys").flush();
    assert.equal((await jsm.streams.info(CHAT_STREAM)).state.messages, before);
  });

  test("a forged event reaches the chat stream only through a gateway identity", async () => {
    const jsm = await jetstreamManager(as("admin"));
    const count = async () => (await jsm.streams.info(CHAT_STREAM)).state.messages;
    const start = await count();
    const forged = JSON.stringify({
      chat: "d_matrix",
      n: 1,
      ts: 1,
      from: "u_mallory",
      kind: "member.added",
      user: "u_mallory",
    });
    for (const who of ["history", "fanout", "consumers", "tail", "sys"] as const) {
      await assert.rejects(jetstream(as(who)).publish(chat, forged, { timeout: 1500 }), `${who} publishes to ${chat}`);
      as(who).publish(chat, forged);
      await as(who).flush();
    }
    assert.equal(await count(), start, "nothing reached CHATS");
    const ack = await jetstream(as("gateway")).publish(chat, forged);
    assert.equal(ack.stream, CHAT_STREAM);
    assert.equal(await count(), start + 1);
  });

  test("the read-only tail, with the nats CLI: reads the stream and live events, publishes nothing", async () => {
    const bin = path.join(natsBin(), "nats");
    const cli = (...args: string[]) => run(bin, [...server.cliArgs("tail"), ...args], { timeout: 15_000 });

    assert.match((await cli("stream", "ls", "--names")).stdout, /CHATS/);
    // The stored events, through an ordered consumer the tail may create.
    // (Every stored message: earlier tests' publishes sit before the forged event.)
    const held = (await (await jetstreamManager(as("admin"))).streams.info(CHAT_STREAM)).state.messages;
    const stored = await cli("sub", "--stream", CHAT_STREAM, "--all", "chat.*.msg", "--count", String(held), "--raw");
    assert.match(stored.stdout, /u_mallory/);
    await as("gateway").request(`$KV.${PRESENCE_BUCKET}.seen.u_tail`, JSON.stringify({ lastSeen: 1 }));
    assert.match((await cli("kv", "get", PRESENCE_BUCKET, "seen.u_tail", "--raw")).stdout, /lastSeen/);

    // Live events on the core subject, as README's `nats --context natter-tail sub 'chat.*.msg'`.
    // (Published until the CLI's subscription, which starts at its own pace, has one.)
    const live = cli("sub", "chat.*.msg", "--count", "1", "--raw");
    let heard = false;
    void live.finally(() => (heard = true)).catch(() => {});
    for (let i = 0; i < 20 && !heard; i++) {
      await delay(500);
      if (!heard) await jetstream(as("gateway")).publish(chat, JSON.stringify({ live: "yes" }));
    }
    assert.match((await live).stdout, /"live":"yes"/);

    // Core publishes: the refusal reaches the CLI asynchronously and it may exit first, so
    // what counts is that nothing arrives (an admin listens) and the stream did not grow.
    const jsmAdmin = await jetstreamManager(as("admin"));
    const before = (await jsmAdmin.streams.info(CHAT_STREAM)).state.last_seq;
    const arrived: string[] = [];
    const listen = as("admin").subscribe("presence.u_1", { callback: (_e, m) => void arrived.push(m.subject) });
    const listenInbox = as("admin").subscribe("user.u_1.inbox", { callback: (_e, m) => void arrived.push(m.subject) });
    await as("admin").flush();
    for (const subject of [chat, "presence.u_1", "user.u_1.inbox"]) {
      await cli("--timeout", "1s", "pub", subject, "forged").catch(() => {});
    }
    await delay(500);
    listen.unsubscribe();
    listenInbox.unsubscribe();
    assert.deepEqual(arrived, [], "no forged core message arrived");
    assert.equal(
      (await jsmAdmin.streams.info(CHAT_STREAM)).state.last_seq,
      before,
      "nothing forged reached the stream",
    );

    // JetStream and KV calls wait for their answer: refused, they fail or say why.
    for (const args of [
      ["stream", "add", "ROGUE", "--subjects", "rogue.>", "--defaults"],
      ["stream", "rm", CHAT_STREAM, "-f"],
      ["kv", "put", PRESENCE_BUCKET, "seen.u_1", "forged"],
    ]) {
      const res = await cli("--timeout", "1s", ...args).then(
        (r) => ({ ok: true, out: r.stdout + r.stderr }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
      );
      assert.ok(!res.ok || /Permissions Violation/i.test(res.out), `nats ${args.join(" ")} refused:\n${res.out}`);
    }
    const jsm = await jetstreamManager(as("admin"));
    assert.equal((await jsm.streams.names().next()).includes("ROGUE"), false);
  });
  test("attachments: the gateway identity uploads, reads and claims; history sweeps and purges; fanout reads nothing", async () => {
    await AttachmentBucket.ensure(await jetstreamManager(as("gateway")), { replicas: 1 }, logger);
    const on = async (who: NatsIdentity) => {
      const nc = as(who);
      return new AttachmentBucket(jetstream(nc), await jetstreamManager(nc), { timeoutMs: 1500 });
    };
    const gw = await on("gateway");
    const bytes = new Uint8Array(300_000).fill(7);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    });
    const a = await gw.put(
      { attachmentId: "a_perm", chat: "g_p", uploader: "u_p", name: "x.bin", contentType: "x/y" },
      body,
    );
    let read = 0;
    for await (const part of gw.read(a)) read += part.length;
    assert.equal(read, bytes.length);
    const claimed = await gw.claim(a, "g_p:u_p:m1");
    await gw.release(claimed);
    // A failed upload's chunks are purged by the gateway itself (nothing kept).
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error("cut short"));
      },
    });
    await assert.rejects(
      gw.put({ attachmentId: "a_perm2", chat: "g_p", uploader: "u_p", name: "y", contentType: "x/y" }, failing),
      /cut short/,
    );
    const fanout = await on("fanout");
    await assert.rejects(fanout.get("a_perm"), "fanout reads no attachment");
    const history = await on("history");
    const listed = [];
    for await (const x of history.list()) listed.push(x.attachmentId);
    assert.deepEqual(listed, ["a_perm"]);
    assert.equal(await history.purgeIfUnchanged((await history.get("a_perm"))!), true);
    assert.equal(await history.get("a_perm"), undefined);
  });
});

describe("NATS permissions - a 3-node cluster with TLS on clients and routes", () => {
  let servers: NatsServer[];
  after(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()));
  });

  test("routes verify each other's certificates; the gateway identity runs an R3 chat stream", async () => {
    servers = await startNatsCluster(3, { anonymous: false, tls: true, expectViolations: true });
    const access = servers[0]!.access("gateway");
    const gw = await connectNats({ servers: servers.map((s) => s.url), name: "gw", logger, access });
    const tail = await connectNats({
      servers: [servers[2]!.url],
      name: "tail",
      logger,
      access: servers[2]!.access("tail"),
    });
    try {
      // JetStream answers once the routes are up and the meta leader is elected.
      const jsm = await waitForJetStream(() => jetstreamManager(gw));
      await waitForJetStream(() =>
        ensureChatStream(jsm, { replicas: 3, maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 }, logger),
      );
      // The tail's interest reaches the other nodes over the routes a moment after its own
      // server has it: publish until a live event arrives, each wait bounded.
      const live = tail.subscribe("chat.*.msg");
      await tail.flush();
      let ack = await jetstream(gw).publish(chat, JSON.stringify({ over: "routes" }));
      const got = await firstWithin(live, 1000, async () => {
        ack = await jetstream(gw).publish(chat, JSON.stringify({ over: "routes" }));
      });
      live.unsubscribe();
      assert.match(got, /routes/);
      const info = await jsm.streams.info(CHAT_STREAM);
      assert.equal(info.config.num_replicas, 3);
      assert.equal((info.cluster?.replicas ?? []).length, 2);
      assert.ok(ack.seq >= 1);
      assert.equal(await publishRefused(tail, chat), true);
    } finally {
      await gw.close();
      await tail.close();
    }
  });
});
