// At-least-once processing, rewind, the user known before connect, the users cache and the
// chat-list model, over the real stack (testkit nats-server, gateway and consumers, SQLite).
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { type Stack, startStack, until } from "@natter/testkit";
import { ChatList, HandlerError, MemoryCursorStore, NatterClient, replyId } from "./index.ts";
import { FileCursorStore } from "./node.ts";

let stack: Stack;
const clients: NatterClient[] = [];
let seq = 0;

before(async () => {
  stack = await startStack();
});
after(async () => {
  for (const c of clients) c.close();
  await stack?.stop("SIGKILL");
});

async function user(name: string, opts: Partial<ConstructorParameters<typeof NatterClient>[0]> = {}) {
  const { client, session } = await NatterClient.signup({
    servers: stack.gateways[0]!.url,
    handle: `${name}_${++seq}`,
    displayName: `${name} ${seq}`,
    password: "password-123",
    ...opts,
  });
  clients.push(client);
  return { client, session };
}

test("processing - the cursor moves when the handler resolves; a rejected handler gets the same event again", async () => {
  const cursors = new MemoryCursorStore();
  const ana = await user("proc");
  const ben = await user("procb", { cursors });
  const seen: number[] = [];
  const cursorWhileRunning: (number | undefined)[] = [];
  const errors: HandlerError[] = [];
  let failOnce = true;
  ben.client.on("error", (err) => {
    if (err instanceof HandlerError) errors.push(err);
  });
  ben.client.on("event", async (e) => {
    cursorWhileRunning.push(ben.client.cursor(e.chat));
    await new Promise((r) => setTimeout(r, 20));
    if (e.kind === "message.created" && e.body === "fail me" && failOnce) {
      failOnce = false;
      throw new Error("handler crashed");
    }
    seen.push(e.n);
  });
  await ben.client.connect();
  const chat = await ana.client.http.createGroup("processing", [ben.session.userId]);
  for (const body of ["one", "fail me", "three"])
    await ana.client.http.sendMessage(chat.chatId, `p-${body.length}${body[0]}`, body);
  await until(() => seen.length === 4, 10_000, "4 events processed");
  assert.deepEqual(seen, [1, 2, 3, 4], "in n order, the failed one again before the next");
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.event.n, 3);
  // While handling n the stored cursor was n - 1 (none before the first: a crash then
  // finds the chat again on connect, from its start), so a crash replays n.
  assert.deepEqual(cursorWhileRunning, [undefined, 1, 2, 2, 3]);
  assert.equal(cursors.get(chat.chatId), 4);
});

test("processing - rewind delivers a known chat again; track leaves it; userId is known before connect", async () => {
  const ana = await user("rew");
  const fromToken = new NatterClient({ servers: stack.gateways[0]!.url, token: ana.session.token });
  clients.push(fromToken);
  assert.equal(fromToken.userId, ana.session.userId, "read from the token");
  assert.equal(fromToken.deviceId, ana.session.deviceId);
  const events: ChatEvent[] = [];
  fromToken.on("event", (e) => void events.push(e));
  const chat = await ana.client.http.createGroup("rewind", []);
  for (let i = 0; i < 3; i++) await ana.client.http.sendMessage(chat.chatId, `r-${i}`, `r ${i}`);
  await fromToken.connect();
  await until(() => events.length === 4, 10_000, "the chat discovered on connect, from its start");
  fromToken.track(chat.chatId, 0);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(events.length, 4, "track does nothing for a known chat");
  fromToken.rewind(chat.chatId, 2);
  await until(() => events.length === 6, 10_000, "n 3 and 4 again");
  assert.deepEqual(
    events.map((e) => e.n),
    [1, 2, 3, 4, 3, 4],
  );
  assert.equal(fromToken.cursor(chat.chatId), 4);
});

test("processing - FileCursorStore writes atomically (temp file, rename) and a new store reads it back", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "natter-cursors-"));
  try {
    const file = path.join(dir, "sub", "cursors.json");
    const a = new FileCursorStore(file);
    a.set("c1", 5);
    a.set("c2", 9);
    a.delete("c2");
    assert.equal(await readFile(file, "utf8"), '{"c1":5}');
    assert.deepEqual(await readdir(path.dirname(file)), ["cursors.json"], "no temporary file left");
    assert.deepEqual(new FileCursorStore(file).all(), { c1: 5 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("processing - replyId is one valid id per (chat, n), hashed when the chat id is long", () => {
  assert.equal(replyId({ chat: "d_abc", n: 7 }), "reply-d_abc-7");
  const long = replyId({ chat: "x".repeat(64), n: 12 });
  assert.match(long, /^reply-[0-9a-f]{16}-12$/);
  assert.equal(long, replyId({ chat: "x".repeat(64), n: 12 }));
  assert.notEqual(long, replyId({ chat: "y".repeat(64), n: 12 }));
});

test("chat list - names, last message and unread by countsAsUnread, live; reads clear it; users looked up once", async () => {
  const ana = await user("list");
  const ben = await user("listb", { discoverChats: "from-head" });
  const list = new ChatList(ben.client);
  const stop = list.follow();
  await ben.client.connect();
  const dm = await ana.client.http.createDirect(ben.session.userId);
  const group = await ana.client.http.createGroup("list group", [ben.session.userId]);
  await ana.client.http.sendMessage(dm.chatId, "l-1", "first");
  await ana.client.http.sendMessage(dm.chatId, "l-2", "second");
  await until(() => list.get(dm.chatId)?.unread === 2 && list.get(group.chatId) !== undefined, 10_000, "live unread");
  await list.refresh();
  assert.equal(list.get(dm.chatId)!.unread, 2, "the server's count and the live one agree");
  assert.equal(list.get(group.chatId)!.unread, 0, "a group's creation is not unread");
  assert.equal(list.get(dm.chatId)!.preview, "second");
  assert.equal(list.title(dm.chatId), `list ${seq - 1}`, "the peer's display name came with the list");
  assert.equal(list.title(dm.chatId, { handle: true }), `@list_${seq - 1}`);
  assert.equal(list.title(group.chatId), "list group");
  assert.deepEqual(
    list.items().map((c) => c.chatId),
    [dm.chatId, group.chatId],
    "newest activity first",
  );
  list.read(dm.chatId);
  assert.equal(list.get(dm.chatId)!.unread, 0);
  // The read reached the server.
  for (let i = 0; i < 50; i++) {
    const row = (await ben.client.http.chats()).chats.find((c) => c.chatId === dm.chatId);
    if (row?.readN === list.get(dm.chatId)!.lastN) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const row = (await ben.client.http.chats()).chats.find((c) => c.chatId === dm.chatId)!;
  assert.equal(row.unread, 0);
  // Someone not in any list: looked up by id once, then known.
  const cara = await user("listc");
  assert.equal(ben.client.users.get(cara.session.userId), undefined);
  await ben.client.users.ensure([cara.session.userId]);
  assert.equal(ben.client.users.name(cara.session.userId), `listc ${seq}`);
  stop();
});
