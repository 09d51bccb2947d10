import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { PushNotification } from "@natter/protocol";
import { CONSUMERS } from "@natter/subjects";
import {
  type ConsumersProc,
  consumerCaughtUp,
  stackSuite,
  startConsumers,
  startTestPushService,
  type TestPushService,
  testVapidKeys,
} from "@natter/testkit";
import { Api } from "./http-client.ts";

// The push consumer killed with SIGKILL mid-burst (issue 20, acceptance): its first push
// reaches the push service, which kills the consumer before answering, so the consumer
// never learns it landed and never acks; the burst goes on while it is dead; a new process
// on the same durable takes over. Every message must be covered by a notification (none
// lost), and a notification delivered twice must carry the same id and the same content.

const vapid = testVapidKeys();
const BURST = 12;
const SPACING_MS = 250;

describe("push crash", () => {
  const live = stackSuite({ store: "sqlite", env: { NATTER_PUSH_VAPID_PUBLIC_KEY: vapid.publicKey } }, "SIGKILL");
  let service: TestPushService;
  const procs: ConsumersProc[] = [];
  const startPush = async () => {
    const p = await startConsumers(
      live.stack.nats.url,
      {
        ...live.stack.env,
        NATTER_CONSUMERS: "push",
        NATTER_PUSH_VAPID_PRIVATE_KEY: vapid.privateKey,
        NATTER_PUSH_CA_FILE: service.caFile,
        // Shorter than the default, so a 3 s burst spans several collapse windows.
        NATTER_PUSH_GRACE: "1s",
      },
      `push-${procs.length + 1}`,
    );
    procs.push(p);
    return p;
  };

  before(async () => {
    service = await startTestPushService({ vapidKey: vapid.publicKey });
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await service?.close();
  });

  /** Every event in the stream handled and acked by the push consumer: each decision about them made. */
  const pushCaughtUp = (timeoutMs = 30_000) => consumerCaughtUp(live.stack.nats.url, CONSUMERS.push, timeoutMs);

  test("push crash - SIGKILL mid-burst and a restart: no notification lost, repeats carry the same id", async () => {
    const ana = await new Api(live.g1.url).signup("crash_ana");
    const ben = await new Api(live.g1.url).signup("crash_ben");
    const created = await ana.call("POST", "/v1/chats", { kind: "group", title: "crash", members: [ben.userId] });
    assert.equal(created.status, 201);
    const chat = created.body.chatId as string;
    const sub = service.subscribe();
    assert.equal(
      (await ben.call("POST", "/v1/push/subscriptions", { endpoint: sub.endpoint, keys: sub.keys })).status,
      201,
    );
    const first = await startPush();
    await pushCaughtUp(30_000);

    // The first push lands, then its sender dies before hearing so.
    let killed: Promise<void> | undefined;
    service.beforeAnswer = async () => {
      service.beforeAnswer = undefined;
      killed = first.kill("SIGKILL");
      await killed;
    };
    const ns: number[] = [];
    for (let i = 1; i <= BURST; i++) {
      const r = await ana.call("POST", `/v1/chats/${chat}/messages`, { id: `crash${i}`, body: `burst ${i}` });
      assert.equal(r.status, 201);
      ns.push(r.body.n as number);
      await new Promise((r) => setTimeout(r, SPACING_MS));
    }
    assert.ok(killed, "the consumer was killed during the burst (its first push came before the burst ended)");
    await killed;
    assert.equal(first.child.signalCode, "SIGKILL");
    const killedAt = service.received.length;
    assert.ok(killedAt >= 1 && killedAt < 4, `killed at its first push (${killedAt} received)`);

    await startPush();
    // The unacked batch is redelivered after its ack wait (10 s).
    await pushCaughtUp(60_000);

    const notes = service.received.filter((p) => p.subscriptionId === sub.id).map((p) => p.notification);
    const byId = new Map<string, PushNotification[]>();
    for (const n of notes) byId.set(n.notificationId, [...(byId.get(n.notificationId) ?? []), n]);
    // Repeats: the same id, the same content.
    for (const [id, same] of byId) for (const n of same) assert.deepEqual(n, same[0], `repeat of ${id}`);
    assert.ok(
      (byId.get(notes[0]!.notificationId)?.length ?? 0) >= 2,
      "the push the killed consumer never heard of went out again, under the same id",
    );
    // None lost, none counted twice: the distinct notifications cover the burst exactly once.
    const covered = [...byId.values()].flatMap(([n]) =>
      Array.from({ length: n!.count }, (_, i) => n!.n - n!.count + 1 + i),
    );
    assert.deepEqual(
      covered.sort((a, b) => a - b),
      ns,
    );
    assert.ok(byId.size >= 2, `a 3 s burst spans several windows of 1 s (${byId.size})`);
    assert.deepEqual(service.refused, []);
  });
});
