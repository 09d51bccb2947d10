import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";
import { pushWindows } from "./push-windows.ts";

const msg = (chat: string, n: number, ts: number, extra: Partial<MessageCreatedEvent> = {}): MessageCreatedEvent => ({
  kind: "message.created",
  chat,
  seq: n,
  n,
  ts,
  from: "u_ana",
  id: `m${n}`,
  body: `b${n}`,
  ...extra,
});
const cut = (events: ChatEvent[], span = 1000) => pushWindows(events, span).map((w) => [w.chat, w.firstN, w.lastN]);

test("push windows - a window takes the chat's messages within one span of its first, per chat", () => {
  const events: ChatEvent[] = [
    msg("c1", 2, 10_000),
    msg("c2", 5, 10_100),
    msg("c1", 3, 10_500),
    msg("c1", 4, 10_999),
    msg("c1", 5, 11_000), // a span after the first: a window of its own
    msg("c2", 6, 12_000),
  ];
  assert.deepEqual(cut(events), [
    ["c1", 2, 4],
    ["c1", 5, 5],
    ["c2", 5, 5],
    ["c2", 6, 6],
  ]);
});

test("push windows - the same messages in another order or batch split cut the same windows from the same first message", () => {
  const all = [msg("c", 2, 0), msg("c", 3, 300), msg("c", 4, 900), msg("c", 5, 1200), msg("c", 6, 2500)];
  const once = cut(all);
  assert.deepEqual(once, [
    ["c", 2, 4],
    ["c", 5, 5],
    ["c", 6, 6],
  ]);
  assert.deepEqual(cut([...all].reverse()), once, "order within a batch does not matter");
  assert.deepEqual(cut([...all, all[1]!, all[2]!]), once, "a redelivered copy in the batch counts once");
});

test("push windows - only live messages: other kinds and deleted ones cut nothing", () => {
  const events: ChatEvent[] = [
    { kind: "chat.created", chat: "c", seq: 1, n: 1, ts: 0, from: "u_ana", chatKind: "group", members: ["u_ana"] },
    msg("c", 2, 10, { deleted: true }),
    { kind: "message.deleted", chat: "c", seq: 3, n: 3, ts: 20, from: "u_ana", target: 2 },
    msg("c", 4, 1500),
  ];
  assert.deepEqual(cut(events), [["c", 4, 4]]);
  assert.deepEqual(cut([]), []);
});
