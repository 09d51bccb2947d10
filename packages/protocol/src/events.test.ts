// The v1.1 lifecycle kinds in the event parser (a poison message is refused) and the folds
// every reader shares: a deleted message erases its edits, an edit of the newest message
// is the preview.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type ChatEvent,
  erasedEdit,
  erasedMessage,
  foldDeletes,
  type MessageCreatedEvent,
  type MessageEditedEvent,
  parseEventPayload,
  previewOf,
} from "./events.ts";

const base = { chat: "g_1", ts: 1, from: "u_a" };
const message: MessageCreatedEvent = { ...base, seq: 10, n: 2, kind: "message.created", id: "c2", body: "v1" };
const edit: MessageEditedEvent = { ...base, seq: 11, n: 3, kind: "message.edited", id: "e3", target: 2, body: "v2" };

test("events - the parser takes replies, edits and reactions, and refuses malformed ones", () => {
  const { seq: _s, ...payload } = { ...message, n: 5, replyTo: 2 };
  assert.deepEqual(parseEventPayload(payload, 20), { ...payload, seq: 20 });
  const { seq: _e, ...editPayload } = { ...edit, latest: true as const };
  assert.deepEqual(parseEventPayload(editPayload, 21), { ...editPayload, seq: 21 });
  const reaction = { ...base, n: 6, kind: "reaction.added", target: 2, emoji: "👍" };
  assert.deepEqual(parseEventPayload(reaction, 22), { ...reaction, seq: 22 });
  const bad: [string, unknown][] = [
    ["a reply to a later n", { ...payload, replyTo: 5 }],
    ["a reply to 0", { ...payload, replyTo: 0 }],
    ["an edit without a body", { ...editPayload, body: undefined }],
    ["an edit of itself", { ...editPayload, target: 3 }],
    ["a reaction that is text", { ...reaction, emoji: "ok" }],
    ["a reaction without a target", { ...reaction, target: undefined }],
  ];
  for (const [what, data] of bad) assert.throws(() => parseEventPayload(data, 30), TypeError, what);
});

test("events - foldDeletes erases a deleted message's edits: with its delete in the run, or its erased row", () => {
  const del: ChatEvent = { ...base, seq: 12, n: 4, kind: "message.deleted", target: 2 };
  const other: MessageEditedEvent = { ...edit, seq: 13, n: 5, id: "e5", target: 9, body: "other" };
  assert.deepEqual(foldDeletes([message, edit, del, other]), [erasedMessage(message, 4), erasedEdit(edit), del, other]);
  // The erased message (from the store) without its delete in the run.
  assert.deepEqual(foldDeletes([erasedMessage(message, 4), edit]), [erasedMessage(message, 4), erasedEdit(edit)]);
  const untouched = [message, edit, other];
  assert.equal(foldDeletes(untouched), untouched, "nothing deleted: the same array");
  assert.equal("body" in erasedEdit(edit), false);
});

test("events - previewOf: a message, an edit of the newest message (latest); never a reaction or an erased edit", () => {
  assert.equal(previewOf(message), "v1");
  assert.equal(previewOf(edit), undefined, "an edit of an older message");
  assert.equal(previewOf({ ...edit, latest: true }), "v2");
  assert.equal(previewOf(erasedEdit({ ...edit, latest: true })), undefined);
  assert.equal(previewOf({ ...base, seq: 14, n: 6, kind: "reaction.added", target: 2, emoji: "👍" }), undefined);
});
