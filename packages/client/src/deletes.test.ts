// Deletes in the SDK: `http.deleteMessage`, the `ChatMessages` fold (a delete turns its
// target into the deleted form history returns, in either order) and the chat list's
// preview, against a real stack (nats-server, a gateway and a consumers process, SQLite).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";
import { until } from "@natter/testkit";
import { ChatList, ChatMessages, type NatterError } from "./index.ts";
import { sdkStack } from "./test-stack.ts";

const { user } = sdkStack("sdkdel");

test("sdk deletes - deleteMessage, the fold into message state, the chat list's preview", async () => {
  const ana = await user("ana");
  const ben = await user("ben");
  const messages = new ChatMessages();
  const changed: MessageCreatedEvent[] = [];
  ben.client.on("event", (e) => {
    const m = messages.apply(e);
    if (m) changed.push(m);
  });
  const list = new ChatList(ben.client);
  const stop = list.follow();
  await Promise.all([ana.client.connect(), ben.client.connect()]);
  const chat = (await ana.client.http.createGroup("sdk deletes", [ben.userId])).chatId;
  const kept = await ana.client.send(chat, "kept", { id: "k1" });
  const gone = await ana.client.send(chat, "regrettable", { id: "g1" });
  await until(() => list.get(chat)?.preview === "regrettable", 15_000, "the preview");

  const d = await ana.client.http.deleteMessage(chat, gone.n);
  assert.equal(d.chat, chat);
  assert.equal(d.n, gone.n + 1);
  assert.deepEqual(await ana.client.http.deleteMessage(chat, gone.n), d, "a repeat answers the same");
  // Not mine and not a group admin: refused with the stable code.
  await assert.rejects(ben.client.http.deleteMessage(chat, kept.n), (err: NatterError) => err.code === "forbidden");

  await until(() => messages.get(gone.n)?.deleted === true, 15_000, "the delete folded in");
  const erased = messages.get(gone.n)!;
  assert.equal(erased.body, undefined);
  assert.equal(erased.deletedN, d.n);
  assert.equal(erased.id, "g1");
  assert.equal(messages.get(kept.n)?.body, "kept");
  assert.deepEqual(
    messages.list().map((m) => [m.n, m.deleted === true]),
    [
      [kept.n, false],
      [gone.n, true],
    ],
  );
  assert.equal(changed.at(-1), erased, "apply answered the changed message");
  await until(() => list.get(chat)?.preview === undefined, 15_000, "no preview");
  // The server agrees once the list is refreshed.
  await list.refresh();
  assert.equal(list.get(chat)?.preview, undefined);

  // A history page returns it deleted too; folding it in keeps it so.
  const page = await ben.client.http.messages(chat, { after: 0 });
  const fromHistory = page.events.find((e) => e.n === gone.n) as MessageCreatedEvent;
  assert.equal(fromHistory.deleted, true);
  assert.equal("body" in fromHistory, false);
  stop();
});

test("sdk deletes - ChatMessages folds a delete that arrives before its message, and never un-deletes", () => {
  const m = new ChatMessages();
  const base = { chat: "g_1", ts: 1, from: "u_a" };
  const original: ChatEvent = { ...base, seq: 10, n: 3, kind: "message.created", id: "c3", body: "secret" };
  const del: ChatEvent = { ...base, seq: 12, n: 5, kind: "message.deleted", target: 3 };
  assert.equal(m.apply(del), undefined, "nothing to change yet");
  const folded = m.apply(original);
  assert.equal(folded?.deleted, true);
  assert.equal(folded?.body, undefined);
  assert.equal(folded?.deletedN, 5);
  // An original copy after the erased one (an old page) changes nothing.
  assert.equal(m.apply(original), undefined);
  assert.equal(m.get(3)?.body, undefined);
  // Other kinds are no messages.
  assert.equal(m.apply({ ...base, seq: 13, n: 6, kind: "member.added", user: "u_b" }), undefined);
  assert.deepEqual(
    m.list().map((e) => e.n),
    [3],
  );
});
