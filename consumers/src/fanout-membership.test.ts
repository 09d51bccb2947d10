import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEvent } from "@natter/protocol";
import { ChatMembership, recipientsOf } from "./fanout-membership.ts";

// The fanout's membership fold on its own: who receives each event, and the members as of
// a slightly earlier event for a redelivered batch.

const base = { chat: "g1", ts: 1, from: "ana" };
const at = (n: number, e: Record<string, unknown>) => ({ ...base, seq: n, n, ...e }) as ChatEvent;
const events: ChatEvent[] = [
  at(1, { kind: "chat.created", chatKind: "group", members: ["ana", "ben"] }),
  at(2, { kind: "message.created", id: "m2", body: "hi" }),
  at(3, { kind: "member.added", user: "cleo" }),
  at(4, { kind: "member.removed", user: "ben" }),
  at(5, { kind: "message.created", id: "m5", body: "after" }),
];
const sorted = (s: Iterable<string>) => [...s].sort();

test("fanout membership - each event reaches the members before or after it: an added user their addition, a removed one their removal", () => {
  const state = new ChatMembership();
  const got = events.map((e) => {
    const to = recipientsOf(state.members, e);
    state.apply(e);
    return sorted(to);
  });
  assert.deepEqual(got, [
    ["ana", "ben"],
    ["ana", "ben"],
    ["ana", "ben", "cleo"],
    ["ana", "ben", "cleo"],
    ["ana", "cleo"],
  ]);
});

test("fanout membership - asOf rolls back to an earlier event; an event out of order is refused", () => {
  const state = new ChatMembership();
  for (const e of events) state.apply(e);
  assert.equal(state.n, 5);
  assert.deepEqual(sorted(state.asOf(2)!), ["ana", "ben"]);
  assert.deepEqual(sorted(state.asOf(3)!), ["ana", "ben", "cleo"]);
  assert.deepEqual(sorted(state.asOf(5)!), ["ana", "cleo"]);
  assert.throws(() => state.asOf(6));
  assert.throws(() => state.apply(at(7, { kind: "message.created", id: "m7", body: "gap" })));
});

test("fanout membership - a state started from a snapshot cannot roll back before it", () => {
  const state = new ChatMembership(10, ["ana", "cleo"]);
  assert.equal(state.asOf(9), undefined, "no changes kept before the snapshot");
  state.apply({ ...at(11, { kind: "member.removed", user: "cleo" }) });
  assert.deepEqual(sorted(state.asOf(10)!), ["ana", "cleo"]);
  assert.deepEqual(sorted(state.members), ["ana"]);
});
