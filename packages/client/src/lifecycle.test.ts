// Replies, edits and reactions in the SDK: `reply`, `edit`, `react`, `unreact` on the
// client (socket frames, resent until `sent`), the `ChatMessages` fold (edits and reactions
// into message state, in either order) and the chat list's preview, against a real stack
// (nats-server, a gateway and a consumers process, SQLite).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { until } from "@natter/testkit";
import { ChatList, ChatMessages, type NatterError } from "./index.ts";
import { sdkStack } from "./test-stack.ts";

const { user } = sdkStack("sdklc");

test("sdk lifecycle - reply, edit, react, unreact; the fold into message state; the preview follows edits", async () => {
  const ana = await user("ana");
  const ben = await user("ben");
  const messages = new ChatMessages();
  let seen = 0;
  ben.client.on("event", (e) => {
    messages.apply(e);
    seen = Math.max(seen, e.n);
  });
  const list = new ChatList(ben.client);
  const stop = list.follow();
  await Promise.all([ana.client.connect(), ben.client.connect()]);
  const chat = (await ana.client.http.createGroup("sdk lifecycle", [ben.userId])).chatId;
  const first = await ana.client.send(chat, "dinner at 7?", { id: "a1" });
  const reply = await ben.client.reply(chat, first.n, "yes!");
  assert.equal(reply.n, first.n + 1);

  // Edits: mine only; a retry with the same id is the same edit.
  const edited = await ben.client.edit(chat, reply.n, "yes! bringing wine", { id: "e1" });
  assert.equal(edited.n, reply.n + 1);
  assert.equal(edited.id, "e1");
  assert.deepEqual(await ben.client.edit(chat, reply.n, "yes! bringing wine", { id: "e1" }), edited);
  await assert.rejects(
    ana.client.edit(chat, reply.n, "not mine"),
    (err: NatterError) => err.code === "forbidden" && err.field === "n",
  );
  await until(() => list.get(chat)?.preview === "yes! bringing wine", 15_000, "the preview follows the edit");

  // Reactions: idempotent, and removed; bad emoji refused with its code.
  const up = await ana.client.react(chat, reply.n, "👍");
  assert.deepEqual(await ana.client.react(chat, reply.n, "👍"), up, "already there: the same event");
  const heart = await ben.client.react(chat, reply.n, "❤️");
  const pizza = await ana.client.react(chat, first.n, "🍕");
  const down = await ana.client.unreact(chat, first.n, "🍕");
  assert.equal(down.n, pizza.n + 1);
  assert.equal((await ana.client.unreact(chat, first.n, "🎉")).n, 0, "nothing to remove");
  await assert.rejects(
    ana.client.react(chat, reply.n, "ok"),
    (err: NatterError) => err.code === "invalid_input" && err.field === "emoji",
  );

  await until(() => seen >= down.n, 15_000, "every event up to the removal");
  assert.equal(messages.get(first.n)?.reactions, undefined, "added, then removed");
  const shown = messages.get(reply.n)!;
  assert.equal(shown.body, "yes! bringing wine");
  assert.deepEqual(shown.edited, { n: edited.n, ts: edited.ts });
  assert.equal(shown.replyTo, first.n);
  assert.deepEqual(shown.reactions, [
    { emoji: "👍", users: [ana.userId] },
    { emoji: "❤️", users: [ben.userId] },
  ]);
  assert.ok(heart.n > up.n);
  // Reactions are no preview and no unread message.
  assert.equal(list.get(chat)?.preview, "yes! bringing wine");

  // History folds to the same state, from an old page read later.
  const page = await ben.client.http.messages(chat, { after: 0 });
  const fromHistory = new ChatMessages();
  for (const e of [...page.events].reverse()) fromHistory.apply(e);
  assert.deepEqual(fromHistory.get(reply.n), messages.get(reply.n));

  // A delete: the message shows no body, no edits, no reactions.
  await ben.client.http.deleteMessage(chat, reply.n);
  await until(() => messages.get(reply.n)?.deleted === true, 15_000, "deleted");
  const gone = messages.get(reply.n)!;
  assert.equal(gone.body, undefined);
  assert.equal(gone.reactions, undefined);
  assert.equal(gone.edited, undefined);
  await until(() => list.get(chat)?.preview === undefined, 15_000, "the edited preview goes with its message");
  stop();
});

test("sdk lifecycle - over HTTP: sendMessage's replyTo, editMessage, react, unreact", async () => {
  const ana = await user("ana");
  const ben = await user("ben");
  const http = ana.client.http;
  const chat = (await http.createGroup("sdk http lifecycle", [ben.userId])).chatId;
  const m = await http.sendMessage(chat, "q1", "which day?");
  const r = await ben.client.http.sendMessage(chat, "r1", "friday", { replyTo: m.n });
  const edit = await http.editMessage(chat, m.n, "e1", "which day works?");
  assert.equal(edit.n, r.n + 1);
  assert.deepEqual(await http.editMessage(chat, m.n, "e1", "which day works?"), edit, "a retry: the same edit");
  await assert.rejects(
    ben.client.http.editMessage(chat, m.n, "e2", "no"),
    (err: NatterError) => err.code === "forbidden",
  );
  const up = await http.react(chat, r.n, "👍");
  assert.equal(up.n, edit.n + 1);
  assert.deepEqual(await http.react(chat, r.n, "👍"), up);
  assert.deepEqual(await http.unreact(chat, r.n, "👍"), { n: up.n + 1 });
  assert.deepEqual(await http.unreact(chat, r.n, "👍"), { n: up.n + 1 }, "a repeat: the same removal");
  const page = await ben.client.http.messages(chat, { after: 0 });
  const folded = new ChatMessages();
  for (const e of page.events) folded.apply(e);
  assert.equal(folded.get(m.n)?.body, "which day works?");
  assert.equal(folded.get(r.n)?.replyTo, m.n);
  assert.equal(folded.get(r.n)?.reactions, undefined, "added, then taken back");
});

test("sdk lifecycle - ChatMessages folds edits and reactions in any order; the newest event wins", () => {
  const base = { chat: "g_1", ts: 1, from: "u_a" };
  const events: ChatEvent[] = [
    { ...base, seq: 10, n: 2, kind: "message.created", id: "c2", body: "v1" },
    { ...base, seq: 11, n: 3, kind: "message.edited", id: "e3", target: 2, body: "v2" },
    { ...base, seq: 12, n: 4, kind: "reaction.added", target: 2, emoji: "👍" },
    { ...base, seq: 13, n: 5, kind: "message.edited", id: "e5", target: 2, body: "v3" },
    { ...base, seq: 14, n: 6, kind: "reaction.removed", target: 2, emoji: "👍" },
    { ...base, from: "u_b", seq: 15, n: 7, kind: "reaction.added", target: 2, emoji: "👍" },
    { ...base, seq: 16, n: 8, kind: "reaction.added", target: 2, emoji: "🎉" },
  ];
  const inOrder = new ChatMessages();
  for (const e of events) inOrder.apply(e);
  const reversed = new ChatMessages();
  for (const e of [...events].reverse()) reversed.apply(e);
  const want = {
    ...events[0]!,
    body: "v3",
    edited: { n: 5, ts: 1 },
    reactions: [
      { emoji: "👍", users: ["u_b"] },
      { emoji: "🎉", users: ["u_a"] },
    ],
  };
  assert.deepEqual(inOrder.get(2), want);
  assert.deepEqual(reversed.get(2), want);
  // An edit or reaction of a message not held yet changes nothing visible.
  assert.equal(inOrder.apply({ ...base, seq: 20, n: 9, kind: "reaction.added", target: 42, emoji: "👍" }), undefined);
});
