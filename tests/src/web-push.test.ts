// The web client's push (issue 20) in Chromium: a real stack (SQLite), the push consumer
// in a process of its own, the testkit's local HTTPS push service, and Debian's Chromium
// driven by playwright-core. The user turns "Notifications" on: the app registers its
// service worker and subscribes with the deployment's VAPID key. Chromium's own push
// service (FCM) is on the internet, so the page's `PushManager.subscribe` is replaced,
// before the app loads, by one that answers the test push service's subscription (the
// testkit's documented way: `TestPushService.subscribe()` is the browser's side). The push
// consumer's push arrives there, is decrypted with the browser's keys, and is handed to
// the real service worker with CDP's `ServiceWorker.deliverPushMessage`: the notification
// it shows is what the user would see.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CONSUMERS } from "@natter/subjects";
import {
  type ConsumersProc,
  consumerCaughtUp,
  LIFTED_RATE_LIMITS,
  repoRoot,
  type Stack,
  startConsumers,
  startStack,
  startTestPushService,
  type TestPushService,
  testVapidKeys,
} from "@natter/testkit";
import { type Browser, chromium } from "playwright-core";
import { Api } from "./http-client.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip =
  !existsSync(CHROMIUM) && process.env.CI !== "true"
    ? `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test`
    : false;
const vapid = testVapidKeys();

describe("web client push in Chromium", { skip }, () => {
  let stack: Stack;
  let push: ConsumersProc;
  let service: TestPushService;
  let browser: Browser;

  before(async () => {
    const build = spawnSync(process.execPath, [path.join(repoRoot, "packages/web/build.ts"), "--no-check"], {
      encoding: "utf8",
    });
    assert.equal(build.status, 0, `build:web failed:\n${build.stdout}\n${build.stderr}`);
    stack = await startStack({ env: { NATTER_PUSH_VAPID_PUBLIC_KEY: vapid.publicKey, ...LIFTED_RATE_LIMITS } });
    service = await startTestPushService({ vapidKey: vapid.publicKey });
    push = await startConsumers(
      stack.nats.url,
      {
        ...stack.env,
        NATTER_CONSUMERS: "push",
        NATTER_PUSH_VAPID_PRIVATE_KEY: vapid.privateKey,
        NATTER_PUSH_CA_FILE: service.caFile,
        NATTER_PUSH_GRACE: "1s",
      },
      "push",
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await push?.kill();
    await service?.close();
    await stack?.stop();
  });

  test("web push - the switch subscribes through the service worker; a push shows a notification; a #chat= link opens the chat; Mute stops pushes", async () => {
    const gw = stack.gateways[0]!.url;
    const caughtUp = () => consumerCaughtUp(stack.nats.url, CONSUMERS.push, 30_000);
    const ana = await new Api(gw).signup("wp_ana");
    const sub = service.subscribe();
    const ctx = await browser.newContext();
    await ctx.grantPermissions(["notifications"], { origin: gw });
    // The browser's push service, replaced: subscribe() answers the test service's
    // subscription and records the applicationServerKey it was given.
    await ctx.addInitScript(`{
      const sub = ${JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys })};
      const fake = { endpoint: sub.endpoint, expirationTime: null, toJSON: () => ({ ...sub, expirationTime: null }),
        unsubscribe: async () => { localStorage.setItem("test:unsubscribed", "1"); return true; } };
      PushManager.prototype.subscribe = async function (opts) {
        const key = new Uint8Array(opts.applicationServerKey);
        localStorage.setItem("test:serverKey", btoa(String.fromCharCode(...key)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, ""));
        localStorage.setItem("test:subscribed", "1");
        return fake;
      };
      PushManager.prototype.getSubscription = async function () {
        return localStorage.getItem("test:subscribed") ? fake : null;
      };
    }`);
    let page = await ctx.newPage();
    page.on("pageerror", (err) => console.error("[ben] page error:", err));
    await page.goto(gw);
    await page.locator("#signup-handle").fill("wp_ben");
    await page.locator("#signup-name").fill("Ben");
    await page.locator("#signup-password").fill("password-123");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.locator("#new-chat").waitFor();
    const ben = (await ana.call("GET", "/v1/users?handle=wp_ben")).body.userId as string;

    // Notifications on: the service worker registered, the subscription made with the deployment's key and sent.
    await page.locator("#push-switch").check();
    await page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith("natter:push:")), null, {
      timeout: 15_000,
    });
    assert.equal(await page.evaluate(() => localStorage.getItem("test:serverKey")), vapid.publicKey);
    // Page code as strings: this program is type-checked without the DOM's types.
    const scope = await page.evaluate(
      "navigator.serviceWorker.getRegistrations().then((rs) => rs.map((r) => r.scope))",
    );
    assert.deepEqual(scope, [`${gw}/assets/`]);
    assert.equal(await page.locator("#push-switch").isChecked(), true);
    await mkdir(path.join(repoRoot, "test-results"), { recursive: true });
    await page.screenshot({ path: path.join(repoRoot, "test-results/push-switch.png") });

    // Ben closes the tab: no device of his is connected. Ana writes three lines.
    const created = await ana.call("POST", "/v1/chats", { kind: "group", title: "plans", members: [ben] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const chat = created.body.chatId as string;
    await page.close();
    for (const [i, body] of ["dinner?", "at 8", "see you there"].entries()) {
      assert.equal((await ana.call("POST", `/v1/chats/${chat}/messages`, { id: `wp-${i}`, body })).status, 201);
    }
    const [got] = await service.waitFor(1, 20_000);
    assert.equal(got!.subscriptionId, sub.id);
    assert.equal(got!.notification.count, 3);

    // What the service worker shows for it (the decrypted payload, as the browser would hand it over).
    page = await ctx.newPage();
    await page.goto(`${gw}/assets/favicon.svg`);
    const cdp = await ctx.newCDPSession(page);
    const registrations = new Promise<string>((resolve) =>
      cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        (e: { registrations: { registrationId: string; scopeURL: string }[] }) => {
          const r = e.registrations.find((x) => x.scopeURL === `${gw}/assets/`);
          if (r) resolve(r.registrationId);
        },
      ),
    );
    await cdp.send("ServiceWorker.enable");
    const registrationId = await registrations;
    await cdp.send("ServiceWorker.deliverPushMessage", {
      origin: gw,
      registrationId,
      data: JSON.stringify(got!.notification),
    });
    const notifications = `navigator.serviceWorker.getRegistration("/assets/").then((reg) => reg.getNotifications())
      .then((list) => list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))`;
    // Polled from here, every 100 ms for at most 10 s (showNotification is asynchronous in the worker).
    let shown: unknown[] = [];
    for (const deadline = Date.now() + 10_000; shown.length === 0 && Date.now() < deadline;) {
      shown = (await page.evaluate(notifications)) as unknown[];
      if (shown.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(shown, [
      {
        title: "3 new messages from wp_ana",
        body: "see you there",
        tag: got!.notification.notificationId,
        data: { chat, n: got!.notification.n },
      },
    ]);
    // Delivered again (a redelivery with the same id), then another notification: the
    // worker handles pushes in order, so once the other one shows, the repeat was handled,
    // and it replaced the first rather than showing twice.
    const other = { ...got!.notification, notificationId: `${chat}:99-99`, preview: "another" };
    for (const p of [got!.notification, other]) {
      await cdp.send("ServiceWorker.deliverPushMessage", { origin: gw, registrationId, data: JSON.stringify(p) });
    }
    let tags: string[] = [];
    for (const deadline = Date.now() + 10_000; !tags.includes(other.notificationId) && Date.now() < deadline;) {
      tags = ((await page.evaluate(notifications)) as { tag: string }[]).map((n) => n.tag);
      if (!tags.includes(other.notificationId)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(tags.sort(), [got!.notification.notificationId, other.notificationId].sort());

    // A click opens the chat: with no tab open the worker opens `/#chat=<id>`, which the app opens.
    await page.goto(`${gw}/#chat=${chat}`);
    await page.locator("#conversation .conv-main:not([hidden])").waitFor({ timeout: 10_000 });
    await page.locator("#message-list").getByText("see you there").waitFor({ timeout: 10_000 });

    // Mute from the conversation bar; with the tab closed again, a new message pushes nothing.
    await page.locator("#mute").click();
    await page.getByRole("button", { name: "Unmute" }).waitFor();
    await page.screenshot({ path: path.join(repoRoot, "test-results/push-muted.png") });
    await page.close();
    await caughtUp();
    const before = service.received.length;
    assert.equal(
      (await ana.call("POST", `/v1/chats/${chat}/messages`, { id: "wp-muted", body: "hello?" })).status,
      201,
    );
    await caughtUp();
    assert.equal(service.received.length, before, "muted: no push");
    const metrics = await (await fetch(`${push.url}/metrics`)).text();
    assert.match(metrics, /natter_push_skipped_total\{reason="muted"\} 1/);
    assert.deepEqual(service.refused, []);
    await ctx.close();
  });
});
