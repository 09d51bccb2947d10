// The web client end to end: a real nats-server (testkit), a gateway and the consumers
// (stack.ts, SQLite), the bundle built from packages/web, and Debian's Chromium driven by
// playwright-core. Two browser contexts (a desktop window and a phone-sized one) sign up,
// open a direct chat, talk, see each other typing and read marks; the phone loses its
// network in the middle (a TCP proxy in front of the gateway drops every connection) and
// its message goes out once the network is back. Screenshots go to test-results/.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, type NatsServer, repoRoot, startNatsServer } from "@natter/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { type GatewayProc, type Proc, type StackStore, stackStore, startConsumers, startGateway } from "./stack.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const RESULTS = path.join(repoRoot, "test-results");
const skip =
  !existsSync(CHROMIUM) && process.env.CI !== "true"
    ? `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test`
    : false;

/** A TCP proxy in front of the gateway: `drop()` cuts every connection and refuses new ones until `restore()`. */
interface Proxy {
  url: string;
  drop(): void;
  restore(): void;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const listenPort = await freePort();
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${listenPort}`,
    drop() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let nats: NatsServer;
let store: StackStore;
let gw: GatewayProc;
let consumers: Proc;
let browser: Browser;
const proxies: Proxy[] = [];
const contexts: BrowserContext[] = [];

describe("web client in Chromium", { skip }, () => {
  before(async () => {
    // The bundle under test is the current source (the type check is CI's `npm run build:web`).
    const build = spawnSync(process.execPath, [path.join(repoRoot, "packages/web/build.ts"), "--no-check"], {
      encoding: "utf8",
    });
    assert.equal(build.status, 0, `npm run build:web failed:\n${build.stdout}\n${build.stderr}`);
    nats = await startNatsServer();
    store = await stackStore("sqlite");
    const env = { ...store.env, NATTER_PRESENCE_ONLINE_DELAY: "200ms", NATTER_PRESENCE_TTL: "3s" };
    gw = await startGateway(nats.url, env);
    consumers = await startConsumers(nats.url, env);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    await mkdir(RESULTS, { recursive: true });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all([gw?.kill(), consumers?.kill()]);
    await nats?.stop();
    await store?.cleanup();
  });

  async function open(
    viewport: { width: number; height: number },
    name: string,
  ): Promise<{ page: Page; proxy: Proxy }> {
    const proxy = await startProxy(gw.url);
    proxies.push(proxy);
    const ctx = await browser.newContext({
      viewport,
      ...(viewport.width < 500 ? { isMobile: true, hasTouch: true } : {}),
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on("pageerror", (err) => console.error(`[${name}] page error:`, err));
    page.on("console", (m) => {
      if (m.type() === "error") console.error(`[${name}] console:`, m.text());
    });
    await page.goto(proxy.url);
    return { page, proxy };
  }

  async function signup(page: Page, handle: string, displayName: string): Promise<void> {
    await page.locator("#signup-handle").fill(handle);
    await page.locator("#signup-name").fill(displayName);
    await page.locator("#signup-password").fill("password-123");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.locator("#new-chat").waitFor();
  }

  const bodies = (page: Page) => page.locator("#message-list .msg .body").allTextContents();

  test("web - two users sign up, open a direct chat, chat in order, see typing and read marks, survive a dropped network", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const anaHandle = `ana_${suffix}`;
    const benHandle = `ben_${suffix}`;
    const { page: ana } = await open({ width: 1200, height: 800 }, "ana");
    const { page: ben, proxy: benNet } = await open({ width: 390, height: 844 }, "ben");

    // The gateway serves the page, the hashed bundle and its headers.
    const index = await fetch(`${gw.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const script = /src="(\/assets\/app\.[0-9a-f]+\.js)"/.exec(await index.text())?.[1];
    assert.ok(script, "index.html names the bundle");
    const js = await fetch(gw.url + script);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);

    await signup(ana, anaHandle, "Ana");
    await signup(ben, benHandle, "Ben");

    // Ana opens a direct chat with Ben by handle.
    await ana.locator("#new-chat").click();
    await ana.getByLabel("Their handle").fill(benHandle);
    await ana.getByRole("button", { name: "Create" }).click();
    await ana.locator("#conv-title").filter({ hasText: "Ben" }).waitFor();
    const composerA = ana.getByLabel("Message", { exact: true });
    await composerA.fill("Hi Ben, it's Ana");
    await composerA.press("Enter");
    await ana
      .locator('#message-list .msg.mine[data-status="sent"], #message-list .msg.mine[data-status="delivered"]')
      .first()
      .waitFor();

    // Ben's list shows the chat with an unread badge; he opens it (phone: the list gives way to the chat).
    const benItem = ben.locator("#chat-list .chat-item").first();
    await benItem.locator(".badge").filter({ hasText: "1" }).waitFor();
    await benItem.click();
    await ben.locator("#message-list .msg.theirs .body").filter({ hasText: "Hi Ben, it's Ana" }).waitFor();
    assert.equal(await ben.locator("#chat-list").isVisible(), false, "phone: one pane at a time");

    // Ana's message is read: Ben has the chat open.
    await ana.locator('#message-list .msg.mine[data-status="read"]').first().waitFor();
    // Presence: Ben is online in Ana's list.
    await ana.locator("#chat-list .dot.online").first().waitFor();

    // Ben types: Ana sees it, then his message.
    const composerB = ben.getByLabel("Message", { exact: true });
    await composerB.pressSequentially("Hey Ana! Good to see", { delay: 20 });
    await ana.locator("#typing").filter({ hasText: "is typing" }).waitFor();
    await composerB.press("Enter");
    await ana.locator("#message-list .msg.theirs .body").filter({ hasText: "Hey Ana! Good to see" }).waitFor();
    await ana.locator("#typing").filter({ hasText: /^$/ }).waitFor();

    await composerA.fill("How is the new client?");
    await composerA.press("Enter");
    await composerA.fill("Scrolls, marks, typing: all there.");
    await composerA.press("Enter");
    await ben.locator("#message-list .msg.theirs .body").filter({ hasText: "all there" }).waitFor();
    await composerB.fill("Looks great on my phone too.");
    await composerB.press("Enter");
    await ana.locator("#message-list .msg.theirs .body").filter({ hasText: "phone too" }).waitFor();

    // Ben's network drops: the banner says so, a message waits as pending, and goes out when it is back.
    benNet.drop();
    await ben
      .locator("#banner")
      .filter({ hasText: /reconnecting|offline/i })
      .waitFor();
    await composerB.fill("Sent while my network was down");
    await composerB.press("Enter");
    const offlineMsg = ben.locator("#message-list .msg.mine").filter({ hasText: "Sent while my network was down" });
    assert.equal(await offlineMsg.getAttribute("data-status"), "pending");
    await new Promise((r) => setTimeout(r, 500));
    benNet.restore();
    await ana
      .locator("#message-list .msg.theirs .body")
      .filter({ hasText: "network was down" })
      .waitFor({ timeout: 30_000 });
    await ben.locator("#banner").waitFor({ state: "hidden", timeout: 15_000 });
    await offlineMsg.and(ben.locator('[data-status="read"]')).waitFor({ timeout: 15_000 });

    const expected = [
      "Hi Ben, it's Ana",
      "Hey Ana! Good to see",
      "How is the new client?",
      "Scrolls, marks, typing: all there.",
      "Looks great on my phone too.",
      "Sent while my network was down",
    ];
    assert.deepEqual(await bodies(ana), expected, "Ana's view: every message once, in order");
    assert.deepEqual(await bodies(ben), expected, "Ben's view: every message once, in order");
    // Every one of Ana's messages ends up read by Ben.
    await ana.locator('#message-list .msg.mine:not([data-status="read"])').first().waitFor({ state: "detached" });
    assert.equal(await ana.locator("#message-list .msg.mine").count(), 3);
    assert.equal(await ana.locator("#message-list .msg.theirs").count(), 3);

    await ana.screenshot({ path: path.join(RESULTS, "conversation.png") });
    await ben.screenshot({ path: path.join(RESULTS, "conversation-phone.png") });
  });
});
