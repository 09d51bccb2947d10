import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent, MessageCreatedEvent } from "@natter/protocol";
import { cutWindow } from "./push-windows.ts";

const msg = (n: number, ts: number, extra: Partial<MessageCreatedEvent> = {}): MessageCreatedEvent => ({
  kind: "message.created",
  chat: "c",
  seq: n,
  n,
  ts,
  from: "u_ana",
  id: `m${n}`,
  body: `b${n}`,
  ...extra,
});
const cut = (events: ChatEvent[]) => {
  const w = cutWindow(events, 1000);
  return [w.firstN, w.lastN, w.messages.map((m) => m.n)];
};

test("push windows - a window takes the events within one span of its first message, and stops at the first beyond", () => {
  const log = [msg(4, 10_000), msg(5, 10_400), msg(6, 10_999), msg(7, 11_000), msg(8, 10_500)];
  // n=8 is stamped inside the span but follows one beyond it: the window is a run of the log.
  assert.deepEqual(cut(log), [4, 6, [4, 5, 6]]);
  assert.deepEqual(cut(log.slice(3)), [7, 8, [7, 8]]);
  assert.deepEqual(cut([msg(9, 0)]), [9, 9, [9]]);
});

test("push windows - deleted messages anchor and extend a window but are not in it; other kinds extend it", () => {
  const log: ChatEvent[] = [
    msg(2, 0, { deleted: true, body: undefined }),
    { kind: "reaction.added", chat: "c", seq: 3, n: 3, ts: 100, from: "u_ben", target: 2, emoji: "👍" },
    msg(4, 900),
    { kind: "message.deleted", chat: "c", seq: 5, n: 5, ts: 950, from: "u_ana", target: 2 },
    msg(6, 1000),
  ];
  assert.deepEqual(cut(log), [2, 5, [4]]);
  assert.deepEqual(cut([msg(2, 0, { deleted: true })]), [2, 2, []]);
});

test("push windows - a window opens at a message only", () => {
  assert.throws(() => cutWindow([], 1000), /opens at a message/);
  assert.throws(
    () => cutWindow([{ kind: "message.deleted", chat: "c", seq: 1, n: 1, ts: 0, from: "u", target: 1 }], 1000),
    /opens at a message/,
  );
});
