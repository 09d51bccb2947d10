// How `natter tail` and `natter export`'s readers print a delete and a deleted message:
// the delete names its target, the deleted message says so and prints no body.
import assert from "node:assert/strict";
import { test } from "node:test";
import { erasedEdit, erasedMessage, type MessageCreatedEvent } from "@natter/protocol";
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

test("cli - formatEvent prints replies, edits and reactions readably", () => {
  const base = { chat: "g_1", from: "u_ana", ts: Date.UTC(2026, 10, 23, 10, 13, 20) };
  const name = (u: string) => `@${u.slice(2)}`;
  const at = "2026-11-23T10:13:20.000Z @ana";
  const reply: MessageCreatedEvent = {
    ...base,
    seq: 8,
    n: 18,
    kind: "message.created",
    id: "c2",
    body: "yes",
    replyTo: 17,
  };
  assert.equal(formatEvent(reply, name), `#18 ${at} (reply to #17): yes`);
  const edit = { ...base, seq: 9, n: 19, kind: "message.edited" as const, id: "e1", target: 17, body: "fixed" };
  assert.equal(formatEvent(edit, name), `#19 ${at} edited #17: fixed`);
  assert.equal(formatEvent(erasedEdit(edit), name), `#19 ${at} edited #17 (message deleted)`);
  assert.equal(
    formatEvent({ ...base, seq: 10, n: 20, kind: "reaction.added", target: 17, emoji: "👍" }, name),
    `#20 ${at} reacted 👍 to #17`,
  );
  assert.equal(
    formatEvent({ ...base, seq: 11, n: 21, kind: "reaction.removed", target: 17, emoji: "👍" }, name),
    `#21 ${at} took back 👍 on #17`,
  );
});

test("cli - formatEvent names a message's files", () => {
  const e: MessageCreatedEvent = {
    chat: "g_1",
    from: "u_ana",
    ts: Date.UTC(2026, 10, 23, 10, 13, 20),
    seq: 7,
    n: 17,
    kind: "message.created",
    id: "c1",
    body: "the plan",
    attachments: [{ attachmentId: "a_1", name: "plan.png", size: 48213, contentType: "image/png", sha256: "ab" }],
  };
  assert.equal(
    formatEvent(e, (u) => `@${u.slice(2)}`),
    "#17 2026-11-23T10:13:20.000Z @ana: the plan [file plan.png, 48213 bytes, a_1]",
  );
});
