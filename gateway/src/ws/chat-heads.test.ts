import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatHeads } from "./chat-heads.ts";
import { atWindowEnd } from "./turn.ts";

/** Waits for the batching window that is open now to close (its timer was set first). */
const turn = () => new Promise<void>((r) => atWindowEnd(r));

test("chat heads - the heads asked for in one window are read in one batch made after the asks; a later ask reads again", async () => {
  const reads: string[][] = [];
  let head = 5;
  const heads = new ChatHeads(async (ids) => {
    reads.push([...ids]);
    return new Map(ids.map((id) => [id, id === "c2" ? 0 : head]));
  });
  const asked = [heads.head("c1"), heads.head("c2"), heads.head("c1")];
  head = 6; // written after the asks, before the window ends: the batch sees it
  assert.deepEqual(await Promise.all(asked), [6, 0, 6]);
  assert.deepEqual(reads, [["c1", "c2"]]);
  head = 7;
  assert.equal(await heads.head("c1"), 7, "a new ask is a new read, never an older answer");
  assert.equal(reads.length, 2);
});

test("chat heads - a failed read fails every ask of its batch, and the next batch reads again", async () => {
  let fail = true;
  const heads = new ChatHeads(async (ids) => {
    if (fail) throw new Error("store down");
    return new Map(ids.map((id) => [id, 1]));
  });
  const asked = [heads.head("a"), heads.head("b")];
  const results = await Promise.allSettled(asked);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  fail = false;
  await turn();
  assert.equal(await heads.head("a"), 1);
});
