import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { projectionWrites } from "./projection.ts";
import type { ReadState } from "./store.ts";

const base = (chat: string, n: number, from: string) => ({ chat, n, seq: n, ts: 1_000 + n, from });
const message = (chat: string, n: number, from: string): ChatEvent => ({
  ...base(chat, n, from),
  kind: "message.created",
  id: `m${n}`,
  body: `body ${n}`,
});

const readWrites = (events: ChatEvent[]): ReadState[] =>
  projectionWrites(events).flatMap((w) => (w.op === "advanceReadState" ? [w.state] : []));

test("projection - a message marks its chat delivered and read up to it for its sender: the newest per (chat, sender) of the batch", () => {
  const events: ChatEvent[] = [
    { ...base("g1", 1, "ua"), kind: "chat.created", chatKind: "group", title: "t", members: ["ua", "ub"] },
    message("g1", 2, "ua"),
    message("g1", 3, "ub"),
    message("g1", 4, "ua"),
    { ...base("g1", 5, "ub"), kind: "reaction.added", target: 4, emoji: "👍" },
    message("g2", 7, "ub"),
  ];
  assert.deepEqual(readWrites(events), [
    { chatId: "g1", userId: "ua", deliveredN: 4, readN: 4 },
    { chatId: "g1", userId: "ub", deliveredN: 3, readN: 3 },
    { chatId: "g2", userId: "ub", deliveredN: 7, readN: 7 },
  ]);
});

test("projection - events that are not messages move no read pointer", () => {
  const events: ChatEvent[] = [
    { ...base("g1", 1, "ua"), kind: "chat.created", chatKind: "group", title: "t", members: ["ua", "ub"] },
    { ...base("g1", 2, "ua"), kind: "member.added", user: "uc" },
    { ...base("g1", 3, "ub"), kind: "message.edited", id: "e3", target: 2, body: "edited" },
  ];
  assert.deepEqual(readWrites(events), []);
});
