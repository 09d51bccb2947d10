import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { SqliteStore } from "@natter/store";
import { CONSUMERS } from "@natter/subjects";
import {
  type ConsumersProc,
  consumerCaughtUp,
  stackSuite,
  startConsumers,
  startTestPushService,
  startTestWebhookReceiver,
  type TestPushService,
  type TestSubscription,
  type TestWebhookReceiver,
  testVapidKeys,
  verifyWebhookSignature,
  WsClient,
} from "@natter/testkit";
import { Api } from "./http-client.ts";

// Push (issue 20) over real processes: a gateway and the history and fanout consumers
// (the stack), the `push` consumer in a process of its own, a real nats-server, SQLite, a
// local HTTPS push service that checks VAPID and decrypts every payload with the
// browser's keys (the testkit's), and a webhook receiver that checks the signature.
// Subscriptions go through the gateway's route, as a browser's would.

const vapid = testVapidKeys();
const WEBHOOK_SECRET = "webhook-secret-webhook-secret-0123456789";
/** The default grace: a connected device's ack (the test's, within milliseconds) lands well inside it. */
const GRACE = "3s";

describe("push", () => {
  const live = stackSuite({ store: "sqlite", env: { NATTER_PUSH_VAPID_PUBLIC_KEY: vapid.publicKey } });
  let service: TestPushService;
  let hooks: TestWebhookReceiver;
  let push: ConsumersProc;
  let handles = 0;

  before(async () => {
    service = await startTestPushService({ vapidKey: vapid.publicKey });
    hooks = await startTestWebhookReceiver(WEBHOOK_SECRET);
    push = await startConsumers(
      live.stack.nats.url,
      {
        ...live.stack.env,
        NATTER_CONSUMERS: "push",
        NATTER_PUSH_VAPID_PRIVATE_KEY: vapid.privateKey,
        NATTER_PUSH_CA_FILE: service.caFile,
        NATTER_PUSH_GRACE: GRACE,
        NATTER_PUSH_WEBHOOK_URL: hooks.url,
        NATTER_PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      "push",
    );
  });
  after(async () => {
    await push?.kill();
    await service?.close();
    await hooks?.close();
  });

  const user = async (name: string) => new Api(live.g1.url).signup(`push_${name}_${++handles}`);
  /** The browser of `api`'s device: subscribed on the test push service, through the gateway. */
  async function subscribe(api: Api): Promise<TestSubscription & { subscriptionId: string }> {
    const sub = service.subscribe();
    const r = await api.call("POST", "/v1/push/subscriptions", { endpoint: sub.endpoint, keys: sub.keys });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return { ...sub, subscriptionId: r.body.subscriptionId };
  }
  async function group(owner: Api, others: Api[]): Promise<string> {
    const r = await owner.call("POST", "/v1/chats", {
      kind: "group",
      title: "push",
      members: others.map((o) => o.userId),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.chatId;
  }
  async function send(api: Api, chat: string, body: string): Promise<number> {
    const r = await api.call("POST", `/v1/chats/${chat}/messages`, { id: `m${++handles}`, body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.n;
  }
  /** Every event in the stream handled and acked by the push consumer: each decision about them made. */
  const pushCaughtUp = (timeoutMs = 30_000) => consumerCaughtUp(live.stack.nats.url, CONSUMERS.push, timeoutMs);
  const pushesTo = (sub: TestSubscription) => service.received.filter((p) => p.subscriptionId === sub.id);
  async function metric(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${push.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`) || l === `${name} ${l.split(" ")[1]}`);
    return line ? Number(line.split(" ").at(-1)) : 0;
  }

  test("push - a burst of 5 to an offline member is one push (count 5, chat, sender, preview); a connected device that acks gets none; a muted chat none; a webhook signed", async () => {
    const [ana, ben, cal, dee] = [await user("ana"), await user("ben"), await user("cal"), await user("dee")];
    const chat = await group(ana, [ben, cal, dee]);
    const [benSub, calSub, deeSub] = [await subscribe(ben), await subscribe(cal), await subscribe(dee)];
    const muted = await dee.call("PUT", `/v1/chats/${chat}/settings`, { muted: true });
    assert.deepEqual(muted, { status: 200, body: { muted: true } });
    // Cal's phone is connected: it gets the live events and acks them, as the SDK does.
    const phone = live.closing(await WsClient.connect(live.g1.url, cal.token!, { name: "cal-phone" }));
    await pushCaughtUp();
    const before = { sent: service.received.length, hooks: hooks.received.length };

    const ns: number[] = [];
    for (let i = 1; i <= 5; i++) ns.push(await send(ana, chat, `message ${i} from ana`));
    await phone.until(() => phone.ns(chat).includes(ns.at(-1)!), 5_000, "cal's phone has the burst");
    phone.send({ type: "ack", chat, n: ns.at(-1)! });

    const [got] = (await service.waitFor(before.sent + 1, 20_000)).slice(before.sent);
    await pushCaughtUp();
    assert.equal(got!.subscriptionId, benSub.id, "the push is Ben's");
    assert.deepEqual(got!.notification, {
      notificationId: `${chat}:${ns[0]}-${ns.at(-1)}`,
      chat,
      from: ana.userId,
      fromName: (await ana.call("GET", "/v1/me")).body.displayName,
      n: ns.at(-1),
      count: 5,
      preview: "message 5 from ana",
    });
    assert.equal(got!.urgency, "high");
    assert.equal(got!.ttl, 24 * 3600, "NATTER_PUSH_TTL's default, a day");
    assert.match(got!.topic ?? "", /^[A-Za-z0-9_-]{1,32}$/, "a topic per chat");
    assert.equal(got!.vapidKey, vapid.publicKey);
    assert.equal(got!.jwt.aud, service.origin);
    assert.deepEqual(pushesTo(benSub).length, 1, "exactly one push for the burst");
    assert.deepEqual(pushesTo(calSub), [], "Cal's device acked within the grace");
    assert.deepEqual(pushesTo(deeSub), [], "Dee muted the chat");
    assert.deepEqual(service.refused, [], "every push had a valid VAPID token and decrypted");
    assert.equal(await metric("natter_push_collapsed_total", ""), 4);
    assert.equal(await metric("natter_push_skipped_total", 'reason="acked"'), 1, "Cal, decided");
    assert.equal(await metric("natter_push_skipped_total", 'reason="muted"'), 1, "Dee, decided");

    // The webhook: Ben's notification with his id (the operator's bridge pushes to every user it knows).
    const hook = (await hooks.waitFor(before.hooks + 1, 20_000)).slice(before.hooks);
    assert.deepEqual(
      hook.map((h) => h.body),
      [{ ...got!.notification, userId: ben.userId }],
    );
    assert.equal(hook[0]!.verified, true, "signed with the secret");
    assert.match(hook[0]!.signature!, /^t=\d+,v1=[0-9a-f]{64}$/);
    // A bad signature is detectable: another body, another secret, a forged header.
    assert.equal(verifyWebhookSignature(hook[0]!.signature, hook[0]!.raw.replace("5", "6"), WEBHOOK_SECRET), false);
    assert.equal(verifyWebhookSignature(hook[0]!.signature, hook[0]!.raw, `${WEBHOOK_SECRET}x`), false);
    assert.equal(verifyWebhookSignature(`t=1,v1=${"0".repeat(64)}`, hook[0]!.raw, WEBHOOK_SECRET), false);
  });

  test("push - a message deleted within the grace is never pushed", async () => {
    const [ana, ben] = [await user("ana"), await user("ben")];
    const chat = await group(ana, [ben]);
    const benSub = await subscribe(ben);
    await pushCaughtUp();
    const n = await send(ana, chat, "oops, wrong chat");
    const del = await ana.call("DELETE", `/v1/chats/${chat}/messages/${n}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await pushCaughtUp();
    assert.deepEqual(pushesTo(benSub), []);
    assert.ok(
      hooks.received.every((h) => h.body.chat !== chat),
      "nor to the webhook",
    );
    assert.ok((await metric("natter_push_skipped_total", 'reason="deleted"')) >= 1);
    // And the next message is pushed as usual (the chat is not stuck).
    const next = await send(ana, chat, "the right one");
    await pushCaughtUp();
    assert.deepEqual(
      pushesTo(benSub).map((p) => [p.notification.n, p.notification.count, p.notification.preview]),
      [[next, 1, "the right one"]],
    );
  });

  test("push - a 410 from the push service removes the subscription; logging out removes the device's; one left behind for an ended session is removed unsent", async () => {
    const [ana, ben, cal] = [await user("ana"), await user("ben"), await user("cal")];
    const chat = await group(ana, [ben, cal]);
    const benSub = await subscribe(ben);
    service.answer(benSub.id, 410);
    const rows = (userId: string) => {
      const db = new DatabaseSync(live.stack.env.NATTER_SQLITE_PATH!, { readOnly: true, timeout: 5000 });
      try {
        return db.prepare("SELECT * FROM push_subscriptions WHERE user_id = ?").all(userId) as Record<
          string,
          unknown
        >[];
      } finally {
        db.close();
      }
    };
    // Cal logs out after subscribing: the subscription was bound to that session and goes with it.
    const calSub = await subscribe(cal);
    const [calRow] = rows(cal.userId);
    assert.equal(calRow?.endpoint, calSub.endpoint);
    assert.equal((await cal.call("POST", "/v1/auth/logout")).status, 204);
    assert.deepEqual(rows(cal.userId), [], "removed at logout");
    // A row for the ended session left behind (as a store write that failed at logout would
    // leave it): the push consumer checks the session before it sends, and removes it.
    const writer = new SqliteStore({ path: live.stack.env.NATTER_SQLITE_PATH! });
    try {
      await writer.putPushSubscription({
        userId: cal.userId,
        subscriptionId: String(calRow!.subscription_id),
        deviceId: String(calRow!.device_id),
        endpoint: calSub.endpoint,
        p256dh: calSub.keys.p256dh,
        auth: calSub.keys.auth,
        createdAt: Date.now(),
      });
    } finally {
      await writer.close();
    }
    await pushCaughtUp();
    await send(ana, chat, "anyone there?");
    await pushCaughtUp();
    assert.deepEqual(pushesTo(calSub), []);
    assert.ok(service.refused.some((r) => r.subscriptionId === benSub.id && r.status === 410));
    assert.deepEqual(rows(ben.userId), [], "gone: removed");
    assert.deepEqual(rows(cal.userId), [], "an ended session's: removed");
    assert.equal(await metric("natter_push_subscriptions_removed_total", 'reason="gone"'), 1);
    assert.equal(await metric("natter_push_subscriptions_removed_total", 'reason="session"'), 1);
  });

  test("push - the webhook is retried with back-off after 503s; a 400 is a dead letter, counted", async () => {
    const [ana, ben] = [await user("ana"), await user("ben")];
    const chat = await group(ana, [ben]);
    await pushCaughtUp();
    const attempts = hooks.attempts;
    const received = hooks.received.length;
    hooks.fail(503, 2);
    const n = await send(ana, chat, "third time lucky");
    await pushCaughtUp();
    const got = hooks.received.slice(received);
    assert.deepEqual(
      got.map((h) => [h.body.userId, h.body.n, h.verified]),
      [[ben.userId, n, true]],
    );
    assert.equal(hooks.attempts - attempts, 3, "two refusals, then the delivery");

    const dead = await metric("natter_push_failed_total", 'channel="webhook"');
    hooks.fail(400, 1);
    await send(ana, chat, "refused");
    await pushCaughtUp();
    assert.equal(hooks.received.length, received + 1, "nothing more arrived");
    assert.equal(await metric("natter_push_failed_total", 'channel="webhook"'), dead + 1);
  });
});
