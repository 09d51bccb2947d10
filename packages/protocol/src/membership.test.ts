import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent } from "./events.ts";
import { applyMembership, changesMembership, membershipEffect, membershipOf } from "./membership.ts";

const base = { chat: "g1", seq: 1, ts: 1, from: "ana" };
const created: ChatEvent = {
  ...base,
  n: 1,
  kind: "chat.created",
  chatKind: "group",
  title: "t",
  members: ["ana", "ben"],
};
const added: ChatEvent = { ...base, n: 2, kind: "member.added", user: "cleo" };
const removed: ChatEvent = { ...base, n: 3, kind: "member.removed", user: "ben" };
const message: ChatEvent = { ...base, n: 4, kind: "message.created", id: "m", body: "hi" };

test("membership - chat.created makes its members members, the group's creator its admin", () => {
  assert.deepEqual(membershipEffect(created), [
    { user: "ana", member: true, role: "admin" },
    { user: "ben", member: true, role: "member" },
  ]);
  const direct: ChatEvent = { ...created, chatKind: "direct" };
  assert.deepEqual(
    membershipEffect(direct).map((c) => c.role),
    ["member", "member"],
    "a direct chat has no admin",
  );
});

test("membership - added and removed change one user; a message changes nobody", () => {
  assert.deepEqual(membershipEffect(added), [{ user: "cleo", member: true, role: "member" }]);
  assert.deepEqual(membershipEffect(removed), [{ user: "ben", member: false, role: "member" }]);
  assert.deepEqual(membershipEffect(message), []);
  assert.deepEqual([created, added, removed, message].map(changesMembership), [true, true, true, false]);
});

test("membership - folding a log gives the members as of its last event", () => {
  const set = new Set<string>();
  for (const e of [created, added, removed, message]) applyMembership(set, e);
  assert.deepEqual([...set].sort(), ["ana", "cleo"]);
});

test("membership - membershipOf tells one user's joins and removals", () => {
  assert.equal(membershipOf(created, "ben"), true);
  assert.equal(membershipOf(added, "ben"), undefined);
  assert.equal(membershipOf(removed, "ben"), false);
  assert.equal(membershipOf(message, "ana"), undefined);
});
