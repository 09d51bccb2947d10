// How `natter tail` and `natter export`'s readers print a delete and a deleted message:
// the delete names its target, the deleted message says so and prints no body.
import assert from "node:assert/strict";
import { test } from "node:test";
import { erasedMessage, type MessageCreatedEvent } from "@natter/protocol";
import { formatEvent } from "./cli.ts";

test("cli - formatEvent prints a delete and a deleted message readably", () => {
  const base = { chat: "g_1", from: "u_ana", ts: Date.UTC(2026, 10, 23, 10, 13, 20) };
  const message: MessageCreatedEvent = { ...base, seq: 7, n: 17, kind: "message.created", id: "c1", body: "oops" };
  const name = (u: string) => `@${u.slice(2)}`;
  assert.equal(formatEvent(message, name), "#17 2026-11-23T10:13:20.000Z @ana: oops");
  assert.equal(
    formatEvent({ ...base, seq: 9, n: 18, kind: "message.deleted", target: 17 }, name),
    "#18 2026-11-23T10:13:20.000Z @ana deleted #17",
  );
  assert.equal(formatEvent(erasedMessage(message, 18), name), "#17 2026-11-23T10:13:20.000Z @ana: (message deleted)");
});
