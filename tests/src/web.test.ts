// The web client end to end: a real nats-server (testkit), a gateway and the consumers
// (stack.ts, SQLite), the bundle built from packages/web, and Debian's Chromium driven by
// playwright-core. Two browser contexts (a desktop window and a phone-sized one) sign up,
// open a direct chat, talk, see each other typing and read marks; the phone loses its
// network in the middle (a TCP proxy in front of the gateway drops every connection) and
// its message goes out once the network is back. Screenshots go to test-results/.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";
import { freePort, type GatewayProc, LIFTED_RATE_LIMITS, repoRoot, type Stack, startStack } from "@natter/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { Api, eventually } from "./http-client.ts";

/** Whether the conversation's first image is loaded from a blob URL (fetched with the token) at `width` pixels. */
function imageShown(page: Page, width: number): Promise<boolean> {
  return page
    .locator("#message-list img.att-image")
    .first()
    .evaluate((el, w) => {
      const img = el as unknown as { complete: boolean; naturalWidth: number; src: string };
      return img.complete && img.naturalWidth === w && img.src.startsWith("blob:");
    }, width);
}

/** A valid PNG of random grey pixels (random, so it does not compress: a few chunks to upload). */
function noisyPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type, "ascii"), data])));
    return Buffer.concat([len, Buffer.from(type, "ascii"), data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = randomBytes((width + 1) * height);
  for (let y = 0; y < height; y++) rows[y * (width + 1)] = 0; // filter: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

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

let stack: Stack;
let gw: GatewayProc;
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
    stack = await startStack({
      env: {
        NATTER_PRESENCE_ONLINE_DELAY: "200ms",
        NATTER_PRESENCE_TTL: "3s",
        // The history test seeds 130 messages over HTTP at once.
        ...LIFTED_RATE_LIMITS,
      },
    });
    gw = stack.gateways[0]!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    await mkdir(RESULTS, { recursive: true });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    await Promise.all(proxies.map((p) => p.close()));
    await stack?.stop();
  });

  async function open(
    viewport: { width: number; height: number },
    name: string,
    prepare?: (page: Page) => Promise<void>,
  ): Promise<{ page: Page; proxy: Proxy }> {
    const proxy = await startProxy(gw.url);
    proxies.push(proxy);
    const ctx = await browser.newContext({
      viewport,
      ...(viewport.width < 500 ? { isMobile: true, hasTouch: true } : {}),
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await prepare?.(page);
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

  /**
   * Records, from before the app's first render, every title and badge each chat-list item
   * showed and every system line of the conversation, so a test can assert what was never
   * on screen (an id instead of a name, a badge above the count), not only the final state.
   */
  async function recordScreen(page: Page): Promise<void> {
    // Page code as a string: this program is type-checked without the DOM's types.
    await page.addInitScript(`{
      const seen = { titles: {}, badges: {}, sys: [] };
      window.__seen = seen;
      const add = (list, v) => { if (list.at(-1) !== v) list.push(v); };
      new MutationObserver(() => {
        for (const li of document.querySelectorAll("#chat-list li[data-chat]")) {
          const chat = li.dataset.chat;
          add((seen.titles[chat] ??= []), li.querySelector(".chat-title")?.textContent ?? "");
          add((seen.badges[chat] ??= []), li.querySelector(".badge")?.textContent ?? "");
        }
        for (const el of document.querySelectorAll("#message-list .sys, #message-list .sender")) {
          if (!seen.sys.includes(el.textContent)) seen.sys.push(el.textContent);
        }
      }).observe(document, { subtree: true, childList: true, characterData: true });
    }`);
  }

  const screen = (page: Page) =>
    page.evaluate<{ titles: Record<string, string[]>; badges: Record<string, string[]>; sys: string[] }>(
      "window.__seen",
    );

  /** A user made over the API with a display name unlike the handle. */
  async function apiUser(handle: string, displayName: string): Promise<Api> {
    const api = new Api(gw.url);
    const r = await api.call("POST", "/v1/auth/signup", { handle, displayName, password: "password-123" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    api.token = r.body.token;
    api.userId = r.body.userId;
    return api;
  }

  /** The browser's own session, to ask the API what the page should show. */
  async function pageApi(page: Page): Promise<Api> {
    const s = await page.evaluate<{ token: string; userId: string }>(
      'JSON.parse(localStorage.getItem("natter:session"))',
    );
    const api = new Api(gw.url, s.token);
    api.userId = s.userId;
    return api;
  }

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

    // Ben's list shows the chat with an unread badge, under Requests: Ana is a stranger to him.
    // He accepts it and opens it (phone: the list gives way to the chat).
    const benItem = ben.locator("#chat-list .chat-item").first();
    await benItem.locator(".badge").filter({ hasText: "1" }).waitFor();
    await ben.locator("#requests-heading").waitFor();
    await ben.screenshot({ path: path.join(RESULTS, "chat-list-phone.png") });
    await ben.locator('#chat-list li[data-request] button[data-action="accept"]').click();
    await ben.locator("#requests-heading").waitFor({ state: "detached" });
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

  test("web - delete my own message: it shows as deleted on both sides, live and after a reload; others' messages offer no delete", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page: ana } = await open({ width: 1200, height: 800 }, "ana-del");
    const { page: ben } = await open({ width: 1200, height: 800 }, "ben-del");
    await signup(ana, `anad_${suffix}`, "Ana D");
    await signup(ben, `bend_${suffix}`, "Ben D");
    await ana.locator("#new-chat").click();
    await ana.getByLabel("Their handle").fill(`bend_${suffix}`);
    await ana.getByRole("button", { name: "Create" }).click();
    await ana.locator("#conv-title").filter({ hasText: "Ben D" }).waitFor();
    const composerA = ana.getByLabel("Message", { exact: true });
    for (const text of ["Sent to the wrong chat, sorry", "This one is for you"]) {
      await composerA.fill(text);
      await composerA.press("Enter");
    }
    await ben.locator('#chat-list li[data-request] button[data-action="accept"]').click();
    await ben.locator("#chat-list .chat-item").first().click();
    await ben.locator("#message-list .msg.theirs .body").filter({ hasText: "This one is for you" }).waitFor();
    const composerB = ben.getByLabel("Message", { exact: true });
    await composerB.fill("Got it");
    await composerB.press("Enter");
    await ana.locator("#message-list .msg.theirs .body").filter({ hasText: "Got it" }).waitFor();
    // Only my own messages offer a delete in a direct chat.
    assert.equal(await ana.locator("#message-list .msg.theirs button.delete").count(), 0);
    assert.equal(await ana.locator("#message-list .msg.mine button.delete").count(), 2);

    ana.once("dialog", (d) => void d.accept());
    await ana
      .locator("#message-list .msg.mine")
      .filter({ hasText: "Sent to the wrong chat" })
      .getByRole("button", { name: "Delete message" })
      .click();
    const shown = ["message deleted", "This one is for you", "Got it"];
    for (const page of [ana, ben]) {
      await page.locator("#message-list .msg.deleted").waitFor();
      assert.deepEqual(await bodies(page), shown);
    }
    await ana.screenshot({ path: path.join(RESULTS, "deleted.png") });
    await ben.screenshot({ path: path.join(RESULTS, "deleted-other-side.png") });
    // After a reload, from history: still deleted, the body nowhere on the page.
    await ben.reload();
    await ben.locator("#chat-list .chat-item").first().click();
    await ben.locator("#message-list .msg.deleted").waitFor();
    assert.deepEqual(await bodies(ben), shown);
    assert.equal((await ben.content()).includes("Sent to the wrong chat"), false);
  });

  test("web - reply (quote and jump), edit my own message, react and take a reaction back: both sides live, then from history", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page: ana } = await open({ width: 1200, height: 800 }, "ana-lc");
    const { page: ben } = await open({ width: 1200, height: 800 }, "ben-lc");
    await signup(ana, `analc_${suffix}`, "Ana L");
    await signup(ben, `benlc_${suffix}`, "Ben L");
    await ana.locator("#new-chat").click();
    await ana.getByLabel("Their handle").fill(`benlc_${suffix}`);
    await ana.getByRole("button", { name: "Create" }).click();
    await ana.locator("#conv-title").filter({ hasText: "Ben L" }).waitFor();
    const composerA = ana.getByLabel("Message", { exact: true });
    await composerA.fill("Dinner at 7?");
    await composerA.press("Enter");
    await ben.locator('#chat-list li[data-request] button[data-action="accept"]').click();
    await ben.locator("#chat-list .chat-item").first().click();
    const question = ben.locator("#message-list .msg.theirs").filter({ hasText: "Dinner at 7?" });
    await question.waitFor();

    // Ben replies: the reply bar, then a quote in his message and in Ana's view.
    await question.getByRole("button", { name: "Reply" }).click();
    await ben.locator("#reply-bar").filter({ hasText: "Dinner at 7?" }).waitFor();
    const composerB = ben.getByLabel("Message", { exact: true });
    await composerB.fill("Yes, see you there");
    await composerB.press("Enter");
    assert.equal(await ben.locator("#reply-bar").isHidden(), true, "the reply bar goes after the send");
    for (const page of [ana, ben]) {
      const reply = page.locator("#message-list .msg.reply").filter({ hasText: "Yes, see you there" });
      await reply.locator(".quote").filter({ hasText: "Dinner at 7?" }).waitFor();
    }
    // The quote jumps to the message replied to (it flashes).
    await ana.locator("#message-list .msg.reply .quote").click();
    await ana.locator("#message-list .msg.flash").filter({ hasText: "Dinner at 7?" }).waitFor();

    // Ana edits her message: both sides show the new body, marked edited; the quote follows.
    assert.equal(await ana.locator("#message-list .msg.theirs button.edit").count(), 0, "no edit of others' messages");
    ana.once("dialog", (d) => void d.accept("Dinner at 8?"));
    await ana
      .locator("#message-list .msg.mine")
      .filter({ hasText: "Dinner at 7?" })
      .getByRole("button", { name: "Edit message" })
      .click();
    for (const page of [ana, ben]) {
      const edited = page.locator("#message-list .msg").filter({ hasText: "Dinner at 8?" }).first();
      await edited.locator(".edited").waitFor();
      await page.locator("#message-list .msg.reply .quote").filter({ hasText: "Dinner at 8?" }).waitFor();
      assert.equal((await bodies(page)).includes("Dinner at 7?"), false);
    }

    // Reactions: Ben reacts from the picker, Ana adds the same and another; Ben takes his back.
    const mineOnBen = ben.locator("#message-list .msg").filter({ hasText: "Dinner at 8?" }).first();
    await mineOnBen.getByRole("button", { name: "React", exact: true }).click();
    await mineOnBen.locator('.picker button[data-emoji="👍"]').click();
    const onAna = ana.locator("#message-list .msg").filter({ hasText: "Dinner at 8?" }).first();
    await onAna.locator('.reaction[data-emoji="👍"]').filter({ hasText: "👍 1" }).waitFor();
    await onAna.locator('.reaction[data-emoji="👍"]').click();
    await onAna.getByRole("button", { name: "React", exact: true }).click();
    await onAna.locator('.picker button[data-emoji="🎉"]').click();
    for (const page of [ana, ben]) {
      const item = page.locator("#message-list .msg").filter({ hasText: "Dinner at 8?" }).first();
      await item.locator('.reaction[data-emoji="👍"]').filter({ hasText: "👍 2" }).waitFor();
      await item.locator('.reaction[data-emoji="🎉"]').filter({ hasText: "🎉 1" }).waitFor();
    }
    await ana.screenshot({ path: path.join(RESULTS, "lifecycle.png") });
    await ben.screenshot({ path: path.join(RESULTS, "lifecycle-other-side.png") });
    await mineOnBen.locator('.reaction.mine[data-emoji="👍"]').click();
    await onAna.locator('.reaction[data-emoji="👍"]').filter({ hasText: "👍 1" }).waitFor();

    // After a reload, from history: the edit, the reply's quote and the reactions folded in.
    await ben.reload();
    await ben.locator("#chat-list .chat-item").first().click();
    const again = ben.locator("#message-list .msg").filter({ hasText: "Dinner at 8?" }).first();
    await again.locator(".edited").waitFor();
    await again.locator('.reaction[data-emoji="👍"]').filter({ hasText: "👍 1" }).waitFor();
    await again.locator('.reaction[data-emoji="🎉"]').filter({ hasText: "🎉 1" }).waitFor();
    await ben.locator("#message-list .msg.reply .quote").filter({ hasText: "Dinner at 8?" }).waitFor();
    assert.deepEqual(await bodies(ben), ["Dinner at 8?", "Yes, see you there"]);
    await ben.screenshot({ path: path.join(RESULTS, "lifecycle-reloaded.png") });
  });

  test("web - attach an image and a file: progress while uploading, the image inline and the file as a download on both sides, live and after a reload", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page: ana } = await open({ width: 1200, height: 800 }, "ana-att");
    const { page: ben } = await open({ width: 1200, height: 800 }, "ben-att");
    await signup(ana, `anaat_${suffix}`, "Ana A");
    await signup(ben, `benat_${suffix}`, "Ben A");
    await ana.locator("#new-chat").click();
    await ana.getByLabel("Their handle").fill(`benat_${suffix}`);
    await ana.getByRole("button", { name: "Create" }).click();
    await ana.locator("#conv-title").filter({ hasText: "Ben A" }).waitFor();
    const composerA = ana.getByLabel("Message", { exact: true });
    await composerA.fill("The plan, and the notes");
    await composerA.press("Enter");
    await ben.locator('#chat-list li[data-request] button[data-action="accept"]').click();
    await ben.locator("#chat-list .chat-item").first().click();
    await ben.locator("#message-list .msg.theirs .body").filter({ hasText: "The plan" }).waitFor();

    // A 240 x 160 PNG and a text file; the image is big enough (random pixels) to upload in steps.
    await ana.locator("#attach-input").setInputFiles([
      { name: "plan.png", mimeType: "image/png", buffer: noisyPng(240, 160) },
      { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("bring the maps\n") },
    ]);
    const staged = ana.locator("#uploads .upload.staged");
    await staged.nth(1).waitFor();
    assert.deepEqual((await staged.allTextContents()).map((t) => t.replace("×", "").trim()).sort(), [
      "📎 notes.txt",
      "📎 plan.png",
    ]);
    await ana.locator("#send").click();
    await ana.locator("#uploads").waitFor({ state: "hidden" });
    for (const page of [ana, ben]) {
      const img = page.locator('#message-list .msg img.att-image[alt="plan.png"]');
      await img.waitFor();
      await eventually(() => imageShown(page, 240), 15_000, "the image shown");
      await page.locator("#message-list .msg button.att-file").filter({ hasText: "notes.txt" }).waitFor();
    }
    // The file downloads with its name and bytes.
    const [download] = await Promise.all([
      ben.waitForEvent("download"),
      ben.locator("#message-list .msg button.att-file").filter({ hasText: "notes.txt" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "notes.txt");
    await ana.screenshot({ path: path.join(RESULTS, "attachments.png") });
    await ben.screenshot({ path: path.join(RESULTS, "attachments-other-side.png") });

    // From history after a reload.
    await ben.reload();
    await ben.locator("#chat-list .chat-item").first().click();
    await eventually(() => imageShown(ben, 240), 15_000, "the image shown after a reload");
    await ben.screenshot({ path: path.join(RESULTS, "attachments-reloaded.png") });
  });

  test("web - message requests: a stranger's chat waits under Requests; decline and block take requests away", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page } = await open({ width: 1000, height: 700 }, "rae");
    await signup(page, `rae_${suffix}`, "Rae");
    const rae = await pageApi(page);
    const [sam, tom] = await Promise.all([apiUser(`sam_${suffix}`, "Sam"), apiUser(`tom_${suffix}`, "Tom")]);
    const fromSam = await sam.call("POST", "/v1/chats", { kind: "direct", userId: rae.userId });
    await sam.call("POST", `/v1/chats/${fromSam.body.chatId}/messages`, { id: "s1", body: "hello from sam" });
    const fromTom = await tom.call("POST", "/v1/chats", { kind: "direct", userId: rae.userId });
    await tom.call("POST", `/v1/chats/${fromTom.body.chatId}/messages`, { id: "t1", body: "hello from tom" });
    const tomGroup = await tom.call("POST", "/v1/chats", { kind: "group", title: "Tom's club", members: [rae.userId] });
    await tom.call("POST", `/v1/chats/${tomGroup.body.chatId}/messages`, { id: "t2", body: "join us" });

    const item = (id: string) => page.locator(`#chat-list li[data-chat="${id}"]`);
    for (const id of [fromSam.body.chatId, fromTom.body.chatId, tomGroup.body.chatId]) {
      await item(id).and(page.locator("li[data-request]")).waitFor();
    }
    await page.locator("#requests-heading").waitFor();
    await page.screenshot({ path: path.join(RESULTS, "requests.png") });

    // Decline Sam's: it leaves the list, and Sam's next send is refused.
    await item(fromSam.body.chatId).locator('button[data-action="decline"]').click();
    await item(fromSam.body.chatId).waitFor({ state: "detached" });
    const refused = await sam.call("POST", `/v1/chats/${fromSam.body.chatId}/messages`, { id: "s2", body: "?" });
    assert.equal(refused.status, 403);

    // Block Tom: both of his requests go, and his sends are refused.
    await item(fromTom.body.chatId).locator('button[data-action="block"]').click();
    await item(fromTom.body.chatId).waitFor({ state: "detached" });
    await item(tomGroup.body.chatId).waitFor({ state: "detached" });
    const blocked = await tom.call("POST", `/v1/chats/${fromTom.body.chatId}/messages`, { id: "t3", body: "?" });
    assert.deepEqual([blocked.status, blocked.body.code], [403, "forbidden"]);
    assert.deepEqual(
      (await rae.call("GET", "/v1/blocks")).body.users.map((u: { userId: string }) => u.userId),
      [tom.userId],
    );
    await page.locator("#requests-heading").waitFor({ state: "detached" });
    assert.deepEqual((await rae.call("GET", "/v1/chats?requests=only")).body.chats, [], "the server agrees");
  });

  test("web - unread badges count messages from others only and agree with GET /v1/chats", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page } = await open({ width: 1000, height: 700 }, "fay", recordScreen);
    await signup(page, `fay_${suffix}`, "Fay");
    const fay = await pageApi(page);
    const [gus, hal, ivy] = await Promise.all([
      apiUser(`gus_${suffix}`, "Gus Grant"),
      apiUser(`hal_${suffix}`, "Hal"),
      apiUser(`ivy_${suffix}`, "Ivy"),
    ]);
    const unreadOf = async (chatId: string) =>
      ((await fay.call("GET", "/v1/chats")).body.chats as { chatId: string; unread: number }[]).find(
        (c) => c.chatId === chatId,
      )?.unread;

    // A new direct chat (chat.created) and three messages from Gus: 3, as the server says.
    const dm = await gus.call("POST", "/v1/chats", { kind: "direct", userId: fay.userId });
    assert.equal(dm.status, 201, JSON.stringify(dm.body));
    for (const i of [1, 2, 3]) {
      assert.equal(
        (await gus.call("POST", `/v1/chats/${dm.body.chatId}/messages`, { id: `u${i}`, body: `unread ${i}` })).status,
        201,
      );
    }
    const dmItem = page.locator(`#chat-list li[data-chat="${dm.body.chatId}"]`);
    await dmItem.locator(".badge").filter({ hasText: "3" }).waitFor();
    // Past the list refresh a new chat triggers: the badge stays where the server is.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await dmItem.locator(".badge").textContent(), "3");
    assert.equal(await unreadOf(dm.body.chatId), 3);
    const dmBadges = (await screen(page)).badges[dm.body.chatId]!;
    assert.ok(
      dmBadges.every((b) => b === "" || Number(b) <= 3),
      `the direct chat's badge never counted more than the messages: ${JSON.stringify(dmBadges)}`,
    );

    // A group: its creation and a member added by someone else are not unread; one message is.
    const group = await gus.call("POST", "/v1/chats", {
      kind: "group",
      title: "Unread club",
      members: [fay.userId, hal.userId],
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    assert.equal(
      (await gus.call("POST", `/v1/chats/${group.body.chatId}/members`, { userId: ivy.userId })).status,
      200,
    );
    assert.equal(
      (await gus.call("POST", `/v1/chats/${group.body.chatId}/messages`, { id: "g1", body: "welcome" })).status,
      201,
    );
    const groupItem = page.locator(`#chat-list li[data-chat="${group.body.chatId}"]`);
    await groupItem.locator(".badge").waitFor();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await groupItem.locator(".badge").textContent(), "1");
    assert.equal(await unreadOf(group.body.chatId), 1);

    // Fay answers from another device: her own message reads the chat up to it, here and on the server.
    const phone = new Api(gw.url);
    const login = await phone.call("POST", "/v1/auth/login", { handle: `fay_${suffix}`, password: "password-123" });
    phone.token = login.body.token;
    assert.equal(
      (await phone.call("POST", `/v1/chats/${dm.body.chatId}/messages`, { id: "f1", body: "from my phone" })).status,
      201,
    );
    await dmItem.locator(".badge").waitFor({ state: "detached" });
    // The server writes the sender's read pointer a moment after `sent`.
    await eventually(async () => (await unreadOf(dm.body.chatId)) === 0, 5000, "unread 0 on the server");

    assert.deepEqual(
      (await screen(page)).badges[group.body.chatId]!.filter((b) => b !== ""),
      ["1"],
      "the group's badge counted only the message",
    );
  });

  test("web - people are named from the first render: a new peer, a new member, the list after logging in", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const { page } = await open({ width: 1000, height: 700 }, "jo", recordScreen);
    await signup(page, `jo_${suffix}`, "Jo");
    const jo = await pageApi(page);
    const joId = jo.userId;
    const [kim, lev] = await Promise.all([apiUser(`kim_${suffix}`, "Kim Kato"), apiUser(`lev_${suffix}`, "Lev Lund")]);

    // Kim, whom Jo never looked up, opens a direct chat: its first appearance has Kim's name.
    const dm = await kim.call("POST", "/v1/chats", { kind: "direct", userId: joId });
    assert.equal(
      (await kim.call("POST", `/v1/chats/${dm.body.chatId}/messages`, { id: "k1", body: "hi jo" })).status,
      201,
    );
    const dmItem = page.locator(`#chat-list li[data-chat="${dm.body.chatId}"]`);
    await dmItem.locator(".badge").filter({ hasText: "1" }).waitFor();

    // A group Jo has open; Kim adds Lev, new to Jo, who says hello: both lines name Lev.
    const group = await kim.call("POST", "/v1/chats", { kind: "group", title: "Names", members: [joId] });
    await page.locator(`#chat-list li[data-chat="${group.body.chatId}"] button`).click();
    await page.locator("#conv-title").filter({ hasText: "Names" }).waitFor();
    await kim.call("POST", `/v1/chats/${group.body.chatId}/members`, { userId: lev.userId });
    await kim.call("POST", `/v1/chats/${group.body.chatId}/messages`, { id: "k2", body: "meet lev" });
    await lev.call("POST", `/v1/chats/${group.body.chatId}/messages`, { id: "l1", body: "hello all" });
    await page.locator("#message-list .msg .body").filter({ hasText: "hello all" }).waitFor();
    await page.locator("#message-list .sys").filter({ hasText: "Kim Kato added Lev Lund" }).waitFor();
    await page.locator("#message-list .sender").filter({ hasText: "Lev Lund" }).waitFor();

    // A fresh browser (nothing learned yet) logs in as Jo: the first list already has names.
    const { page: fresh } = await open({ width: 1000, height: 700 }, "jo-fresh", recordScreen);
    await fresh.locator("#login-handle").fill(`jo_${suffix}`);
    await fresh.locator("#login-password").fill("password-123");
    await fresh.getByRole("button", { name: "Log in" }).click();
    await fresh.locator(`#chat-list li[data-chat="${dm.body.chatId}"]`).waitFor();

    const live = await screen(page);
    assert.deepEqual(live.titles[dm.body.chatId], ["Kim Kato"], "the live new chat: named at once");
    assert.deepEqual(
      live.sys.filter((t) => /user \S{6}/.test(t)),
      [],
      `no system line or sender named by id: ${JSON.stringify(live.sys)}`,
    );
    const after = await screen(fresh);
    assert.deepEqual(after.titles[dm.body.chatId], ["Kim Kato"], "after logging in: named at once");
  });

  test("web - log in, create a group and add and remove members, page a long history in by scrolling up", async () => {
    const suffix = Date.now().toString(36).slice(-5);
    const signupApi = (name: string) => new Api(gw.url).signup(`${name}_${suffix}`);
    const [cara, , eve] = await Promise.all([signupApi("cara"), signupApi("dan"), signupApi("eve")]);
    // Eve and Cara already have a long direct chat: 130 messages from Eve.
    const dm = await eve.call("POST", "/v1/chats", { kind: "direct", userId: cara.userId });
    assert.ok(dm.status === 201 || dm.status === 200, JSON.stringify(dm.body));
    const HISTORY = 130;
    for (let i = 1; i <= HISTORY; i++) {
      const r = await eve.call("POST", `/v1/chats/${dm.body.chatId}/messages`, { id: `h${i}`, body: `history ${i}` });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }

    const { page } = await open({ width: 1000, height: 700 }, "cara");
    await page.locator("#login-handle").fill(`cara_${suffix}`);
    await page.locator("#login-password").fill("password-123");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#new-chat").waitFor();

    // The long chat: its unread count, then the newest page, then older pages as Cara scrolls up.
    const item = page.locator("#chat-list .chat-item").first();
    await item
      .locator(".badge")
      .filter({ hasText: String(HISTORY) })
      .waitFor();
    await item.click();
    await page
      .locator("#message-list .msg .body")
      .filter({ hasText: `history ${HISTORY}` })
      .waitFor();
    await item.locator(".badge").waitFor({ state: "detached" });
    const firstCount = await page.locator("#message-list .msg").count();
    assert.ok(firstCount < HISTORY, `the first page is not everything (${firstCount})`);
    for (let i = 0; i < 20; i++) {
      if ((await page.locator("#message-list .msg").count()) >= HISTORY) break;
      await page.locator("#messages").evaluate((el) => {
        el.scrollTop = 0;
      });
      await new Promise((r) => setTimeout(r, 250));
    }
    const texts = await page.locator("#message-list .msg .body").allTextContents();
    assert.deepEqual(
      texts,
      Array.from({ length: HISTORY }, (_, i) => `history ${i + 1}`),
      "every message once, in order, after scrolling up",
    );

    // A group with Dan; then Eve is added and Dan removed from the members dialog.
    await page.locator("#new-chat").click();
    await page.getByLabel("Group", { exact: true }).check();
    await page.getByLabel("Group name").fill("Book club");
    await page.getByLabel("Members’ handles").fill(`dan_${suffix}`);
    await page.getByRole("button", { name: "Create" }).click();
    await page.locator("#conv-title").filter({ hasText: "Book club" }).waitFor();
    await page.locator("#conv-sub").filter({ hasText: "2 members" }).waitFor();
    await page.getByRole("button", { name: "Members", exact: true }).click();
    const members = page.locator("#members-list li");
    await members.filter({ hasText: `dan_${suffix}` }).waitFor();
    await page.getByLabel("Add by handle").fill(`eve_${suffix}`);
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await members.filter({ hasText: `eve_${suffix}` }).waitFor();
    await page.getByRole("button", { name: `Remove dan_${suffix}` }).click();
    await members.filter({ hasText: `dan_${suffix}` }).waitFor({ state: "detached" });
    await page.keyboard.press("Escape");
    await page.locator("#conv-sub").filter({ hasText: "2 members" }).waitFor();
    await page
      .locator("#message-list .sys")
      .filter({ hasText: `You added eve_${suffix}` })
      .waitFor();
    await page
      .locator("#message-list .sys")
      .filter({ hasText: `You removed dan_${suffix}` })
      .waitFor();
    const view = await cara.call(
      "GET",
      // The newest accepted chat (requests, such as Eve's direct chat, sit above in a section of their own).
      `/v1/chats/${await page.locator("#chat-list li[data-chat]:not([data-request])").first().getAttribute("data-chat")}`,
    );
    assert.deepEqual(
      view.body.members.map((m: { userId: string }) => m.userId).sort(),
      [cara.userId, eve.userId].sort(),
    );
    await page.screenshot({ path: path.join(RESULTS, "group.png") });
  });
});
