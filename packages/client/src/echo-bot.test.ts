// Issue 13's acceptance for at-least-once processing: the example echo bot
// (examples/echo-bot.ts, the README's) as a real process over a real stack (testkit
// nats-server, gateway and consumers processes, SQLite), SIGKILLed 20 times at random
// points while another user sends; then stopped while a new chat is made with it.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChatEvent } from "@natter/protocol";
import { LIFTED_RATE_LIMITS, stackSuite, until } from "@natter/testkit";
import { NatterClient, NatterHttp, replyId } from "./index.ts";

const BOT = fileURLToPath(new URL("../examples/echo-bot.ts", import.meta.url));
const KILLS = 20;

const live = stackSuite({ env: LIFTED_RATE_LIMITS }, "SIGKILL");
let dir: string;
let bot: ChildProcess | undefined;
live.beforeStop(() => bot?.kill("SIGKILL"));

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "natter-echo-bot-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Starts the bot; resolves with the process (ready or not: a kill may come at any point). */
function startBot(token: string): ChildProcess {
  const child = spawn(process.execPath, [BOT], {
    env: {
      ...process.env,
      NATTER_SERVER: live.g1.url,
      NATTER_TOKEN: token,
      NATTER_CURSORS: path.join(dir, "cursors.json"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

function waitReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("echo-bot ready")) resolve();
    });
    child.once("exit", (code, signal) => reject(new Error(`echo bot exited (${code ?? signal}) before ready`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

async function history(http: NatterHttp, chat: string): Promise<ChatEvent[]> {
  const all: ChatEvent[] = [];
  for (;;) {
    const page = await http.messages(chat, { after: all.at(-1)?.n ?? 0, limit: 100 });
    all.push(...page.events);
    if (!page.hasMore) return all;
  }
}

/** Every message of `from` answered exactly once, by an echo with the id derived from it, in order. */
function checkAnswers(events: ChatEvent[], from: string, botId: string): { asked: number; answered: number } {
  const asked = events.filter((e) => e.kind === "message.created" && e.from === from);
  const replies = events.filter((e) => e.kind === "message.created" && e.from === botId);
  const byId = new Map<string, ChatEvent[]>();
  for (const r of replies) if (r.kind === "message.created") byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  for (const [id, rs] of byId) assert.equal(rs.length, 1, `reply ${id} is in the chat once`);
  const order: number[] = [];
  for (const q of asked) {
    if (q.kind !== "message.created") continue;
    const r = byId.get(replyId(q))?.[0];
    if (!r || r.kind !== "message.created") continue;
    assert.equal(r.body, `echo: ${q.body}`);
    assert.ok(r.n > q.n, "a reply comes after its question");
    order.push(r.n);
  }
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
    "replies in the order of the questions",
  );
  assert.equal(replies.length, order.length, "no reply answers anything but a question");
  return { asked: asked.length, answered: order.length };
}

test("echo bot - SIGKILLed 20 times at random points while a user sends: every message answered once, in order; a chat made while it is down is answered after it starts", async () => {
  const http = new NatterHttp({ servers: live.g1.url });
  const botSession = await http.signup("echo_bot", "Echo", "password-123");
  const { client: ana, session: anaSession } = await NatterClient.signup({
    servers: live.g1.url,
    handle: "ana_echo",
    displayName: "Ana",
    password: "password-123",
  });
  live.closing(ana);
  await ana.connect();
  const { chatId } = await ana.http.createDirect(botSession.userId);

  // Ana sends all along, one message every 60 ms, while the bot is killed and restarted.
  let sending = true;
  let sent = 0;
  const sender = (async () => {
    while (sending) {
      await ana.send(chatId, `question ${sent}`, { id: `q-${sent}` });
      sent++;
      await new Promise((r) => setTimeout(r, 60));
    }
  })();

  const started = Date.now();
  for (let i = 0; i < KILLS; i++) {
    bot = startBot(botSession.token);
    // A random point: before it connects, mid-replay, between a send and its cursor write…
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 900)));
    await killed(bot);
  }
  sending = false;
  await sender;
  bot = startBot(botSession.token);
  await waitReady(bot);
  const botHttp = new NatterHttp({ servers: live.g1.url, token: botSession.token });
  await until(
    async () => checkAnswers(await history(botHttp, chatId), anaSession.userId, botSession.userId).answered === sent,
    30_000,
    `${sent} answers`,
  );
  const final = checkAnswers(await history(botHttp, chatId), anaSession.userId, botSession.userId);
  assert.equal(final.asked, sent);
  assert.equal(final.answered, sent);
  assert.ok(sent >= 50, `${sent} questions asked across ${KILLS} kills`);
  const killPhaseMs = Date.now() - started;

  // Stopped, a new chat is made with it and written to; it answers them all once started.
  await killed(bot);
  const { client: cara, session: caraSession } = await NatterClient.signup({
    servers: live.g1.url,
    handle: "cara_echo",
    displayName: "Cara",
    password: "password-123",
  });
  live.closing(cara);
  const group = await cara.http.createGroup("while the bot was away", [botSession.userId]);
  for (let i = 0; i < 5; i++) await cara.http.sendMessage(group.chatId, `away-${i}`, `away ${i}`);
  bot = startBot(botSession.token);
  await waitReady(bot);
  await until(
    async () =>
      checkAnswers(await history(botHttp, group.chatId), caraSession.userId, botSession.userId).answered === 5,
    15_000,
    "5 answers in the new chat",
  );
  // And nothing more in the first chat: its replies were not sent again.
  assert.deepEqual(checkAnswers(await history(botHttp, chatId), anaSession.userId, botSession.userId), final);
  console.log(`echo bot: ${sent} questions, ${KILLS} SIGKILLs in ${killPhaseMs} ms; all answered once, in order`);
});
